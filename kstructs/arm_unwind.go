package kstructs

import (
	"fmt"
	"sort"
)

// The 32-bit arm unwinder interprets the ARM EHABI unwind tables the
// kernel keeps for itself (CONFIG_ARM_UNWIND; arch/arm/kernel/unwind.c):
// .ARM.unwind_idx pairs a prel31 function address with either
// EXIDX_CANTUNWIND, an inline compact-model-0 entry, or a prel31 pointer
// into .ARM.unwind_tab; the entry's bytecode says how to pop the caller's
// registers off the stack (vsp += n, pop {r4-r15} by mask, finish).

const exidxCantUnwind = 1

// armRoots are where a 32-bit arm kernel stack begins: syscall and
// exception entry from user space (marked .cantunwind), a new task's
// ret_from_fork, and the idle tasks' start.
var armRoots = map[string]bool{
	"ret_fast_syscall": true, "ret_slow_syscall": true, "vector_swi": true, "ret_to_user": true,
	"ret_to_user_from_irq": true, "__irq_usr": true, "__dabt_usr": true, "__pabt_usr": true,
	"__und_usr": true, "__fiq_usr": true, "ret_from_fork": true,
	"secondary_start_kernel": true, "start_kernel": true,
}

// armUserEntries are the roots entered from user space: the user's
// registers are the pt_regs at the top of the task's stack.
var armUserEntries = map[string]bool{
	"ret_fast_syscall": true, "ret_slow_syscall": true, "vector_swi": true, "ret_to_user": true,
	"ret_to_user_from_irq": true, "__irq_usr": true, "__dabt_usr": true, "__pabt_usr": true,
	"__und_usr": true, "__fiq_usr": true,
}

// armSvcEntries are kernel-mode exception entries: svc_entry leaves the
// interrupted context's pt_regs at the stack pointer.
var armSvcEntries = map[string]bool{
	"__irq_svc": true, "__dabt_svc": true, "__pabt_svc": true, "__und_svc": true, "__fiq_svc": true, "__fiq_abt": true,
}

type armUnwinder struct {
	u *unwinder

	idx     []byte
	idxBase uint64
	n       int
	tab     []byte
	tabBase uint64

	ctxOff   uint64 // cpu_context within task_struct (or within thread_info at the stack base)
	ctxInTI  bool
	ctx      map[string]uint64
	ctxLen   uint64
	callWith uint64 // call_with_stack: the one function allowed to switch stacks
	// rootAt maps the address of each root to its name: vector_swi sets
	// lr to ret_fast_syscall itself, so that "return address" is a
	// function's first instruction, not the instruction after a call.
	rootAt map[uint64]string

	mods armModTables // the modules' tables (arm_modunwind.go)
}

func newARMUnwinder(u *unwinder) (*armUnwinder, error) {
	k := u.k
	a := &armUnwinder{u: u, ctx: map[string]uint64{}}
	start, ok1 := k.Image.Lookup("__start_unwind_idx")
	stop, ok2 := k.Image.Lookup("__stop_unwind_idx")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("vmlinux has no unwind tables (__start_unwind_idx): CONFIG_ARM_UNWIND kernels are supported")
	}
	idx, ok := k.Image.SectionData(".ARM.unwind_idx")
	if !ok {
		return nil, fmt.Errorf("vmlinux has no .ARM.unwind_idx section")
	}
	a.n = int((stop.Addr - start.Addr) / 8)
	if a.n*8 > len(idx) {
		return nil, fmt.Errorf(".ARM.unwind_idx holds %d bytes but the symbols bound %d entries", len(idx), a.n)
	}
	a.idx, a.idxBase = idx, start.Addr
	if s, ok := k.Image.Lookup("__start_unwind_tab"); ok {
		a.tab, _ = k.Image.SectionData(".ARM.unwind_tab")
		a.tabBase = s.Addr
	}
	a.rootAt = map[uint64]string{}
	for name := range armRoots {
		if s, ok := k.Image.Lookup(name); ok {
			a.rootAt[s.Addr] = name
		}
	}
	if s, ok := k.Image.Lookup("call_with_stack"); ok {
		a.callWith = s.Addr
	}
	var err error
	if off, _, err2 := k.memberOffset("struct task_struct", "thread_info.cpu_context"); err2 == nil {
		a.ctxOff = off
	} else if a.ctxOff, _, err = k.memberOffset("struct thread_info", "cpu_context"); err == nil {
		a.ctxInTI = true
	} else {
		return nil, err
	}
	if a.ctxLen, err = k.typeSize("struct cpu_context_save"); err != nil {
		return nil, err
	}
	for _, m := range []string{"r4", "r5", "r6", "r7", "r8", "r9", "sl", "fp", "sp", "pc"} {
		off, _, err := k.memberOffset("struct cpu_context_save", m)
		if err != nil {
			return nil, err
		}
		a.ctx[m] = off
	}
	return a, nil
}

