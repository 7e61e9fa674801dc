package dwarfx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-delve/delve/pkg/dwarf/op"
)

// errEntryValue marks a location that is the value a register had on entry
// (DW_OP_entry_value): only the caller's call-site information can give it.
var errEntryValue = errors.New("entry value")

// errSynthetic marks a pointer the compiler optimized away whose target is
// known (DW_OP_implicit_pointer): gdb's "<synthetic pointer>".
var errSynthetic = errors.New("<synthetic pointer>")

const (
	opFbreg              = 0x91
	opEntryValue         = 0xa3
	opGNUEntryValue      = 0xf3
	opCallFrameCFA       = 0x9c
	opReg0               = 0x50
	opReg31              = 0x6f
	opRegx               = 0x90
	opConstu             = 0x10
	opImplicitValue      = 0x9e
	opImplicitPointer    = 0xa0
	opGNUImplicitPointer = 0xf2
	maxPieceBytes        = 1 << 16
	maxLocationBytes     = 1 << 12
)

// locate evaluates a variable's location expression into a Value.
func (ev *locEval) locate(d *varDesc, expr []byte) (Value, error) {
	switch expr[0] {
	case opEntryValue, opGNUEntryValue:
		var err error
		if expr, err = ev.substituteEntryValue(expr); err != nil {
			return Value{}, err
		}
	case opImplicitPointer, opGNUImplicitPointer:
		return Value{}, errSynthetic
	}
	fb, fbErr := int64(0), error(nil)
	if expr[0] == opFbreg {
		fb, fbErr = ev.frameBase(d)
		if fbErr != nil {
			return Value{}, fbErr
		}
	}
	addr, pieces, err := ev.exec(expr, fb)
	if err != nil {
		return Value{}, err
	}
	if pieces == nil {
		return ev.im.NewValueAt(d.typ, uint64(addr)), nil
	}
	if len(pieces) == 1 && pieces[0].Kind == op.AddrPiece {
		return ev.im.NewValueAt(d.typ, pieces[0].Val), nil
	}
	b, err := ev.assemble(pieces, sizeOf(d.typ))
	if err != nil {
		return Value{}, err
	}
	if holes := emptyPieces(expr, pieces); holes != "" {
		err = &PartialError{Holes: holes}
	}
	return NewConstBytes(d.typ, b).WithImage(ev.im), err
}

// PartialError says which bytes of a composite location have no location
// (a DW_OP_piece with nothing before it: optimized out). The rest of the
// value is valid.
type PartialError struct{ Holes string }

func (e *PartialError) Error() string { return "<optimized out: bytes " + e.Holes + ">" }

// emptyPieces lists the byte ranges of the pieces with no location. delve
// gives them as zero immediates, like DW_OP_lit0 DW_OP_stack_value would:
// only the expression tells them apart, read here through delve's own
// disassembler (an empty piece is a DW_OP_piece right after another, or
// first).
func emptyPieces(expr []byte, pieces []op.Piece) string {
	var sb strings.Builder
	op.PrettyPrint(&sb, expr, nil)
	var holes []string
	prevPiece, n, off := true, 0, 0
	for _, tok := range strings.Fields(sb.String()) {
		if !strings.HasPrefix(tok, "DW_OP_") {
			continue
		}
		isPiece := tok == "DW_OP_piece"
		if isPiece && n < len(pieces) {
			if prevPiece {
				holes = append(holes, fmt.Sprintf("%d-%d", off, off+pieces[n].Size-1))
			}
			off += pieces[n].Size
			n++
		}
		prevPiece = isPiece
	}
	return strings.Join(holes, ",")
}

// frameBase evaluates the enclosing subprogram's DW_AT_frame_base.
func (ev *locEval) frameBase(d *varDesc) (int64, error) {
	expr, err := ev.expression(d.frameBase, d.unit)
	if err != nil {
		return 0, fmt.Errorf("frame base: %w", err)
	}
	if len(expr) == 0 {
		return 0, errUnavailable
	}
	addr, pieces, err := ev.exec(expr, 0)
	if err != nil {
		return 0, err
	}
	if len(pieces) == 1 && pieces[0].Kind == op.RegPiece {
		v, ok := ev.regs.Get(pieces[0].Val)
		if !ok {
			return 0, errUnavailable
		}
		return int64(v), nil
	}
	return addr, nil
}

