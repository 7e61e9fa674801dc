package kstructs

import (
	"fmt"
	"regexp"
)

// The arm64 unwinder follows frame records (arch/arm64/kernel/stacktrace.c):
// every non-leaf function stores {caller's x29, x30} at x29, so [fp] is the
// caller's frame pointer and [fp+8] the return address. Exception entry
// builds a record inside struct pt_regs (pt_regs.stackframe) holding the
// interrupted x29 and pc, and every task's chain ends at the record in the
// pt_regs at the top of its stack (zeroed), which is how a complete unwind
// is recognised. Return addresses may carry a pointer-authentication code
// in their top bits (CONFIG_ARM64_PTR_AUTH_KERNEL), stripped here.

// arm64Vector matches the exception vector entry functions whose frame
// record is a pt_regs' stackframe: el1h_64_irq, el0t_64_sync, ... (5.15+),
// el1_irq, el0_sync, ... (older).
var arm64Vector = regexp.MustCompile(`^el[01]([th]_(64|32))?_(sync|irq|fiq|error)(_compat)?$`)

type arm64Unwinder struct {
	u      *unwinder
	ctxOff uint64            // offsetof(task_struct, thread.cpu_context)
	ctx    map[string]uint64 // cpu_context member offsets
	ctxLen uint64
	vaMask uint64 // VA_BITS worth of ones
}

func newARM64Unwinder(u *unwinder) (*arm64Unwinder, error) {
	k := u.k
	a := &arm64Unwinder{u: u, ctx: map[string]uint64{}}
	var err error
	if a.ctxOff, _, err = k.memberOffset("struct task_struct", "thread.cpu_context"); err != nil {
		return nil, err
	}
	if a.ctxLen, err = k.typeSize("struct cpu_context"); err != nil {
		return nil, err
	}
	for _, m := range []string{"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp", "sp", "pc"} {
		off, _, err := k.memberOffset("struct cpu_context", m)
		if err != nil {
			return nil, err
		}
		a.ctx[m] = off
	}
	if u.ptRegs.stackframe < 0 {
		return nil, fmt.Errorf("struct pt_regs has no member stackframe: cannot find where a task's frame records end")
	}
	// The PAC field starts above the VA size the CPU runs with.
	bits := k.Layout.VABits
	if k.Layout.VABitsActual != 0 {
		bits = k.Layout.VABitsActual
	}
	if bits <= 0 || bits > 56 {
		bits = 48
	}
	a.vaMask = 1<<uint(bits) - 1
	return a, nil
}

// stripPAC removes a pointer-authentication code from a kernel return
// address: kernel addresses have every bit above VA_BITS set.
func (a *arm64Unwinder) stripPAC(v uint64) uint64 {
	if v>>55&1 == 1 {
		return v | ^a.vaMask
	}
	return v
}

// savedRegs reads thread.cpu_context: what cpu_switch_to saved. Its pc
// returns into __switch_to (the context switch's caller side).
func (a *arm64Unwinder) savedRegs(t *taskCtx) (*Regs, error) {
	buf := make([]byte, a.ctxLen)
	if err := a.u.k.ReadVirt(buf, t.addr+a.ctxOff); err != nil {
		return nil, fmt.Errorf("reading thread.cpu_context of task %#x: %w", t.addr, err)
	}
	r := &Regs{Arch: a.u.arch, Values: make([]uint64, arm64NRegs)}
	for i := 19; i <= 28; i++ {
		r.Values[i] = a.u.word(buf[a.ctx[fmt.Sprintf("x%d", i)]:])
	}
	r.Values[arm64FP] = a.u.word(buf[a.ctx["fp"]:])
	r.Values[arm64SP] = a.u.word(buf[a.ctx["sp"]:])
	r.Values[arm64PC] = a.stripPAC(a.u.word(buf[a.ctx["pc"]:]))
	r.Values[arm64PState] = 0x5 // EL1h: a kernel context
	return r, nil
}

