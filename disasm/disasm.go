// Package disasm decodes kernel machine code for `dis`, with the
// golang.org/x/arch decoders: x86asm for x86-64, arm64asm for AArch64 and
// armasm for 32-bit ARM. Where x/arch rejects a word, a small table of the
// encoding families it lacks (extra.go: LSE atomics, coprocessor and
// system instructions) is consulted before the word is shown as ".inst". Instructions are rendered
// in GNU syntax as objdump and gdb (and so crash) print them — AT&T for
// x86 — with branch targets and PC-relative operands turned into absolute
// addresses that callers symbolize.
//
// The architectures are one table, decoders, keyed by Arch: adding one is
// adding an entry.
//
// Thumb-2 is not decoded: armasm implements only the ARM (A32) instruction
// set. Debian's armmp kernels are built in ARM mode (CONFIG_THUMB2_KERNEL is
// not set), so this only matters for the few Thumb stubs such kernels hold
// and for Thumb-2 kernels, where Decode returns ErrThumb.
package disasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/arch/arm/armasm"
	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// Arch names an instruction set; the values are kinspect's architecture
// names (dump.Arch), plus Thumb for 32-bit ARM's Thumb-2 state.
type Arch string

const (
	ARM    Arch = "arm"
	ARM64  Arch = "arm64"
	X86_64 Arch = "x86_64"
	Thumb  Arch = "thumb" // Thumb-2 code on 32-bit ARM: not decodable (ErrThumb)
)

// TargetKind says what Inst.Target is.
type TargetKind uint8

const (
	NoTarget TargetKind = iota
	// Branch: the operand text holds the target address itself (call,
	// jmp, b, bl, cbz, adr, adrp, ldr-literal on arm64); a symbol goes
	// right after it, as `0xADDR <sym+off>`.
	Branch
	// PCRelative: a memory operand relative to the PC (x86 RIP-relative,
	// ARM `[pc, #imm]`); the address goes in a trailing comment.
	PCRelative
)

// Inst is one decoded instruction.
type Inst struct {
	Addr     uint64
	Len      int
	Bytes    []byte // the instruction's bytes (aliases the input)
	Mnemonic string // with x86 prefixes: "push", "lock cmpxchg", "b.ne"; "(bad)" if undecodable
	Operands string // GNU syntax; branch targets as absolute 0x addresses
	Target   uint64 // branch target or PC-relative address, per TargetKind
	Kind     TargetKind
	Bad      bool // the bytes do not decode; Len is the arch's minimum
	arch     Arch
}

// Text is the instruction in GNU syntax: mnemonic padded like objdump,
// operands, and a symbolized target (sym may be nil).
func (in Inst) Text(sym Symbolizer) string {
	if in.Operands == "" {
		return in.Mnemonic
	}
	s := fmt.Sprintf("%-6s %s", in.Mnemonic, in.Operands)
	if name := in.TargetSymbol(sym); name != "" || in.Kind == PCRelative {
		switch in.Kind {
		case Branch:
			if name != "" {
				s += " <" + name + ">"
			}
		case PCRelative:
			s += fmt.Sprintf("        %s %#x", comment[in.arch], in.Target)
			if name != "" {
				s += " <" + name + ">"
			}
		}
	}
	return s
}

// comment is each syntax's comment leader, as objdump and gdb print it.
var comment = map[Arch]string{X86_64: "#", ARM: "@", ARM64: "//"}

// TargetSymbol is "sym" or "sym+off" (decimal, as crash and gdb print it)
// for the instruction's target, "" when it has none or sym finds none.
func (in Inst) TargetSymbol(sym Symbolizer) string {
	if in.Kind == NoTarget || sym == nil {
		return ""
	}
	return SymbolText(sym, in.Target)
}

// SymbolText is "name" or "name+off" for addr, "" when sym finds nothing.
func SymbolText(sym Symbolizer, addr uint64) string {
	name, off, ok := sym(addr)
	if !ok || name == "" {
		return ""
	}
	if off == 0 {
		return name
	}
	return fmt.Sprintf("%s+%d", name, off)
}

