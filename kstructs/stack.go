package kstructs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// Backtrace is one task's kernel call stack, innermost frame first.
type Backtrace struct {
	Task uint64 `json:"task"`
	CPU  int    `json:"cpu"`
	// Active: the task was running on CPU when the dump was taken, and the
	// unwind started from that CPU's registers in the dump's notes;
	// otherwise it started from the context the scheduler saved.
	Active bool `json:"active"`
	// StartRegs are the CPU registers an active task's unwind started from.
	StartRegs *Regs   `json:"start_regs,omitempty"`
	Frames    []Frame `json:"frames"`
	// Stopped says why and where the unwind stopped before reaching the
	// stack's entry point (a syscall or exception from user space, a kernel
	// thread's or idle task's start). "" means it reached one.
	Stopped string `json:"stopped,omitempty"`
	// Notes explain how an unusual CPU state was handled: a CPU stopped in
	// an exception vector, a stack pointer recovered by searching the
	// stack, an exception taken from user space.
	Notes []string `json:"notes,omitempty"`
	// StackBase and StackTop bound the task's kernel stack [base, top).
	StackBase uint64 `json:"stack_base"`
	StackTop  uint64 `json:"stack_top"`
}

// Frame is one stack frame.
type Frame struct {
	Level int `json:"level"`
	// SP is the stack address crash shows for the frame: on x86_64 the slot
	// the frame's return address was read from (the stack pointer for the
	// first frame), on arm64 and arm the frame pointer (record) address,
	// or the stack pointer when there is none.
	SP uint64 `json:"sp"`
	// PC is the frame's text address: the interrupted instruction for the
	// first frame and frames entered by an exception, a return address
	// otherwise (IsReturn).
	PC       uint64 `json:"pc"`
	FP       uint64 `json:"fp"`
	IsReturn bool   `json:"is_return_address"`
	Function string `json:"function"`
	Offset   uint64 `json:"offset"`
	Module   string `json:"module,omitempty"` // the module of PC ("" for vmlinux)
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Inline frames are functions inlined into the next (outer) frame; they
	// share its PC and SP.
	Inline bool `json:"inline,omitempty"`
	// Stack names the stack SP lies on: "task", "irq", "exception",
	// "overflow" (crash marks transitions between them).
	Stack string `json:"stack"`
	// ExceptionRegs is the pt_regs the unwind crossed after this frame: the
	// frame is an exception or syscall entry, and the registers are those
	// of the interrupted context (user mode when Regs.User).
	ExceptionRegs *Regs `json:"exception_regs,omitempty"`
	// Unwinder says how the frame was found when not by the arch's primary
	// unwinder: "cfi", the callee's DWARF call frame information
	// (cfi_unwind.go).
	Unwinder string `json:"unwinder,omitempty"`
}

// Regs is a register set in the arch's user_regs order (the order of
// dump.CPUState.Regs and of the first members of struct pt_regs): arm64
// x0..x30, sp, pc, pstate; arm r0..r15, cpsr, orig_r0; x86_64 struct
// user_regs_struct (r15 ... ss; pt_regs' orig_ax is orig_rax).
type Regs struct {
	Arch   dump.Arch
	Values []uint64
	// Addr is where the registers were read from (a struct pt_regs), 0 for
	// the dump's CPU notes.
	Addr uint64
	// User: the registers are a user-mode context.
	User bool
	// Partial: only the hardware exception frame (x86_64 ip, cs, flags,
	// sp, ss) was saved; the other values are not the interrupted ones.
	Partial bool
	// Extra holds pt_regs members with no user_regs slot (arm64 orig_x0,
	// syscallno).
	Extra map[string]uint64
}

// spec is the architecture's register table, nil if unknown.
func (r *Regs) spec() *dump.ArchSpec {
	if r == nil {
		return nil
	}
	return r.Arch.Spec()
}

// RegNames names Values' slots.
func (r *Regs) RegNames() []string {
	s := r.spec()
	if s == nil {
		return nil
	}
	return s.RegNames[:min(len(s.RegNames), len(r.Values))]
}

// Named returns the register called name (as RegNames spells it), 0 if
// absent.
func (r *Regs) Named(name string) uint64 {
	if s := r.spec(); s != nil {
		return r.Get(s.Reg(name))
	}
	return 0
}

