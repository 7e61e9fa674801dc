package oracle_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
)

// ramNode is the boot console's memblock line for a RAM range
// (mm/page_alloc.c: "  node   0: [mem 0x...-0x...]").
var ramNode = regexp.MustCompile(`node +\d+: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]`)

// consoleRAM returns the RAM ranges the guest's kernel printed at boot.
func consoleRAM(t *testing.T, f *fixture.Fixture) [][2]uint64 {
	t.Helper()
	b, err := os.ReadFile(f.Path("console.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]uint64
	for _, g := range ramNode.FindAllStringSubmatch(string(b), -1) {
		lo, err1 := strconv.ParseUint(g[1], 0, 64)
		hi, err2 := strconv.ParseUint(g[2], 0, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("console RAM line %q", g[0])
		}
		out = append(out, [2]uint64{lo, hi})
	}
	if len(out) == 0 {
		t.Fatal("no 'node N: [mem ...]' line on the console")
	}
	return out
}

// stackAddrs are the kernel stacks (vmalloc'd: CONFIG_VMAP_STACK, pages
// from highmem) of the panic task and the tasks machineBT walks, by pid.
func stackAddrs(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) map[uint64]int {
	t.Helper()
	out := map[uint64]int{}
	pids := append([]int{f.GT.CrashPID, f.GT.RolePID("fifo")}, f.GT.Role("sleeper")[:min(4, len(f.GT.Role("sleeper")))]...)
	for _, pid := range pids {
		tk, err := k.TaskByPID(pid)
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		out[tk.Stack] = pid
	}
	return out
}

var vtopPair = regexp.MustCompile(`(?m)^([0-9a-f]+)\s+([0-9a-f]+)\s*$`)

// TestLPAEAboveFourGiB: on the LPAE fixture (armmp-lpae, RAM from
// 0x40000000 to 0x140000000) kinspect reads through long-descriptor tables
// to RAM above 4 GiB: the tasks' vmalloc'd stacks the backtrace tests
// unwind translate to physical addresses inside the RAM the guest's
// console printed, at least one of them at or above 4 GiB, and each
// translation is crash's vtop of the same address.
func TestLPAEAboveFourGiB(t *testing.T) {
	m := ktest.Machines[1]
	if m.Kind != fixture.KindLPAE {
		t.Fatalf("test bug: Machines[1] is %s", m.Kind)
	}
	for _, arch := range m.Arches {
		t.Run(arch+"-"+m.Kind, func(t *testing.T) {
			for _, d := range m.Dumps {
				t.Run(d, func(t *testing.T) { checkAboveFourGiB(t, m, arch, d) })
			}
		})
	}
}

func checkAboveFourGiB(t *testing.T, m ktest.Machine, arch, dumpFile string) {
	k, f := ktest.OpenKind(t, arch, m.Kind, dumpFile)
	if !k.Layout.LPAE {
		t.Fatal("kinspect did not find LPAE (long-descriptor) tables")
	}
	ram := consoleRAM(t, f)
	if top := ram[len(ram)-1][1]; top < 1<<32 {
		t.Fatalf("the guest's RAM ends at %#x, below 4 GiB: not an LPAE fixture", top)
	}
	stacks := stackAddrs(t, k, f)
	got := map[uint64]uint64{}
	high := 0
	var cmds []string
	for va, pid := range stacks {
		pa, err := k.Mem.Translator().Translate(va)
		if err != nil {
			t.Errorf("pid %d stack %#x: %v", pid, va, err)
			continue
		}
		inRAM := false
		for _, r := range ram {
			inRAM = inRAM || pa >= r[0] && pa <= r[1]
		}
		if !inRAM {
			t.Errorf("pid %d stack %#x -> %#x: outside the console's RAM %x", pid, va, pa, ram)
		}
		if pa >= 1<<32 {
			high++
		}
		got[va] = pa
		cmds = append(cmds, fmt.Sprintf("vtop %x", va))
	}
	if high == 0 {
		t.Errorf("no stack above 4 GiB: %x", got)
	}
	t.Logf("%s %s: %d stacks, %d above 4 GiB", ktest.Name(f), dumpFile, len(got), high)
	outs, err := oracle.RunFixture(t, f, m.CrashDump, cmds)
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for i, c := range cmds {
		va, _ := strconv.ParseUint(strings.TrimPrefix(c, "vtop "), 16, 64)
		g := vtopPair.FindStringSubmatch(outs[i])
		if g == nil {
			t.Errorf("%s: no VIRTUAL PHYSICAL line in crash's output:\n%s", c, outs[i])
			continue
		}
		cpa, _ := strconv.ParseUint(g[2], 16, 64)
		if cpa != got[va] {
			t.Errorf("%s: kinspect %#x, crash %#x", c, got[va], cpa)
			continue
		}
		matched++
	}
	t.Logf("%s %s: %d/%d translations match crash's vtop", ktest.Name(f), dumpFile, matched, len(cmds))
}
