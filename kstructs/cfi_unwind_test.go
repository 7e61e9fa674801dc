package kstructs_test

// The DWARF-CFI fallback (cfi_unwind.go) on real dumps: the primary
// unwinder's information is switched off for one function at a time on
// every trace the console printed (the panic's, the oops's, the hung
// task's; the test hook SetUnwindTableOff), CFI must recover the caller
// the console names (the kernel's own unwinder at the time), and the
// primary unwinder must continue from there to the same frames.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
)

func TestCFIFallbackRecoversConsoleCaller(t *testing.T) {
	run := func(t *testing.T, _ *kstructs.Kernel, f *fixture.Fixture) {
		o := f.GT.PanicReport()
		if o == nil {
			t.Fatal("the console has no panic or fault report")
		}
		k := cfiKernel(t, f)
		var agree, tried int
		for _, tr := range o.Traces {
			task, err := k.TaskByPID(tr.PID)
			if err != nil {
				t.Fatal(err)
			}
			a, n := cfiRecoversTrace(t, k, tr.PID, tr.Functions(), task.Addr)
			agree, tried = agree+a, tried+n
		}
		// With none tried: arm's panicking CPU is stopped in IRQ mode, its
		// trace starts from a stack search the primary unwinder alone
		// drives, and the console's trace of it ends at the sysrq handler.
		wantRecovered(t, "the console", agree, tried)
	}
	ktest.ForEachAll(t, run)
	ktest.ForEachKind(t, fixture.ModuleKinds, run)
}

// cfiRecoversTrace switches off each frame of the trace of pid (task)
// whose caller the oracle names (want: the console's or gdb's functions),
// one at a time, and counts the callers CFI recovered (agree) of those
// tried.
func cfiRecoversTrace(t *testing.T, k *kstructs.Kernel, pid int, want []string, task uint64) (agree, tried int) {
	ref, err := k.Backtrace(task)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(ref.Frames); i++ {
		fr, caller := ref.Frames[i], ref.Frames[i+1]
		fn, ok := cfiCandidate(k, fr, caller, want)
		if !ok {
			continue
		}
		err := cfiRecovers(k, task, fn, i, ref)
		if errors.Is(err, errOtherStart) || errors.Is(err, errNoTable) {
			continue
		}
		tried++
		if err != nil {
			t.Logf("pid %d: %s (caller %s): %v", pid, fr.Function, caller.Function, err)
			continue
		}
		agree++
	}
	return agree, tried
}

// errOtherStart: with a function's table off, the unwind started
// elsewhere (arm's search for a banked stack pointer tries positions with
// the primary unwinder only), so the comparison says nothing of CFI.
var errOtherStart = errors.New("the unwind starts elsewhere")

// errNoTable: the primary unwinder does not use the switched-off table for
// this frame, so the caller did not come from CFI and could not have.
var errNoTable = errors.New("the primary unwinder does not need the table here")