// Get returns the register at index i (0 if absent).
func (r *Regs) Get(i int) uint64 {
	if r == nil || i < 0 || i >= len(r.Values) {
		return 0
	}
	return r.Values[i]
}

// pick returns the register at the index sel chooses from r's table.
func (r *Regs) pick(sel func(*dump.ArchSpec) int) uint64 {
	if s := r.spec(); s != nil {
		return r.Get(sel(s))
	}
	return 0
}

// PC is the program counter.
func (r *Regs) PC() uint64 { return r.pick(func(s *dump.ArchSpec) int { return s.PC }) }

// SP is the stack pointer.
func (r *Regs) SP() uint64 { return r.pick(func(s *dump.ArchSpec) int { return s.SP }) }

// FP is the frame pointer (rbp, x29, r11).
func (r *Regs) FP() uint64 { return r.pick(func(s *dump.ArchSpec) int { return s.FP }) }

// LR is the link register (0 on x86_64).
func (r *Regs) LR() uint64 { return r.pick(func(s *dump.ArchSpec) int { return s.LR }) }

// MarshalJSON writes the registers by name.
func (r *Regs) MarshalJSON() ([]byte, error) {
	m := map[string]uint64{}
	for i, n := range r.RegNames() {
		m[n] = r.Values[i]
	}
	for n, v := range r.Extra {
		m[n] = v
	}
	return json.Marshal(struct {
		Addr    uint64            `json:"addr"`
		User    bool              `json:"user"`
		Partial bool              `json:"partial,omitempty"`
		Regs    map[string]uint64 `json:"regs"`
	}{r.Addr, r.User, r.Partial, m})
}

// stackRange is one kernel stack [lo, hi).
type stackRange struct {
	lo, hi uint64
	kind   string // "task", "irq", "exception", "overflow"
}

func (s stackRange) contains(addr, n uint64) bool {
	return s.hi > s.lo && addr >= s.lo && addr <= s.hi-n
}

// taskCtx is what an unwind needs to know about its task.
type taskCtx struct {
	addr   uint64
	stack  stackRange
	cpu    int
	stacks []stackRange // the task stack, then the CPU's other stacks when the task runs there
}

// stackOf names the stack holding [addr, addr+n).
func (t *taskCtx) stackOf(addr, n uint64) (stackRange, bool) {
	for _, s := range t.stacks {
		if s.contains(addr, n) {
			return s, true
		}
	}
	return stackRange{}, false
}

// unwinder holds what every backtrace of one kernel shares: layouts read
// from DWARF and the arch's unwind tables, decoded once.
type unwinder struct {
	k    *Kernel
	arch dump.Arch
	ops  *archOps
	bo   binary.ByteOrder
	ptr  uint64

	threadSize uint64
	taskStack  uint64 // offsetof(struct task_struct, stack)
	// cpu of a task: in task_struct (cpuInTask) or in the thread_info at
	// the stack base.
	cpuOff    uint64
	cpuInTask bool
	cpuSize   uint64
	rqCurr    []uint64    // rq->curr per CPU (0 for CPUs without a runqueue)
	notesCPU  map[int]int // CPU -> index into Dump.CPUs()

	ptRegs ptRegsLayout

	irqMu sync.Mutex
	irq   map[int][]stackRange

	// impl is the architecture's unwinder (ops.newUnwinder).
	impl archUnwinder
	// noTable lists functions (by start address) whose primary unwind
	// information the unwinders treat as missing: a test hook that makes
	// the DWARF-CFI fallback unwind them (cfi_unwind.go).
	noTable map[uint64]bool
}

// ptRegsLayout maps struct pt_regs into Regs.Values.
type ptRegsLayout struct {
	size  uint64
	offs  []int64              // byte offset of each Values slot, -1 if absent
	extra map[string][2]uint64 // other members read into Regs.Extra: offset, size
	// arm64: offset of pt_regs.stackframe (the frame record the entry code
	// builds), -1 if absent.
	stackframe int64
}

// unwinderOnce builds a Kernel's unwinder once (Kernel.unwind).
type unwinderOnce struct {
	once sync.Once
	u    *unwinder
	err  error
}

func (k *Kernel) unwinder() (*unwinder, error) {
	o := &k.unwind
	o.once.Do(func() { o.u, o.err = newUnwinder(k) })
	return o.u, o.err
}

