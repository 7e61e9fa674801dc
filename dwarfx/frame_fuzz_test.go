package dwarfx

import (
	"debug/dwarf"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// Fuzzers for the frame-variable entry points: location expressions
// (delve's op behind locEval), location lists (delve's loclist) and call
// frame information (delve's frame plus the negate_ra_state rewrite).
// Malformed input must give an error or a status, never a panic.

func fuzzFrameImage(sect string, data []byte) *Image {
	return &Image{ptr: 8, order: binary.LittleEndian, sects: map[string][]byte{sect: data}}
}

func fuzzRegs() *FrameRegs {
	r := NewFrameRegs(17)
	for i := uint64(0); i < 17; i += 2 {
		r.Set(i, 0x1000*i+8)
	}
	r.CFA = 0x7000
	return r
}

func FuzzFrameLocation(f *testing.F) {
	for _, s := range [][]byte{
		{0x91, 0x70},                   // DW_OP_fbreg -16
		{0x55},                         // DW_OP_reg5
		{0x53},                         // DW_OP_reg3 (not known)
		{0x76, 0x08, 0x06},             // DW_OP_breg6 8; DW_OP_deref
		{0x50, 0x93, 0x04, 0x93, 0x04}, // DW_OP_reg0 piece 4, empty piece 4
		{0x9c, 0x23, 0x10},             // call_frame_cfa; plus_uconst 16
		{0x31, 0x9f},                   // lit1 stack_value
		{0x9e, 0x02, 0x01, 0x02},       // implicit_value 2 bytes
		{0xa3, 0x01, 0x55, 0x9f},       // entry_value(reg5) stack_value
		{0xa3, 0x01, 0x55, 0x23, 0x08}, // entry_value(reg5) plus_uconst 8
		{0xa3, 0x09, 0x55},             // entry_value with a block past the end
		{0x23},                         // plus_uconst on an empty stack
		{0x12, 0x16, 0x1c},             // dup swap minus on an empty stack
		{0x94, 0x04},                   // deref_size 4 on an empty stack
	} {
		f.Add(s, []byte{}, uint8(5))
	}
	f.Add([]byte{0x91, 0x08}, []byte{0x05, 0, 0, 0, 1, 1, 0x04, 0, 0x10, 1, 0x55, 0}, uint8(5))
	f.Add([]byte{0x91, 0x08}, make([]byte, 40), uint8(4))
	f.Fuzz(func(t *testing.T, expr, lists []byte, vers uint8) {
		sect := ".debug_loc"
		if vers >= 5 {
			sect = ".debug_loclists"
		}
		im := fuzzFrameImage(sect, lists)
		ev := &locEval{im: im, a: 0x10, regs: fuzzRegs(), mem: fuzzMemory{}, callee: "f"}
		if len(expr) > 0 && expr[len(expr)-1]&1 == 1 { // entry values known, or not
			ev.entry = func(callee string, reg uint64) (uint64, bool) { return reg * 0x100, reg < 8 }
		}
		u := &unitCtx{vers: vers}
		typ := &dwarf.StructType{CommonType: dwarf.CommonType{ByteSize: 16}, Kind: "struct"}
		for _, loc := range []any{expr, int64(len(expr))} {
			d := &varDesc{name: "v", typ: typ, loc: loc, frameBase: expr, unit: u}
			fv := ev.variable(d)
			if !fv.Value.IsValid() && fv.Status == "" {
				t.Fatalf("no value and no status for % x", expr)
			}
		}
	})
}

// A CIE (code align 1, data align -8, RA column 16, CFA = r7+8, r16 at
// CFA-8) and an FDE for [0x1000, 0x1100): advance 1, def_cfa_offset 16,
// negate_ra_state, offset r6 at CFA-16.
var (
	fuzzCIE = []byte{0x14, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0x01, 0x78, 0x10,
		0x0c, 0x07, 0x08, 0x90, 0x01, 0, 0, 0, 0, 0, 0}
	fuzzFDE = []byte{0x1c, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0,
		0x41, 0x0e, 0x10, 0x2d, 0x86, 0x02, 0, 0}
)

func FuzzCFI(f *testing.F) {
	cie, fde := fuzzCIE, fuzzFDE
	f.Add(append(append([]byte{}, cie...), fde...), uint64(0x1002))
	f.Add(cie, uint64(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint64(0x10))
	f.Fuzz(func(t *testing.T, data []byte, pc uint64) {
		im := fuzzFrameImage(".debug_frame", data)
		for _, abi := range []CFIABI{{SP: 7, CalleeSaved: []uint64{3, 6}}, {SP: 7, FrameRecord: true, FP: 6}} {
			caller, err := im.CFIStep(pc, fuzzRegs(), fuzzMemory{}, abi)
			if err == nil && caller == nil {
				t.Fatal("no caller registers and no error")
			}
			if err != nil && strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
		}
		nopNegateRAState(data, 8)
	})
}

// TestCFIFrameRecordCFA: where the CFA rule's register (r7) is unknown, a
// frame-record ABI finds the CFA from the frame pointer (r6) and the slot
// the row saves it in (CFA-16); without one the CFA stays unavailable.
func TestCFIFrameRecordCFA(t *testing.T) {
	fc := &frame.FrameContext{CFA: frame.DWRule{Rule: frame.RuleCFA, Reg: 7, Offset: 16},
		Regs: map[uint64]frame.DWRule{6: {Rule: frame.RuleOffset, Offset: -16}}}
	st := &cfiStep{regs: fuzzRegs()} // r6 = 0x6008, r7 unknown
	_, err := st.cfa(fc.CFA)
	if err != errUnavailable {
		t.Fatalf("CFA from an unknown r7: %v", err)
	}
	if _, err := st.recordCFA(fc, CFIABI{SP: 7}, err); err != errUnavailable {
		t.Errorf("without a frame record: %v, want unavailable", err)
	}
	cfa, err := st.recordCFA(fc, CFIABI{SP: 7, FrameRecord: true, FP: 6}, err)
	if err != nil || cfa != 0x6008+16 {
		t.Errorf("CFA %#x (%v), want %#x (r6 + 16)", cfa, err, 0x6008+16)
	}
}