// cfiKernel opens a Kernel of its own (the test hook changes its
// unwinder) with the module fixtures' .ko beside the vmlinux loaded, whose
// .debug_frame gives the modules' functions CFI.
func cfiKernel(t *testing.T, f *fixture.Fixture) *kstructs.Kernel {
	t.Helper()
	k, err := kstructs.Open(f.Path("vmcore.elf"), f.Vmlinux(), kstructs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := k.LoadModuleDebugBeside(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return k
}

// wantRecovered reports how many callers the oracle names CFI recovered
// (agree of tried) and wants most; none tried is a skip.
func wantRecovered(t *testing.T, source string, agree, tried int) {
	t.Helper()
	t.Logf("CFI recovered %d of %d callers %s names, each the primary unwinder's", agree, tried, source)
	if tried == 0 {
		t.Skipf("%s names no caller of a frame that could be switched off", source)
	}
	if agree*2 < tried {
		t.Errorf("CFI recovered only %d of %d callers", agree, tried)
	}
}

// cfiCandidate says whether frame fr's caller is one to recover by CFI:
// fr is a function (of vmlinux, or of a module whose .ko is loaded) with
// call frame information that returns by a call, not an exception entry,
// and the oracle names fr followed by the caller. It returns fr's function's start.
func cfiCandidate(k *kstructs.Kernel, fr, caller kstructs.Frame, console []string) (uint64, bool) {
	if fr.ExceptionRegs != nil || fr.Module != "" && k.ModuleDebugFile(fr.Module) == "" || fr.Inline || !caller.IsReturn {
		return 0, false
	}
	j := slices.Index(console, fr.Function)
	if j < 0 || j+1 >= len(console) || console[j+1] != caller.Function {
		return 0, false
	}
	look := fr.PC
	if fr.IsReturn {
		look--
	}
	if !k.Image.HasCFI(look) {
		// Assembler without CFI (arm64's exception vectors, arm's
		// call_with_stack): the fallback has nothing to answer with, by
		// design; switching its frame off tests the primary unwinder only.
		return 0, false
	}
	s, _, ok := k.Image.SymbolAt(look)
	return s.Addr, ok
}

// cfiRecovers switches the primary unwind information of fn (frame i of
// ref) off and wants the same trace, frame i+1 found by CFI.
func cfiRecovers(k *kstructs.Kernel, task, fn uint64, i int, ref *kstructs.Backtrace) error {
	if err := k.SetUnwindTableOff(fn, true); err != nil {
		return err
	}
	defer k.SetUnwindTableOff(fn, false)
	bt, err := k.Backtrace(task)
	if err != nil {
		return err
	}
	if len(bt.Frames) > 1 && bt.Frames[1].SP != ref.Frames[1].SP {
		return errOtherStart
	}
	if len(bt.Frames) <= i+1 {
		return fmt.Errorf("the unwind stopped at frame %d: %s", len(bt.Frames)-1, bt.Stopped)
	}
	if got := bt.Frames[i+1]; got.Unwinder == "" && got.PC == ref.Frames[i+1].PC && got.SP == ref.Frames[i+1].SP {
		// The primary unwinder found this caller without the table (an
		// exception vector: arm64's el1 entry is unwound from its pt_regs,
		// arch/arm64/kernel/entry.S), so switching it off tests nothing.
		return errNoTable
	}
	if got := bt.Frames[i+1]; got.Unwinder != "cfi" || got.PC != ref.Frames[i+1].PC {
		return fmt.Errorf("frame %d: %s at %#x (unwinder %q), want %s at %#x from CFI", i+1, got.Function, got.PC, got.Unwinder, ref.Frames[i+1].Function, ref.Frames[i+1].PC)
	}
	if len(bt.Frames) != len(ref.Frames) || bt.Stopped != ref.Stopped {
		return fmt.Errorf("after CFI: %d frames (stopped %q), the primary unwinder %d", len(bt.Frames), bt.Stopped, len(ref.Frames))
	}
	for j := range bt.Frames {
		if bt.Frames[j].PC != ref.Frames[j].PC {
			return fmt.Errorf("frame %d: %#x, the primary unwinder %#x", j, bt.Frames[j].PC, ref.Frames[j].PC)
		}
	}
	return nil
}

// TestCFIFallbackRecoversGDBCaller is the same on every CPU's active task
// against gdb's backtrace of the paging dump (gdb's thread N is CPU N-1,
// QEMU's NT_PRSTATUS order): each caller gdb names right after a frame's
// function must come back from CFI when that function's table is off.
func TestCFIFallbackRecoversGDBCaller(t *testing.T) {
	run := func(t *testing.T, _ *kstructs.Kernel, f *fixture.Fixture) {
		outs, err := oracle.GDBDump(t, f, []string{"thread apply all bt full"})
		if err != nil {
			t.Fatal(err)
		}
		k := cfiKernel(t, f)
		var agree, tried int
		for cpu := 0; cpu < k.NrCPUs(); cpu++ {
			at, err := k.ActiveTask(cpu)
			if err != nil {
				continue
			}
			a, n := cfiRecoversTrace(t, k, at.PID, gdbFunctions(outs[0], cpu), at.Addr)
			agree, tried = agree+a, tried+n
		}
		wantRecovered(t, "gdb", agree, tried)
	}
	ktest.ForEachAll(t, run)
}

// gdbFunctions is the function of each frame of gdb's thread for cpu, in
// order ("#3  0x... in f (args) at file:line" or "#0  f (args) at ...").
func gdbFunctions(out string, cpu int) []string {
	var fns []string
	for _, block := range strings.Split(out, "\nThread ")[1:] {
		if !strings.HasPrefix(block, fmt.Sprintf("%d (LWP %d)", cpu+1, cpu+1)) {
			continue
		}
		for _, line := range strings.Split(block, "\n") {
			if !strings.HasPrefix(line, "#") {
				continue
			}
			_, rest, _ := strings.Cut(line, " ")
			rest = strings.TrimSpace(rest)
			if _, r, ok := strings.Cut(rest, " in "); ok && strings.HasPrefix(rest, "0x") {
				rest = r
			}
			if name, _, ok := strings.Cut(rest, " ("); ok {
				fns = append(fns, name)
			}
		}
	}
	return fns
}
