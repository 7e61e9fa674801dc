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
	steps, err := k.frameRegs(bt)
	if err != nil {
		return nil, err
	}
	var out []FrameVars
	for i, st := range steps {
		var entry dwarfx.EntryValues
		if i+1 < len(steps) && bt.Frames[i].ExceptionRegs == nil && steps[i+1].frame.IsReturn {
			entry = k.Image.CallSiteEntryValues(steps[i+1].pc, steps[i+1].regs, k)
		}
		out = append(out, k.frameVars(st.frame, st.pc, st.regs, entry)...)
	}
	for i := range out {
		out[i].Frame.Level = i
	}
	return out, nil
}

// frameStep is one frame of the primary unwinder with its registers.
type frameStep struct {
	frame Frame
	pc    uint64 // the pc whose scope and location entries apply
	regs  *dwarfx.FrameRegs
	cfi   error  // why the frame has no CFI row
	ra    uint64 // the caller's pc CFI recovers (0: none)
}

// frameRegs recovers each frame's registers: the CPU's or the context
// switch's for the first, then the callee's CFI row or an entry's pt_regs,
// overlaid with the stack and frame pointers the primary unwinder found
// (archOps.cfi.seed), which carry the chain past code without CFI.
func (k *Kernel) frameRegs(bt *Backtrace) ([]frameStep, error) {
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
	steps := make([]frameStep, 0, len(bt.Frames))
	for i, f := range bt.Frames {
		pc := f.PC
		if f.IsReturn {
			pc-- // the call's scope and location-list entry, not the next statement's
		}
		u.ops.cfi.seed(&f, regs) // what the primary unwinder knows exactly
		caller, cfiErr := k.Image.CFIStep(pc, regs, k, tab.abi)
		st := frameStep{frame: f, pc: pc, regs: regs, cfi: cfiErr}
		if cfiErr == nil {
			st.ra = u.impl.textWord(caller.ReturnAddr)
		}
		steps = append(steps, st)
		switch {
		case f.ExceptionRegs != nil && !f.ExceptionRegs.Partial:
			regs = tab.frameRegs(u.ops.spec, f.ExceptionRegs, true)
		case cfiErr == nil && (i+1 == len(bt.Frames) || st.ra == bt.Frames[i+1].PC):
			regs = caller
		default:
			// No CFI, or CFI names another caller (arm64's frame for an
			// interrupted leaf's lr): the next frame starts afresh from
			// what the primary unwinder knows of it.
			regs = tab.frameRegs(u.ops.spec, nil, false)
		}
	}
	return steps, nil
}

// frameVars symbolizes one frame into its inline frames and the frame
// itself, each with its scope's variables.
func (k *Kernel) frameVars(f Frame, pc uint64, regs *dwarfx.FrameRegs, entry dwarfx.EntryValues) []FrameVars {
	frames := k.SymbolizeFrames([]Frame{f})
	out := make([]FrameVars, len(frames))
	for i := range frames {
		out[i].Frame = frames[i]
	}
	scopes, err := k.Image.FrameVars(pc, regs, k, entry)
	if err != nil {
		for i := range out {
			out[i].Err = err.Error()
		}
		return out
	}
	// Scopes and symbolized frames are both innermost first; the inline
	// chains come from the same DIEs. Entry values belong to the outermost
	// scope, the function the caller called.
	for i := range out {
		if i < len(scopes) {
			out[i].Vars = scopes[i].Vars
		}
	}
	return out
}

// CFIMismatch is a frame where the call frame information and the primary
// unwinder disagree about the caller, or where CFI has no answer.
type CFIMismatch struct {
	Level    int    `json:"level"` // in bt's frames (no inline frames)
	Function string `json:"function"`
	// UnwinderPC is the caller's pc the primary unwinder found, CFIPC the
	// return address CFI recovers (0: none).
	UnwinderPC uint64 `json:"unwinder_pc"`
	CFIPC      uint64 `json:"cfi_pc"`
	Reason     string `json:"reason"`
}

// CheckCFI compares each caller the primary unwinder found with the return
// address the callee's CFI row recovers (bt --check). Frames entered by an
// exception, whose caller is the pt_regs the entry saved, are not compared.
func (k *Kernel) CheckCFI(bt *Backtrace) (checked int, bad []CFIMismatch, err error) {
	steps, err := k.frameRegs(bt)
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i+1 < len(steps); i++ {
		f := bt.Frames[i]
		if f.ExceptionRegs != nil {
			continue
		}
		m := CFIMismatch{Level: f.Level, Function: f.Function, UnwinderPC: bt.Frames[i+1].PC}
		ra := steps[i].ra
		switch {
		case steps[i].cfi != nil:
			m.Reason = steps[i].cfi.Error()
		case ra == 0:
			m.Reason = "CFI recovers no return address"
		case ra != m.UnwinderPC:
			m.CFIPC, m.Reason = ra, "callers differ"
		default:
			checked++
			continue
		}
		bad = append(bad, m)
	}
	return checked, bad, nil
}
