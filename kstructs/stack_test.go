package kstructs_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// entryFuncs are where a kernel stack legitimately begins: syscall and
// exception entry from user space, kernel thread and idle task start.
var entryFuncs = map[string][]string{
	"x86_64": {"entry_SYSCALL_64", "asm_", "ret_from_fork", "secondary_startup_64", "start_secondary", "x86_64_start_kernel", "start_kernel"},
	"arm64":  {"el0t_64_", "el0t_32_", "ret_from_fork", "secondary_start_kernel", "__secondary_switched", "start_kernel", "__primary_switched", "rest_init"},
	"arm":    {"ret_fast_syscall", "vector_swi", "__irq_usr", "__dabt_usr", "__pabt_usr", "__und_usr", "ret_from_fork", "secondary_start_kernel", "start_kernel", "rest_init", "cpu_startup_entry"},
}

// syscallEntry is where a task's stack begins when it is in a syscall.
var syscallEntry = map[string][]string{
	"x86_64": {"entry_SYSCALL_64"},
	"arm64":  {"el0t_64_sync"},
	"arm":    {"ret_fast_syscall", "vector_swi"},
}

func functions(bt *kstructs.Backtrace) []string {
	var out []string
	for _, f := range bt.Frames {
		out = append(out, f.Function)
	}
	return out
}

func hasPrefixAny(s string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// inOrder checks that each name appears (as a function or its .cold/.part
// clone) after the previous one.
func inOrder(fns []string, names ...string) error {
	i := 0
	for _, n := range names {
		for i < len(fns) && fns[i] != n && !strings.HasPrefix(fns[i], n+".") {
			i++
		}
		if i == len(fns) {
			return fmt.Errorf("%s not found (in order) in %v", n, fns)
		}
		i++
	}
	return nil
}

func btText(bt *kstructs.Backtrace) string {
	var b strings.Builder
	for _, f := range bt.Frames {
		fmt.Fprintf(&b, "  #%d [%x] %s+%#x at %x (%s)\n", f.Level, f.SP, f.Function, f.Offset, f.PC, f.Stack)
		if f.ExceptionRegs != nil {
			fmt.Fprintf(&b, "     exception regs at %x user=%v pc=%x sp=%x\n", f.ExceptionRegs.Addr, f.ExceptionRegs.User, f.ExceptionRegs.PC(), f.ExceptionRegs.SP())
		}
	}
	if bt.Stopped != "" {
		fmt.Fprintf(&b, "  stopped: %s\n", bt.Stopped)
	}
	for _, n := range bt.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

func TestBacktracePanicTask(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		task, err := k.TaskByPID(f.GT.CrashPID)
		if err != nil {
			t.Fatalf("crash pid %d: %v", f.GT.CrashPID, err)
		}
		bt, err := k.Backtrace(task.Addr)
		if err != nil {
			t.Fatalf("bt %d: %v", f.GT.CrashPID, err)
		}
		t.Logf("pid %d (active %v, cpu %d):\n%s", task.PID, bt.Active, bt.CPU, btText(bt))
		if !bt.Active {
			t.Errorf("the panic task was not unwound from its CPU's registers")
		}
		fns := functions(bt)
		if err := inOrder(fns, "panic", "sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger"); err != nil {
			t.Error(err)
		}
		if bt.Stopped != "" || len(fns) == 0 || !hasPrefixAny(fns[len(fns)-1], syscallEntry[f.Arch]) {
			t.Errorf("the panic task's stack does not end at the syscall entry %v", syscallEntry[f.Arch])
		}
		last := bt.Frames[len(bt.Frames)-1]
		if last.ExceptionRegs == nil || !last.ExceptionRegs.User {
			t.Errorf("the last frame has no user-mode exception registers")
		}
	})
}

