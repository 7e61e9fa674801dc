package oracle_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
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

// crashPTE is the last-level entry crash's vtop -c walks ("PTE: ADDR =>").
var crashPTE = regexp.MustCompile(`(?m)^\s*PTE: ([0-9a-f]+) =>`)

func parseHex(s string) uint64 {
	v, _ := strconv.ParseUint(s, 16, 64)
	return v
}

var vtopPair = regexp.MustCompile(`(?m)^([0-9a-f]+)\s+([0-9a-f]+)\s*$`)

// TestLPAEAboveFourGiB: on the LPAE fixture (armmp-lpae, RAM from
// 0x40000000 to 0x140000000) kinspect reads through long-descriptor tables
// to RAM above 4 GiB: the tasks' vmalloc'd stacks the backtrace tests
// unwind translate to physical addresses inside the RAM the guest's
// console printed, at least one of them at or above 4 GiB, and each
// translation is crash's vtop of the same address.
func TestLPAEAboveFourGiB(t *testing.T) {
	i := slices.IndexFunc(ktest.Machines, func(m ktest.Machine) bool { return m.Kind == fixture.KindLPAE })
	if i < 0 {
		t.Fatal("test bug: no lpae in ktest.Machines")
	}
	m := ktest.Machines[i]
	for _, arch := range m.Arches {
		t.Run(arch+"-"+m.Kind, func(t *testing.T) {
			for _, d := range m.Dumps {
				t.Run(d, func(t *testing.T) { checkAboveFourGiB(t, m, arch, d) })
			}
		})
	}
}

// probe is one translation compared with crash's: the command and
// kinspect's physical address.
type probe struct {
	cmd  string
	va   uint64
	pa   uint64
	what string
	pte  uint64 // a user probe's last-level table, as kinspect walked it
}

// userProbes are the first mapped user page of the fifo task and of the
// first sleeper: their page tables are highmem pages too (CONFIG_HIGHPTE),
// compared with crash's vtop -c.
func userProbes(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) []probe {
	t.Helper()
	var out []probe
	for _, pid := range []int{f.GT.RolePID("fifo"), f.GT.Role("sleeper")[0]} {
		tk, err := k.TaskByPID(pid)
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		va, ok := firstMapped(k, tk.MM)
		if !ok {
			t.Errorf("pid %d: no mapped user page", pid)
			continue
		}
		us, err := k.UserSpace(tk.MM)
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		pa, err := us.Translate(va)
		if err != nil {
			t.Fatalf("pid %d user %#x: %v", pid, va, err)
		}
		var pte uint64
		if err := us.Tables(va, func(_ string, table uint64) { pte = table }); err != nil {
			t.Fatalf("pid %d user %#x tables: %v", pid, va, err)
		}
		out = append(out, probe{fmt.Sprintf("vtop -c %d %x", pid, va), va, pa, fmt.Sprintf("pid %d user page", pid), pte})
	}
	return out
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
	var probes []probe
	for va, pid := range stackAddrs(t, k, f) {
		pa, err := k.Mem.Translator().Translate(va)
		if err != nil {
			t.Errorf("pid %d stack %#x: %v", pid, va, err)
			continue
		}
		probes = append(probes, probe{cmd: fmt.Sprintf("vtop %x", va), va: va, pa: pa, what: fmt.Sprintf("pid %d stack", pid)})
	}
	stacks, highStacks := len(probes), 0
	for _, p := range probes {
		if p.pa >= 1<<32 {
			highStacks++
		}
	}
	if highStacks == 0 {
		t.Errorf("no kernel stack above 4 GiB: %+v", probes)
	}
	user := userProbes(t, k, f)
	highPTE := 0
	for _, p := range user {
		if p.pte >= 1<<32 {
			highPTE++
		}
	}
	if highPTE == 0 {
		t.Errorf("no user page table above 4 GiB (CONFIG_HIGHPTE): %+v", user)
	}
	probes = append(probes, user...)
	high := 0
	for _, p := range probes {
		inRAM := false
		for _, r := range ram {
			inRAM = inRAM || p.pa >= r[0] && p.pa <= r[1]
		}
		if !inRAM {
			t.Errorf("%s %#x -> %#x: outside the console's RAM %x", p.what, p.va, p.pa, ram)
		}
		if p.pa >= 1<<32 {
			high++
		}
	}
	t.Logf("%s %s: %d translations (%d kernel stacks), %d above 4 GiB; %d of %d user PTE tables above 4 GiB",
		ktest.Name(f), dumpFile, len(probes), stacks, high, highPTE, len(user))
	compareVtops(t, f, m, probes)
}

// compareVtops compares each probe's physical address with crash's (the
// "VIRTUAL PHYSICAL" line of its vtop).
func compareVtops(t *testing.T, f *fixture.Fixture, m ktest.Machine, probes []probe) {
	cmds := make([]string, len(probes))
	for i, p := range probes {
		cmds[i] = p.cmd
	}
	outs, err := oracle.RunFixture(t, f, m.CrashDump, cmds)
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for i, p := range probes {
		g := vtopPair.FindStringSubmatch(outs[i])
		if g == nil {
			t.Errorf("%s: no VIRTUAL PHYSICAL line in crash's output:\n%s", p.cmd, outs[i])
			continue
		}
		if cpa, _ := strconv.ParseUint(g[2], 16, 64); cpa != p.pa {
			t.Errorf("%s (%s): kinspect %#x, crash %#x", p.cmd, p.what, p.pa, cpa)
			continue
		}
		if e := crashPTE.FindStringSubmatch(outs[i]); p.pte != 0 && (e == nil || parseHex(e[1])&^0xfff != p.pte) {
			t.Errorf("%s (%s): kinspect's PTE table %#x, crash's entry %v", p.cmd, p.what, p.pte, e)
			continue
		}
		matched++
	}
	t.Logf("%s: %d/%d translations match crash's vtop", ktest.Name(f), matched, len(probes))
}
