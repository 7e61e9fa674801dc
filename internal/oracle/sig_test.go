package oracle_test

// sig compared with crash 8.0.6 on the same dump for tasks of every kind
// the workload has: init, a multi-threaded process, the files holder and
// the shell that crashed the kernel.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

func sigCommands(f *fixture.Fixture) []string {
	out := []string{"sig 1"}
	for _, pid := range []int{f.GT.RolePID("threads"), f.GT.RolePID("files"), f.GT.CrashPID} {
		if pid > 0 {
			out = append(out, fmt.Sprintf("sig %d", pid))
		}
	}
	return out
}

var saNamesRE = regexp.MustCompile(`\s*\(SA_[A-Z_|]+\)`)

// sigLines is sig's output with runs of blanks collapsed; crash names SA_
// flags from the headers it was built with (its arm64 build may lack
// SA_RESTORER), so the names are compared on x86_64 only: the hex flags
// are compared everywhere.
func sigLines(s string, names bool) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !names {
			l = saNamesRE.ReplaceAllString(l, "")
		}
		if l = strings.Join(strings.Fields(l), " "); l != "" && !strings.HasPrefix(l, "SIG SIGACTION") {
			out = append(out, l)
		}
	}
	return out
}

func TestSigMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) {
			tg := open(t, fx.Arch, fx.Suite)
			for _, cmd := range sigCommands(tg.f) {
				co, ko := tg.both(t, cmd)
				want, got := sigLines(co, fx.Arch == "x86_64"), sigLines(ko, fx.Arch == "x86_64")
				if len(want) < 64 {
					t.Fatalf("%s: crash printed %d lines:\n%s", cmd, len(want), co)
				}
				if strings.Join(want, "\n") != strings.Join(got, "\n") {
					for i := range want {
						if i >= len(got) || got[i] != want[i] {
							t.Errorf("%s line %d:\n crash    %q\n kinspect %q", cmd, i, want[i], got[min(i, len(got)-1)])
							break
						}
					}
				}
				t.Logf("%s: %d lines as crash", cmd, len(want))
			}
		})
	}
}