func prel31(word uint32, at uint64) uint64 {
	off := int64(int32(word<<1) >> 1)
	return uint64(uint32(int64(at) + off))
}

// find returns the index entry covering pc: (function start, second word, entry address).
func (a *armUnwinder) find(pc uint64) (fn uint64, insn uint32, at uint64, ok bool) {
	if a.u.tableOff(pc) {
		return 0, 0, 0, false
	}
	if fn, insn, at, ok, inModule := a.findModule(pc); inModule {
		return fn, insn, at, ok
	}
	bo := a.u.bo
	fnAt := func(i int) uint64 { return prel31(bo.Uint32(a.idx[i*8:]), a.idxBase+uint64(i*8)) }
	i := sort.Search(a.n, func(i int) bool { return fnAt(i) > pc }) - 1
	if i < 0 {
		return 0, 0, 0, false
	}
	return fnAt(i), bo.Uint32(a.idx[i*8+4:]), a.idxBase + uint64(i*8) + 4, true
}

// word reads an unwind table word at a run-time address.
func (a *armUnwinder) tabWord(addr uint64) (uint32, error) {
	if addr >= a.tabBase && addr+4 <= a.tabBase+uint64(len(a.tab)) {
		return a.u.bo.Uint32(a.tab[addr-a.tabBase:]), nil
	}
	v, err := a.u.readWord(addr)
	return uint32(v), err
}

// savedRegs reads cpu_context: what __switch_to saved (r4-sl, fp, sp and
// the return address into __schedule as pc).
func (a *armUnwinder) savedRegs(t *taskCtx) (*Regs, error) {
	base := t.addr + a.ctxOff
	if a.ctxInTI {
		base = t.stack.lo + a.ctxOff
	}
	buf := make([]byte, a.ctxLen)
	if err := a.u.k.ReadVirt(buf, base); err != nil {
		return nil, fmt.Errorf("reading cpu_context of task %#x at %#x: %w", t.addr, base, err)
	}
	r := &Regs{Arch: a.u.arch, Values: make([]uint64, armNRegs)}
	for i, m := range []string{"r4", "r5", "r6", "r7", "r8", "r9", "sl", "fp"} {
		r.Values[4+i] = uint64(a.u.bo.Uint32(buf[a.ctx[m]:]))
	}
	r.Values[armSP] = uint64(a.u.bo.Uint32(buf[a.ctx["sp"]:]))
	r.Values[armPC] = uint64(a.u.bo.Uint32(buf[a.ctx["pc"]:]))
	r.Values[armCPSR] = 0x13 // SVC mode: a kernel context
	return r, nil
}

type armCtrl struct {
	a       *armUnwinder
	vrs     [16]uint64
	insn    uint64 // address of the current bytecode word
	word    uint32
	byte    int
	entries int
	err     error
}

func (c *armCtrl) getByte() byte {
	b := byte(c.word >> (uint(c.byte) * 8))
	if c.byte == 0 {
		c.insn += 4
		c.entries--
		c.byte = 3
		if c.entries > 0 {
			w, err := c.a.tabWord(c.insn)
			if err != nil {
				c.err = fmt.Errorf("reading unwind bytecode at %#x: %v", c.insn, err)
			}
			c.word = w
		}
	} else {
		c.byte--
	}
	return b
}

func (c *armCtrl) pop(vsp *uint64) uint64 {
	v, err := c.a.u.readWord(*vsp)
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("reading the stack at %#x: %v", *vsp, err)
	}
	*vsp += 4
	return v
}