func newUnwinder(k *Kernel) (*unwinder, error) {
	ops, err := opsFor(k.Arch)
	if err != nil {
		return nil, fmt.Errorf("backtrace: %w", err)
	}
	u := &unwinder{k: k, arch: k.Arch, ops: ops, bo: k.Image.ByteOrder(), ptr: uint64(k.PtrSize()), irq: map[int][]stackRange{}}
	if u.threadSize, err = threadSize(k); err != nil {
		return nil, fmt.Errorf("backtrace: %w", err)
	}
	if u.taskStack, _, err = k.memberOffset("struct task_struct", "stack"); err != nil {
		return nil, fmt.Errorf("backtrace: %w", err)
	}
	// The CPU a task last ran on: thread_info.cpu (5.16+ with
	// THREAD_INFO_IN_TASK), task_struct.cpu (older), or the thread_info at
	// the base of the stack (no THREAD_INFO_IN_TASK, e.g. 32-bit arm).
	for _, p := range []string{"thread_info.cpu", "cpu"} {
		if off, f, err := k.memberOffset("struct task_struct", p); err == nil {
			u.cpuOff, u.cpuInTask, u.cpuSize = off, true, uint64(dwarfx.Strip(f.Type).Size())
			break
		}
	}
	if u.cpuSize != 8 {
		u.cpuSize = 4
	}
	if !u.cpuInTask {
		off, f, err := k.memberOffset("struct thread_info", "cpu")
		if err != nil {
			return nil, fmt.Errorf("backtrace: finding a task's cpu: %w", err)
		}
		u.cpuOff, u.cpuSize = off, uint64(dwarfx.Strip(f.Type).Size())
		if u.cpuSize != 8 {
			u.cpuSize = 4
		}
	}
	if err := u.loadPtRegs(); err != nil {
		return nil, fmt.Errorf("backtrace: %w", err)
	}
	u.loadRunqueues()
	u.mapNotes()
	u.impl, err = ops.newUnwinder(u)
	if err != nil {
		return nil, fmt.Errorf("backtrace: %w", err)
	}
	return u, nil
}

// threadSize finds THREAD_SIZE: the linker script sizes the init task's
// stack as [__start_init_task, __end_init_task) (renamed
// __start_init_stack/__end_init_stack in 6.10); union thread_union has
// the same size when DWARF has it.
func threadSize(k *Kernel) (uint64, error) {
	for _, pair := range [][2]string{{"__start_init_task", "__end_init_task"}, {"__start_init_stack", "__end_init_stack"}} {
		start, ok1 := k.Image.Lookup(pair[0])
		end, ok2 := k.Image.Lookup(pair[1])
		if ok1 && ok2 && end.Addr > start.Addr && end.Addr-start.Addr <= 1<<20 {
			return end.Addr - start.Addr, nil
		}
	}
	if n, err := k.typeSize("union thread_union"); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("cannot find THREAD_SIZE: no __start_init_task/__end_init_task (or _stack) symbols and no union thread_union in DWARF")
}

// loadPtRegs reads struct pt_regs' layout in Values order.
func (u *unwinder) loadPtRegs() error {
	k := u.k
	size, err := k.typeSize("struct pt_regs")
	if err != nil {
		return err
	}
	pl := ptRegsLayout{size: size, stackframe: -1, extra: map[string][2]uint64{}}
	member := func(path string) int64 {
		off, _, err := k.memberOffset("struct pt_regs", path)
		if err != nil {
			return -1
		}
		return int64(off)
	}
	if err := u.ops.ptRegs(k, &pl, member); err != nil {
		return err
	}
	for i, off := range pl.offs {
		if off >= 0 && uint64(off)+u.ptr > size {
			pl.offs[i] = -1
		}
	}
	u.ptRegs = pl
	return nil
}

// readPtRegs decodes the struct pt_regs at addr.
func (u *unwinder) readPtRegs(addr uint64) (*Regs, error) {
	buf := make([]byte, u.ptRegs.size)
	if err := u.k.ReadVirt(buf, addr); err != nil {
		return nil, fmt.Errorf("reading pt_regs at %#x: %w", addr, err)
	}
	r := u.decodePtRegs(buf, addr)
	r.User = u.userMode(r)
	return r, nil
}

