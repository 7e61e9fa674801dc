package repl

// The system views on the module fixtures (an oops and a hung task in the
// test module, testdata/module): checked against what the guest printed
// before the fault (/proc/kinspect_test, /proc/devices, /proc/interrupts)
// and, for trace, against the guest never having enabled tracing.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// TestModuleTimer: `timer` holds the test module's timer_list at the
// address the module printed, with its function and expiry, the function
// named in the module.
func TestModuleTimer(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		rep := f.GT.TestModule()["timer"]
		if len(rep) != 1 || len(rep[0]) < 5 {
			t.Fatalf("the module printed no timer line: %q", rep)
		}
		addr, _ := strconv.ParseUint(rep[0][0], 16, 64)
		fn, _ := strconv.ParseUint(rep[0][2], 16, 64)
		exp, _ := strconv.ParseUint(rep[0][4], 10, 64)
		w, err := k.Timers()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range w.Bases {
			for _, tm := range b.Timers {
				if tm.Addr == addr {
					if tm.Function != fn || tm.Expires != exp {
						t.Errorf("timer %#x: function %#x expires %d, the module printed %#x %d", addr, tm.Function, tm.Expires, fn, exp)
					}
					out, _ := runCmd(t, k, "timer")
					if !strings.Contains(out, fmt.Sprintf("%x  <kt_timer_fn", fn)) {
						t.Errorf("timer does not name the module's function:\n%s", out)
					}
					return
				}
			}
		}
		t.Errorf("the module's timer %#x is on no timer base", addr)
	})
}

// TestDevMatchesProcDevices: dev lists exactly the majors and names of the
// guest's /proc/devices (character and block), the module fixtures' guests
// having loaded the loop driver.
func TestDevMatchesProcDevices(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want := map[string][]string{}
		sec := ""
		for _, l := range f.GT.Files["/proc/devices"] {
			switch {
			case strings.HasPrefix(l, "Character"):
				sec = "chr"
			case strings.HasPrefix(l, "Block"):
				sec = "blk"
			default:
				if fs := strings.Fields(l); len(fs) == 2 && sec != "" {
					want[sec] = append(want[sec], fs[0]+" "+fs[1])
				}
			}
		}
		if len(want["chr"]) == 0 || len(want["blk"]) == 0 {
			t.Fatalf("the guest printed no /proc/devices: %q", f.GT.Files["/proc/devices"])
		}
		cs, err := k.CharDevs()
		if err != nil {
			t.Fatal(err)
		}
		bs, err := k.BlockDevs()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, c := range cs {
			got["chr"] = append(got["chr"], fmt.Sprintf("%d %s", c.Major, c.Name))
		}
		for _, b := range bs {
			got["blk"] = append(got["blk"], fmt.Sprintf("%d %s", b.Major, b.Name))
		}
		for _, s := range []string{"chr", "blk"} {
			if !sameSet(want[s], got[s]) {
				t.Errorf("%s devices: guest %q, kinspect %q", s, want[s], got[s])
			}
		}
	})
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestTraceNeverEnabled: the module fixtures' guests never touch tracefs,
// so trace must say tracing was never enabled (buffers at their boot size,
// no entries), and trace show and fork-exit fail with that reason.
func TestTraceNeverEnabled(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		all, err := k.TraceInstances()
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range all {
			if ti.Expanded {
				t.Errorf("instance %q: buffers expanded, as if tracing had been used", ti.Name)
			}
			for _, c := range ti.CPUs {
				if c.Entries != 0 {
					t.Errorf("instance %q cpu %d: %d entries", ti.Name, c.CPU, c.Entries)
				}
			}
		}
		out, _ := runCmd(t, k, "trace")
		if !strings.Contains(out, "tracing never enabled since boot") {
			t.Errorf("trace does not say tracing was never enabled:\n%s", out)
		}
		for _, cmd := range []string{"trace show", "trace fork-exit"} {
			var buf, errBuf strings.Builder
			s := NewSession(k, &buf, &errBuf)
			err := s.Exec(t.Context(), cmd, false)
			if !errors.Is(err, kstructs.ErrTracingNeverEnabled) {
				t.Errorf("%s: %v, want ErrTracingNeverEnabled", cmd, err)
			}
		}
	})
}
