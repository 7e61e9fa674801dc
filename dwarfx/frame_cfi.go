package dwarfx

import (
	"fmt"
	"sort"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// Call frame information (.debug_frame, parsed by delve's pkg/dwarf/frame)
// gives each frame's CFA and where the caller's registers were saved. The
// kernel builds its C code with -fno-asynchronous-unwind-tables, which
// still emits .debug_frame under -g; assembler entry code has none.

// CFIABI is what CFI leaves to the architecture's calling convention.
type CFIABI struct {
	// SP is the stack pointer's DWARF number: the caller's value is the CFA.
	SP uint64
	// CalleeSaved are the registers a callee preserves: without a rule they
	// keep their value in the caller; every other register without a rule
	// is unknown there.
	CalleeSaved []uint64
	// FrameRecord: register FP points at its own save slot once a
	// function's prologue has run (arm64's frame records, AAPCS64 "The
	// Frame Pointer"), so where the CFA's base register is unknown (a
	// caller of code without CFI) the CFA is FP minus that slot's offset.
	FrameRecord bool
	FP          uint64
}

type cfiTable struct {
	fdes frame.FrameDescriptionEntries
}

func (im *Image) cfi() (*cfiTable, error) {
	fc := &im.frames
	fc.cfiOnce.Do(func() {
		data := im.sects[".debug_frame"]
		if len(data) == 0 {
			fc.cfiErr = fmt.Errorf("vmlinux has no .debug_frame")
			return
		}
		fdes, err := parseCFI(data, im)
		if err != nil {
			fc.cfiErr = fmt.Errorf(".debug_frame: %w", err)
			return
		}
		sort.Slice(fdes, func(i, j int) bool { return fdes[i].Begin() < fdes[j].Begin() })
		fc.cfi = &cfiTable{fdes: fdes}
	})
	return fc.cfi, fc.cfiErr
}

// parseCFI runs delve's parser, whose malformed-input failures can panic.
func parseCFI(data []byte, im *Image) (fdes frame.FrameDescriptionEntries, err error) {
	defer func() {
		if r := recover(); r != nil {
			fdes, err = nil, fmt.Errorf("malformed call frame information: %v", r)
		}
	}()
	fdes, err = frame.Parse(data, im.order, 0, im.ptr, 0)
	dropNegateRAState(fdes, im.ptr)
	return fdes, err
}

// AddModuleCFI adds a module's .debug_frame, relocated to the module's
// run-time addresses (kstructs reads it from the module's .ko): CFIStep
// then answers for the module's code too.
func (im *Image) AddModuleCFI(data []byte) error {
	fdes, err := parseCFI(data, im)
	if err != nil {
		return fmt.Errorf(".debug_frame: %w", err)
	}
	sort.Slice(fdes, func(i, j int) bool { return fdes[i].Begin() < fdes[j].Begin() })
	fc := &im.frames
	fc.modMu.Lock()
	defer fc.modMu.Unlock()
	fc.modCFI = append(fc.modCFI, &cfiTable{fdes: fdes})
	return nil
}

// fdeFor finds the FDE covering run-time pc and the address to look it up
// with: vmlinux's FDEs are at link-time addresses (vmlinux: true), the
// modules' at run-time ones.
func (im *Image) fdeFor(pc uint64) (fde *frame.FrameDescriptionEntry, a uint64, vmlinux bool, err error) {
	t, err := im.cfi()
	if err == nil {
		a := pc - im.kaslr.Load()
		if fde, err := t.fdes.FDEForPC(a); err == nil {
			return fde, a, true, nil
		}
	}
	fc := &im.frames
	fc.modMu.Lock()
	mods := fc.modCFI
	fc.modMu.Unlock()
	for _, m := range mods {
		if fde, err := m.fdes.FDEForPC(pc); err == nil {
			return fde, pc, false, nil
		}
	}
	if err != nil && len(mods) == 0 {
		return nil, 0, false, err
	}
	return nil, 0, false, fmt.Errorf("no call frame information for %#x", pc)
}

// HasCFI reports whether run-time pc has call frame information (an FDE in
// vmlinux's or a loaded module's .debug_frame); assembler such as the
// exception vectors has none.
func (im *Image) HasCFI(pc uint64) bool {
	_, _, _, err := im.fdeFor(pc)
	return err == nil
}

// CFIStep finds the CFI row for pc (a run-time address; pass return
// address - 1 for frames that made a call), sets regs.CFA and returns the
// caller's registers as far as the rules recover them.
func (im *Image) CFIStep(pc uint64, regs *FrameRegs, mem Memory, abi CFIABI) (caller *FrameRegs, err error) {
	fde, a, vmlinux, err := im.fdeFor(pc)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			caller, err = nil, fmt.Errorf("call frame information for %#x: %v", pc, r)
		}
	}()
	fc, err := fde.EstablishFrame(a)
	if err != nil {
		return nil, fmt.Errorf("call frame information for %#x: %w", pc, err)
	}
	st := &cfiStep{im: im, regs: regs, mem: mem}
	cfa, err := st.cfa(fc.CFA)
	if err != nil {
		cfa, err = st.recordCFA(fc, abi, err)
	}
	if err != nil {
		return nil, fmt.Errorf("CFA at %#x: %w", pc, err)
	}
	regs.CFA = cfa
	if vmlinux && im.noReturnAt(a) {
		abi.CalleeSaved = nil
	}
	return st.caller(fc, abi), nil
}