// TestBacktraceSleeper unwinds tasks blocked in nanosleep: the workload's
// "sleep" processes and its fifo task (which sleeps in clock_nanosleep).
func TestBacktraceSleeper(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tasks, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		var sleepers []*kstructs.Task
		fifo := f.GT.RolePID("fifo")
		for _, task := range tasks {
			if task.Comm == "sleep" || task.PID == fifo {
				sleepers = append(sleepers, task)
			}
		}
		if len(sleepers) == 0 {
			t.Fatal("no task named sleep and no fifo role in the fixture")
		}
		for _, task := range sleepers {
			bt, err := k.Backtrace(task.Addr)
			if err != nil {
				t.Fatalf("bt %d: %v", task.PID, err)
			}
			fns := functions(bt)
			if err := inOrder(fns, "__schedule", "schedule", "do_nanosleep"); err != nil {
				t.Errorf("pid %d %s: %v\n%s", task.PID, task.Comm, err, btText(bt))
			}
			if bt.Stopped != "" || !hasPrefixAny(fns[len(fns)-1], syscallEntry[f.Arch]) {
				t.Errorf("pid %d does not end at the syscall entry:\n%s", task.PID, btText(bt))
			}
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

// TestBacktraceEveryTask unwinds every task of every fixture, scale
// variants included: none may fail, and every stack must reach its entry
// point or end legitimately (a task running in user space, an exited
// task). Fixtures are rebuilt on every machine, so nothing here may depend
// on the state one particular dump caught its CPUs in.
func TestBacktraceEveryTask(t *testing.T) {
	ktest.ForEach(t, everyTask)
	// The ELF dump only: raw RAM has no registers, and the tasks running
	// when it was saved have only their last switch's stale context
	// (TestRaspiRawRAM compares the sleeping ones with the ELF dump's).
	ktest.ForEachMachineDump(t, []string{"vmcore.elf"}, everyTask)
	all, err := fixture.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if !f.IsScale() {
			continue
		}
		t.Run(filepath.Base(f.Dir), func(t *testing.T) {
			if testing.Short() {
				t.Skip("scale fixture skipped in -short mode")
			}
			// A scale fixture keeps one dump: makedumpfile's (the ELF it
			// was made from is deleted: GBs), or the ELF in older builds.
			d, ok := f.Dump("elf", "qemu")
			if !ok {
				d, ok = f.Dump("kdump-zlib", "makedumpfile")
			}
			if !ok {
				t.Fatalf("%s lists neither a QEMU ELF nor a makedumpfile dump", f.Dir)
			}
			k, err := kstructs.Open(f.Path(d.File), f.Vmlinux(), kstructs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			everyTask(t, k, f)
		})
	}
}

func everyTask(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	complete, user, early, exited, active := 0, 0, 0, 0, 0
	for _, task := range tasks {
		bt, err := k.Backtrace(task.Addr)
		if err != nil {
			// Only an exited task may have no stack (a zombie's is freed
			// once it is TASK_DEAD): the dump says it exited (exit_state),
			// the stack pointer is gone, and the guest saw it as Z or X.
			if task.Stack == 0 && task.ExitState != 0 {
				if g, ok := f.GT.Task(task.PID); ok && g.State != "Z" && g.State != "X" {
					t.Errorf("pid %d %s: no stack, but the guest saw state %s", task.PID, task.Comm, g.State)
				}
				exited++
				continue
			}
			t.Errorf("pid %d %s: %v", task.PID, task.Comm, err)
			continue
		}
		if bt.Active {
			active++
			t.Logf("active pid %d %s on cpu %d:\n%s", task.PID, task.Comm, bt.CPU, btText(bt))
		}
		fns := functions(bt)
		entries := entryFuncs[f.Arch]
		switch {
		case bt.Stopped != "":
			early++
			if early <= 10 {
				t.Errorf("pid %d %s (active %v): %s\n%s", task.PID, task.Comm, bt.Active, bt.Stopped, btText(bt))
			}
		case len(fns) == 0:
			// Only a task running in user space has no kernel frames.
			if !bt.Active || bt.StartRegs == nil || !bt.StartRegs.User {
				t.Errorf("pid %d %s: no frames, and not a task running in user space", task.PID, task.Comm)
			}
			user++
		case !hasPrefixAny(fns[len(fns)-1], entries):
			t.Errorf("pid %d %s ends at %s, not an entry point:\n%s", task.PID, task.Comm, fns[len(fns)-1], btText(bt))
		default:
			complete++
		}
		for _, fr := range bt.Frames {
			if fr.Function == "" && fr.Level > 0 {
				t.Errorf("pid %d %s: frame #%d at %#x has no function:\n%s", task.PID, task.Comm, fr.Level, fr.PC, btText(bt))
				break
			}
		}
	}
	if active == 0 {
		t.Errorf("no task was unwound from a CPU's registers")
	}
	t.Logf("%s (%s): %d tasks: %d unwound to their entry point, %d in user space, %d stopped early, %d exited (no stack); %d active",
		ktest.Name(f), filepath.Base(f.Dir), len(tasks), complete, user, early, exited, active)
}

func BenchmarkBacktraceAll(b *testing.B) {
	for _, arch := range ktest.Arches {
		b.Run(arch, func(b *testing.B) {
			k, _ := ktest.Open(b, arch, "vmcore.elf")
			tasks, err := k.Tasks()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Backtrace(tasks[0].Addr); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, task := range tasks {
					k.Backtrace(task.Addr)
				}
			}
			b.ReportMetric(float64(len(tasks)), "tasks")
		})
	}
}

// TestBacktraceCPUStates feeds the unwinder CPU states a dump may catch a
// CPU in, built from each fixture's own sleeping tasks so that nothing
// depends on where this dump's CPUs happened to stop: in an exception
// vector, in a leaf function, on the way in from user space.
func TestBacktraceCPUStates(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tasks, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		// A sleeping task with a complete saved-context trace from the
		// syscall entry.
		var task *kstructs.Task
		var saved *kstructs.Backtrace
		for _, tk := range tasks {
			if bt, err := k.Backtrace(tk.Addr); err == nil && !bt.Active && bt.Stopped == "" && len(bt.Frames) > 2 &&
				hasPrefixAny(bt.Frames[len(bt.Frames)-1].Function, syscallEntry[f.Arch]) {
				task, saved = tk, bt
				break
			}
		}
		if task == nil {
			t.Fatal("no sleeping task with a complete backtrace")
		}
		f0 := saved.Frames[0]
		top := saved.StackTop
		regs := func(set map[int]uint64) *kstructs.Regs {
			n := map[string]int{"x86_64": 21, "arm64": 34, "arm": 18}[f.Arch]
			r := &kstructs.Regs{Arch: k.Arch, Values: make([]uint64, n)}
			for i, v := range set {
				r.Values[i] = v
			}
			return r
		}
		type tc struct {
			name string
			regs *kstructs.Regs
			// same: the trace must end like the saved one (from frame
			// skip on); otherwise it must be complete with no kernel
			// frames beyond the first.
			same bool
			skip int
		}
		var cases []tc
		switch f.Arch {
		case "arm":
			// r0-r12 are not banked: r11 (used as a frame base by some
			// unwind entries) is the interrupted one.
			const fp, pc, lr, sp, cpsr = 11, 15, 14, 13, 16
			leaf := mustSym(t, k, "v7wbi_flush_user_tlb_range")
			cases = []tc{
				{"irq vector from user space", regs(map[int]uint64{pc: 0xffff0018, lr: 0x10564, sp: 0xc0000000, cpsr: 0x600f0192}), false, 0},
				{"irq vector from the kernel", regs(map[int]uint64{pc: 0xffff0018, lr: f0.PC + 4, sp: 0xc0000000, fp: f0.FP, cpsr: 0x600f0192}), true, 1},
				{"svc entry of a leaf", regs(map[int]uint64{pc: leaf, lr: f0.PC, sp: f0.SP, fp: f0.FP, cpsr: 0x60000013}), true, 1},
				{"leaf without unwind entry", regs(map[int]uint64{pc: leaf + 8, lr: f0.PC, sp: f0.SP, fp: f0.FP, cpsr: 0x60000013}), true, 1},
			}
		case "arm64":
			const fp, sp, pc, ps = 29, 31, 32, 33
			cases = []tc{
				{"el0 sync vector", regs(map[int]uint64{pc: mustSym(t, k, "vectors") + 0x400, fp: 0xffffe3de80c0, sp: top - ptRegsSize(t, k), ps: 0x3c5}), false, 0},
				{"ret_to_user", regs(map[int]uint64{pc: mustSym(t, k, "ret_to_user") + 4, fp: 0x1234, sp: top - ptRegsSize(t, k), ps: 0x3c5}), false, 0},
			}
		case "x86_64":
			const ip, cs, sp = 16, 17, 19
			cases = []tc{
				{"entry_SYSCALL_64", regs(map[int]uint64{ip: mustSym(t, k, "entry_SYSCALL_64"), cs: 0x10, sp: 0x7ffcf7611588}), false, 0},
				{"trampoline outside the image", regs(map[int]uint64{ip: 0xfffffe0000001000, cs: 0x10, sp: top - ptRegsSize(t, k)}), false, 0},
			}
		}
		for _, c := range cases {
			bt, err := k.BacktraceFromRegs(c.regs, task.Addr)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if bt.Stopped != "" {
				t.Errorf("%s: %s\n%s", c.name, bt.Stopped, btText(bt))
				continue
			}
			if !c.same {
				if len(bt.Frames) > 1 {
					t.Errorf("%s: kernel frames on an empty stack:\n%s", c.name, btText(bt))
				}
				continue
			}
			got, want := functions(bt)[c.skip:], functions(saved)
			if len(got) < len(want) || strings.Join(got[len(got)-len(want):], " ") != strings.Join(want, " ") {
				t.Errorf("%s: got %v, want ... %v\n%s", c.name, got, want, btText(bt))
			}
		}
	})
}

func mustSym(t *testing.T, k *kstructs.Kernel, name string) uint64 {
	t.Helper()
	s, ok := k.Image.Lookup(name)
	if !ok {
		t.Fatalf("no symbol %s", name)
	}
	return s.Addr
}

func ptRegsSize(t *testing.T, k *kstructs.Kernel) uint64 {
	t.Helper()
	typ, err := k.Image.Type("struct pt_regs")
	if err != nil {
		t.Fatal(err)
	}
	return uint64(typ.Size())
}
