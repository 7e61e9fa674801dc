package kstructs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// TestCrossVersion runs the essentials on kernels other than bookworm's
// 6.1 (ktest.Extras: 5.10 on x86_64, 6.12 with 52-bit VAs on arm64), where
// structure layouts, symbol names and page-table formats differ: the
// system banner, the panic task's backtrace, the log's panic line, and a
// backtrace of every task (every ground-truth task is compared by
// TestTasksMatchGroundTruth on these fixtures too).
func TestCrossVersion(t *testing.T) {
	ktest.ForEachExtra(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		t.Run("sys", func(t *testing.T) {
			si, errs := k.Sys()
			for _, err := range errs {
				t.Errorf("sys: %v", err)
			}
			if si.Release != f.GT.Release {
				t.Errorf("RELEASE %q, ground truth %q", si.Release, f.GT.Release)
			}
		})
		t.Run("panic-task", func(t *testing.T) {
			task, err := k.TaskByPID(f.GT.CrashPID)
			if err != nil {
				t.Fatalf("crash pid %d: %v", f.GT.CrashPID, err)
			}
			bt, err := k.Backtrace(task.Addr)
			if err != nil {
				t.Fatalf("bt %d: %v", f.GT.CrashPID, err)
			}
			fns := functions(bt)
			if err := inOrder(fns, "panic", "sysrq_handle_crash", "write_sysrq_trigger"); err != nil {
				t.Errorf("%v\n%s", err, btText(bt))
			}
			if bt.Stopped != "" || len(fns) == 0 || !hasPrefixAny(fns[len(fns)-1], syscallEntry[f.Arch]) {
				t.Errorf("the panic task's stack does not end at the syscall entry %v:\n%s", syscallEntry[f.Arch], btText(bt))
			}
		})
		t.Run("log", func(t *testing.T) {
			recs, errs := k.Log()
			for _, err := range errs {
				t.Errorf("log: %v", err)
			}
			found := false
			for _, r := range recs {
				if strings.Contains(r.Text, f.GT.Panic) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%d log records, none with the panic line %q", len(recs), f.GT.Panic)
			}
		})
		t.Run("bt-every-task", func(t *testing.T) { everyTask(t, k, f) })
	})
}

// TestWrongVmlinux opens dumps with the vmlinux of another kernel of the
// same architecture: Open must say the two do not match, naming both
// releases, rather than report whatever the wrong kernel's layout trips
// on; with Force it may fail, but must not panic.
func TestWrongVmlinux(t *testing.T) {
	pairs := []struct{ arch, dumpSuite, vmlinuxSuite string }{
		{"arm64", "bookworm", "trixie"},
		{"arm64", "trixie", "bookworm"},
		{"x86_64", "bookworm", "bullseye"},
		{"x86_64", "bullseye", "bookworm"},
	}
	for _, p := range pairs {
		t.Run(p.arch+"-"+p.dumpSuite+"-with-"+p.vmlinuxSuite, func(t *testing.T) {
			df := fixture.RequireSuite(t, p.arch, p.dumpSuite)
			vf := fixture.RequireSuite(t, p.arch, p.vmlinuxSuite)
			k, err := kstructs.Open(df.Path("vmcore.elf"), vf.Vmlinux(), kstructs.Options{})
			if err == nil {
				k.Close()
				t.Fatalf("%s dump opened with the %s vmlinux", df.Release, vf.Release)
			}
			var me *kstructs.MismatchError
			if !errors.As(err, &me) {
				t.Errorf("error is not a *kstructs.MismatchError: %v", err)
			}
			for _, rel := range []string{df.Release, vf.Release} {
				if !strings.Contains(err.Error(), rel) {
					t.Errorf("error does not name %s: %v", rel, err)
				}
			}
			t.Logf("%v", err)
			k, err = kstructs.Open(df.Path("vmcore.elf"), vf.Vmlinux(), kstructs.Options{Force: true})
			if err != nil {
				t.Logf("with Force: %v", err)
				return
			}
			defer k.Close()
			k.Sys() // must not panic on the wrong kernel's structures
			if tasks, err := k.Tasks(); err == nil && len(tasks) > 0 {
				k.Backtrace(tasks[0].Addr)
			}
		})
	}
}