// exec runs one unwind instruction (unwind_exec_insn).
func (c *armCtrl) exec() {
	insn := uint32(c.getByte())
	vsp := c.vrs[armSP]
	switch {
	case insn&0xc0 == 0x00:
		c.vrs[armSP] += uint64(insn&0x3f)<<2 + 4
	case insn&0xc0 == 0x40:
		c.vrs[armSP] -= uint64(insn&0x3f)<<2 + 4
	case insn&0xf0 == 0x80:
		insn = insn<<8 | uint32(c.getByte())
		mask := insn & 0x0fff
		if mask == 0 {
			c.err = fmt.Errorf("refuse to unwind (instruction %#04x)", insn)
			return
		}
		loadSP := mask&(1<<(13-4)) != 0
		for reg := 4; mask != 0; reg, mask = reg+1, mask>>1 {
			if mask&1 != 0 {
				c.vrs[reg] = c.pop(&vsp)
			}
		}
		if !loadSP {
			c.vrs[armSP] = vsp
		}
	case insn&0xf0 == 0x90 && insn&0x0d != 0x0d:
		c.vrs[armSP] = c.vrs[insn&0x0f]
	case insn&0xf0 == 0xa0:
		for reg := 4; reg <= 4+int(insn&7); reg++ {
			c.vrs[reg] = c.pop(&vsp)
		}
		if insn&0x08 != 0 {
			c.vrs[armLR] = c.pop(&vsp)
		}
		c.vrs[armSP] = vsp
	case insn == 0xb0:
		if c.vrs[armPC] == 0 {
			c.vrs[armPC] = c.vrs[armLR]
		}
		c.entries = 0
	case insn == 0xb1:
		mask := uint32(c.getByte())
		if mask == 0 || mask&0xf0 != 0 {
			c.err = fmt.Errorf("spare unwind encoding %#04x", insn<<8|mask)
			return
		}
		for reg := 0; mask != 0; reg, mask = reg+1, mask>>1 {
			if mask&1 != 0 {
				c.vrs[reg] = c.pop(&vsp)
			}
		}
		c.vrs[armSP] = vsp
	case insn == 0xb2:
		var v uint64
		for shift := uint(0); shift < 32; shift += 7 {
			b := c.getByte()
			v |= uint64(b&0x7f) << shift
			if b&0x80 == 0 {
				break
			}
		}
		c.vrs[armSP] += 0x204 + v<<2
	default:
		c.err = fmt.Errorf("unhandled unwind instruction %#02x", insn)
	}
	c.vrs[armSP] &= 0xffffffff
}

func (a *armUnwinder) unwind(bt *Backtrace, t *taskCtx, regs *Regs, fromCPU bool) {
	img := a.u.k.Image
	var vrs [16]uint64
	copy(vrs[:], regs.Values)
	if !fromCPU {
		vrs[armLR] = 0
	}
	isReturn := !fromCPU
	for {
		pc, sp := vrs[armPC], vrs[armSP]
		f := Frame{PC: pc, SP: sp, FP: vrs[armFP], IsReturn: isReturn}
		if !addFrame(bt, t, f) {
			return
		}
		cur := &bt.Frames[len(bt.Frames)-1]
		stop := func(format string, args ...any) {
			bt.Stopped = fmt.Sprintf("unwind stopped at %#x: ", pc) + fmt.Sprintf(format, args...)
		}
		look := pc
		if isReturn {
			look -= 2 // a return address may follow a call ending the function
		}
		name := a.frameName(pc, look, cur)
		if a.entryRegs(t, name, sp, cur) {
			return
		}
		fn, insn, at, ok := a.find(look)
		if !ok || !img.InText(pc) {
			stop("no unwind index entry for pc")
			return
		}
		switch {
		case insn == exidxCantUnwind:
			// Hand-written assembly (cpu_v7_*, v7wbi_flush_*, ...) has no
			// unwind entry. When such a function is the interrupted
			// frame (the first one, or the one an exception entry
			// restored), it is a leaf whose return address is still in
			// lr: continue from lr with the same stack pointer, as
			// crash's arm unwinder does.
			if !isReturn && a.leafReturn(vrs[armLR], fn) {
				vrs[armPC], vrs[armLR], isReturn = vrs[armLR]&^1, 0, true
				continue
			}
			stop("%s cannot be unwound (EXIDX_CANTUNWIND)", name)
			return
		case fn == pc && !isReturn:
			// At a function's first instruction nothing is pushed yet:
			// the return address is still in lr.
			if vrs[armLR] == 0 || vrs[armLR] == pc {
				stop("at the entry of %s with no return address in lr", name)
				return
			}
			vrs[armPC], vrs[armLR], isReturn = vrs[armLR], 0, true
			continue
		}
		next, err := a.ehabiStep(vrs, insn, at)
		if err != nil {
			stop("%v", err)
			return
		}
		npc, nsp := next[armPC]&^1, next[armSP]
		if err := a.checkAdvance(t, pc, sp, npc, nsp, fn, name); err != nil {
			stop("%v", err)
			return
		}
		vrs = next
		vrs[armPC] = npc
		// Unwinding through an exception entry restores the interrupted
		// pc: not a return address.
		isReturn = !armSvcEntries[name]
	}
}