// Symbolizer finds the symbol containing addr and addr's offset in it.
type Symbolizer func(addr uint64) (name string, off uint64, ok bool)

// ErrThumb is returned for Thumb code, which golang.org/x/arch cannot decode.
var ErrThumb = errors.New("Thumb-2 code cannot be disassembled (golang.org/x/arch/arm/armasm decodes only the ARM instruction set)")

// ErrTruncated is returned when the bytes end inside an instruction.
var ErrTruncated = errors.New("truncated instruction")

// archDecoder is one table entry.
type archDecoder struct {
	minLen int // instruction alignment and the step over undecodable bytes
	maxLen int // longest instruction
	decode func(code []byte, pc uint64) (Inst, error)
}

// decoders is the architecture table.
var decoders = map[Arch]archDecoder{
	X86_64: {minLen: 1, maxLen: 15, decode: decodeX86},
	ARM64:  {minLen: 4, maxLen: 4, decode: decodeARM64},
	ARM:    {minLen: 4, maxLen: 4, decode: decodeARM},
	Thumb:  {minLen: 2, maxLen: 4, decode: func([]byte, uint64) (Inst, error) { return Inst{}, ErrThumb }},
}

// Supported reports whether arch has a decoder (Thumb has one that always
// fails with ErrThumb).
func Supported(arch Arch) bool { _, ok := decoders[arch]; return ok }

// MaxLen is arch's longest instruction in bytes (0 for an unknown arch).
func MaxLen(arch Arch) int { return decoders[arch].maxLen }

// Decode decodes the instruction at the start of code, located at pc.
// It never panics: a decoder panic is returned as an error.
func Decode(arch Arch, code []byte, pc uint64) (in Inst, err error) {
	d, ok := decoders[arch]
	if !ok {
		return Inst{}, fmt.Errorf("no disassembler for architecture %q", arch)
	}
	if len(code) < d.minLen {
		return Inst{}, ErrTruncated
	}
	defer func() {
		if r := recover(); r != nil {
			in, err = Inst{}, fmt.Errorf("decoder failed at %#x: %v", pc, r)
		}
	}()
	in, err = d.decode(code, pc)
	if err != nil {
		return Inst{}, err
	}
	in.Addr, in.arch = pc, arch
	in.Bytes = code[:in.Len]
	return in, nil
}

// DecodeAll decodes code (located at pc) from start to end, at most max
// instructions (max <= 0: no limit). Undecodable bytes become Bad
// instructions of the arch's minimum length; a trailing partial
// instruction is left out (the returned length says how many bytes were
// consumed). Thumb code yields ErrThumb.
func DecodeAll(arch Arch, code []byte, pc uint64, max int) ([]Inst, int, error) {
	d, ok := decoders[arch]
	if !ok {
		return nil, 0, fmt.Errorf("no disassembler for architecture %q", arch)
	}
	var out []Inst
	off := 0
	for off < len(code) && (max <= 0 || len(out) < max) {
		in, err := Decode(arch, code[off:], pc+uint64(off))
		switch {
		case errors.Is(err, ErrThumb):
			return out, off, err
		case errors.Is(err, ErrTruncated):
			return out, off, nil
		case err != nil: // a decoder panic
			n := min(d.minLen, len(code)-off)
			in = Inst{Addr: pc + uint64(off), Len: n, Bytes: code[off : off+n], Mnemonic: "(bad)", Bad: true, arch: arch}
		}
		out = append(out, in)
		off += in.Len
	}
	return out, off, nil
}

// splitX86 splits x86 GNU syntax into mnemonic (with its prefixes:
// "lock cmpxchg", "rep stos") and operands, which never contain blanks.
func splitX86(s string) (mnemonic, operands string) {
	f := strings.Fields(s)
	m := 0
	for m < len(f)-1 && x86Prefix[f[m]] {
		m++
	}
	return strings.Join(f[:m+1], " "), strings.Join(f[m+1:], " ")
}

