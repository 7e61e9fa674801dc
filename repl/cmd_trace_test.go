package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// TestTraceShowCommand: `trace show -i kt -c N` prints the frozen
// instance's events exactly as the guest's per-cpu trace file did (the
// decoder is compared in full by kstructs' TestTraceMatchesGroundTruth);
// --json gives one object per event with the documented fields; -e and
// --last select.
func TestTraceShowCommand(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want := f.GT.Trace["kt"]["cpu0"]
		if len(want) == 0 {
			t.Fatal("the fixture has no ftrace ground truth: its guest did not trace (rebuild it: make fixtures)")
		}
		out, stderr := runCmd(t, k, "trace show -i kt -c 0")
		if stderr != "" {
			t.Errorf("stderr: %s", stderr)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if !strings.HasPrefix(l, "#") {
				got = append(got, strings.TrimSpace(l))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines, guest %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != strings.TrimSpace(want[i]) {
				t.Fatalf("line %d:\n guest:    %s\n kinspect: %s", i, want[i], got[i])
			}
		}
		out, _ = runCmd(t, k, "trace show --last 3 -e sched_switch")
		if n := strings.Count(out, "sched_switch: "); n != 3 {
			t.Errorf("--last 3 -e sched_switch: %d sched_switch lines:\n%s", n, out)
		}

		var buf, errBuf bytes.Buffer
		s := NewSession(k, &buf, &errBuf)
		s.JSON = true
		if err := s.Exec(context.Background(), "trace show -i kt -c 0 --last 2", false); err != nil {
			t.Fatal(err)
		}
		var evs []map[string]any
		if err := json.Unmarshal(buf.Bytes(), &evs); err != nil || len(evs) != 2 {
			t.Fatalf("json: %v, %d events: %s", err, len(evs), buf.String())
		}
		for _, fld := range JSONFields()["trace show"] {
			if _, ok := evs[1][fld.Name]; !ok && !fld.OmitEmpty {
				t.Errorf("json event lacks %q", fld.Name)
			}
		}
		fields, _ := evs[1]["fields"].(map[string]any)
		if evs[1]["event"] != "sched_switch" && evs[1]["event"] != "sched_process_exit" || fields["prev_pid"] == nil && fields["pid"] == nil {
			t.Errorf("json event %v", evs[1])
		}
		if !strings.Contains(strings.TrimSpace(want[len(want)-1]), evs[1]["text"].(string)) {
			t.Errorf("json text %q not in the guest's line %q", evs[1]["text"], want[len(want)-1])
		}
	})
}

// TestTraceDumpTraceCmd writes each instance as a trace.dat and reads it
// back with trace-cmd (Debian's trace-cmd, when installed): it must show
// the same events (cpu, pid, nanosecond stamp, event name) as kinspect.
func TestTraceDumpTraceCmd(t *testing.T) {
	tc, err := exec.LookPath("trace-cmd")
	if err != nil {
		t.Skip("trace-cmd not installed")
	}
	re := regexp.MustCompile(`^\s*.*-(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{9}): (\w+):`)
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if len(f.GT.Trace) == 0 {
			t.Fatal("the fixture has no ftrace ground truth: its guest did not trace (rebuild it: make fixtures)")
		}
		for _, inst := range []string{"kt", "top"} {
			file := filepath.Join(t.TempDir(), inst+".dat")
			runCmd(t, k, "trace dump -i "+inst+" -t "+file)
			out, err := exec.Command(tc, "report", "-t", file).CombinedOutput()
			if err != nil {
				t.Fatalf("trace-cmd report %s: %v\n%s", inst, err, out)
			}
			var got []string
			for _, l := range strings.Split(string(out), "\n") {
				if m := re.FindStringSubmatch(l); m != nil {
					cpu, _ := strconv.Atoi(m[2])
					got = append(got, fmt.Sprintf("%d %s %s%s %s", cpu, m[1], m[3], m[4], m[5]))
				}
			}
			ti, _ := k.TraceInstance(inst)
			var want []string
			for _, c := range ti.CPUs {
				evs, _ := k.TraceEvents(ti, c.CPU)
				for _, e := range evs {
					want = append(want, fmt.Sprintf("%d %d %d %s", e.CPU, e.PID, e.TS, e.Name))
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				n := 0
				for n < len(got) && n < len(want) && got[n] == want[n] {
					n++
				}
				t.Errorf("%s: trace-cmd shows %d events, kinspect %d; first difference at %d: %q vs %q", inst, len(got), len(want), n, got[min(n, len(got)-1)], want[min(n, len(want)-1)])
			}
			t.Logf("%s %s: trace-cmd report shows the %d events", ktest.Name(f), inst, len(got))
		}
	})
}
