package repl

import (
	"bytes"
	"context"
	"encoding/json"
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
			t.Skip("fixture predates the ftrace ground truth")
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