// splitARM splits ARM/arm64 GNU syntax at its first blank.
func splitARM(s string) (mnemonic, operands string) {
	m, ops, _ := strings.Cut(strings.TrimSpace(s), " ")
	return m, strings.TrimSpace(ops)
}

// x86Prefix are the prefixes GNU syntax writes as separate words.
var x86Prefix = map[string]bool{
	"lock": true, "rep": true, "repz": true, "repe": true, "repnz": true, "repne": true,
	"data16": true, "data32": true, "addr16": true, "addr32": true, "rex": true, "rex.w": true,
	"cs": true, "ds": true, "es": true, "fs": true, "gs": true, "ss": true,
	"notrack": true, "bnd": true, "xacquire": true, "xrelease": true,
}

// ---- x86-64 ----

func decodeX86(code []byte, pc uint64) (Inst, error) {
	xi, err := x86asm.Decode(code, 64)
	if err != nil {
		if errors.Is(err, x86asm.ErrTruncated) {
			return Inst{}, ErrTruncated
		}
		return Inst{Len: 1, Mnemonic: "(bad)", Bad: true}, nil
	}
	if xi.Op == 0 {
		// x86asm returns a lone prefix byte as an instruction when what
		// follows does not decode, or is missing: padded, does it decode?
		if len(code) < 15 {
			pad := append(append(make([]byte, 0, len(code)+15), code...), make([]byte, 15)...)
			if pi, err := x86asm.Decode(pad, 64); err == nil && pi.Op != 0 && pi.Len > len(code) {
				return Inst{}, ErrTruncated
			}
		}
		return Inst{Len: xi.Len, Mnemonic: "(bad)", Bad: true}, nil
	}
	in := Inst{Len: xi.Len}
	// No symbol lookup here: x86asm would replace the address by the
	// name; the caller appends "<sym+off>" after it, as objdump does.
	text := x86asm.GNUSyntax(xi, pc, nil)
	// x86asm prints negative immediates signed ($-0x80); objdump prints
	// them as the operand-size bit pattern ($0xffffffffffffff80).
	for _, a := range xi.Args {
		if imm, ok := a.(x86asm.Imm); ok && imm < 0 {
			bits := immBits(xi)
			text = strings.Replace(text, fmt.Sprintf("$%#x", int64(imm)),
				fmt.Sprintf("$%#x", uint64(imm)&(uint64(1)<<bits-1)), 1) // bits 64: all ones
		}
	}
	// A SIB byte without index: x86asm prints it as %riz, objdump omits it.
	text = strings.NewReplacer(",%riz)", ")", ",%eiz)", ")").Replace(text)
	in.Mnemonic, in.Operands = splitX86(text)
	for _, a := range xi.Args {
		switch a := a.(type) {
		case x86asm.Rel:
			in.Target, in.Kind = pc+uint64(xi.Len)+uint64(int64(a)), Branch
		case x86asm.Mem:
			if a.Base == x86asm.RIP {
				in.Target, in.Kind = pc+uint64(xi.Len)+uint64(a.Disp), PCRelative
			}
		}
	}
	return in, nil
}

// immBits is the operand size an x86 immediate is printed in: the data
// size, or 8/16 bits when the other operand is a byte/word register or
// memory operand.
func immBits(xi x86asm.Inst) uint {
	for _, a := range xi.Args {
		if r, ok := a.(x86asm.Reg); ok {
			switch {
			case r >= x86asm.AL && r <= x86asm.R15B:
				return 8
			case r >= x86asm.AX && r <= x86asm.R15W:
				return 16
			}
		}
	}
	switch {
	case xi.MemBytes == 1:
		return 8
	case xi.MemBytes == 2:
		return 16
	case xi.DataSize == 16 || xi.DataSize == 32:
		return uint(xi.DataSize)
	}
	return 64
}

