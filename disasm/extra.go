package disasm

// A table-driven supplement for the encoding families golang.org/x/arch
// (v0.33.0, the newest the module proxy serves; checked in its
// arm/armasm/tables.go and arm64/arm64asm/tables.go) does not decode but
// the kernels kinspect reads execute: the kernel's atomics, its entry code
// and its system-register accesses. It is consulted only when x/arch
// returns an error, so everything x/arch decodes stays x/arch's; it prints
// the GNU syntax objdump prints. This is hand-written because no library
// decodes these in Go (x/arch is the only Go ARM decoder; cgo binutils or
// capstone would break the single static binary).
//
// AArch64 (Arm ARM DDI 0487, C4.1 "A64 instruction set encoding" and the
// C6.2 instruction pages):
//   - ARMv8.1 LSE atomics (C4.1 "Loads and Stores": "Compare and swap",
//     "Compare and swap pair", "Atomic memory operations"): CAS*, CASP*,
//     SWP*, LD<op>* and their ST<op>* aliases (Rt = zr, no acquire), and
//     ARMv8.3 LDAPR* (RCpc) from the same group.
//   - UDF (C6.2 UDF: permanently undefined, imm16).
//   - HVC, SMC (C4.1 "Exception generation").
//   - MSR (immediate) to the PSTATE fields PAN, UAO, SSBS, DIT, TCO
//     (C6.2 MSR (immediate)); SB (C6.2 SB).
//   - SYS with its IC and AT aliases (C6.2 SYS, IC, AT), which arm64asm
//     decodes only as DC and TLBI.
//
// AArch32 A32 (Arm ARM DDI 0406C, A8.8 instruction details and B9.3
// system-level instructions):
//   - Coprocessor register transfers MCR, MCR2, MRC, MRC2, MCRR, MCRR2,
//     MRRC, MRRC2 (A8.8: cp15 system registers, cp14 debug), and the VFP
//     transfers VMOV (two core registers to/from a doubleword or two
//     singles), VMRS/VMSR of FPSID, MVFR0-2, FPEXC, FPINST(2).
//   - CPS, MSR (register and immediate) of CPSR/SPSR, MRS of SPSR, LDM/STM
//     of user registers and LDM exception return (the `^` forms), ERET,
//     HVC, SMC (B9.3).
//   - UDF (A8.8 UDF, the kernel's BUG()), the CSDB hint (A8.8 CSDB).
//   - STR (register) with Rm in r8-r15 (A8.8 STR (register)): armasm's
//     table has mask 0x0e500018 for it, bit 3 of Rm included, so
//     `str r2, [r3, ip]` is "unknown instruction"; it is decoded by
//     armasm with Rm's bit 3 cleared and the index register corrected.

import (
	"fmt"
	"strings"

	"golang.org/x/arch/arm/armasm"
)

// extraEnc is one encoding family: the words with w&mask == value, which
// decode formats in GNU syntax (ok false: unallocated within the family).
type extraEnc struct {
	mask, value uint32
	decode      func(w uint32) (text string, ok bool)
}

// decodeExtra decodes w with the first family of table that takes it.
func decodeExtra(table []extraEnc, w uint32) (string, bool) {
	for _, e := range table {
		if w&e.mask == e.value {
			if s, ok := e.decode(w); ok {
				return s, true
			}
		}
	}
	return "", false
}

// bits is w's field hi..lo (inclusive).
func bits(w uint32, hi, lo uint) uint32 { return w >> lo & (1<<(hi-lo+1) - 1) }

func flag(w uint32, bit uint, s string) string {
	if w>>bit&1 != 0 {
		return s
	}
	return ""
}

// ---- AArch64 ----

