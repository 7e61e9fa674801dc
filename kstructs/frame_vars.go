package kstructs

import (
	"github.com/kinspect/kinspect/dwarfx"
)

// A frame's arguments and locals are located by DWARF (dwarfx.FrameVars)
// with the frame's registers: the first frame's are the CPU's (an active
// task) or what the last context switch saved (callee-saved registers and
// the stack pointer); each caller's come from the callee's CFI row
// (dwarfx.CFIStep), or from the pt_regs an exception or syscall entry
// saved. The frames themselves are the primary unwinder's.

// FrameVars is one frame (inlined functions included) with its variables.
type FrameVars struct {
	Frame Frame
	Vars  []dwarfx.FrameVar
	// Err says why the frame has no variables (no debug information).
	Err string
}

// BacktraceVars returns bt's frames, with the functions inlined at each
// pc as frames of their own (as SymbolizeFrames), and each frame's
// parameters and locals.
func (k *Kernel) BacktraceVars(bt *Backtrace) ([]FrameVars, error) {
	u, t, _, err := k.unwindTask(bt.Task)
	if err != nil {
		return nil, err
	}
	tab := &u.ops.dwarfRegs
	var regs *dwarfx.FrameRegs
	if bt.StartRegs != nil {
		regs = tab.frameRegs(u.ops.spec, bt.StartRegs, true)
	} else if saved, err := u.impl.savedRegs(t); err == nil {
		regs = tab.frameRegs(u.ops.spec, saved, false)
	} else {
		regs = tab.frameRegs(u.ops.spec, nil, false)
	}
	var out []FrameVars
	for _, f := range bt.Frames {
		pc := f.PC
		if f.IsReturn {
			pc-- // the call's scope and location-list entry, not the next statement's
		}
		caller, cfiErr := k.Image.CFIStep(pc, regs, k, tab.abi)
		out = append(out, k.frameVars(f, pc, regs)...)
		switch {
		case f.ExceptionRegs != nil && !f.ExceptionRegs.Partial:
			regs = tab.frameRegs(u.ops.spec, f.ExceptionRegs, true)
		case cfiErr == nil:
			regs = caller
		default:
			regs = tab.frameRegs(u.ops.spec, nil, false)
		}
	}
	for i := range out {
		out[i].Frame.Level = i
	}
	return out, nil
}

// frameVars symbolizes one frame into its inline frames and the frame
// itself, each with its scope's variables.
func (k *Kernel) frameVars(f Frame, pc uint64, regs *dwarfx.FrameRegs) []FrameVars {
	frames := k.SymbolizeFrames([]Frame{f})
	out := make([]FrameVars, len(frames))
	for i := range frames {
		out[i].Frame = frames[i]
	}
	scopes, err := k.Image.FrameVars(pc, regs, k)
	if err != nil {
		for i := range out {
			out[i].Err = err.Error()
		}
		return out
	}
	// Scopes and symbolized frames are both innermost first; the inline
	// chains come from the same DIEs.
	for i := range out {
		if i < len(scopes) {
			out[i].Vars = scopes[i].Vars
		}
	}
	return out
}