// frameName names the frame at pc (looked up at look): its symbol, or the
// root an address is (vector_swi sets lr to ret_fast_syscall itself, a
// function's first instruction), which also names cur.
func (a *armUnwinder) frameName(pc, look uint64, cur *Frame) string {
	name := ""
	if s, _, ok := a.u.k.Image.SymbolAt(look); ok {
		name = s.Name
	}
	if r, ok := a.rootAt[pc]; ok {
		name = r
		cur.Function, cur.Offset = r, 0
	}
	return name
}

// entryRegs attaches the registers an entry saved to cur: a root entered
// from user space keeps them at the top of the stack (THREAD_START_SP), a
// kernel-mode exception entry (svc_entry) at the stack pointer. true: name
// is a root, where the stack begins.
func (a *armUnwinder) entryRegs(t *taskCtx, name string, sp uint64, cur *Frame) bool {
	u := a.u
	if armRoots[name] {
		if armUserEntries[name] {
			if pt, err := u.readPtRegs(t.stack.hi - 8 - u.ptRegs.size); err == nil {
				cur.ExceptionRegs = pt
			}
		}
		return true
	}
	if armSvcEntries[name] {
		if pt, err := u.readPtRegs(sp); err == nil {
			cur.ExceptionRegs = pt
		}
	}
	return false
}

// checkAdvance refuses a step bad data could loop on: pc and sp must
// change, the caller's sp must be on the task's stacks and not below the
// callee's on the same stack, and only call_with_stack or an exception
// entry may switch stacks. A stack pointer may sit at the very top of an
// empty stack (call_with_stack switching to the IRQ stack).
func (a *armUnwinder) checkAdvance(t *taskCtx, pc, sp, npc, nsp, fn uint64, name string) error {
	if npc == pc && nsp == sp {
		return fmt.Errorf("the unwind does not advance (pc and sp unchanged)")
	}
	old, _ := t.stackOf(sp, 0)
	nw, ok := t.stackOf(nsp, 0)
	if !ok {
		return fmt.Errorf("the caller's stack pointer %#x is outside the task's stacks", nsp)
	}
	if nw == old && nsp < sp {
		return fmt.Errorf("the stack pointer moved down (%#x -> %#x)", sp, nsp)
	}
	if nw != old && fn != a.callWith && !armSvcEntries[name] {
		return fmt.Errorf("the stack changed outside call_with_stack (%#x -> %#x)", sp, nsp)
	}
	return nil
}

// ehabiStep runs the unwind bytecode that the index entry insn (the
// entry's second word, at address at) leads to on the callee's registers
// vrs, returning the caller's (unwind_frame in arch/arm/kernel/unwind.c).
// The caller's pc is lr when the bytecode does not pop pc.
func (a *armUnwinder) ehabiStep(vrs [16]uint64, insn uint32, at uint64) ([16]uint64, error) {
	c := armCtrl{a: a, vrs: vrs}
	c.vrs[armPC] = 0
	switch {
	case insn&0x80000000 == 0:
		c.insn = prel31(insn, at) // a prel31 pointer into .ARM.unwind_tab
	case insn&0xff000000 == 0x80000000:
		c.insn = at // compact model 0, inline in the index
	default:
		return vrs, fmt.Errorf("unsupported personality routine %#x in the unwind index", insn)
	}
	w, err := a.tabWord(c.insn)
	if err != nil {
		return vrs, fmt.Errorf("reading unwind bytecode at %#x: %v", c.insn, err)
	}
	c.word = w
	switch w & 0xff000000 {
	case 0x80000000: // personality 0: three opcode bytes in this word
		c.byte, c.entries = 2, 1
	case 0x81000000: // personality 1: two here, then N more words
		c.byte, c.entries = 1, 1+int(w&0x00ff0000>>16)
	default:
		return vrs, fmt.Errorf("unsupported personality routine %#x at %#x", w, c.insn)
	}
	for steps := 0; c.entries > 0 && c.err == nil && steps < 256; steps++ {
		c.exec()
	}
	if c.err != nil {
		return vrs, c.err
	}
	if c.vrs[armPC] == 0 {
		c.vrs[armPC] = c.vrs[armLR]
	}
	return c.vrs, nil
}

