package kstructs

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// The x86_64 unwinder follows the kernel's ORC unwinder
// (arch/x86/kernel/unwind_orc.c): .orc_unwind_ip holds pc-relative int32
// instruction addresses, sorted; .orc_unwind holds one struct orc_entry per
// address saying how to find the caller's stack pointer (CFA), frame
// pointer and return address from the current ones. The entry layout is
// decoded from DWARF's struct orc_entry, whose bit-fields changed in 6.3/6.4.

// ORC register numbers (arch/x86/include/asm/orc_types.h; unchanged since
// ORC was introduced).
const (
	orcRegUndefined  = 0
	orcRegPrevSP     = 1
	orcRegDX         = 2
	orcRegDI         = 3
	orcRegBP         = 4
	orcRegSP         = 5
	orcRegR10        = 6
	orcRegR13        = 7
	orcRegBPIndirect = 8
	orcRegSPIndirect = 9
)

type x86Unwinder struct {
	u *unwinder

	ipBase  uint64 // run-time address of __start_orc_unwind_ip
	ips     []byte // .orc_unwind_ip
	entries []byte // .orc_unwind
	entSize int
	n       int

	spOffset, bpOffset, spReg, bpReg, typ, end, signal dwarfx.Field
	hasEnd, hasSignal                                  bool
	// type numbering: before 6.4 CALL=0 REGS=1 REGS_PARTIAL=2 and an end
	// bit; from 6.4 UNDEFINED=0 END_OF_STACK=1 CALL=2 REGS=3 REGS_PARTIAL=4.
	tCall, tRegs, tPartial, tUndefined, tEnd int

	mods modORC // the modules' tables (x86_64_modorc.go)

	threadSP   uint64 // offsetof(task_struct, thread.sp)
	frameSize  uint64 // sizeof(struct inactive_task_frame)
	frameOffs  map[string]uint64
	ipInPtRegs uint64 // offsetof(pt_regs, ip): an IRET frame starts there
}

type orcEntry struct {
	spOffset, bpOffset int64
	spReg, bpReg, typ  int
	end, signal        bool
}

func newX86Unwinder(u *unwinder) (*x86Unwinder, error) {
	k := u.k
	x := &x86Unwinder{u: u, frameOffs: map[string]uint64{}}
	start, ok1 := k.Image.Lookup("__start_orc_unwind_ip")
	stop, ok2 := k.Image.Lookup("__stop_orc_unwind_ip")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("vmlinux has no ORC unwind tables (__start_orc_unwind_ip): only CONFIG_UNWINDER_ORC kernels are supported on x86_64")
	}
	ips, ok := k.Image.SectionData(".orc_unwind_ip")
	if !ok {
		return nil, fmt.Errorf("vmlinux has no .orc_unwind_ip section")
	}
	ents, ok := k.Image.SectionData(".orc_unwind")
	if !ok {
		return nil, fmt.Errorf("vmlinux has no .orc_unwind section")
	}
	x.n = int((stop.Addr - start.Addr) / 4)
	if x.n*4 > len(ips) {
		return nil, fmt.Errorf(".orc_unwind_ip holds %d bytes but the symbols bound %d entries", len(ips), x.n)
	}
	x.ipBase, x.ips = start.Addr, ips
	t, err := k.lookupType("struct orc_entry")
	if err != nil {
		return nil, err
	}
	x.entSize = int(t.Size())
	if x.entSize <= 0 || x.n*x.entSize > len(ents) {
		return nil, fmt.Errorf(".orc_unwind holds %d bytes, too few for %d entries of %d bytes", len(ents), x.n, x.entSize)
	}
	x.entries = ents
	field := func(name string) (dwarfx.Field, bool) {
		f, err := k.Image.Member(t, name)
		return f, err == nil
	}
	for _, m := range []struct {
		name string
		dst  *dwarfx.Field
	}{{"sp_offset", &x.spOffset}, {"bp_offset", &x.bpOffset}, {"sp_reg", &x.spReg}, {"bp_reg", &x.bpReg}, {"type", &x.typ}} {
		b, ok := field(m.name)
		if !ok {
			return nil, fmt.Errorf("struct orc_entry has no member %s", m.name)
		}
		*m.dst = b
	}
	x.end, x.hasEnd = field("end")
	x.signal, x.hasSignal = field("signal")
	if x.hasEnd {
		x.tCall, x.tRegs, x.tPartial, x.tUndefined, x.tEnd = 0, 1, 2, -1, -1
	} else {
		x.tUndefined, x.tEnd, x.tCall, x.tRegs, x.tPartial = 0, 1, 2, 3, 4
	}

	if x.threadSP, _, err = k.memberOffset("struct task_struct", "thread.sp"); err != nil {
		return nil, err
	}
	if x.frameSize, err = k.typeSize("struct inactive_task_frame"); err != nil {
		return nil, err
	}
	for _, m := range []string{"r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"} {
		if off, _, err := k.memberOffset("struct inactive_task_frame", m); err == nil {
			x.frameOffs[m] = off
		}
	}
	if _, ok := x.frameOffs["ret_addr"]; !ok {
		return nil, fmt.Errorf("struct inactive_task_frame has no member ret_addr")
	}
	if x.ipInPtRegs, _, err = k.memberOffset("struct pt_regs", "ip"); err != nil {
		return nil, err
	}
	return x, nil
}