// decodeWordExtra decodes a 4-byte word x/arch rejected with the
// supplement's table (extra.go); what it does not know either is shown as
// objdump shows undefined encodings, ".inst 0x...".
func decodeWordExtra(table []extraEnc, code []byte) Inst {
	w := binary.LittleEndian.Uint32(code)
	if text, ok := decodeExtra(table, w); ok {
		in := Inst{Len: 4}
		in.Mnemonic, in.Operands = splitARM(text)
		return in
	}
	return Inst{Len: 4, Mnemonic: ".inst", Operands: fmt.Sprintf("0x%08x", w), Bad: true}
}

// ---- AArch64 ----

func decodeARM64(code []byte, pc uint64) (Inst, error) {
	ai, err := arm64asm.Decode(code[:4])
	if err != nil {
		return decodeWordExtra(arm64Extra, code), nil
	}
	in := Inst{Len: 4}
	text := arm64asm.GNUSyntax(ai)
	for _, a := range ai.Args {
		r, ok := a.(arm64asm.PCRel)
		if !ok {
			continue
		}
		base := pc
		if ai.Op == arm64asm.ADRP {
			base = pc &^ 0xfff
		}
		in.Target, in.Kind = base+uint64(int64(r)), Branch
		text = strings.Replace(text, strings.ToLower(r.String()), fmt.Sprintf("%#x", in.Target), 1)
	}
	if h, ok := ai.Args[0].(arm64asm.Imm_hint); ok && ai.Op == arm64asm.HINT && hintNames[uint8(h)] != "" {
		text = hintNames[uint8(h)]
	}
	if ai.Op == arm64asm.MRS || ai.Op == arm64asm.MSR {
		text = nameSysregs(text)
	}
	in.Mnemonic, in.Operands = splitARM(text)
	// GNU as writes "[sp, #16]" and "[sp], #16"; arm64asm omits the blank.
	in.Operands = strings.ReplaceAll(in.Operands, ",#", ", #")
	return in, nil
}

// hintNames are the architectural names of HINT encodings that binutils
// prints by name (pointer authentication, BTI, barriers-as-hints), where
// arm64asm prints the generic "hint #imm": same encoding, GNU spelling.
var hintNames = map[uint8]string{
	6: "dgh", 7: "xpaclri", 8: "pacia1716", 10: "pacib1716", 12: "autia1716", 14: "autib1716",
	16: "esb", 17: "psb csync", 18: "tsb csync", 20: "csdb",
	24: "paciaz", 25: "paciasp", 26: "pacibz", 27: "pacibsp",
	28: "autiaz", 29: "autiasp", 30: "autibz", 31: "autibsp",
	32: "bti", 34: "bti c", 36: "bti j", 38: "bti jc",
}

