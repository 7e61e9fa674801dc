package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// TestScriptFlag runs --script with arguments, one-shot, against the
// guest's ground truth: the example's D-state report on sleeping tasks
// lists as many tasks as ps --where finds.
func TestScriptFlag(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	dump, vmlinux := f.Path("vmcore.elf"), f.Vmlinux()
	script := filepath.Join(t.TempDir(), "s.star")
	src := "def main(args):\n    print('hello', args)\n    return {\"args\": args, \"crash\": str(find_task(int(args[0])).comm)}\n"
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	gt, ok := f.GT.Task(f.GT.CrashPID)
	if !ok {
		t.Fatal("no crash task in the ground truth")
	}
	code, out, errs := kinspectRun(t, "", dump, vmlinux, "--json", "--script", script, "--", itoa(gt.PID), "x y")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Output string
		Value  struct {
			Args  []string
			Crash string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if doc.Output != "hello [\""+itoa(gt.PID)+"\", \"x y\"]\n" || doc.Value.Crash != gt.Comm || len(doc.Value.Args) != 2 {
		t.Errorf("--script output %+v, want the args and comm %q", doc, gt.Comm)
	}

	// Errors: a traceback with file:line and exit status 1.
	if err := os.WriteFile(script, []byte("def main(args):\n    return object(\"struct task_struct\", 0x10).pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = kinspectRun(t, "", dump, vmlinux, "--script", script)
	if code != 1 || !strings.Contains(errs, script+":2:") || !strings.Contains(errs, "0x") {
		t.Errorf("failing script: exit %d, stderr %q", code, errs)
	}
	// Usage errors.
	for _, args := range [][]string{
		{dump, vmlinux, "--script", script, "-c", "sys"},
		{dump, vmlinux, "-c", "sys", "--", "x"},
	} {
		if code, _, _ := kinspectRun(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args[2:], code)
		}
	}
	// The shipped example runs one-shot.
	code, out, errs = kinspectRun(t, "", dump, vmlinux, "--script", "../../examples/dstate.star")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("examples/dstate.star: exit %d, out %q, stderr %q (the guest has no D task)", code, out, errs)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