func signExtend(v uint64, width int64) int64 {
	shift := 64 - width
	return int64(v<<shift) >> shift
}

func (x *x86Unwinder) entry(i int) orcEntry {
	return x.decode(x.entries[i*x.entSize : (i+1)*x.entSize])
}

// decode decodes one struct orc_entry.
func (x *x86Unwinder) decode(p []byte) orcEntry {
	get := func(f dwarfx.Field) uint64 {
		v, _ := f.Extract(p, x.u.bo)
		return v
	}
	e := orcEntry{
		spOffset: signExtend(get(x.spOffset), x.spOffset.Width()),
		bpOffset: signExtend(get(x.bpOffset), x.bpOffset.Width()),
		spReg:    int(get(x.spReg)),
		bpReg:    int(get(x.bpReg)),
		typ:      int(get(x.typ)),
	}
	if x.hasEnd {
		e.end = get(x.end) != 0
	}
	if x.hasSignal {
		e.signal = get(x.signal) != 0
	} else {
		e.signal = e.typ == x.tRegs || e.typ == x.tPartial
	}
	return e
}

func (x *x86Unwinder) ip(i int) uint64 {
	rel := int32(x.u.bo.Uint32(x.ips[i*4:]))
	return x.ipBase + uint64(i*4) + uint64(int64(rel))
}

// find returns the ORC entry covering pc: the last one whose address is <= pc.
func (x *x86Unwinder) find(pc uint64) (orcEntry, bool) {
	if x.u.tableOff(pc) {
		return orcEntry{}, false
	}
	if e, ok, inModule := x.findModule(pc); inModule {
		return e, ok
	}
	i := sort.Search(x.n, func(i int) bool { return x.ip(i) > pc }) - 1
	if i < 0 {
		return orcEntry{}, false
	}
	return x.entry(i), true
}