// leafReturn reports whether lr can be the return address of the leaf
// function starting at fn: kernel text outside fn itself.
func (a *armUnwinder) leafReturn(lr, fn uint64) bool {
	lr &^= 1
	if lr == 0 || !a.u.k.Image.InText(lr) {
		return false
	}
	lfn, _, _, ok := a.find(lr - 2)
	return ok && lfn != fn
}

// ARM processor modes (CPSR M[4:0]).
const (
	armModeUSR = 0x10
	armModeFIQ = 0x11
	armModeIRQ = 0x12
	armModeSVC = 0x13
	armModeABT = 0x17
	armModeUND = 0x1b
	armModeSYS = 0x1f
)

// The high vector page and the stubs page after it (CONFIG_VECTORS_BASE).
const armVectorsLo, armVectorsHi = 0xffff0000, 0xffff2000

// unwindCPU unwinds from a CPU's registers in the dump. The kernel runs
// in SVC mode; a CPU stopped in another mode was entering an exception:
// its pc is in the vector page or the vector stubs, and its sp and lr are
// the exception mode's banked copies (the dump's note has only the
// current mode's r13 and r14). The interrupted pc is then lr minus the
// mode's correction, and the interrupted kernel stack pointer, which is
// nowhere in the dump, is found by searching the task's stacks for the
// lowest position from which the interrupted function unwinds to a stack
// entry point.
func (a *armUnwinder) unwindCPU(bt *Backtrace, t *taskCtx, regs *Regs) {
	u := a.u
	mode := regs.Get(armCPSR) & 0x1f
	pc := regs.PC()
	inVectors := pc >= armVectorsLo && pc < armVectorsHi
	if !inVectors && (mode == armModeSVC || mode == armModeSYS) {
		a.unwind(bt, t, regs, true)
		return
	}
	// Frame 0: where the CPU was, named after the vector or stub.
	f := Frame{PC: pc, SP: regs.SP(), FP: regs.FP()}
	if inVectors && pc < armVectorsLo+0x1000 {
		if s, ok := u.k.Image.Lookup("__vectors_start"); ok {
			f.Function, f.Offset = s.Name, pc-armVectorsLo
		}
	}
	addFrame(bt, t, f)
	bt.Frames[0].Stack = "exception"
	where := fmt.Sprintf("cpu %d was in %s mode at %#x (entering an exception)", t.cpu, armModeName(mode), pc)
	if !inVectors {
		where = fmt.Sprintf("cpu %d was in %s mode at %#x", t.cpu, armModeName(mode), pc)
	}
	// The interrupted pc: lr_<mode> minus the exception's correction
	// (the pc is 8 ahead for a data abort, 4 otherwise). Inside the stubs
	// the correction may already be applied, or lr already reused: the
	// stub then saved the corrected lr at [sp_<mode>, #4].
	lr := regs.LR()
	corr := uint64(4)
	if mode == armModeABT && (pc&0xfff) == 0x10 {
		corr = 8
	}
	cands := []uint64{lr - corr}
	if pc >= armVectorsLo+0x1000 || !inVectors {
		if mode == armModeABT {
			cands = append(cands, lr-4)
		}
		cands = append(cands, lr)
		if w, err := u.readWord(regs.SP() + 4); err == nil {
			cands = append(cands, w)
		}
	}
	if inVectors && pc < armVectorsLo+0x1000 && !u.k.Image.InText(lr-corr) && lr-corr < u.k.Layout.PageOffset {
		// An exception from user space: nothing is on the kernel stack.
		ur := &Regs{Arch: u.arch, Values: append([]uint64(nil), regs.Values...), User: true}
		ur.Values[armPC], ur.Values[armCPSR] = lr-corr, armModeUSR
		bt.StartRegs = ur
		bt.Frames = nil
		bt.Notes = append(bt.Notes, where+" taken from user space at pc "+fmt.Sprintf("%#x", lr-corr)+": the task's kernel stack is empty")
		return
	}
	for _, ipc := range cands {
		ipc &^= 1
		if !u.k.Image.InText(ipc) {
			continue
		}
		if trial, sp, ok := a.searchSP(t, regs, ipc); ok {
			bt.Frames = append(bt.Frames, trial.Frames...)
			bt.Notes = append(bt.Notes, fmt.Sprintf("%s; interrupted at pc %#x, whose stack pointer (banked, not in the dump) was found by searching the stack: %#x", where, ipc, sp))
			return
		}
		if trial, slot, ok := a.searchReturn(t, regs); ok {
			// A leaf (arch_timer_read_counter_long under panic's
			// mdelay) keeps its return address in the banked lr, so
			// its caller is lost; the chain resumes at the lowest
			// saved return address that unwinds to an entry point.
			addFrame(bt, t, Frame{PC: ipc, SP: regs.SP()})
			bt.Frames[len(bt.Frames)-1].Stack = "task"
			bt.Frames = append(bt.Frames, trial.Frames...)
			bt.Notes = append(bt.Notes, fmt.Sprintf("%s; interrupted at pc %#x, a function whose return address is in the banked lr: "+
				"its caller is unknown, the trace resumes at the return address saved at %#x", where, ipc, slot))
			return
		}
		bt.Stopped = fmt.Sprintf("unwind stopped at %#x: %s; interrupted at pc %#x, but its stack pointer is banked (not in the dump) and no position on the task's stacks unwinds from there to an entry point", pc, where, ipc)
		return
	}
	bt.Stopped = fmt.Sprintf("unwind stopped at %#x: %s and lr %#x is no kernel text address: the interrupted context cannot be found", pc, where, lr)
}