var arm64Extra = []extraEnc{
	{0x3fa07c00, 0x08a07c00, a64CAS},
	{0xbfa07c00, 0x08207c00, a64CASP},
	{0x3f200c00, 0x38200000, a64Atomic},
	{0xffff0000, 0x00000000, func(w uint32) (string, bool) { return fmt.Sprintf("udf #%d", bits(w, 15, 0)), true }},
	{0xffe0001f, 0xd4000002, func(w uint32) (string, bool) { return fmt.Sprintf("hvc #%#x", bits(w, 20, 5)), true }},
	{0xffe0001f, 0xd4000003, func(w uint32) (string, bool) { return fmt.Sprintf("smc #%#x", bits(w, 20, 5)), true }},
	{0xfff8f01f, 0xd500401f, a64MSRImm},
	{0xffffffff, 0xd50330ff, func(uint32) (string, bool) { return "sb", true }},
	{0xfff80000, 0xd5080000, a64SYS},
}

// a64Reg is general register n of the size (x or w), 31 being the zero
// register; a64Base is n as a base register, 31 being sp.
func a64Reg(n uint32, x bool) string {
	p := "w"
	if x {
		p = "x"
	}
	if n == 31 {
		return p + "zr"
	}
	return fmt.Sprintf("%s%d", p, n)
}

func a64Base(n uint32) string {
	if n == 31 {
		return "sp"
	}
	return fmt.Sprintf("x%d", n)
}

// a64Size is the b/h suffix of byte and halfword forms (size field 0, 1).
func a64Size(size uint32) string { return [4]string{"b", "h", "", ""}[size] }

// a64CAS: CAS{A}{L}{B,H} <Ws|Xs>, <Wt|Xt>, [<Xn|SP>] (size:001000:1:L:1:Rs:o0:11111:Rn:Rt).
func a64CAS(w uint32) (string, bool) {
	size := bits(w, 31, 30)
	m := "cas" + flag(w, 22, "a") + flag(w, 15, "l") + a64Size(size)
	return fmt.Sprintf("%s %s, %s, [%s]", m, a64Reg(bits(w, 20, 16), size == 3), a64Reg(bits(w, 4, 0), size == 3), a64Base(bits(w, 9, 5))), true
}

// a64CASP: CASP{A}{L} of an even register pair (0:sz:001000:0:L:1:Rs:o0:11111:Rn:Rt).
func a64CASP(w uint32) (string, bool) {
	rs, rt, x := bits(w, 20, 16), bits(w, 4, 0), w>>30&1 != 0
	if rs%2 != 0 || rt%2 != 0 {
		return "", false
	}
	m := "casp" + flag(w, 22, "a") + flag(w, 15, "l")
	return fmt.Sprintf("%s %s, %s, %s, %s, [%s]", m, a64Reg(rs, x), a64Reg(rs+1, x), a64Reg(rt, x), a64Reg(rt+1, x), a64Base(bits(w, 9, 5))), true
}

var a64AtomicOps = [8]string{"add", "clr", "eor", "set", "smax", "smin", "umax", "umin"}

// a64Atomic: the atomic memory operations (size:111:0:00:A:R:1:Rs:o3:opc:00:Rn:Rt).
func a64Atomic(w uint32) (string, bool) {
	size, rs, rt, rn := bits(w, 31, 30), bits(w, 20, 16), bits(w, 4, 0), bits(w, 9, 5)
	x, o3, opc := size == 3, w>>15&1, bits(w, 14, 12)
	acq, rel, sz := flag(w, 23, "a"), flag(w, 22, "l"), a64Size(size)
	switch {
	case o3 == 0 && acq == "" && rt == 31: // ST<op>: the result is discarded
		return fmt.Sprintf("st%s%s%s %s, [%s]", a64AtomicOps[opc], rel, sz, a64Reg(rs, x), a64Base(rn)), true
	case o3 == 0:
		return fmt.Sprintf("ld%s%s%s%s %s, %s, [%s]", a64AtomicOps[opc], acq, rel, sz, a64Reg(rs, x), a64Reg(rt, x), a64Base(rn)), true
	case opc == 0:
		return fmt.Sprintf("swp%s%s%s %s, %s, [%s]", acq, rel, sz, a64Reg(rs, x), a64Reg(rt, x), a64Base(rn)), true
	case opc == 4 && acq != "" && rel == "" && rs == 31:
		return fmt.Sprintf("ldapr%s %s, [%s]", sz, a64Reg(rt, x), a64Base(rn)), true
	}
	return "", false
}

