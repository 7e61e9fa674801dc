package repl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// TestWhere checks ps --where and foreach --where against the guest's
// ground truth and against the same filter applied to ps --json in Go.
func TestWhere(t *testing.T) {
	fn := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		var all []psTask
		if err := json.Unmarshal([]byte(run(t, k, "ps --json")), &all); err != nil {
			t.Fatal(err)
		}
		pidsOf := func(line string) []int {
			var ts []psTask
			if err := json.Unmarshal([]byte(run(t, k, line)), &ts); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			var out []int
			for _, x := range ts {
				out = append(out, x.PID)
			}
			return out
		}
		// The filter in Go over the documented fields.
		var want []int
		for _, x := range all {
			if x.State == "IN" && !x.KernelThread && x.PPID != 1 {
				want = append(want, x.PID)
			}
		}
		if got := pidsOf(`ps --json --where 'state == "IN" && !kernel_thread && ppid != 1'`); fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
			t.Errorf("ps --where: %v, want %v", got, want)
		}
		// The guest's multi-threaded process: its threads by tgid.
		tg := f.GT.RolePID("threads")
		var tids []int
		for _, th := range f.GT.ThreadsOf(tg) {
			tids = append(tids, th.PID)
		}
		sort.Ints(tids)
		if got := pidsOf(fmt.Sprintf(`ps --json --where 'tgid == %d'`, tg)); fmt.Sprint(got) != fmt.Sprint(tids) || len(tids) < 2 {
			t.Errorf("ps --where 'tgid == %d': %v, guest's threads %v", tg, got, tids)
		}
		// Fields only the unwinder gives work too.
		if got := pidsOf(`ps --json --where 'stack_depth > 0 && wchan != ""' -u`); len(got) == 0 {
			t.Error("no user task with a stack and a wait channel")
		}
		// foreach: the guest's sleepers, by comm, each with a backtrace.
		sleepers := f.GT.Role("sleeper")
		var fr foreachResult
		if err := json.Unmarshal([]byte(run(t, k, `foreach --where 'comm == "kt_sleeper"' bt --json`)), &fr); err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, it := range fr.Tasks {
			if len(it.Result) == 0 || it.Error != "" {
				t.Errorf("pid %d: no backtrace (%s)", it.PID, it.Error)
			}
			got = append(got, it.PID)
		}
		sort.Ints(sleepers)
		if fmt.Sprint(got) != fmt.Sprint(sleepers) || len(got) == 0 {
			t.Errorf("foreach --where kt_sleeper: %v, guest's sleepers %v", got, sleepers)
		}
		// --where combines with selectors: none of the sleepers is a kernel thread.
		if out := run(t, k, `foreach kernel --where 'comm == "kt_sleeper"' ps`); out != "" {
			t.Errorf("foreach kernel --where kt_sleeper: %q", out)
		}
		t.Logf("%s: %d IN user tasks not children of init, %d threads of pid %d, %d sleepers", ktest.Name(f), len(want), len(tids), tg, len(got))
	}
	ktest.ForEach(t, fn)
	ktest.ForEachExtra(t, fn)
}

func TestWhereErrors(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	for _, line := range []string{`ps --where 'bogus == 1'`, `ps --where 'pid =='`, `ps --where 'comm'`, `foreach --where 'nope' bt`, `ps --tree --where 'pid == 1'`} {
		s := NewSession(k, &discard{}, &discard{})
		err := s.Exec(context.Background(), line, false)
		var ue *UsageError
		if err == nil || !errors.As(err, &ue) {
			t.Errorf("%s: %v, want a usage error", line, err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