// searchSP looks for the lowest stack pointer on the task's stack, then
// on the CPU's IRQ stack, from which a kernel context interrupted at pc
// unwinds to an entry point through a return address that follows a call
// which can reach pc's function. Higher matches skip live frames (any
// saved return address looks like a frame); a stale frame below the real
// stack pointer must have been left by a call of the same function that
// still chains up to the stack's entry, so the lowest match is the most
// likely one.
func (a *armUnwinder) searchSP(t *taskCtx, regs *Regs, pc uint64) (*Backtrace, uint64, bool) {
	u := a.u
	fn, _, _, ok := a.find(pc)
	if !ok {
		return nil, 0, false
	}
	var fallback *Backtrace
	var fallbackSP uint64
	for _, s := range t.stacks {
		if s.kind != "task" && s.kind != "irq" {
			continue
		}
		lo, hi := s.lo, s.hi
		if s.kind == "task" {
			if a.ctxInTI {
				if n, err := u.k.typeSize("struct thread_info"); err == nil {
					lo += (n + 3) &^ 3
				}
			}
			hi -= 8 + u.ptRegs.size // the user pt_regs at THREAD_START_SP
		}
		for sp := lo; sp < hi; sp += 4 {
			r := &Regs{Arch: u.arch, Values: append([]uint64(nil), regs.Values...)}
			r.Values[armPC], r.Values[armSP], r.Values[armLR], r.Values[armCPSR] = pc, sp, 0, armModeSVC
			trial := u.newBacktrace(t)
			a.unwind(trial, t, r, true)
			if trial.Stopped != "" || len(trial.Frames) < 2 {
				continue
			}
			if !a.callsInto(trial.Frames[1].PC, fn) || a.repeatsCallSite(trial) {
				if fallback == nil {
					fallback, fallbackSP = trial, sp
				}
				continue
			}
			return trial, sp, true
		}
	}
	// A tail call (b F from the real caller's callee) defeats the call
	// site check: take the lowest chain that reaches an entry point.
	return fallback, fallbackSP, fallback != nil
}

