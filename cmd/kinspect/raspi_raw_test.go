package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
)

// psPID is a ps row's PID column (after crash's ">" mark of active tasks).
var psPID = regexp.MustCompile(`^>?\s*(\d+)\s`)

// TestRaspiRawRAM opens the Raspberry Pi fixtures' RAM cut to one raw file
// from physical 0 (ram.bin: what a JTAG probe's Trace32 Data.SAVE.Binary
// gives) as a Trace32 user writes it, vmlinux first: no notes, no
// registers, no VMCOREINFO. sys must name the guest's release and panic,
// ps must list every thread the guest's /proc listed, and ps and the
// backtraces of the guest's sleeping tasks must read as from the ELF dump
// of the same moment.
func TestRaspiRawRAM(t *testing.T) {
	for _, arch := range fixture.RaspiArches {
		t.Run(arch, func(t *testing.T) {
			f := fixture.RequireKind(t, arch, fixture.KindRaspi)
			script := "ps"
			for _, pid := range sleepingPIDs(f) {
				script += fmt.Sprintf("; bt %d", pid)
			}
			raw := runScript(t, f.Vmlinux(), f.Path(ktest.RawRAM), "sys; "+script)
			for _, want := range []string{"     RELEASE: " + f.GT.Release + "\n", `       PANIC: "` + f.GT.Panic + `"`} {
				if !strings.Contains(raw, want) {
					t.Errorf("sys from raw RAM lacks %q:\n%s", want, raw)
				}
			}
			listed := map[int]bool{}
			for _, l := range strings.Split(raw, "\n") {
				if m := psPID.FindStringSubmatch(l); m != nil {
					var pid int
					fmt.Sscan(m[1], &pid)
					listed[pid] = true
				}
			}
			missing := 0
			for _, g := range f.GT.Tasks {
				if !listed[g.PID] {
					missing++
					t.Errorf("pid %d (%s) of the guest's /proc is not in ps from raw RAM", g.PID, g.Comm)
				}
			}
			// The shell that wrote sysrq-c was running: raw RAM has no
			// registers for it, and bt says so.
			crashBT := runScript(t, f.Vmlinux(), f.Path(ktest.RawRAM), fmt.Sprintf("bt %d", f.GT.CrashPID))
			if !strings.Contains(crashBT, "no registers for that cpu") {
				t.Errorf("bt of the panicking pid %d from raw RAM does not say its registers are missing:\n%s", f.GT.CrashPID, crashBT)
			}
			elf := runScript(t, f.Path("vmcore.elf"), f.Vmlinux(), script)
			if !strings.HasSuffix(raw, elf) {
				t.Errorf("ps and bt from raw RAM differ from the ELF dump's:\nraw:\n%s\nELF:\n%s", raw, elf)
			}
			t.Logf("%s: %d/%d guest threads in ps from raw RAM; ps and %d sleeping tasks' bt equal to the ELF dump's",
				ktest.Name(f), len(f.GT.Tasks)-missing, len(f.GT.Tasks), len(sleepingPIDs(f)))
		})
	}
}

// sleepingPIDs are the tasks the guest's /proc saw asleep (S, D, I): the
// workload's sleepers, shells, kernel threads; their stacks are at rest.
// The shell that wrote sysrq-c slept when it was listed but panicked
// after: its stack is in its CPU's registers, which raw RAM lacks.
func sleepingPIDs(f *fixture.Fixture) []int {
	var out []int
	for _, g := range f.GT.Tasks {
		if (g.State == "S" || g.State == "D" || g.State == "I") && g.PID != f.GT.CrashPID {
			out = append(out, g.PID)
		}
	}
	return out
}

// runScript runs kinspect on two arguments (a dump and vmlinux in either
// order) with a -c script and returns its output; a failure is fatal.
func runScript(t *testing.T, a, b, script string) string {
	t.Helper()
	code, out, errs := kinspectRun(t, "", a, b, "-c", script)
	if code != 0 {
		t.Fatalf("kinspect %s %s -c %q: exit %d:\n%s", a, b, script, code, errs)
	}
	return out
}