// decodePtRegs decodes buf, a struct pt_regs read at addr (len(buf) is
// sizeof(struct pt_regs); loadPtRegs keeps every offset inside it).
func (u *unwinder) decodePtRegs(buf []byte, addr uint64) *Regs {
	r := &Regs{Arch: u.arch, Addr: addr, Values: make([]uint64, len(u.ptRegs.offs))}
	for i, off := range u.ptRegs.offs {
		if off >= 0 && uint64(off)+u.ptr <= uint64(len(buf)) {
			r.Values[i] = u.word(buf[off:])
		}
	}
	if len(u.ptRegs.extra) > 0 {
		r.Extra = map[string]uint64{}
		for n, loc := range u.ptRegs.extra {
			if loc[0]+loc[1] > uint64(len(buf)) {
				continue
			}
			switch loc[1] {
			case 4:
				r.Extra[n] = uint64(u.bo.Uint32(buf[loc[0]:]))
			case 8:
				r.Extra[n] = u.bo.Uint64(buf[loc[0]:])
			}
		}
	}
	return r
}

// userMode reports whether r is a user-mode context.
func (u *unwinder) userMode(r *Regs) bool { return u.ops.userMode(r) }

func (u *unwinder) word(b []byte) uint64 {
	if u.ptr == 4 {
		return uint64(u.bo.Uint32(b))
	}
	return u.bo.Uint64(b)
}

// readWord reads one target word.
func (u *unwinder) readWord(addr uint64) (uint64, error) {
	var b [8]byte
	if err := u.k.ReadVirt(b[:u.ptr], addr); err != nil {
		return 0, err
	}
	return u.word(b[:]), nil
}

// loadRunqueues reads rq->curr for every possible CPU: the tasks that were
// running when the dump was taken. Failures leave the table empty (every
// task is then unwound from its saved context).
func (u *unwinder) loadRunqueues() {
	k := u.k
	v, err := k.Image.Variable("runqueues")
	if err != nil {
		return
	}
	off, _, err := k.memberOffset("struct rq", "curr")
	if err != nil {
		return
	}
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return
	}
	for _, c := range cpus {
		pcpu, err := k.PerCPUOffset(c)
		if err != nil {
			continue
		}
		cur, err := u.readWord(v.Addr + pcpu + off)
		if err != nil {
			continue
		}
		for len(u.rqCurr) <= c {
			u.rqCurr = append(u.rqCurr, 0)
		}
		u.rqCurr[c] = cur
	}
}

// mapNotes maps CPUs to NT_PRSTATUS notes. QEMU writes one note per vCPU
// in CPU order with pr_pid = cpu+1; the kernel's crash_save_cpu writes the
// online CPUs in order with pr_pid = the running task's pid.
func (u *unwinder) mapNotes() {
	u.notesCPU = map[int]int{}
	notes := u.k.Dump.CPUs()
	qemu := len(notes) > 0
	for i, n := range notes {
		if n.PID != i+1 {
			qemu = false
		}
	}
	if qemu {
		for i := range notes {
			u.notesCPU[i] = i
		}
		return
	}
	online, _ := u.k.OnlineCPUs()
	if len(online) == len(notes) {
		for i, c := range online {
			u.notesCPU[c] = i
		}
		return
	}
	for i := range notes {
		u.notesCPU[i] = i
	}
}

// cpuRegs returns the registers the dump recorded for cpu.
func (u *unwinder) cpuRegs(cpu int) (*Regs, bool) {
	i, ok := u.notesCPU[cpu]
	notes := u.k.Dump.CPUs()
	if !ok || i >= len(notes) || len(notes[i].Regs) == 0 {
		return nil, false
	}
	vals := notes[i].Regs
	if len(vals) > u.ops.nregs {
		vals = vals[:u.ops.nregs]
	}
	r := &Regs{Arch: u.arch, Values: append([]uint64(nil), vals...)}
	r.User = u.userMode(r)
	return r, true
}

