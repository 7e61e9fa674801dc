package kstructs_test

// bt -e's stack search (Kernel.ExceptionFrames) against the guest's own
// reports: the oops's exception frame and the console's register dump,
// and the user-mode frame of sleeping user tasks against their
// /proc/PID/stat (code and stack addresses).

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

func TestEframeSearchFindsOops(t *testing.T) {
	ktest.ForEachKind(t, []string{fixture.KindOops}, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		o := f.GT.Oops()
		if o == nil || o.PC == nil {
			t.Fatal("the console has no oops report with a faulting pc")
		}
		task, err := k.TaskByPID(o.PID)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := k.ExceptionFrames(task)
		if err != nil {
			t.Fatal(err)
		}
		var found *kstructs.ExceptionFrame
		for i, fr := range fs {
			if s, _, ok := k.Image.SymbolAt(fr.Regs.PC()); ok && !fr.User && s.Name == o.PC.Function && s.Module == o.PC.Module {
				found = &fs[i]
				break
			}
		}
		if found == nil {
			t.Fatalf("bt -e of pid %d: no kernel-mode frame at %s [%s] among %d frames", o.PID, o.PC.Function, o.PC.Module, len(fs))
		}
		n := compareConsoleRegs(t, found.Regs, o)
		t.Logf("pid %d: the oops's frame at %#x of %d found, %d registers as the console's", o.PID, found.Addr, len(fs), n)
	})
}

// statField is /proc/PID/stat's field n (1-based, proc(5)).
func statField(stat string, n int) (uint64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || n < 3 {
		return 0, false
	}
	fs := strings.Fields(stat[i+1:])
	if n-3 >= len(fs) {
		return 0, false
	}
	v, err := strconv.ParseUint(fs[n-3], 10, 64)
	return v, err == nil
}

// pfKthread is PF_KTHREAD (include/linux/sched.h), in stat's flags.
const pfKthread = 0x00200000

// maxUserStack bounds how far below /proc's startstack a sleeping task's
// user sp may be (the default RLIMIT_STACK, 8M).
const maxUserStack = 8 << 20

func TestEframeUserFrameMatchesProc(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		n, inCode := 0, 0
		for _, g := range f.GT.Tasks {
			if g.State != "S" || g.Flags&pfKthread != 0 || g.PID != g.TGID || g.Stat == "" {
				continue
			}
			startCode, ok1 := statField(g.Stat, 26)
			endCode, ok2 := statField(g.Stat, 27)
			startStack, ok3 := statField(g.Stat, 28)
			task, err := k.TaskByPID(g.PID)
			if !ok1 || !ok2 || !ok3 || startStack == 0 || err != nil || task.KernelThread {
				continue // exited since /proc was read
			}
			fs, err := k.ExceptionFrames(task)
			if err != nil {
				t.Errorf("pid %d: %v", g.PID, err)
				continue
			}
			var user []kstructs.ExceptionFrame
			for _, fr := range fs {
				if fr.User && fr.CPU < 0 {
					user = append(user, fr)
				}
			}
			if len(user) != 1 {
				t.Errorf("pid %d (%s): %d user-mode frames on its stack, want 1 (the syscall entry's)", g.PID, g.Comm, len(user))
				continue
			}
			r := user[0].Regs
			pc, sp := r.PC(), r.SP()
			if sp > startStack || startStack-sp > maxUserStack {
				t.Errorf("pid %d (%s): user sp %#x not within %d bytes below /proc's startstack %#x", g.PID, g.Comm, sp, maxUserStack, startStack)
			}
			if pc == 0 || pc >= startStack {
				t.Errorf("pid %d (%s): user pc %#x is not user code (startstack %#x)", g.PID, g.Comm, pc, startStack)
			}
			if pc >= startCode && pc < endCode {
				inCode++
			}
			n++
		}
		if n == 0 {
			t.Fatal("no sleeping user task of the ground truth checked")
		}
		t.Logf("%d sleeping user tasks: the user frame's sp below /proc's startstack; pc in the executable's code for %d", n, inCode)
	}
	t.Run("sysrq", func(t *testing.T) { ktest.ForEachAll(t, check) })
	t.Run("module", func(t *testing.T) { ktest.ForEachKind(t, fixture.ModuleKinds, check) })
}