// finalRecord is the address of the frame record that ends every task's
// chain: task_pt_regs(task)->stackframe.
func (a *arm64Unwinder) finalRecord(t *taskCtx) uint64 {
	return t.stack.hi - a.u.ptRegs.size + uint64(a.u.ptRegs.stackframe)
}

func (a *arm64Unwinder) unwind(bt *Backtrace, t *taskCtx, regs *Regs, fromCPU bool) {
	u := a.u
	img := u.k.Image
	final := a.finalRecord(t)
	pc, fp, sp := a.stripPAC(regs.PC()), regs.FP(), regs.SP()
	isReturn := !fromCPU
	// A leaf function keeps its return address in x30 and builds no
	// record: when x30 is neither inside the current function nor the
	// return address in the record at x29, it is the caller.
	lr := uint64(0)
	if fromCPU {
		lr = a.stripPAC(regs.LR())
	}
	if fromCPU && a.enteringFromUser(bt, t, regs) {
		return
	}
	chain := fpChain{left: map[string]bool{}}
	for {
		f := Frame{PC: pc, FP: fp, SP: fp, IsReturn: isReturn}
		if fp == 0 {
			f.SP = sp
		}
		if !addFrame(bt, t, f) {
			return
		}
		cur := &bt.Frames[len(bt.Frames)-1]
		stop := func(format string, args ...any) {
			bt.Stopped = fmt.Sprintf("unwind stopped at %#x: ", pc) + fmt.Sprintf(format, args...)
		}
		if fp == final {
			if s, _, ok := img.SymbolAt(pc - 1); ok && arm64Vector.MatchString(s.Name) {
				if pt, err := u.readPtRegs(fp - uint64(u.ptRegs.stackframe)); err == nil {
					cur.ExceptionRegs = pt
				}
			}
			return // the task's last frame record: a complete unwind
		}
		if lr != 0 {
			next := uint64(0)
			if s, ok := t.stackOf(fp, 16); ok && fp&7 == 0 {
				_ = s
				next, _ = u.readWord(fp + 8)
				next = a.stripPAC(next)
			}
			if img.InText(lr) && lr != next && !a.sameFunction(pc, lr-4) {
				pc, isReturn, lr = lr, true, 0
				continue
			}
			lr = 0
		}
		if isReturn && u.tableOff(pc-1) || !isReturn && u.tableOff(pc) {
			stop("the frame record of this function is disabled (test hook)")
			return
		}
		if err := chain.step(t, fp); err != nil {
			stop("%v", err)
			return
		}
		// An exception vector's record is the pt_regs' stackframe: the
		// next frame is the interrupted context.
		if s, _, ok := img.SymbolAt(pc - 1); ok && isReturn && arm64Vector.MatchString(s.Name) {
			pt, err := u.readPtRegs(fp - uint64(u.ptRegs.stackframe))
			if err != nil {
				stop("%v", err)
				return
			}
			cur.ExceptionRegs = pt
			if pt.User {
				stop("an exception from user space whose frame record is not the last one")
				return
			}
			pc, fp, sp, isReturn = a.stripPAC(pt.PC()), pt.FP(), pt.SP(), false
			lr = a.stripPAC(pt.LR())
			continue
		}
		nfp, npc, err := a.record(fp)
		if err != nil {
			stop("%v", err)
			return
		}
		sp = fp + 16
		pc, fp, isReturn = npc, nfp, true
	}
}

// sameFunction reports whether pc and pc2 are in one function: by DWARF,
// or by symbol where DWARF has no answer (a module's code, whose symbols
// come from its kallsyms).
func (a *arm64Unwinder) sameFunction(pc, pc2 uint64) bool {
	img := a.u.k.Image
	if f, ok := img.FunctionAt(pc); ok && f.Low != 0 {
		g, _ := img.FunctionAt(pc2)
		return f.Low == g.Low
	}
	s, _, ok1 := img.SymbolAt(pc)
	t, _, ok2 := img.SymbolAt(pc2)
	return ok1 && ok2 && s.Addr == t.Addr
}