// sysregNames are the architectural names of system registers the kernel
// uses most, which arm64asm prints by encoding (op0_op1_cN_cM_op2) and
// objdump by name. Others stay in the encoded form, which GNU as accepts.
var sysregNames = map[string]string{
	"s3_0_c4_c1_0": "sp_el0", "s3_0_c13_c0_4": "tpidr_el1", "s3_4_c13_c0_2": "tpidr_el2",
	"s3_3_c13_c0_2": "tpidr_el0", "s3_3_c13_c0_3": "tpidrro_el0", "s3_0_c13_c0_1": "contextidr_el1",
	"s3_3_c4_c2_1": "daif", "s3_3_c4_c2_0": "nzcv", "s3_0_c4_c2_2": "currentel", "s3_0_c4_c2_0": "spsel",
	"s3_0_c4_c2_3": "pan", "s3_0_c4_c2_4": "uao", "s3_3_c4_c2_5": "dit",
	"s3_0_c4_c0_0": "spsr_el1", "s3_0_c4_c0_1": "elr_el1", "s3_0_c5_c2_0": "esr_el1", "s3_0_c6_c0_0": "far_el1",
	"s3_0_c7_c4_0": "par_el1", "s3_0_c12_c0_0": "vbar_el1", "s3_0_c10_c2_0": "mair_el1",
	"s3_0_c1_c0_0": "sctlr_el1", "s3_0_c1_c0_2": "cpacr_el1",
	"s3_0_c2_c0_0": "ttbr0_el1", "s3_0_c2_c0_1": "ttbr1_el1", "s3_0_c2_c0_2": "tcr_el1",
	"s3_0_c0_c0_0": "midr_el1", "s3_0_c0_c0_5": "mpidr_el1", "s3_3_c0_c0_1": "ctr_el0", "s3_3_c0_c0_7": "dczid_el0",
	"s3_3_c14_c0_0": "cntfrq_el0", "s3_3_c14_c0_1": "cntpct_el0", "s3_3_c14_c0_2": "cntvct_el0",
	"s3_0_c14_c1_0": "cntkctl_el1", "s3_3_c14_c2_1": "cntp_ctl_el0", "s3_3_c14_c2_2": "cntp_cval_el0",
	"s3_3_c14_c3_1": "cntv_ctl_el0", "s3_3_c14_c3_2": "cntv_cval_el0",
	"s2_0_c0_c2_2": "mdscr_el1", "s3_3_c9_c12_0": "pmcr_el0",
	"s3_0_c4_c6_0": "icc_pmr_el1", "s3_0_c12_c12_0": "icc_iar1_el1", "s3_0_c12_c12_1": "icc_eoir1_el1",
	"s3_0_c12_c12_4": "icc_ctlr_el1", "s3_0_c12_c12_5": "icc_sre_el1", "s3_0_c12_c11_5": "icc_sgi1r_el1",
	"s3_4_c1_c1_0": "hcr_el2",
}

// nameSysregs replaces encoded system register operands by their names.
func nameSysregs(text string) string {
	m, ops := splitARM(text)
	args := strings.Split(ops, ", ")
	for i, a := range args {
		if n, ok := sysregNames[a]; ok {
			args[i] = n
		}
	}
	return m + " " + strings.Join(args, ", ")
}

// ---- ARM (A32) ----

func decodeARM(code []byte, pc uint64) (Inst, error) {
	ai, err := armasm.Decode(code[:4], armasm.ModeARM)
	if err != nil {
		return decodeWordExtra(armExtra, code), nil
	}
	in := Inst{Len: 4}
	text := armasm.GNUSyntax(ai)
	for _, a := range ai.Args {
		switch a := a.(type) {
		case armasm.PCRel:
			// The PC reads as the instruction's address + 8; GNUSyntax
			// prints the offset from address + 4 (".+0x..").
			in.Target, in.Kind = uint64(uint32(pc)+8+uint32(int32(a))), Branch
			text = strings.Replace(text, fmt.Sprintf(".%+#x", int32(a)+4), fmt.Sprintf("%#x", in.Target), 1)
		case armasm.Mem:
			if a.Base == armasm.PC && a.Mode == armasm.AddrOffset && a.Sign == 0 {
				// [pc, #imm]: a literal-pool load (Sign 0: immediate offset).
				in.Target, in.Kind = uint64(uint32(pc)+8+uint32(int32(a.Offset))), PCRelative
			}
		}
	}
	if ai.Op == armasm.DMB || ai.Op == armasm.DSB || ai.Op == armasm.ISB {
		if o, ok := ai.Args[0].(armasm.Imm); ok && barrierNames[uint32(o)] != "" {
			m, _ := splitARM(text)
			text = m + " " + barrierNames[uint32(o)]
		}
	}
	in.Mnemonic, in.Operands = splitARM(text)
	return in, nil
}

// barrierNames are the GNU names of the DMB/DSB/ISB options, which armasm
// prints as numbers ("dmb #11" is "dmb ish").
var barrierNames = map[uint32]string{
	1: "oshld", 2: "oshst", 3: "osh", 5: "nshld", 6: "nshst", 7: "nsh",
	9: "ishld", 10: "ishst", 11: "ish", 13: "ld", 14: "st", 15: "sy",
}
