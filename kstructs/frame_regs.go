package kstructs

import (
	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// dwarfRegTable maps an architecture's DWARF register numbers (the psABI's
// "DWARF register number mapping") onto Regs slots, and says which
// registers a callee preserves (the procedure call standard), which is
// what CFI leaves unsaid.
type dwarfRegTable struct {
	// names[n] is DWARF register n's name in the arch's RegNames.
	names []string
	abi   dwarfx.CFIABI
}

// x86-64 psABI §3.6.2, figure 3.36: rax rdx rcx rbx rsi rdi rbp rsp r8-r15;
// rbx, rbp, r12-r15 are callee-saved (§3.2.1).
var x86DwarfRegs = dwarfRegTable{
	names: []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"},
	abi: dwarfx.CFIABI{SP: 7, CalleeSaved: []uint64{3, 6, 12, 13, 14, 15}},
}

// AAPCS64's DWARF numbering: x0-x30 = 0-30, sp = 31; x19-x29 are
// callee-saved; the kernel builds frame records (CONFIG_FRAME_POINTER).
var arm64DwarfRegs = dwarfRegTable{
	names: arm64Spec.RegNames[:32], // x0..x30, sp
	abi: dwarfx.CFIABI{SP: 31, CalleeSaved: []uint64{19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29},
		FrameRecord: true, FP: 29}, // x29 points at the frame record {x29, x30}
}

// AAPCS's DWARF numbering (ARM IHI 0040): r0-r15 = 0-15; r4-r11 are
// callee-saved.
var armDwarfRegs = dwarfRegTable{
	names: armSpec.RegNames[:16], // r0..r15
	abi:   dwarfx.CFIABI{SP: 13, CalleeSaved: []uint64{4, 5, 6, 7, 8, 9, 10, 11}},
}

// frameRegs converts r into DWARF numbering. all: every register is the
// context's (a CPU's registers, a full pt_regs); otherwise only the
// callee-saved registers and the stack pointer are (what a context switch
// saves).
func (t *dwarfRegTable) frameRegs(spec *dump.ArchSpec, r *Regs, all bool) *dwarfx.FrameRegs {
	out := dwarfx.NewFrameRegs(len(t.names))
	if r == nil {
		return out
	}
	keep := map[uint64]bool{t.abi.SP: true}
	for _, n := range t.abi.CalleeSaved {
		keep[n] = true
	}
	for n, name := range t.names {
		i := spec.Reg(name)
		if i < 0 || i >= len(r.Values) || !(all || keep[uint64(n)]) {
			continue
		}
		out.Set(uint64(n), r.Values[i])
	}
	return out
}