// a64PSTATE names the PSTATE fields MSR (immediate) writes, by op1, op2.
var a64PSTATE = map[[2]uint32]string{{0, 3}: "uao", {0, 4}: "pan", {3, 1}: "ssbs", {3, 2}: "dit", {3, 4}: "tco"}

func a64MSRImm(w uint32) (string, bool) {
	name, ok := a64PSTATE[[2]uint32{bits(w, 18, 16), bits(w, 7, 5)}]
	return fmt.Sprintf("msr %s, #%#x", name, bits(w, 11, 8)), ok
}

// a64IC names the IC operations by op1, CRm, op2 (CRn is 7); a64AT the
// AT operations (CRn 7, CRm 8 or 9).
var (
	a64IC = map[[3]uint32]string{{0, 1, 0}: "ialluis", {0, 5, 0}: "iallu", {3, 5, 1}: "ivau"}
	a64AT = map[[3]uint32]string{
		{0, 8, 0}: "s1e1r", {0, 8, 1}: "s1e1w", {0, 8, 2}: "s1e0r", {0, 8, 3}: "s1e0w",
		{0, 9, 0}: "s1e1rp", {0, 9, 1}: "s1e1wp",
		{4, 8, 0}: "s1e2r", {4, 8, 1}: "s1e2w", {4, 8, 4}: "s12e1r", {4, 8, 5}: "s12e1w",
		{4, 8, 6}: "s12e0r", {4, 8, 7}: "s12e0w", {6, 8, 0}: "s1e3r", {6, 8, 1}: "s1e3w",
	}
)

// a64SYS: SYS #op1, Cn, Cm, #op2{, Xt} (1101010100:0:01:op1:CRn:CRm:op2:Rt), by
// its IC or AT alias where it has one.
func a64SYS(w uint32) (string, bool) {
	op1, crn, crm, op2, rt := bits(w, 18, 16), bits(w, 15, 12), bits(w, 11, 8), bits(w, 7, 5), bits(w, 4, 0)
	key := [3]uint32{op1, crm, op2}
	if name, ok := a64IC[key]; ok && crn == 7 {
		if rt == 31 {
			return "ic " + name, true
		}
		return "ic " + name + ", " + a64Reg(rt, true), true
	}
	if name, ok := a64AT[key]; ok && crn == 7 {
		return "at " + name + ", " + a64Reg(rt, true), true
	}
	s := fmt.Sprintf("sys #%d, C%d, C%d, #%d", op1, crn, crm, op2)
	if rt != 31 {
		s += ", " + a64Reg(rt, true)
	}
	return s, true
}

// ---- AArch32 (A32) ----

var armExtra = []extraEnc{
	{0x0f000010, 0x0e000010, a32MCR},
	{0x0fe00000, 0x0c400000, a32MCRR},
	{0xfff1fe20, 0xf1000000, a32CPS},
	{0x0fb0fff0, 0x0120f000, a32MSRReg},
	{0x0fb0f000, 0x0320f000, a32MSRImm},
	{0x0fff0fff, 0x014f0000, func(w uint32) (string, bool) {
		return fmt.Sprintf("mrs%s %s, SPSR", a32Cond(w), armReg(bits(w, 15, 12))), true
	}},
	{0x0e400000, 0x08400000, a32LDMUser},
	{0x0fe00fff, 0x0ee00a10, a32VMRS},
	{0xfff000f0, 0xe7f000f0, func(w uint32) (string, bool) { return fmt.Sprintf("udf #%d", bits(w, 19, 8)<<4|bits(w, 3, 0)), true }},
	{0x0fffffff, 0x0320f014, func(w uint32) (string, bool) { return "csdb" + a32Cond(w), true }},
	{0x0ffffff0, 0x01600070, func(w uint32) (string, bool) { return fmt.Sprintf("smc%s %d", a32Cond(w), bits(w, 3, 0)), true }},
	{0xfff000f0, 0xe1400070, func(w uint32) (string, bool) { return fmt.Sprintf("hvc %d", bits(w, 19, 8)<<4|bits(w, 3, 0)), true }},
	{0x0fffffff, 0x0160006e, func(w uint32) (string, bool) { return "eret" + a32Cond(w), true }},
	{0x0e500018, 0x06000008, a32STRHighRm},
}