// task reads what an unwind needs to know about the task_struct at addr.
func (u *unwinder) task(addr uint64) (*taskCtx, error) {
	base, err := u.readWord(addr + u.taskStack)
	if err != nil {
		return nil, fmt.Errorf("reading task_struct.stack of task %#x: %w", addr, err)
	}
	if base == 0 {
		return nil, fmt.Errorf("task %#x has no stack (task_struct.stack is NULL: the task has exited)", addr)
	}
	t := &taskCtx{addr: addr, stack: stackRange{lo: base, hi: base + u.threadSize, kind: "task"}}
	cpuAddr := base + u.cpuOff
	if u.cpuInTask {
		cpuAddr = addr + u.cpuOff
	}
	var b [8]byte
	if err := u.k.ReadVirt(b[:u.cpuSize], cpuAddr); err != nil {
		return nil, fmt.Errorf("reading the cpu of task %#x at %#x: %w", addr, cpuAddr, err)
	}
	t.cpu = int(u.bo.Uint32(b[:]))
	if u.cpuSize == 8 {
		t.cpu = int(u.bo.Uint64(b[:]))
	}
	t.stacks = []stackRange{t.stack}
	return t, nil
}

// activeOn returns the CPU task is running on, or -1.
func (u *unwinder) activeOn(task uint64) int {
	for c, cur := range u.rqCurr {
		if cur == task && task != 0 {
			return c
		}
	}
	return -1
}

// cpuStacks returns the CPU's stacks other than task stacks (IRQ,
// exception, overflow), read once per CPU.
func (u *unwinder) cpuStacks(cpu int) []stackRange {
	u.irqMu.Lock()
	defer u.irqMu.Unlock()
	if s, ok := u.irq[cpu]; ok {
		return s
	}
	s := u.impl.cpuStacks(cpu)
	u.irq[cpu] = s
	return s
}

// irqStacks reads arm/arm64's per-cpu irq_stack_ptr (an IRQ_STACK_SIZE =
// THREAD_SIZE stack; ptrIsTop: it points at the stack's top rather than
// its base) and arm64's overflow_stack.
func (u *unwinder) irqStacks(cpu int, ptrIsTop bool) []stackRange {
	k := u.k
	var out []stackRange
	pcpu, err := k.PerCPUOffset(cpu)
	if err != nil {
		return nil
	}
	if v, err := k.Image.Variable("irq_stack_ptr"); err == nil {
		if p, err := u.readWord(v.Addr + pcpu); err == nil && p != 0 {
			lo := p
			if ptrIsTop {
				lo = p - u.threadSize
			}
			out = append(out, stackRange{lo: lo, hi: lo + u.threadSize, kind: "irq"})
		}
	}
	if v, err := k.Image.Variable("overflow_stack"); err == nil && v.Type != nil && v.Type.Size() > 0 {
		out = append(out, stackRange{lo: v.Addr + pcpu, hi: v.Addr + pcpu + uint64(v.Type.Size()), kind: "overflow"})
	}
	return out
}

// Backtrace unwinds the kernel stack of the task_struct at taskAddr: from
// the CPU's registers in the dump when the task was running, otherwise
// from the context the scheduler saved when it switched the task out.
func (k *Kernel) Backtrace(taskAddr uint64) (*Backtrace, error) {
	u, t, c, err := k.unwindTask(taskAddr)
	if err != nil {
		return nil, err
	}
	if k.Live() {
		return k.liveBacktrace(u, t, taskAddr, c)
	}
	if c >= 0 {
		if regs, ok := u.cpuRegs(c); ok {
			t.cpu = c
			bt := u.unwindRegs(t, regs)
			bt.Active = true
			return bt, nil
		}
	}
	bt, err := u.unwindSaved(t)
	if err == nil && c >= 0 {
		bt.Notes = append(bt.Notes, staleContextNote(c))
	}
	return bt, err
}

// staleContextNote explains the unwind of a task that was running on cpu
// in a dump with no registers for it (raw RAM has no notes at all): the
// context the scheduler saved at its last switch (__switch_to's
// cpu_context) is all there is, and the task has run on since.
func staleContextNote(cpu int) string {
	return fmt.Sprintf("the task was running on cpu %d when memory was saved and the dump has no registers for that cpu "+
		"(a raw RAM image has none): these frames start from the context saved when it was last switched out, stale since", cpu)
}

