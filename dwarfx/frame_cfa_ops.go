package dwarfx

import "github.com/go-delve/delve/pkg/dwarf/frame"

// delve's CFI interpreter stops at DW_CFA_AARCH64_negate_ra_state (0x2d,
// which shares its number with DW_CFA_GNU_window_save): arm64 kernels built
// with -mbranch-protection=pac-ret emit it after every paciasp. It only says
// the saved return address is signed, which changes no register rule here
// (the unwinders strip the authentication code), so it is rewritten into
// DW_CFA_nop before delve runs the instructions.

const (
	cfaNop            = 0x00
	cfaNegateRAState  = 0x2d
	cfaMaxInstrOpcode = 0x2f
)

// cfaOperands are the operand encodings of the primary DW_CFA opcodes:
// 'u' ULEB128, 's' SLEB128, 'a' an address, '1'/'2'/'4' fixed bytes,
// 'b' a ULEB128-sized block (DWARF 5 §6.4.2).
var cfaOperands = map[byte]string{
	0x01: "a", 0x02: "1", 0x03: "2", 0x04: "4", 0x05: "uu", 0x06: "u", 0x07: "u", 0x08: "u",
	0x09: "uu", 0x0c: "uu", 0x0d: "u", 0x0e: "u", 0x0f: "b", 0x10: "ub", 0x11: "us", 0x12: "us",
	0x13: "s", 0x14: "uu", 0x15: "us", 0x16: "ub", 0x2e: "u", 0x2f: "uu",
}

// dropNegateRAState rewrites every DW_CFA_AARCH64_negate_ra_state in the
// FDEs' and their CIEs' instructions into DW_CFA_nop.
func dropNegateRAState(fdes frame.FrameDescriptionEntries, ptr int) {
	seen := map[*frame.CommonInformationEntry]bool{}
	for _, f := range fdes {
		f.Instructions = nopNegateRAState(f.Instructions, ptr)
		if c := f.CIE; c != nil && !seen[c] {
			seen[c] = true
			c.InitialInstructions = nopNegateRAState(c.InitialInstructions, ptr)
		}
	}
}

// nopNegateRAState returns b with negate_ra_state as nop, copying only when
// it has one. An instruction it cannot decode ends the scan: delve reports
// that instruction itself.
func nopNegateRAState(b []byte, ptr int) []byte {
	copied := false
	for p := 0; p < len(b); {
		op := b[p]
		p++
		if op>>6 == 2 { // DW_CFA_offset: ULEB128 offset
			if _, p = uleb(b, p); p < 0 {
				return b
			}
			continue
		}
		if op>>6 != 0 {
			continue
		}
		if op == cfaNegateRAState {
			if !copied {
				b, copied = append([]byte(nil), b...), true
			}
			b[p-1] = cfaNop
			continue
		}
		enc, ok := cfaOperands[op]
		if !ok && op > cfaMaxInstrOpcode {
			return b
		}
		for i := 0; i < len(enc); i++ {
			if p = skipCFAOperand(b, p, enc[i], ptr); p < 0 || p > len(b) {
				return b
			}
		}
	}
	return b
}

func skipCFAOperand(b []byte, p int, enc byte, ptr int) int {
	switch enc {
	case 'u':
		_, p = uleb(b, p)
	case 's':
		_, p = sleb(b, p)
	case 'a':
		p += ptr
	case '1', '2', '4':
		p += int(enc - '0')
	case 'b':
		var n uint64
		if n, p = uleb(b, p); p < 0 || n > uint64(len(b)) {
			return -1
		}
		p += int(n)
	}
	return p
}