var a32Conds = [15]string{"eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", ""}

// a32Cond is the condition suffix; "" for always (and for the 1111
// unconditional space, whose families check it themselves).
func a32Cond(w uint32) string {
	if c := w >> 28; c < 15 {
		return a32Conds[c]
	}
	return ""
}

// armReg is core register n as GNU names it.
func armReg(n uint32) string {
	return [16]string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "sl", "fp", "ip", "sp", "lr", "pc"}[n&15]
}

// a32Coproc is the mnemonic's suffix: the condition, or 2 for the
// unconditional MCR2/MRC2/MCRR2/MRRC2.
func a32Coproc(w uint32) string {
	if w>>28 == 15 {
		return "2"
	}
	return a32Cond(w)
}

// a32MCR: MCR/MRC{2} coproc, opc1, Rt, CRn, CRm, {opc2}
// (cond:1110:opc1:L:CRn:Rt:coproc:opc2:1:CRm). cp10 and cp11 are VFP.
func a32MCR(w uint32) (string, bool) {
	cp, rt := bits(w, 11, 8), armReg(bits(w, 15, 12))
	if cp == 10 || cp == 11 {
		return "", false
	}
	m := "mcr"
	if w>>20&1 != 0 {
		m = "mrc"
		if rt == "pc" {
			rt = "APSR_nzcv"
		}
	}
	return fmt.Sprintf("%s%s %d, %d, %s, cr%d, cr%d, {%d}", m, a32Coproc(w), cp, bits(w, 23, 21), rt,
		bits(w, 19, 16), bits(w, 3, 0), bits(w, 7, 5)), true
}

// a32MCRR: MCRR/MRRC{2} coproc, opc1, Rt, Rt2, CRm (cond:1100010:L:Rt2:Rt:coproc:opc1:CRm),
// and on cp10/cp11 the VMOVs between two core registers and VFP registers.
func a32MCRR(w uint32) (string, bool) {
	cp, rt, rt2, load := bits(w, 11, 8), armReg(bits(w, 15, 12)), armReg(bits(w, 19, 16)), w>>20&1 != 0
	if (cp == 10 || cp == 11) && w>>28 != 15 {
		if bits(w, 7, 6) != 0 || w>>4&1 == 0 {
			return "", false
		}
		vfp := fmt.Sprintf("d%d", w>>5&1<<4|bits(w, 3, 0))
		if cp == 10 {
			n := bits(w, 3, 0)<<1 | w>>5&1
			vfp = fmt.Sprintf("s%d, s%d", n, n+1)
		}
		if load {
			return fmt.Sprintf("vmov%s %s, %s, %s", a32Cond(w), rt, rt2, vfp), true
		}
		return fmt.Sprintf("vmov%s %s, %s, %s", a32Cond(w), vfp, rt, rt2), true
	}
	m := "mcrr"
	if load {
		m = "mrrc"
	}
	return fmt.Sprintf("%s%s %d, %d, %s, %s, cr%d", m, a32Coproc(w), cp, bits(w, 7, 4), rt, rt2, bits(w, 3, 0)), true
}

// a32CPS: CPSIE/CPSID flags{, #mode} and CPS #mode
// (1111:00010000:imod:M:0:0000000:A:I:F:0:mode).
func a32CPS(w uint32) (string, bool) {
	imod, mode := bits(w, 19, 18), w>>17&1 != 0
	flags := flag(w, 8, "a") + flag(w, 7, "i") + flag(w, 6, "f")
	switch {
	case imod == 0 && mode && flags == "":
		return fmt.Sprintf("cps #%d", bits(w, 4, 0)), true
	case imod < 2 || flags == "":
		return "", false
	}
	s := [2]string{"cpsie", "cpsid"}[imod-2] + " " + flags
	if mode {
		s += fmt.Sprintf(",#%d", bits(w, 4, 0))
	}
	return s, true
}

