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
// system banner, every ground-truth task, the panic task's backtrace, the
// log's panic line, and a backtrace of every task.
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
		t.Run("tasks", func(t *testing.T) { crossTasks(t, k, f) })
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

// crossTasks checks every ground-truth thread against the dump's task
// table: present, same comm, parent, scheduling policy and nice.
func crossTasks(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if p := k.TaskListProblems(); len(p) > 0 {
		t.Errorf("task list problems on an intact dump: %v", p)
	}
	byPID := map[int]*kstructs.Task{}
	for _, x := range tasks {
		if x.PID != 0 {
			byPID[x.PID] = x
		}
	}
	matched := 0
	for i := range f.GT.Tasks {
		g := &f.GT.Tasks[i]
		x, ok := byPID[g.PID]
		if !ok {
			// raspbian_proc loops over `sleep 3`: its child of the
			// snapshot may have been replaced by the time of the crash.
			if r := replacement(k, tasks, g); r != nil {
				t.Logf("pid %d (%s) exited after the snapshot; pid %d took its place", g.PID, g.Comm, r.PID)
				continue
			}
			t.Errorf("pid %d (%s) from the ground truth is missing", g.PID, g.Comm)
			continue
		}
		matched++
		if !gtComm(g.Comm, x.Comm) {
			t.Errorf("pid %d: comm %q, want %q", g.PID, x.Comm, g.Comm)
		}
		if x.TGID != g.TGID {
			t.Errorf("pid %d: tgid %d, want %d", g.PID, x.TGID, g.TGID)
		}
		// /proc's ppid is the real parent's tgid.
		if rp, err := k.TaskByAddr(x.RealParent); err != nil {
			t.Errorf("pid %d: real parent %#x: %v", g.PID, x.RealParent, err)
		} else if rp.TGID != g.PPID {
			t.Errorf("pid %d: real parent tgid %d, want ppid %d", g.PID, rp.TGID, g.PPID)
		}
		if x.Policy != g.Policy || x.RTPriority != g.RTPriority || x.Nice != g.Nice {
			t.Errorf("pid %d: policy/rt_priority/nice %d/%d/%d, want %d/%d/%d", g.PID,
				x.Policy, x.RTPriority, x.Nice, g.Policy, g.RTPriority, g.Nice)
		}
	}
	t.Logf("%s: %d/%d ground-truth tasks matched, %d tasks in the dump", ktest.Name(f), matched, len(f.GT.Tasks), len(tasks))
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

// replacement finds a task started after the snapshot with the same comm
// and parent as g: the next iteration of a loop that spawns short-lived
// children.
func replacement(k *kstructs.Kernel, tasks []*kstructs.Task, g *fixture.GTTask) *kstructs.Task {
	for _, x := range tasks {
		if x.PID <= g.PID || x.Comm != g.Comm {
			continue
		}
		if rp, err := k.TaskByAddr(x.RealParent); err == nil && rp.TGID == g.PPID {
			return x
		}
	}
	return nil
}