// unwindTask is what every unwind of a task starts with: the unwinder,
// the task's stacks, and the CPU it is running on (-1 if none).
func (k *Kernel) unwindTask(taskAddr uint64) (*unwinder, *taskCtx, int, error) {
	u, err := k.unwinder()
	if err != nil {
		return nil, nil, -1, err
	}
	t, err := u.task(taskAddr)
	if err != nil {
		return nil, nil, -1, err
	}
	return u, t, u.activeOn(taskAddr), nil
}

// BacktraceFromRegs unwinds from a given register set (e.g. a pt_regs
// found on a stack, or a CPU's note) on the stacks of taskAddr.
func (k *Kernel) BacktraceFromRegs(regs *Regs, taskAddr uint64) (*Backtrace, error) {
	if regs == nil {
		return nil, errors.New("backtrace: no registers")
	}
	u, t, c, err := k.unwindTask(taskAddr)
	if err != nil {
		return nil, err
	}
	if c >= 0 {
		t.cpu = c
	}
	return u.unwindRegs(t, regs), nil
}

// CPURegs returns the registers the dump recorded for cpu (its
// NT_PRSTATUS note).
func (k *Kernel) CPURegs(cpu int) (*Regs, error) {
	u, err := k.unwinder()
	if err != nil {
		return nil, err
	}
	r, ok := u.cpuRegs(cpu)
	if !ok {
		return nil, fmt.Errorf("the dump has no registers for cpu %d", cpu)
	}
	return r, nil
}

// ActiveTaskOn returns rq->curr of cpu, 0 if unknown.
func (k *Kernel) ActiveTaskOn(cpu int) uint64 {
	u, err := k.unwinder()
	if err != nil || cpu < 0 || cpu >= len(u.rqCurr) {
		return 0
	}
	return u.rqCurr[cpu]
}

func (u *unwinder) newBacktrace(t *taskCtx) *Backtrace {
	return &Backtrace{Task: t.addr, CPU: t.cpu, StackBase: t.stack.lo, StackTop: t.stack.hi}
}

// unwindRegs unwinds from a register set. A user-mode register set has no
// kernel frames: the task was running in user space.
func (u *unwinder) unwindRegs(t *taskCtx, regs *Regs) *Backtrace {
	t.stacks = append([]stackRange{t.stack}, u.cpuStacks(t.cpu)...)
	bt := u.newBacktrace(t)
	bt.StartRegs = regs
	if regs.User {
		return bt
	}
	u.impl.unwindCPU(bt, t, regs)
	u.cfiFallback(bt, t)
	u.finish(bt)
	return bt
}

// unwindSaved unwinds a task that is not running from the context saved by
// the last context switch.
func (u *unwinder) unwindSaved(t *taskCtx) (*Backtrace, error) {
	bt := u.newBacktrace(t)
	regs, err := u.impl.savedRegs(t)
	if err != nil {
		return nil, err
	}
	u.impl.unwind(bt, t, regs, false)
	u.cfiFallback(bt, t)
	u.finish(bt)
	return bt, nil
}

// maxFrames bounds every unwind: a kernel stack of 16K cannot hold more
// frames than this, so hitting it means a loop in corrupt data.
const maxFrames = 512

// finish numbers the frames and names their functions.
func (u *unwinder) finish(bt *Backtrace) {
	for i := range bt.Frames {
		f := &bt.Frames[i]
		f.Level = i
		f.Module = u.k.Image.ModuleOf(f.PC)
		if f.Function != "" {
			continue // named by the unwinder
		}
		look := f.PC
		if f.IsReturn {
			// A return address may lie past the end of a function whose
			// last instruction is a call (to a noreturn function): name
			// the call's function.
			look--
		}
		if s, ok := u.textSymbol(look); ok {
			f.Function = s.Name
			f.Offset = f.PC - s.Addr
		}
	}
}

// textSymbol names a code address: only one inside the kernel image or
// covered by a sized symbol (arm's vector stubs, module text), so that an
// address outside the kernel (user space, a vector page) is not shown as
// the last image symbol plus a huge offset.
func (u *unwinder) textSymbol(addr uint64) (dwarfx.Symbol, bool) {
	img := u.k.Image
	s, off, ok := img.SymbolAt(addr)
	if !ok {
		return s, false
	}
	if img.InText(addr) || img.InKernelImage(addr) || (s.Size > 0 && off < s.Size) {
		return s, true
	}
	return dwarfx.Symbol{}, false
}