// a32PSR is the status register operand of MSR: CPSR/SPSR and the fields
// written (mask bits f, s, x, c).
func a32PSR(w uint32) (string, bool) {
	mask := bits(w, 19, 16)
	if mask == 0 {
		return "", false
	}
	s := "CPSR_"
	if w>>22&1 != 0 {
		s = "SPSR_"
	}
	return s + flag(mask, 3, "f") + flag(mask, 2, "s") + flag(mask, 1, "x") + flag(mask, 0, "c"), true
}

func a32MSRReg(w uint32) (string, bool) {
	psr, ok := a32PSR(w)
	return fmt.Sprintf("msr%s %s, %s", a32Cond(w), psr, armReg(bits(w, 3, 0))), ok
}

// a32MSRImm: the immediate is ARMExpandImm(imm12): imm8 rotated right by
// twice the rotation field (A5.2.4).
func a32MSRImm(w uint32) (string, bool) {
	psr, ok := a32PSR(w)
	rot, imm := 2*bits(w, 11, 8), bits(w, 7, 0)
	imm = imm>>rot | imm<<((32-rot)&31)
	return fmt.Sprintf("msr%s %s, #%d", a32Cond(w), psr, imm), ok
}

// a32LDMUser: LDM/STM with the S bit, `^` (cond:100:P:U:1:W:L:Rn:list): user
// registers, or with pc in an LDM's list the exception return.
func a32LDMUser(w uint32) (string, bool) {
	load, wback, list := w>>20&1 != 0, w>>21&1 != 0, bits(w, 15, 0)
	if w>>28 == 15 || list == 0 || wback && !(load && list>>15 != 0) {
		return "", false // unconditional space; writeback only on exception return
	}
	m := "stm"
	if load {
		m = "ldm"
	}
	m += [4]string{"da", "", "db", "ib"}[w>>23&3] + a32Cond(w)
	var regs []string
	for r := range uint32(16) {
		if list>>r&1 != 0 {
			regs = append(regs, armReg(r))
		}
	}
	base := armReg(bits(w, 19, 16))
	if wback {
		base += "!"
	}
	return fmt.Sprintf("%s %s, {%s}^", m, base, strings.Join(regs, ", ")), true
}

// a32VFPSys names the VFP system registers by their VMRS/VMSR number.
var a32VFPSys = map[uint32]string{0: "fpsid", 1: "fpscr", 5: "mvfr2", 6: "mvfr1", 7: "mvfr0", 8: "fpexc", 9: "fpinst", 10: "fpinst2"}

// a32VMRS: VMRS Rt, reg / VMSR reg, Rt (cond:1110:111:L:reg:Rt:1010:0001:0000).
func a32VMRS(w uint32) (string, bool) {
	reg, ok := a32VFPSys[bits(w, 19, 16)]
	rt := armReg(bits(w, 15, 12))
	if !ok || rt == "pc" || w>>28 == 15 {
		return "", false
	}
	if w>>20&1 != 0 {
		return fmt.Sprintf("vmrs%s %s, %s", a32Cond(w), rt, reg), true
	}
	return fmt.Sprintf("vmsr%s %s, %s", a32Cond(w), reg, rt), true
}

// a32STRHighRm decodes STR (register) with Rm in r8-r15 through armasm,
// whose table entry masks out those registers (see the file comment):
// the same word with Rm's bit 3 cleared, the index register put back.
func a32STRHighRm(w uint32) (string, bool) {
	if w>>28 == 15 {
		return "", false
	}
	b := []byte{byte(w &^ 8), byte(w >> 8), byte(w >> 16), byte(w >> 24)}
	in, err := armasm.Decode(b, armasm.ModeARM)
	if err != nil || in.Op&^15 != armasm.STR_EQ {
		return "", false
	}
	for i, a := range in.Args {
		if m, ok := a.(armasm.Mem); ok && m.Index <= armasm.R7 {
			m.Index += 8
			in.Args[i] = m
			return armasm.GNUSyntax(in), true
		}
	}
	return "", false
}
