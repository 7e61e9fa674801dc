package kstructs_test

// Backtraces on the module fixtures against the kernel's own report on the
// console (internal/fixture oops.go): the oops's call trace and register
// dump, the hung task's trace, the panicking khungtaskd's trace.

import (
	"slices"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// funcs is a backtrace's function names, inline frames left out and
// consecutive repeats merged (arm64 shows an exception's pc and lr frames
// in the same function; the console names the function once).
func funcs(fs []kstructs.Frame) []string {
	var out []string
	for _, f := range fs {
		if f.Inline || len(out) > 0 && out[len(out)-1] == f.Function {
			continue
		}
		out = append(out, f.Function)
	}
	return out
}

// consoleTrace is the first console trace of pid.
func consoleTrace(t *testing.T, o *fixture.GTOops, pid int) []string {
	t.Helper()
	for _, tr := range o.Traces {
		if tr.PID == pid && len(tr.Frames) > 0 {
			return tr.Functions()
		}
	}
	t.Fatalf("the console has no stack trace of pid %d", pid)
	return nil
}

func taskBacktrace(t *testing.T, k *kstructs.Kernel, pid int) *kstructs.Backtrace {
	t.Helper()
	task, err := k.TaskByPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := k.Backtrace(task.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return bt
}

// consoleRegName maps a register as the oops prints it to the arch's
// register name: arm's aliases, x86's zero-padded r08/r09.
func consoleRegName(r *kstructs.Regs, name string) string {
	names := r.RegNames()
	if slices.Contains(names, name) {
		return name
	}
	alias := map[string]string{"pc": "r15", "lr": "r14", "sp": "r13", "ip": "r12", "fp": "r11", "psr": "cpsr"}
	if a, ok := alias[name]; ok && slices.Contains(names, a) {
		return a
	}
	if n := strings.Replace(name, "r0", "r", 1); slices.Contains(names, n) {
		return n
	}
	return ""
}

// compareConsoleRegs wants r's registers equal to the console's register
// dump, and returns how many were compared.
func compareConsoleRegs(t *testing.T, r *kstructs.Regs, o *fixture.GTOops) int {
	t.Helper()
	n := 0
	for name, v := range o.Regs {
		rn := consoleRegName(r, name)
		if rn == "" {
			continue
		}
		n++
		if got := r.Named(rn); got != v {
			t.Errorf("register %s (%s): %#x, console %#x", name, rn, got, v)
		}
	}
	if n < 10 {
		t.Errorf("only %d registers of the console compared: %v", n, o.Regs)
	}
	return n
}

func TestOopsBacktraceMatchesConsole(t *testing.T) {
	ktest.ForEachKind(t, []string{fixture.KindOops}, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		o := f.GT.Oops()
		if o == nil || o.PC == nil {
			t.Fatal("the console has no oops report with a faulting pc")
		}
		bt := taskBacktrace(t, k, o.PID)
		// The oops's exception frame: kernel-mode registers whose pc is
		// the faulting function.
		at := -1
		for i, fr := range bt.Frames {
			if r := fr.ExceptionRegs; r != nil && !r.User {
				if s, _, ok := k.Image.SymbolAt(r.PC()); ok && s.Name == o.PC.Function && s.Module == o.PC.Module {
					at = i
					break
				}
			}
		}
		if at < 0 {
			t.Fatalf("no exception frame at %s [%s] in the backtrace of pid %d: %v", o.PC.Function, o.PC.Module, o.PID, funcs(bt.Frames))
		}
		// The console's trace names the faulting function first on arm
		// and arm64, after the RIP line on x86_64.
		want := consoleTrace(t, o, o.PID)
		if want[0] != o.PC.Function {
			want = append([]string{o.PC.Function}, want...)
		}
		got := funcs(bt.Frames[at+1:])
		if !slices.Equal(got, want) {
			t.Errorf("after the exception frame:\n got %v\nwant %v (console)", got, want)
		}
		if fr := bt.Frames[at+1]; fr.Module != o.PC.Module {
			t.Errorf("the faulting frame's module is %q, console %q", fr.Module, o.PC.Module)
		}
		// The registers of the exception frame against the console's dump.
		n := compareConsoleRegs(t, bt.Frames[at].ExceptionRegs, o)
		t.Logf("pid %d: %d frames after the exception match the console, %d registers", o.PID, len(want), n)
	})
}

func TestHungTaskBacktraceMatchesConsole(t *testing.T) {
	ktest.ForEachKind(t, []string{fixture.KindHung}, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		o := f.GT.Oops()
		if o == nil || !strings.HasPrefix(o.Reason, "INFO: task ") {
			t.Fatal("the console has no hung-task report")
		}
		// The hung task: the whole trace, ending in the module.
		want := consoleTrace(t, o, o.PID)
		got := funcs(taskBacktrace(t, k, o.PID).Frames)
		if !slices.Equal(got, want) {
			t.Errorf("hung task %d:\n got %v\nwant %v (console)", o.PID, got, want)
		}
		if !slices.Contains(got, "kt_do_hang") {
			t.Errorf("hung task %d's backtrace does not pass kt_do_hang: %v", o.PID, got)
		}
		// The panicking task (khungtaskd): from panic on.
		pt, err := k.PanicTask()
		if err != nil {
			t.Fatal(err)
		}
		want = consoleTrace(t, o, pt.PID)
		got = funcs(taskBacktrace(t, k, pt.PID).Frames)
		wi, gi := slices.Index(want, "panic"), slices.Index(got, "panic")
		if wi < 0 || gi < 0 || !slices.Equal(got[gi:], want[wi:]) {
			t.Errorf("panic task %d (%s):\n got %v\nwant %v (console)", pt.PID, pt.Comm, got, want)
		}
	})
}

// TestFaultMatchesConsole: triage's fault (kstructs.Fault, from the dump's
// log and the faulting task's exception frame) names what the console
// reported: the reason, the task, the faulting function and module.
func TestFaultMatchesConsole(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		o := f.GT.Oops()
		if o == nil {
			t.Fatal("the console has no fault report")
		}
		recs, _ := k.Log()
		got := k.Fault(recs)
		if got == nil {
			t.Fatal("no fault report found in the dump's log")
		}
		if got.Reason != o.Reason || got.PID != o.PID || got.Comm != o.Comm {
			t.Errorf("fault %q pid %d (%s), console %q pid %d (%s)", got.Reason, got.PID, got.Comm, o.Reason, o.PID, o.Comm)
		}
		if o.PC != nil {
			if got.Function != o.PC.Function || got.Module != o.PC.Module || got.Offset != o.PC.Offset || got.PC == 0 {
				t.Errorf("faulting function %s+%#x [%s] (pc %#x from the dump), console %s+%#x [%s]",
					got.Function, got.Offset, got.Module, got.PC, o.PC.Function, o.PC.Offset, o.PC.Module)
			}
		}
		if o.PC == nil && (got.Function != "kt_do_hang" || got.Module != "kinspect_test") {
			t.Errorf("hung task stuck in %s [%s], want kt_do_hang [kinspect_test] (the console's trace: %v)",
				got.Function, got.Module, consoleTrace(t, o, o.PID))
		}
		t.Logf("%s: %s, pid %d, %s [%s]", got.Kind, got.Reason, got.PID, got.Function, got.Module)
	})
}
