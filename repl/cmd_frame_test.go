package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// frame, args, locals and p in a frame's scope on the panic task. The
// fixtures crash with `echo c > /proc/sysrq-trigger`: sysrq's handler is
// called with key 'c' (drivers/tty/sysrq.c), which is the expected value
// where the dump still holds it; the panic task is the guest's crash_pid.
func TestFrameCommands(t *testing.T) {
	run := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		var out, errb bytes.Buffer
		s := NewSession(k, &out, &errb)
		exec := func(line string) string {
			t.Helper()
			out.Reset()
			if err := s.Exec(context.Background(), line, false); err != nil {
				t.Fatalf("%s: %v (stderr %q)", line, err, errb.String())
			}
			return out.String()
		}
		var bt struct {
			Tasks []struct {
				PID    int
				Frames []btFrame
			}
		}
		if err := json.Unmarshal([]byte(exec("bt --args --json")), &bt); err != nil || len(bt.Tasks) != 1 {
			t.Fatalf("bt --args --json: %v", err)
		}
		if bt.Tasks[0].PID != f.GT.CrashPID {
			t.Errorf("context task pid %d, the guest's crash_pid %d", bt.Tasks[0].PID, f.GT.CrashPID)
		}
		level := -1
		var key *frameVarJSON
		for _, fr := range bt.Tasks[0].Frames {
			if strings.HasPrefix(fr.Function, "__handle_sysrq") {
				level = fr.Level
				for i := range fr.Args {
					if fr.Args[i].Name == "key" {
						key = &fr.Args[i]
					}
				}
			}
		}
		if level < 0 || key == nil {
			t.Fatalf("no __handle_sysrq frame with a key argument in bt --args")
		}
		got := exec("frame " + strconv.Itoa(level))
		if !strings.HasPrefix(got, "#"+strconv.Itoa(level)+"  __handle_sysrq") {
			t.Errorf("frame %d = %q", level, got)
		}
		if !strings.Contains(exec("args"), " key = ") {
			t.Errorf("args has no key")
		}
		exec("locals")
		if key.Value == nil {
			t.Logf("%s: key is %s at __handle_sysrq", ktest.Name(f), key.Status)
			return
		}
		if got := exec("p key"); !strings.HasPrefix(got, "key = $1 = 99") {
			t.Errorf("p key = %q, want 99 ('c')", got)
		}
		if got := exec("p key + 1"); got != "$2 = 100\n" {
			t.Errorf("p key + 1 = %q", got)
		}
		for _, bad := range []string{"frame 9999", "frame x"} {
			if err := s.Exec(context.Background(), bad, false); err == nil {
				t.Errorf("%s: no error", bad)
			}
		}
	}
	ktest.ForEach(t, run)
	ktest.ForEachExtra(t, run)
}