type cfiStep struct {
	im   *Image
	regs *FrameRegs
	mem  Memory
}

func (s *cfiStep) cfa(r frame.DWRule) (uint64, error) {
	switch r.Rule {
	case frame.RuleCFA:
		v, ok := s.regs.Get(r.Reg)
		if !ok {
			return 0, errUnavailable
		}
		return uint64(int64(v) + r.Offset), nil
	case frame.RuleExpression, frame.RuleValExpression:
		ev := &locEval{im: s.im, regs: s.regs, mem: s.mem}
		a, pieces, err := ev.exec(r.Expression, 0)
		if err != nil || pieces != nil {
			return 0, fmt.Errorf("CFA expression % x: %v", r.Expression, err)
		}
		return uint64(a), nil
	}
	return 0, fmt.Errorf("CFA rule %d", r.Rule)
}

// recordCFA finds the CFA from the frame pointer where the CFA rule's
// register is unknown (CFIABI.FrameRecord); otherwise it returns err.
func (s *cfiStep) recordCFA(fc *frame.FrameContext, abi CFIABI, err error) (uint64, error) {
	r, ok := fc.Regs[abi.FP]
	fp, known := s.regs.Get(abi.FP)
	if !abi.FrameRecord || err != errUnavailable || !ok || r.Rule != frame.RuleOffset || !known {
		return 0, err
	}
	return uint64(int64(fp) - r.Offset), nil
}

// caller applies the row's register rules.
func (s *cfiStep) caller(fc *frame.FrameContext, abi CFIABI) *FrameRegs {
	out := NewFrameRegs(len(s.regs.Vals))
	for _, n := range abi.CalleeSaved {
		if v, ok := s.regs.Get(n); ok {
			out.Set(n, v)
		}
	}
	for n, r := range fc.Regs {
		if n >= uint64(len(out.Vals)) {
			continue
		}
		out.Known[n] = false
		if v, ok := s.rule(n, r); ok {
			out.Set(n, v)
		}
	}
	out.Set(abi.SP, s.regs.CFA)
	if r, ok := fc.Regs[fc.RetAddrReg]; ok {
		out.ReturnAddr, _ = s.rule(fc.RetAddrReg, r)
	} else {
		// No rule: the return address is still in its register (a leaf
		// function on arm and arm64 keeps it in lr).
		out.ReturnAddr, _ = s.regs.Get(fc.RetAddrReg)
	}
	return out
}

func (s *cfiStep) rule(n uint64, r frame.DWRule) (uint64, bool) {
	cfa := s.regs.CFA
	switch r.Rule {
	case frame.RuleOffset:
		b := make([]byte, s.im.ptr)
		if s.mem == nil || s.mem.ReadVirt(b, uint64(int64(cfa)+r.Offset)) != nil {
			return 0, false
		}
		return DecodeUint(s.im.order, b), true
	case frame.RuleValOffset:
		return uint64(int64(cfa) + r.Offset), true
	case frame.RuleRegister:
		return s.regs.Get(r.Reg)
	case frame.RuleSameVal:
		return s.regs.Get(n)
	}
	return 0, false
}
