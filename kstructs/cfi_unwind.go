package kstructs

import (
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// The DWARF-CFI fallback: where an arch's primary unwinder (ORC, arm64
// frame records, EHABI) cannot find a frame's caller — no table entry,
// EXIDX_CANTUNWIND, a frame record it cannot follow — the callee's
// .debug_frame row (dwarfx.CFIStep, the reader bt --args and bt --check
// use) may still say where the return address and the caller's stack
// pointer are. The frame's registers are those the CFI chain recovered from
// the first frame (frameRegs), overlaid with what the primary unwinder
// knows exactly of each frame (cfiHooks.seed). The caller found is marked
// Unwinder "cfi", and the primary unwinder continues from its registers.

// cfiHooks is an architecture's part of the fallback.
type cfiHooks struct {
	// seed writes into r the registers of frame f the primary unwinder
	// knows exactly (stack and frame pointer), in DWARF numbering.
	seed func(f *Frame, r *dwarfx.FrameRegs)
	// resume completes the caller's registers CFI recovered into a kernel
	// context the primary unwinder continues from: pc from the return
	// address ra (already stripped by textWord), the processor mode.
	resume func(r *Regs, ra uint64)
}

// maxCFIFrames bounds how many callers one trace takes from CFI.
const maxCFIFrames = 32

// cfiFallback gives a stopped unwind's last frame a caller by CFI and
// lets the primary unwinder continue from there, as long as it helps.
func (u *unwinder) cfiFallback(bt *Backtrace, t *taskCtx) {
	for i := 0; i < maxCFIFrames && strings.HasPrefix(bt.Stopped, "unwind stopped at "); i++ {
		caller, err := u.cfiCaller(bt, t)
		if err != nil {
			bt.Stopped += "; DWARF CFI: " + err.Error()
			return
		}
		last := &bt.Frames[len(bt.Frames)-1]
		bt.Notes = append(bt.Notes, fmt.Sprintf("frame #%d (pc %#x): %s; its caller comes from the DWARF call frame information (.debug_frame)",
			len(bt.Frames)-1, last.PC, strings.TrimPrefix(bt.Stopped, fmt.Sprintf("unwind stopped at %#x: ", last.PC))))
		bt.Stopped = ""
		n := len(bt.Frames)
		u.impl.unwind(bt, t, caller, false)
		if len(bt.Frames) > n {
			bt.Frames[n].Unwinder = "cfi"
		}
	}
}

// cfiCaller recovers the caller of bt's last frame from its CFI row.
func (u *unwinder) cfiCaller(bt *Backtrace, t *taskCtx) (*Regs, error) {
	hooks := u.ops.cfi
	if hooks.seed == nil || len(bt.Frames) == 0 {
		return nil, fmt.Errorf("no CFI fallback for %s", u.arch)
	}
	steps, err := u.k.frameRegs(bt)
	if err != nil {
		return nil, err
	}
	last := steps[len(steps)-1]
	f := bt.Frames[len(bt.Frames)-1]
	regs := last.regs // seeded by frameRegs
	abi := u.ops.dwarfRegs.abi
	caller, err := u.k.Image.CFIStep(last.pc, regs, u.k, abi)
	if err != nil {
		return nil, err
	}
	ra := u.impl.textWord(caller.ReturnAddr)
	if ra == 0 || !u.k.Image.InText(ra) {
		return nil, fmt.Errorf("the return address CFI recovers for %#x (%#x) is no kernel text address", f.PC, ra)
	}
	sp, ok := caller.Get(abi.SP)
	if !ok {
		return nil, fmt.Errorf("CFI recovers no stack pointer for the caller of %#x", f.PC)
	}
	if err := cfiAdvance(t, regs, abi.SP, sp); err != nil {
		return nil, err
	}
	r := u.ops.dwarfRegs.regs(u.ops, caller)
	if !u.ops.dwarfRegs.known(u.ops.spec, caller) {
		// No rule restores the frame pointer (a noreturn callee, whose
		// callee-saved registers CFI leaves unknown): it keeps the value
		// the primary unwinder had, as that unwinder itself assumes.
		r.Values[u.ops.spec.FP] = f.FP
	}
	hooks.resume(r, ra)
	r.User = u.userMode(r)
	return r, nil
}

// cfiAdvance refuses a caller's stack pointer bad data could loop on: it
// must be on the task's stacks and, on the callee's stack, above the
// callee's.
func cfiAdvance(t *taskCtx, callee *dwarfx.FrameRegs, spReg, sp uint64) error {
	nw, ok := t.stackOf(sp, 0)
	if !ok {
		return fmt.Errorf("the caller's stack pointer %#x CFI recovers is outside the task's stacks", sp)
	}
	if old, ok := callee.Get(spReg); ok {
		if st, ok := t.stackOf(old, 0); ok && st == nw && sp <= old {
			return fmt.Errorf("the stack pointer CFI recovers does not advance (%#x -> %#x)", old, sp)
		}
	}
	return nil
}

// regs converts registers in DWARF numbering back into a Regs: the ones
// CFI recovered, zero elsewhere.
func (t *dwarfRegTable) regs(ops *archOps, r *dwarfx.FrameRegs) *Regs {
	out := &Regs{Arch: ops.spec.Name, Values: make([]uint64, ops.nregs)}
	for n, name := range t.names {
		if v, ok := r.Get(uint64(n)); ok {
			if i := ops.spec.Reg(name); i >= 0 && i < len(out.Values) {
				out.Values[i] = v
			}
		}
	}
	return out
}

// tableOff reports whether the test hook (unwinder.noTable) disabled the
// primary unwind information of the function holding pc.
func (u *unwinder) tableOff(pc uint64) bool {
	if len(u.noTable) == 0 {
		return false
	}
	s, _, ok := u.k.Image.SymbolAt(pc)
	return ok && u.noTable[s.Addr]
}

// known reports whether r holds spec's frame pointer.
func (t *dwarfRegTable) known(spec *dump.ArchSpec, r *dwarfx.FrameRegs) bool {
	for n, name := range t.names {
		if name == spec.RegNames[spec.FP] {
			_, ok := r.Get(uint64(n))
			return ok
		}
	}
	return false
}

// seed sets the stack pointer and the frame pointer (spec's FP register)
// in r, DWARF-numbered.
func (t *dwarfRegTable) seed(spec *dump.ArchSpec, r *dwarfx.FrameRegs, sp, fp uint64) {
	r.Set(t.abi.SP, sp)
	for n, name := range t.names {
		if name == spec.RegNames[spec.FP] {
			r.Set(uint64(n), fp)
		}
	}
}
