package oracle_test

// bt -e (the search of a task's stack for exception frames) against crash
// 8.0.6's on the same dumps, line for line: the panic task, init (a user
// task asleep in a syscall) and kthreadd (a kernel thread) on every
// sysrq fixture, and the module's tasks on the module fixtures. crash has
// no bt -e on arm (arm_eframe_search is not implemented): there crash's
// refusal is checked, and the console tests (kstructs eframe_test.go)
// hold arm's frames.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// eframeCommands: bt -e of the crash task, init and kthreadd.
func eframeCommands(f *fixture.Fixture) []string {
	var cmds []string
	for _, pid := range []int{f.GT.CrashPID, 1, 2} {
		cmds = append(cmds, fmt.Sprintf("bt -e %d", pid))
	}
	return cmds
}

func TestBtEframeMatchesCrash(t *testing.T) {
	forArches(t, compareEframes)
}

func TestModuleBtEframeMatchesCrash(t *testing.T) {
	forKinds(t, compareEframes)
}

func compareEframes(t *testing.T, tg *target) {
	for _, cmd := range eframeCommands(tg.f) {
		c, k := tg.crash(t, cmd), tg.kinspect(t, cmd)
		if tg.arch == "arm" {
			if !strings.Contains(c, "arm_eframe_search: N/A") {
				t.Errorf("%s: crash on arm printed %q, expected its refusal (arm_eframe_search: N/A)", cmd, c)
			}
			continue
		}
		// crash's bt -e searches the task stack only (-E the CPUs'
		// stacks); kinspect adds an active task's CPU stacks after it.
		if i := strings.Index(k, "\nCPU "); i >= 0 {
			t.Logf("%s: kinspect's frames on CPU stacks, crash has no -e for them:%s", cmd, k[i:])
			k = k[:i+1]
		}
		if cc, kc := tg.canonSyms(c), tg.canonSyms(k); cc != c || kc != k {
			if c != k && cc == kc {
				t.Logf("%s: the same up to aliases of one address (crash and kinspect pick different names, e.g. clear_page and __pi_clear_page)", cmd)
			}
			c, k = cc, kc
		}
		compareLines(t, cmd, c, k)
		t.Logf("%s: %d exception frames, as crash", cmd, strings.Count(c, "EXCEPTION FRAME AT"))
	}
}

// bracketSym is a symbol crash and kinspect name in brackets: "[sym+off]",
// "[exception RIP: sym+off]".
var bracketSym = regexp.MustCompile(`\[(exception RIP: )?([A-Za-z_][\w.]*)([+\]])`)

// canonSyms names every bracketed symbol by its address, so that two
// aliases of one address compare equal.
func (tg *target) canonSyms(s string) string {
	return bracketSym.ReplaceAllStringFunc(s, func(m string) string {
		g := bracketSym.FindStringSubmatch(m)
		if sym, ok := tg.k.Image.Lookup(g[2]); ok {
			return fmt.Sprintf("[%s%#x%s", g[1], sym.Addr, g[3])
		}
		return m
	})
}
