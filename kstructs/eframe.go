package kstructs

import (
	"fmt"
)

// ExceptionFrame is a struct pt_regs found by searching a stack (crash's
// bt -e): every position where the words read as a plausible register
// set by the architecture's rule (eframeRule), stale ones included.
type ExceptionFrame struct {
	// Addr is the pt_regs' address.
	Addr uint64 `json:"addr"`
	// User: a user-mode context (the registers of user space when it
	// entered the kernel), otherwise a kernel-mode one.
	User bool `json:"user"`
	// Stack names the stack searched: "task", or a CPU's "irq",
	// "exception", "overflow" stack (active tasks only).
	Stack string `json:"stack"`
	// CPU is the CPU whose stack it is (-1 for the task stack).
	CPU  int   `json:"cpu"`
	Regs *Regs `json:"regs"`
}

// eframeMode is what a rule makes of a candidate pt_regs.
type eframeMode int

const (
	eframeNone eframeMode = iota
	eframeKernel
	eframeUser
)

// eframeEnv is what a pt_regs validity rule may ask about a candidate:
// where it lies and what kind of address a register holds.
type eframeEnv struct {
	addr, size uint64     // the candidate's address and sizeof(struct pt_regs)
	stack      stackRange // the stack searched
	text       func(uint64) bool
	user       func(uint64) bool   // a user-space address
	kernel     func(uint64) bool   // a kernel virtual address
	code       func(uint64) uint64 // a word as the code address it may be (arm64: PAC stripped)
}

// eframeRule is an architecture's pt_regs validity rule (archOps.eframe).
type eframeRule struct {
	// check classifies the register set r read at e.addr.
	check func(r *Regs, e *eframeEnv) eframeMode
	// userSlot, when set, is how far below the task stack's top the
	// pt_regs user space enters the kernel with lies (task_pt_regs):
	// user-mode frames are looked for only there, and only in user tasks;
	// elsewhere only kernel-mode ones. Unset: user-mode frames are told
	// from the words themselves anywhere (x86_64's segment selectors).
	userSlot func(pl *ptRegsLayout) uint64
	// userTop is the first address above user space.
	userTop func(k *Kernel) uint64
	// kernelBase is the lowest kernel virtual address.
	kernelBase func(k *Kernel) uint64
}

// ExceptionFrames searches t's kernel stack, and for a task running on a
// CPU that CPU's other stacks, for exception frames (crash's bt -e).
func (k *Kernel) ExceptionFrames(t *Task) ([]ExceptionFrame, error) {
	u, tc, c, err := k.unwindTask(t.Addr)
	if err != nil {
		return nil, err
	}
	rule := u.ops.eframe
	if rule.check == nil {
		return nil, fmt.Errorf("bt -e: no exception frame rule for architecture %s", k.Arch)
	}
	out, err := u.searchEframes(tc.stack, -1, !t.KernelThread)
	if err != nil {
		return nil, err
	}
	if c < 0 {
		return out, nil
	}
	for _, s := range u.cpuStacks(c) {
		// A CPU's exception stacks need not all be mapped (the VC stack
		// of a guest without SEV): crash skips those it cannot read too.
		if fs, err := u.searchEframes(s, c, false); err == nil {
			out = append(out, fs...)
		}
	}
	return out, nil
}

// searchEframes reads stack s and searches it; userTask: look for the
// user-mode frame at the rule's user slot.
func (u *unwinder) searchEframes(s stackRange, cpu int, userTask bool) ([]ExceptionFrame, error) {
	if s.hi <= s.lo || s.hi-s.lo > 1<<20 {
		return nil, fmt.Errorf("bad %s stack range %#x-%#x", s.kind, s.lo, s.hi)
	}
	buf := make([]byte, s.hi-s.lo)
	if err := u.k.ReadVirt(buf, s.lo); err != nil {
		return nil, fmt.Errorf("reading the %s stack %#x-%#x: %w", s.kind, s.lo, s.hi, err)
	}
	env := u.eframeEnv(s)
	fs := u.scanEframes(buf, env, userTask)
	for i := range fs {
		fs[i].CPU = cpu
	}
	return fs, nil
}

// eframeEnv answers a rule's questions from the kernel's symbols and
// layout.
func (u *unwinder) eframeEnv(s stackRange) *eframeEnv {
	r := u.ops.eframe
	userTop, kbase := r.userTop(u.k), r.kernelBase(u.k)
	return &eframeEnv{
		size:   u.ptRegs.size,
		stack:  s,
		text:   u.k.Image.InText,
		user:   func(v uint64) bool { return v < userTop },
		kernel: func(v uint64) bool { return v >= kbase },
		code:   u.impl.textWord,
	}
}

// scanEframes checks every word-aligned position of buf (the stack
// env.stack) where a whole pt_regs fits. It parses untrusted bytes: a
// corrupt stack gives no frames or bogus ones, never a panic.
func (u *unwinder) scanEframes(buf []byte, env *eframeEnv, userTask bool) []ExceptionFrame {
	rule := u.ops.eframe
	size := u.ptRegs.size
	if size == 0 || uint64(len(buf)) < size {
		return nil
	}
	end := uint64(len(buf)) - size // the last position, inclusive
	userAt := uint64(1) << 63      // no user slot
	if rule.userSlot != nil {
		if slot := rule.userSlot(&u.ptRegs); slot >= size && slot <= uint64(len(buf)) {
			userAt = uint64(len(buf)) - slot
		}
	}
	var out []ExceptionFrame
	for off := uint64(0); off <= end; off += u.ptr {
		r := u.decodePtRegs(buf[off:off+size], env.stack.lo+off)
		env.addr = r.Addr
		mode := rule.check(r, env)
		if rule.userSlot != nil {
			switch {
			case off == userAt:
				if !userTask || mode != eframeUser {
					continue
				}
			case mode == eframeUser || off == end:
				// crash's arm64_eframe_search stops a pt_regs short of
				// the top: the last position is the user slot's or none.
				continue
			}
		}
		if mode == eframeNone {
			continue
		}
		r.User = mode == eframeUser
		out = append(out, ExceptionFrame{Addr: r.Addr, User: r.User, Stack: env.stack.kind, Regs: r})
	}
	return out
}