// cpuStacks lists the CPU's hard-IRQ stack and its exception stacks (in
// the cpu_entry_area).
func (x *x86Unwinder) cpuStacks(cpu int) []stackRange {
	k := x.u.k
	pcpu, err := k.PerCPUOffset(cpu)
	if err != nil {
		return nil
	}
	var out []stackRange
	var ptrAddr uint64
	if v, err := k.Image.Variable("hardirq_stack_ptr"); err == nil {
		ptrAddr = v.Addr + pcpu
	} else if v, err := k.Image.Variable("pcpu_hot"); err == nil {
		if off, _, err := k.Image.OffsetOf(v.Type, "hardirq_stack_ptr"); err == nil {
			ptrAddr = v.Addr + pcpu + uint64(off)
		}
	}
	size, err := k.typeSize("struct irq_stack")
	if ptrAddr != 0 && err == nil {
		// hardirq_stack_ptr points at the top word of the stack
		// (irq_64.c: va + IRQ_STACK_SIZE - 8).
		if p, err := x.u.readWord(ptrAddr); err == nil && p != 0 {
			top := (p + 8 + 7) &^ 7
			out = append(out, stackRange{lo: top - size, hi: top, kind: "irq"})
		}
	}
	// The entry stack (cpu_entry_area's entry_stack_page): with PTI the
	// hardware and the entry code push the user's exception frame there
	// before moving to the task stack; TSS.sp0 is its top.
	if v, err := k.Image.Variable("cpu_tss_rw"); err == nil {
		if off, _, err := k.Image.OffsetOf(v.Type, "x86_tss.sp0"); err == nil {
			if top, err := x.u.readWord(v.Addr + pcpu + uint64(off)); err == nil && top != 0 {
				if n, err := k.typeSize("struct entry_stack"); err == nil && n > 0 && n < 1<<16 {
					out = append(out, stackRange{lo: top - n, hi: top, kind: "entry"})
				}
			}
		}
	}
	if v, err := k.Image.Variable("cea_exception_stacks"); err == nil {
		if p, err := x.u.readWord(v.Addr + pcpu); err == nil && p != 0 {
			if t, err := k.lookupType("struct cea_exception_stacks"); err == nil {
				out = append(out, exceptionStacks(t, p)...)
			}
		}
	}
	return out
}

// exceptionStacks splits struct cea_exception_stacks into its NMI, DF,
// DB, MCE... stacks (members named X_stack; the X_stack_guard pages are
// left out).
func exceptionStacks(t dwarf.Type, base uint64) []stackRange {
	st, ok := dwarfx.Strip(t).(*dwarf.StructType)
	if !ok {
		return nil
	}
	var out []stackRange
	for _, f := range st.Field {
		if !strings.HasSuffix(f.Name, "_stack") || f.Type.Size() <= 0 {
			continue
		}
		lo := base + uint64(f.ByteOffset)
		out = append(out, stackRange{lo: lo, hi: lo + uint64(f.Type.Size()), kind: strings.TrimSuffix(f.Name, "_stack") + " exception"})
	}
	return out
}

// savedRegs reads the context __switch_to_asm saved: thread.sp points at a
// struct inactive_task_frame whose ret_addr returns into __schedule.
func (x *x86Unwinder) savedRegs(t *taskCtx) (*Regs, error) {
	sp, err := x.u.readWord(t.addr + x.threadSP)
	if err != nil {
		return nil, fmt.Errorf("reading thread.sp of task %#x: %w", t.addr, err)
	}
	if !t.stack.contains(sp, x.frameSize) {
		return nil, fmt.Errorf("task %#x: thread.sp %#x is outside its stack %#x-%#x", t.addr, sp, t.stack.lo, t.stack.hi)
	}
	buf := make([]byte, x.frameSize)
	if err := x.u.k.ReadVirt(buf, sp); err != nil {
		return nil, fmt.Errorf("reading the inactive_task_frame of task %#x at %#x: %w", t.addr, sp, err)
	}
	r := &Regs{Arch: x.u.arch, Values: make([]uint64, x86NRegs)}
	for name, idx := range map[string]int{"r15": x86R15, "r14": x86R14, "r13": x86R13, "r12": x86R12, "bx": x86BX, "bp": x86BP, "ret_addr": x86IP} {
		if off, ok := x.frameOffs[name]; ok {
			r.Values[idx] = x.u.word(buf[off:])
		}
	}
	r.Values[x86SP] = sp + x.frameOffs["ret_addr"] + 8
	return r, nil
}

type x86State struct {
	ip, sp, bp uint64
	regs       *Regs // registers known at this frame (full unless Partial), nil if only ip/sp/bp
	signal     bool  // ip is the interrupted instruction, not a return address
}

