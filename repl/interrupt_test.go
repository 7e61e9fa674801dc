package repl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinspect/kinspect/internal/ktest"
)

// TestInterruptForeach cancels a long run of foreach bt the way Ctrl-C does
// in the REPL (the session's context): it must stop promptly, not finish.
func TestInterruptForeach(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	var out, errb bytes.Buffer
	s := NewSession(k, &out, &errb)
	line := strings.TrimSuffix(strings.Repeat("foreach bt > /dev/null; ", 2000), "; ")

	// How long one foreach bt takes, to know the whole line would run long.
	start := time.Now()
	if err := s.Exec(context.Background(), "foreach bt > /dev/null", false); err != nil {
		t.Fatal(err)
	}
	one := time.Since(start)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- s.Exec(ctx, line, false) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted run returned %v, want context.Canceled", err)
		}
		took := time.Since(start)
		if full := 2000 * one; took > full/4 {
			t.Errorf("cancelled after 300ms but ran %v (the full line takes ~%v)", took, full)
		}
		t.Logf("one foreach bt: %v; the 2000-command line stopped after %v", one, took)
	case <-time.After(30 * time.Second):
		t.Fatal("foreach bt did not stop within 30 s of the interrupt")
	}
	// The session is still usable.
	out.Reset()
	if err := s.Exec(context.Background(), "sym init_task", false); err != nil || !strings.Contains(out.String(), "init_task") {
		t.Errorf("session unusable after the interrupt: %v %q", err, out.String())
	}
}

// TestAliasExpansion: an alias stands for its text everywhere, including in
// commands that parse their raw line (foreach, p), with arguments appended.
func TestAliasExpansion(t *testing.T) {
	k, _ := ktest.Open(t, "arm64", "vmcore.elf")
	var out, errb bytes.Buffer
	s := NewSession(k, &out, &errb)
	for _, c := range []struct{ line, want string }{
		{"alias pc p init_task.comm; pc", `"swapper/0`},
		{"alias fb foreach bt; fb 1", "PID: 1 "},
		{"alias pl ps -l; pl 1", "PID: 1 "},
	} {
		out.Reset()
		if err := s.Exec(context.Background(), c.line, false); err != nil {
			t.Errorf("%s: %v (%s)", c.line, err, errb.String())
			continue
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%s: output lacks %q:\n%s", c.line, c.want, out.String())
		}
	}
}

// TestForeachHeaders: foreach writes each task's header once, also for
// commands (bt, task) that print the same header themselves; selectors
// that match nothing are an error, not silence.
func TestForeachHeaders(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	var out, errb bytes.Buffer
	s := NewSession(k, &out, &errb)
	for _, line := range []string{"foreach 1 2 bt", "foreach 1 2 task -R pid"} {
		out.Reset()
		if err := s.Exec(context.Background(), line, false); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if n := strings.Count(out.String(), "PID: 1 "); n != 1 {
			t.Errorf("%s: the header of pid 1 appears %d times:\n%s", line, n, out.String())
		}
	}
	if err := s.Exec(context.Background(), "foreach 999999 bt", false); err == nil {
		t.Error("foreach with a pid that matches no task succeeded")
	}
}