// searchReturn looks, from the bottom of the task's stack up, for a saved
// return address (kernel text right after a call) from which the stack
// unwinds to an entry point: the resumed chain when the interrupted
// function's own return address is lost. ARM's push {..., lr} stores lr
// highest, so the caller's frame starts just above the slot.
func (a *armUnwinder) searchReturn(t *taskCtx, regs *Regs) (*Backtrace, uint64, bool) {
	u := a.u
	for _, s := range t.stacks {
		if s.kind != "task" {
			continue
		}
		for slot := s.lo; slot+4 < s.hi; slot += 4 {
			w, err := u.readWord(slot)
			if err != nil || w&1 != 0 || !u.k.Image.InText(w) {
				continue
			}
			if fn, _, _, ok := a.find(w - 4); !ok || !a.callsInto(w, fn) && !a.callSite(w, 0, false) {
				continue
			}
			r := &Regs{Arch: u.arch, Values: append([]uint64(nil), regs.Values...)}
			r.Values[armPC], r.Values[armSP], r.Values[armLR], r.Values[armCPSR] = w, slot+4, 0, armModeSVC
			trial := u.newBacktrace(t)
			a.unwind(trial, t, r, false)
			if trial.Stopped == "" && len(trial.Frames) >= 2 {
				return trial, slot, true
			}
		}
	}
	return nil, 0, false
}

// repeatsCallSite reports whether two consecutive frames return to the
// same call site from different stack positions: a frame whose return
// address slot coincides with a live frame's, left over from an earlier
// call, unless the site calls its own function directly (recursion).
func (a *armUnwinder) repeatsCallSite(bt *Backtrace) bool {
	for i := 1; i+1 < len(bt.Frames); i++ {
		f, g := bt.Frames[i], bt.Frames[i+1]
		if f.PC == g.PC && f.IsReturn && g.IsReturn {
			if fn, _, _, ok := a.find(f.PC - 2); !ok || !a.callsDirect(f.PC, fn) {
				return true
			}
		}
	}
	return false
}

func armModeName(m uint64) string {
	switch m {
	case armModeUSR:
		return "usr"
	case armModeFIQ:
		return "fiq"
	case armModeIRQ:
		return "irq"
	case armModeSVC:
		return "svc"
	case armModeABT:
		return "abt"
	case armModeUND:
		return "und"
	case armModeSYS:
		return "sys"
	}
	return fmt.Sprintf("%#x", m)
}

// callsInto reports whether the return address ret follows an instruction
// that can call the function starting at fn: a direct bl/blx to fn, an
// indirect blx, or an old-style "mov lr, pc" followed by a write to pc.
// Thumb call sites (bit 0 of ret set) are accepted when they hold any
// bl/blx form.
func (a *armUnwinder) callsInto(ret, fn uint64) bool { return a.callSite(ret, fn, false) }

// callsDirect reports whether ret follows a direct bl/blx to fn (ARM
// state only).
func (a *armUnwinder) callsDirect(ret, fn uint64) bool { return a.callSite(ret, fn, true) }

func (a *armUnwinder) callSite(ret, fn uint64, direct bool) bool {
	read := func(addr uint64) (uint32, bool) {
		var b [4]byte
		if err := a.u.k.ReadVirt(b[:], addr); err != nil {
			return 0, false
		}
		return a.u.bo.Uint32(b[:]), true
	}
	if ret&1 != 0 {
		if direct {
			return false
		}
		ret &^= 1
		if w, ok := read(ret - 4); ok {
			hw1, hw2 := w&0xffff, w>>16 // little-endian halfwords
			if hw1&0xf800 == 0xf000 && hw2&0xc000 == 0xc000 {
				return true // bl / blx imm
			}
		}
		if w, ok := read(ret - 4); ok && (w>>16)&0xff87 == 0x4780 {
			return true // blx reg
		}
		return false
	}
	insn, ok := read(ret - 4)
	if !ok {
		return false
	}
	switch {
	case insn>>28 != 0xf && insn&0x0f000000 == 0x0b000000: // bl
		off := int64(int32(insn<<8) >> 6)
		return uint64(uint32(int64(ret-4)+8+off)) == fn
	case insn&0xfe000000 == 0xfa000000: // blx imm (to Thumb)
		off := int64(int32(insn<<8)>>6) | int64(insn>>23&2)
		return uint64(uint32(int64(ret-4)+8+off)) == fn
	case insn&0x0ffffff0 == 0x012fff30: // blx reg
		return !direct
	}
	if direct {
		return false
	}
	if prev, ok := read(ret - 8); ok && prev&0x0fffffff == 0x01a0e00f { // mov lr, pc
		return insn&0x0000f000 == 0x0000f000 // then ldr pc / mov pc
	}
	return false
}