// exec runs delve's stack machine over expr with the frame's registers.
// delve's evaluator can index an empty stack on malformed input: a panic
// there becomes an error naming the expression.
func (ev *locEval) exec(expr []byte, frameBase int64) (addr int64, pieces []op.Piece, err error) {
	if len(expr) > maxLocationBytes {
		return 0, nil, fmt.Errorf("location expression of %d bytes", len(expr))
	}
	if err := checkImplicitValues(expr); err != nil {
		return 0, nil, err
	}
	if expr[0] == opCallFrameCFA && ev.regs.CFA == 0 {
		return 0, nil, errUnavailable
	}
	defer func() {
		if r := recover(); r != nil {
			addr, pieces, err = 0, nil, fmt.Errorf("bad location expression % x: %v", expr, r)
		}
	}()
	regs := ev.dwarfRegs(frameBase)
	read := func(b []byte, a uint64) (int, error) {
		if ev.mem == nil {
			return 0, op.ErrMemoryReadUnavailable
		}
		if err := ev.mem.ReadVirt(b, a); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	addr, pieces, err = op.ExecuteStackProgram(*regs, expr, ev.im.ptr, read)
	if err != nil && strings.Contains(err.Error(), "not available") {
		err = errUnavailable
	}
	for _, p := range pieces {
		if p.Kind == op.RegPiece {
			if _, ok := ev.regs.Get(p.Val); !ok {
				return 0, nil, errUnavailable
			}
		}
	}
	return addr, pieces, err
}

func (ev *locEval) dwarfRegs(frameBase int64) *op.DwarfRegisters {
	var rs []*op.DwarfRegister
	if ev.regs != nil {
		rs = make([]*op.DwarfRegister, len(ev.regs.Vals))
		for i, v := range ev.regs.Vals {
			if ev.regs.Known[i] {
				rs[i] = op.DwarfRegisterFromUint64(v)
			}
		}
	}
	r := op.NewDwarfRegisters(ev.im.kaslr.Load(), rs, ev.im.order, 0, 0, 0, 0)
	if ev.regs != nil {
		r.CFA = int64(ev.regs.CFA)
	}
	r.FrameBase = frameBase
	return r
}

// assemble builds a value from the pieces of a composite location
// (DW_OP_piece): registers, memory and implicit values.
func (ev *locEval) assemble(pieces []op.Piece, size int64) ([]byte, error) {
	var out []byte
	for _, p := range pieces {
		n := p.Size
		if n == 0 { // a whole-value register or implicit location
			n = int(size)
		}
		if n < 0 || len(out)+n > maxPieceBytes {
			return nil, fmt.Errorf("location piece of %d bytes", n)
		}
		b := make([]byte, n)
		switch p.Kind {
		case op.RegPiece:
			v, _ := ev.regs.Get(p.Val)
			putUint(ev.im.order, b, v)
		case op.AddrPiece:
			if ev.mem == nil {
				return nil, op.ErrMemoryReadUnavailable
			}
			if err := ev.mem.ReadVirt(b, p.Val); err != nil {
				return nil, fmt.Errorf("reading %d bytes at %#x: %w", n, p.Val, err)
			}
		case op.ImmPiece:
			if p.Bytes != nil {
				copy(b, p.Bytes)
			} else {
				putUint(ev.im.order, b, p.Val)
			}
		}
		out = append(out, b...)
	}
	return out, nil
}

// checkImplicitValues rejects an expression in which a DW_OP_implicit_value
// byte is followed by a block length beyond the expression: delve allocates
// the declared length before reading it. The scan looks at every byte, not
// only opcodes, so it can only refuse too much, never too little.
func checkImplicitValues(expr []byte) error {
	for i, b := range expr {
		if b != opImplicitValue {
			continue
		}
		if n, p := uleb(expr, i+1); p < 0 || n > uint64(len(expr)) {
			return fmt.Errorf("malformed DW_OP_implicit_value in location expression % x", expr)
		}
	}
	return nil
}

// substituteEntryValue replaces a leading DW_OP_entry_value(DW_OP_regN)
// by the value the caller passed in that register, as its call site
// describes it (DW_TAG_call_site_parameter's DW_AT_call_value, evaluated
// in the caller's frame): DW_OP_constu VALUE, then the rest.
func (ev *locEval) substituteEntryValue(expr []byte) ([]byte, error) {
	n, p := uleb(expr, 1)
	if p < 0 || n > uint64(len(expr)-p) || ev.entry == nil {
		return nil, errEntryValue
	}
	reg, ok := singleRegister(expr[p : p+int(n)])
	if !ok {
		return nil, errEntryValue
	}
	v, ok := ev.entry(ev.callee, reg)
	if !ok {
		return nil, errEntryValue
	}
	out := []byte{opConstu}
	for {
		b := byte(v & 0x7f)
		if v >>= 7; v != 0 {
			out = append(out, b|0x80)
			continue
		}
		out = append(out, b)
		break
	}
	return append(out, expr[p+int(n):]...), nil
}

// EntryValues resolves the values a frame's registers had on entry to
// function callee from its caller's call site.
type EntryValues func(callee string, reg uint64) (uint64, bool)

// CallSiteEntryValues returns the entry values of the frame called from
// the call ending at callerPC (a run-time return address - 1), in the
// caller's frame (callerRegs).
func (im *Image) CallSiteEntryValues(callerPC uint64, callerRegs *FrameRegs, mem Memory) EntryValues {
	a := callerPC - im.kaslr.Load()
	return func(callee string, reg uint64) (uint64, bool) {
		for _, cp := range im.callParamsAt(a) {
			// A call site naming another function called it by a tail
			// call: its parameters are not this frame's.
			if cp.reg != reg || cp.callee != "" && cp.callee != callee {
				continue
			}
			ev := &locEval{im: im, a: a, regs: callerRegs, mem: mem}
			v, err := ev.value(cp)
			return v, err == nil
		}
		return 0, false
	}
}

// value evaluates a call-site parameter's DW_AT_call_value.
func (ev *locEval) value(cp callParam) (uint64, error) {
	if len(cp.value) == 0 || cp.value[0] == opEntryValue || cp.value[0] == opGNUEntryValue {
		return 0, errEntryValue
	}
	var fb int64
	if cp.value[0] == opFbreg {
		var err error
		if fb, err = ev.frameBase(&varDesc{frameBase: cp.frameBase, unit: cp.unit}); err != nil {
			return 0, err
		}
	}
	addr, pieces, err := ev.exec(cp.value, fb)
	if err != nil {
		return 0, err
	}
	if len(pieces) > 1 || len(pieces) == 1 && pieces[0].Kind == op.AddrPiece {
		return 0, errEntryValue
	}
	if len(pieces) == 1 && pieces[0].Kind == op.ImmPiece {
		return pieces[0].Val, nil
	}
	return uint64(addr), nil
}