// unwind walks the stack from regs. fromCPU: regs are a CPU's live
// registers (ip is the current instruction); otherwise they are a saved
// context whose ip is a return address.
func (x *x86Unwinder) unwind(bt *Backtrace, t *taskCtx, regs *Regs, fromCPU bool) {
	img := x.u.k.Image
	st := x86State{ip: regs.PC(), sp: regs.SP(), bp: regs.FP(), signal: fromCPU}
	if fromCPU {
		st.regs = regs
	}
	for {
		f := Frame{PC: st.ip, FP: st.bp, IsReturn: !st.signal, SP: st.sp}
		if !st.signal {
			f.SP = st.sp - 8
		}
		if !addFrame(bt, t, f) {
			return
		}
		cur := &bt.Frames[len(bt.Frames)-1]
		if !img.InText(st.ip) {
			if fromCPU && len(bt.Frames) == 1 && x.betweenUserAndKernel(bt, t, st.sp) {
				return
			}
			bt.Stopped = fmt.Sprintf("unwind stopped at %#x: pc is not kernel text", st.ip)
			return
		}
		next, done, err := x.step(t, st, cur)
		if err != nil {
			bt.Stopped = fmt.Sprintf("unwind stopped at %#x: %v", st.ip, err)
			return
		}
		if done {
			return
		}
		st = next
	}
}

// step applies the ORC entry of st.ip (arch/x86/kernel/unwind_orc.c
// unwind_next_frame): the caller's state, or done at the stack's end (an
// entry from user space, ret_from_fork, the 6.4+ end marker). An exception
// frame crossed is recorded in cur.
func (x *x86Unwinder) step(t *taskCtx, st x86State, cur *Frame) (next x86State, done bool, err error) {
	look := st.ip
	if !st.signal {
		look--
	}
	e, ok := x.find(look)
	switch {
	case !ok:
		return next, false, fmt.Errorf("no ORC entry for pc")
	case x.tUndefined >= 0 && e.typ == x.tUndefined:
		return next, false, fmt.Errorf("the ORC entry for pc says it has no unwind information")
	case x.tEnd >= 0 && e.typ == x.tEnd:
		return next, true, nil // end of stack (6.4+)
	case e.spReg == orcRegUndefined && e.end:
		return next, true, nil // UNWIND_HINT_EMPTY: ret_from_fork, startup code
	case e.spReg == orcRegUndefined:
		return next, false, fmt.Errorf("the ORC entry for pc has no stack pointer rule")
	}
	sp, err := x.cfa(t, st, e)
	if err != nil {
		return next, false, err
	}
	if next, done, err = x.caller(t, st, e, sp, cur); err != nil || done {
		return next, done, err
	}
	if err := x.callerBP(t, st, e, sp, &next); err != nil {
		return next, false, err
	}
	return next, false, checkAdvance(t, st, next)
}

// readStack reads a word that must lie on the task's stacks.
func (x *x86Unwinder) readStack(t *taskCtx, addr uint64, what string) (uint64, error) {
	if _, ok := t.stackOf(addr, 8); !ok {
		return 0, fmt.Errorf("%s at %#x is outside the task's stacks", what, addr)
	}
	v, err := x.u.readWord(addr)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %v", what, err)
	}
	return v, nil
}

// cfa computes the caller's stack pointer by the entry's sp_reg rule.
func (x *x86Unwinder) cfa(t *taskCtx, st x86State, e orcEntry) (uint64, error) {
	reg := func(i int, name string) (uint64, error) {
		if st.regs == nil || st.regs.Partial {
			return 0, fmt.Errorf("the ORC entry needs %s, which is not known here", name)
		}
		return st.regs.Values[i], nil
	}
	switch e.spReg {
	case orcRegSP:
		return st.sp + uint64(e.spOffset), nil
	case orcRegBP:
		return st.bp + uint64(e.spOffset), nil
	case orcRegSPIndirect:
		sp, err := x.readStack(t, st.sp, "the saved stack pointer")
		return sp + uint64(e.spOffset), err
	case orcRegBPIndirect:
		return x.readStack(t, st.bp+uint64(e.spOffset), "the saved stack pointer")
	case orcRegR10:
		return reg(x86R10, "r10")
	case orcRegR13:
		return reg(x86R13, "r13")
	case orcRegDI:
		return reg(x86DI, "rdi")
	case orcRegDX:
		return reg(x86DX, "rdx")
	}
	return 0, fmt.Errorf("the ORC entry has an unknown stack pointer register %d", e.spReg)
}