// addFrame appends a frame, bounding the count; false means stop.
func addFrame(bt *Backtrace, t *taskCtx, f Frame) bool {
	if len(bt.Frames) >= maxFrames {
		bt.Stopped = fmt.Sprintf("unwind stopped after %d frames (a loop in the stack?)", maxFrames)
		return false
	}
	if s, ok := t.stackOf(f.SP, 1); ok {
		f.Stack = s.kind
	} else if s, ok := t.stackOf(f.SP, 0); ok {
		f.Stack = s.kind
	} else {
		f.Stack = "unknown"
	}
	bt.Frames = append(bt.Frames, f)
	return true
}

// SymbolizeFrames returns frames with file:line filled in and the
// functions inlined at each pc inserted before it as Inline frames (as
// drgn shows them), from dwarfx's line and inline-scope service. Frames
// whose pc no unit's debug information covers are returned as they were.
func (k *Kernel) SymbolizeFrames(frames []Frame) []Frame {
	var out []Frame
	for _, f := range frames {
		pc := f.PC
		if f.IsReturn {
			pc-- // the call instruction's line
		}
		src, ok := k.Image.SourceAt(pc)
		if !ok {
			if file, line, ok := k.moduleLineAt(pc); ok {
				f.File, f.Line = file, line // a module's (mod -s)
			}
			out = append(out, f)
			continue
		}
		for _, in := range src.Inlined {
			g := f
			g.Inline, g.ExceptionRegs = true, nil
			g.Function, g.Offset = in.Function, 0
			g.File, g.Line = in.File, in.Line
			out = append(out, g)
		}
		f.File, f.Line = src.File, src.Line
		out = append(out, f)
	}
	for i := range out {
		out[i].Level = i
	}
	return out
}

// ReachedEntry reports whether the unwind reached a stack's entry point.
func (bt *Backtrace) ReachedEntry() bool { return bt.Stopped == "" }

// StackWord is one word of a stack that holds a kernel text address.
type StackWord struct {
	Addr     uint64 `json:"addr"`
	Value    uint64 `json:"value"`
	Function string `json:"function"`
	Offset   uint64 `json:"offset"`
}

// StackTextWords scans the task's stack from sp (the stack base when 0) to
// its top for words that are kernel text addresses: what crash's bt -t
// shows, and the fallback when an unwind fails.
func (k *Kernel) StackTextWords(taskAddr, sp uint64) ([]StackWord, error) {
	u, err := k.unwinder()
	if err != nil {
		return nil, err
	}
	t, err := u.task(taskAddr)
	if err != nil {
		return nil, err
	}
	lo := t.stack.lo
	if sp > lo && sp < t.stack.hi {
		lo = sp &^ (u.ptr - 1)
	}
	buf := make([]byte, t.stack.hi-lo)
	if err := k.ReadVirt(buf, lo); err != nil {
		return nil, fmt.Errorf("reading the stack of task %#x at %#x: %w", taskAddr, lo, err)
	}
	var out []StackWord
	for off := uint64(0); off+u.ptr <= uint64(len(buf)); off += u.ptr {
		v := u.impl.textWord(u.word(buf[off:]))
		if !k.Image.InText(v) {
			continue
		}
		w := StackWord{Addr: lo + off, Value: v}
		if s, o, ok := k.Image.SymbolAt(v); ok {
			w.Function, w.Offset = s.Name, o
		}
		out = append(out, w)
	}
	return out, nil
}

// ReadStackWords reads [lo, hi) of a stack as target words (for bt -f).
func (k *Kernel) ReadStackWords(lo, hi uint64) ([]uint64, error) {
	ps := uint64(k.PtrSize())
	if hi <= lo || hi-lo > 1<<20 {
		return nil, fmt.Errorf("bad stack range %#x-%#x", lo, hi)
	}
	buf := make([]byte, hi-lo)
	if err := k.ReadVirt(buf, lo); err != nil {
		return nil, fmt.Errorf("reading stack %#x-%#x: %w", lo, hi, err)
	}
	bo := k.Image.ByteOrder()
	var out []uint64
	for off := uint64(0); off+ps <= uint64(len(buf)); off += ps {
		out = append(out, dwarfx.DecodeUint(bo, buf[off:][:int(ps)]))
	}
	return out, nil
}
