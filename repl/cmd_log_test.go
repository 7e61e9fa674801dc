package repl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

func runCmd(t *testing.T, k *kstructs.Kernel, line string) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := NewSession(k, &out, &errOut)
	if err := s.Exec(context.Background(), line, false); err != nil {
		t.Fatalf("%s: %v (stderr %s)", line, err, errOut.String())
	}
	return out.String(), errOut.String()
}

// TestLogCommandMatchesConsole: `log` prints, line for line, what the
// guest's serial console showed of the kernel from boot to the panic.
// crash indents the continuation lines of a multi-line record instead of
// repeating the timestamp, so those lines are compared by their text.
func TestLogCommandMatchesConsole(t *testing.T) {
	stamp := regexp.MustCompile(`^\[ *\d+\.\d{6}\] `)
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		fh, err := os.Open(f.Path("console.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		var want []string
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if l := strings.TrimRight(sc.Text(), "\r"); stamp.MatchString(l) {
				want = append(want, l)
			}
		}
		out, stderr := runCmd(t, k, "log")
		if stderr != "" {
			t.Errorf("log stderr: %s", stderr)
		}
		// Give continuation lines their record's timestamp back.
		var got []string
		prefix := ""
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if m := stamp.FindString(l); m != "" {
				prefix = m
				got = append(got, l)
			} else if prefix != "" && strings.HasPrefix(l, strings.Repeat(" ", len(prefix))) {
				got = append(got, prefix+l[len(prefix):])
			}
		}
		j, matched := 0, 0
		for _, w := range want {
			for j < len(got) && got[j] != w {
				j++
			}
			if j == len(got) {
				t.Fatalf("console line %q missing from `log` (after %d matched)", w, matched)
			}
			matched++
			j++
		}
		t.Logf("%s: `log` has %d lines, all %d console kernel lines found in order", ktest.Name(f), len(got), matched)

		// log -t is the text alone; log -m carries the level.
		outT, _ := runCmd(t, k, "log -t")
		if strings.Count(outT, "\n") != strings.Count(out, "\n") || stamp.MatchString(outT) {
			t.Error("log -t: wrong line count or timestamps present")
		}
		outM, _ := runCmd(t, k, "log -m")
		if !regexp.MustCompile(`(?m)^\[ *\d+\.\d{6}\] <0>Kernel panic - not syncing`).MatchString(outM) {
			t.Error("log -m: no <0>Kernel panic line")
		}
		js, _ := runCmd(t, k, "log --json")
		var recs []kstructs.LogRecord
		if err := json.Unmarshal([]byte(js), &recs); err != nil || len(recs) == 0 {
			t.Fatalf("log --json: %v (%d records)", err, len(recs))
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

func TestSysPanic(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		out, _ := runCmd(t, k, "sys")
		want := `       PANIC: "` + f.GT.Panic + `"` + "\n"
		if !strings.Contains(out, want) {
			t.Errorf("sys has no %q:\n%s", want, out)
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

func TestTriage(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		js, _ := runCmd(t, k, "triage --json")
		var r struct {
			Release   string   `json:"release"`
			Panic     string   `json:"panic"`
			PanicLog  []string `json:"panic_log"`
			Taint     string   `json:"taint"`
			PanicTask *struct {
				PID            int      `json:"pid"`
				Backtrace      []string `json:"backtrace"`
				BacktraceError string   `json:"backtrace_error"`
			} `json:"panic_task"`
			CPUs []struct {
				CPU       int `json:"cpu"`
				NrRunning int `json:"nr_running"`
				Current   *struct {
					PID int `json:"pid"`
				} `json:"current"`
			} `json:"cpus"`
			Blocked []any `json:"blocked"`
		}
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		if r.Release != f.Release || r.Panic != f.GT.Panic || r.Taint == "" {
			t.Errorf("release %q panic %q taint %q", r.Release, r.Panic, r.Taint)
		}
		if n := len(r.PanicLog); n == 0 || !strings.Contains(r.PanicLog[n-1], f.GT.Panic) {
			t.Errorf("panic log does not end at the panic: %q", r.PanicLog)
		}
		if r.PanicTask == nil || r.PanicTask.PID != f.GT.CrashPID {
			t.Errorf("panic task %+v, want pid %d", r.PanicTask, f.GT.CrashPID)
		} else if len(r.PanicTask.Backtrace) == 0 {
			// The unwinder is not triage's: only require that the gap is said.
			if r.PanicTask.BacktraceError == "" {
				t.Error("panic task has neither a backtrace nor a reason for its absence")
			}
			t.Logf("panic task backtrace: %s", r.PanicTask.BacktraceError)
		}
		if len(r.CPUs) != 4 {
			t.Errorf("%d cpus", len(r.CPUs))
		}
		found := false
		for _, c := range r.CPUs {
			found = found || c.Current != nil && c.Current.PID == f.GT.CrashPID
		}
		if !found {
			t.Error("the crashing shell is no CPU's current task")
		}
		txt, _ := runCmd(t, k, "triage")
		if !strings.Contains(txt, "PANIC: \""+f.GT.Panic+"\"") {
			t.Errorf("triage text:\n%s", txt)
		}
	})
}