// record reads the frame record at fp: {the caller's x29, the return
// address} (struct frame_record, arch/arm64/include/asm/stacktrace/frame.h),
// the return address stripped of its PAC.
func (a *arm64Unwinder) record(fp uint64) (callerFP, ret uint64, err error) {
	var rec [16]byte
	if err := a.u.k.ReadVirt(rec[:], fp); err != nil {
		return 0, 0, fmt.Errorf("reading the frame record at %#x: %v", fp, err)
	}
	callerFP, ret = a.u.bo.Uint64(rec[:]), a.stripPAC(a.u.bo.Uint64(rec[8:]))
	if ret == 0 {
		return 0, 0, fmt.Errorf("the frame record at %#x has no return address", fp)
	}
	return callerFP, ret, nil
}

// fpChain checks that a chain of frame pointers is one a kernel can build
// (the rules of arch/arm64/kernel/stacktrace.c unwind_next_frame_record):
// records are 8-byte aligned and on the task's stacks, move strictly up
// within one stack, and never return to a stack the unwind has left.
type fpChain struct {
	prev      uint64
	prevStack stackRange
	left      map[string]bool // stacks the unwind has moved off
}

// step accepts the next frame pointer or says why it cannot be one.
func (c *fpChain) step(t *taskCtx, fp uint64) error {
	if fp == 0 {
		return fmt.Errorf("the frame pointer is 0")
	}
	if fp&7 != 0 {
		return fmt.Errorf("frame pointer %#x is misaligned", fp)
	}
	st, ok := t.stackOf(fp, 16)
	if !ok {
		return fmt.Errorf("frame pointer %#x is outside the task's stacks", fp)
	}
	if c.prev != 0 {
		if st == c.prevStack && fp <= c.prev {
			return fmt.Errorf("frame pointer %#x does not advance past %#x", fp, c.prev)
		}
		if st != c.prevStack {
			if c.left[st.kind] {
				return fmt.Errorf("frame pointer %#x returns to the %s stack already left", fp, st.kind)
			}
			c.left[c.prevStack.kind] = true
		}
	}
	c.prev, c.prevStack = fp, st
	return nil
}

// enteringFromUser handles a CPU stopped on the way between user space
// and the kernel: in the exception vectors or the entry code, or in the
// KPTI trampoline (mapped outside the kernel image), with SP_EL1 within
// the struct pt_regs at the top of the task's stack. Entered from EL0,
// SP_EL1 starts at the top of the (empty) stack, and x29/x30 still hold
// user values, so there is nothing to walk: the trace is the entry frame
// alone, a complete one.
func (a *arm64Unwinder) enteringFromUser(bt *Backtrace, t *taskCtx, regs *Regs) bool {
	u := a.u
	img := u.k.Image
	pc, sp := a.stripPAC(regs.PC()), regs.SP()
	inEntry := !img.InText(pc)
	if s, ok := img.Lookup("__entry_text_start"); ok {
		if e, ok := img.Lookup("__entry_text_end"); ok && pc >= s.Addr && pc < e.Addr {
			inEntry = true
		}
	}
	if s, ok := img.Lookup("vectors"); ok && pc >= s.Addr && pc < s.Addr+0x800 {
		inEntry = true
	}
	top := t.stack.hi
	if !inEntry || sp < top-u.ptRegs.size || sp > top {
		return false
	}
	if _, ok := t.stackOf(regs.FP(), 16); ok && regs.FP() < top-u.ptRegs.size {
		return false // x29 is a kernel frame record: a normal unwind
	}
	addFrame(bt, t, Frame{PC: pc, SP: sp, FP: regs.FP()})
	bt.Notes = append(bt.Notes, fmt.Sprintf("cpu %d was in the kernel entry/exit code at %#x with the task's stack empty (sp %#x): between user space and the kernel", t.cpu, pc, sp))
	return true
}