// caller finds the caller's pc and sp by the entry's type: a return
// address below the CFA, or a (partial) pt_regs there; a user-mode pt_regs
// ends the unwind.
func (x *x86Unwinder) caller(t *taskCtx, st x86State, e orcEntry, sp uint64, cur *Frame) (x86State, bool, error) {
	next := x86State{bp: st.bp}
	switch e.typ {
	case x.tCall:
		ip, err := x.readStack(t, sp-8, "the return address")
		if err != nil {
			return next, false, err
		}
		next.ip, next.sp = ip, sp
	case x.tRegs, x.tPartial:
		addr := sp
		if e.typ == x.tPartial {
			addr = sp - x.ipInPtRegs // only the IRET frame is there
		}
		if _, ok := t.stackOf(sp, 5*8); !ok {
			return next, false, fmt.Errorf("the exception frame at %#x is outside the task's stacks", addr)
		}
		pt, err := x.u.readPtRegs(addr)
		if err != nil {
			return next, false, err
		}
		pt.Partial = e.typ == x.tPartial
		cur.ExceptionRegs = pt
		if pt.User {
			return next, true, nil // entered from user space: the entry point
		}
		next.ip, next.sp, next.regs, next.signal = pt.PC(), pt.SP(), pt, true
	default:
		return next, false, fmt.Errorf("the ORC entry has an unknown type %d", e.typ)
	}
	return next, false, nil
}

// callerBP restores the caller's frame pointer by the entry's bp_reg rule.
func (x *x86Unwinder) callerBP(t *taskCtx, st x86State, e orcEntry, sp uint64, next *x86State) error {
	var err error
	switch e.bpReg {
	case orcRegUndefined:
		if next.regs != nil && !next.regs.Partial {
			next.bp = next.regs.FP()
		}
	case orcRegPrevSP:
		next.bp, err = x.readStack(t, sp+uint64(e.bpOffset), "the saved frame pointer")
	case orcRegBP:
		next.bp, err = x.readStack(t, st.bp+uint64(e.bpOffset), "the saved frame pointer")
	default:
		err = fmt.Errorf("the ORC entry has an unknown frame pointer register %d", e.bpReg)
	}
	return err
}

// checkAdvance refuses a step that bad data could loop on: on one stack
// the stack pointer must grow, and the caller's must be on the stacks.
func checkAdvance(t *taskCtx, st, next x86State) error {
	old, _ := t.stackOf(st.sp, 1)
	if nw, ok := t.stackOf(next.sp, 1); ok && nw == old && next.sp <= st.sp && !next.signal {
		return fmt.Errorf("the stack pointer did not advance (%#x -> %#x)", st.sp, next.sp)
	}
	if _, ok := t.stackOf(next.sp, 1); !ok && next.sp != 0 {
		return fmt.Errorf("the caller's stack pointer %#x is outside the task's stacks", next.sp)
	}
	return nil
}

// betweenUserAndKernel handles a CPU stopped in kernel mode at a pc
// outside the kernel's text with its stack pointer at the top of the task
// stack or on the entry stack: in the entry trampoline or the first
// instructions of an entry, before anything of the kernel's is on the
// stack. The trace is that frame alone, a complete one.
func (x *x86Unwinder) betweenUserAndKernel(bt *Backtrace, t *taskCtx, sp uint64) bool {
	top := t.stack.hi
	s, ok := t.stackOf(sp, 0)
	if !ok || !(s.kind == "entry" || s.kind == "task" && sp >= top-x.u.ptRegs.size) {
		return false
	}
	bt.Notes = append(bt.Notes, fmt.Sprintf("cpu %d was at %#x, outside the kernel's text, with an empty kernel stack (sp %#x on the %s stack): between user space and the kernel", t.cpu, bt.Frames[0].PC, sp, s.kind))
	return true
}
