// Package ktest opens fixture kernels for integration tests: one Kernel per
// (arch, dump file) per test process, since opening a 600 MB vmlinux is the
// expensive part and every test of a package wants the same ones.
package ktest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
)

var (
	mu      sync.Mutex
	kernels = map[string]*kstructs.Kernel{}
)

// Arches is every architecture with a fixture.
var Arches = []string{"arm", "arm64", "x86_64"}

// Open returns the fixture kernel for arch opened from dumpFile (e.g.
// "vmcore.elf", "vmcore.kdump-zlib"), with its fixture (ground truth in
// f.GT). It skips or fails like fixture.Require when the fixture is missing.
// The Kernel is shared: tests must not Close it.
func Open(t testing.TB, arch, dumpFile string) (*kstructs.Kernel, *fixture.Fixture) {
	t.Helper()
	return OpenSuite(t, arch, fixture.DefaultSuite, dumpFile)
}

// Extra is a fixture of another Debian suite: an older or newer kernel
// than the bookworm ones, built by the same builder.
type Extra struct{ Arch, Suite string }

// Extras are the other kernels every cross-version test runs on: Linux
// 5.10 (x86_64 bullseye) and 6.12 (arm64 trixie, a 52-bit-VA kernel).
// (Debian's 6.12 x86_64 kernel oopsed at boot under QEMU's multi-threaded
// TCG — int3 in sched_clock_cpu while static keys were patched — so there
// is no x86_64 trixie fixture yet.)
var Extras = []Extra{{"x86_64", "bullseye"}, {"arm64", "trixie"}}

// OpenSuite is Open for the suite's fixture (fixture.RequireSuite).
func OpenSuite(t testing.TB, arch, suite, dumpFile string) (*kstructs.Kernel, *fixture.Fixture) {
	t.Helper()
	f := fixture.RequireSuite(t, arch, suite)
	return openShared(t, f, arch+"/"+suite+"/"+dumpFile, dumpFile), f
}

// openShared opens f's dumpFile once per key for all tests.
func openShared(t testing.TB, f *fixture.Fixture, key, dumpFile string) *kstructs.Kernel {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if k, ok := kernels[key]; ok {
		return k
	}
	k, err := kstructs.Open(f.Path(dumpFile), f.Vmlinux(), kstructs.Options{})
	if err != nil {
		t.Fatalf("opening fixture %s %s: %v", f.Dir, dumpFile, err)
	}
	kernels[key] = k
	return k
}

// ForEach runs fn as a subtest for every arch's fixture opened from its ELF dump.
func ForEach(t *testing.T, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			k, f := Open(t, arch, "vmcore.elf")
			fn(t, k, f)
		})
	}
}

// ForEachExtra runs fn as a subtest ("x86_64-bullseye"...) for every
// fixture in Extras, opened from its ELF dump.
func ForEachExtra(t *testing.T, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	for _, e := range Extras {
		t.Run(e.Arch+"-"+e.Suite, func(t *testing.T) {
			k, f := OpenSuite(t, e.Arch, e.Suite, "vmcore.elf")
			fn(t, k, f)
		})
	}
}

// ForEachAll runs fn on every fixture: each arch's (ForEach), then the
// other kernel generations (ForEachExtra).
func ForEachAll(t *testing.T, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	ForEach(t, fn)
	ForEachExtra(t, fn)
}

// Name is a short label for messages.
func Name(f *fixture.Fixture) string { return fmt.Sprintf("%s-%s", f.Arch, f.Release) }

// OpenKind is Open for a module fixture kind (fixture.KindOops,
// fixture.KindHung).
func OpenKind(t testing.TB, arch, kind, dumpFile string) (*kstructs.Kernel, *fixture.Fixture) {
	t.Helper()
	f := fixture.RequireKind(t, arch, kind)
	return openShared(t, f, arch+"/"+kind+"/"+f.Dir+"/"+dumpFile, dumpFile), f
}

// ForEachKind runs fn as a subtest ("arm64-oops"...) for every arch's
// fixture of each of kinds, opened from its ELF dump.
func ForEachKind(t *testing.T, kinds []string, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	for _, kind := range kinds {
		for _, arch := range Arches {
			t.Run(arch+"-"+kind, func(t *testing.T) {
				k, f := OpenKind(t, arch, kind, "vmcore.elf")
				fn(t, k, f)
			})
		}
	}
}

// RawRAM is the dump spec of a Raspberry Pi fixture's ram.bin (its ELF
// dump's RAM cut to one raw file from physical 0, as a JTAG probe saves
// it): no notes, no registers, no VMCOREINFO.
const RawRAM = "ram.bin@0x0"

// RaspiDumps are the dumps of a Raspberry Pi fixture the tests read: the
// ELF dump and its raw RAM cut.
var RaspiDumps = []string{"vmcore.elf", RawRAM}

// LPAEDumps are the dumps of an LPAE fixture the tests read: the ELF dump
// (ELF32 whose one PT_LOAD of 4 GiB QEMU wrote with 32-bit sizes) and the
// kdump-compressed one (page frames above 4 GiB).
var LPAEDumps = []string{"vmcore.elf", "vmcore.kdump-zlib"}

// Machine is a fixture kind that runs the sysrq guest (same ground truth)
// on another machine or kernel flavour than the plain virt fixtures: other
// memory maps, other page tables.
type Machine struct {
	Kind   string
	Arches []string
	Dumps  []string // the dumps the tests read
	// CrashDump is the dump crash reads (crash 8.0.6 dies of SIGSEGV on the
	// LPAE fixture's kdump-zlib after "compressed kdump: invalid nr_cpus
	// value: 0": QEMU's 32-bit kdump header).
	CrashDump string
}

// Machines are the machine kinds: the Raspberry Pi boards, 32-bit arm with
// LPAE and RAM above 4 GiB, and the Raspberry Pi OS-like 2G/2G kernel on
// raspi2b.
var Machines = []Machine{
	{Kind: fixture.KindRaspi, Arches: fixture.RaspiArches, Dumps: RaspiDumps, CrashDump: "vmcore.elf"},
	{Kind: fixture.KindLPAE, Arches: fixture.LPAEArches, Dumps: LPAEDumps, CrashDump: "vmcore.elf"},
	{Kind: fixture.KindRPiOS, Arches: fixture.RPiOSArches, Dumps: RaspiDumps, CrashDump: "vmcore.elf"},
}

// ForEachMachine runs fn as a subtest ("arm-raspi/vmcore.elf",
// "arm64-raspi/ram.bin@0x0", "arm-lpae/vmcore.kdump-zlib"...) for every
// machine kind's fixtures (Machines), opened from each of its Dumps.
func ForEachMachine(t *testing.T, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	ForEachMachineDump(t, nil, fn)
}

// ForEachMachineDump is ForEachMachine on those of the machines' dumps
// that are in only (a test that needs the CPUs' registers reads the ELF
// dump alone); nil: all of them.
func ForEachMachineDump(t *testing.T, only []string, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	for _, m := range Machines {
		for _, arch := range m.Arches {
			t.Run(arch+"-"+m.Kind, func(t *testing.T) {
				for _, d := range m.Dumps {
					if only != nil && !slices.Contains(only, d) {
						continue
					}
					t.Run(d, func(t *testing.T) {
						k, f := OpenKind(t, arch, m.Kind, d)
						fn(t, k, f)
					})
				}
			})
		}
	}
}
