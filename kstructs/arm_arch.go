package kstructs

import (
	"debug/elf"
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

var armSpec = dump.ArchARM.Spec()

// Register indexes in Regs.Values (pt_regs' uregs order, dump's table).
var (
	armFP, armIP, armSP, armLR = armSpec.FP, regIndex(armSpec, "r12"), armSpec.SP, armSpec.LR
	armPC, armCPSR, armOrigR0  = armSpec.PC, regIndex(armSpec, "cpsr"), regIndex(armSpec, "orig_r0")
	armNRegs                   = len(armSpec.RegNames)
)

var armOps = archOps{
	tifSigPending: 0, // arch/arm/include/asm/thread_info.h
	spec:          armSpec,
	nregs:         armNRegs,
	// struct pt_regs { unsigned long uregs[18]; } (arch/arm/include/asm/ptrace.h)
	ptRegs: func(_ *Kernel, pl *ptRegsLayout, member func(string) int64) error {
		base := member("uregs")
		if base < 0 {
			return fmt.Errorf("struct pt_regs has no member uregs")
		}
		for i := 0; i < armNRegs; i++ {
			pl.offs = append(pl.offs, base+int64(i)*4)
		}
		return nil
	},
	userMode: func(r *Regs) bool { return r.Get(armCPSR)&0xf == 0 }, // USR_MODE
	newUnwinder: func(u *unwinder) (archUnwinder, error) {
		a, err := newARMUnwinder(u)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
	dwarfRegs:   armDwarfRegs,
	crashStyle:  CrashStyle{FromLines: true, writeRegs: armWriteRegs},
	eframe:      armEframe,
	koAbsRelocs: map[uint32]int{uint32(elf.R_ARM_ABS32): 4},
	cfi: cfiHooks{
		// EHABI restores sp and the frame pointer exactly.
		seed: func(f *Frame, r *dwarfx.FrameRegs) { armDwarfRegs.seed(armSpec, r, f.SP, f.FP) },
		// A Thumb-2 return address has bit 0 set; the kernel runs in SVC
		// mode.
		resume: func(r *Regs, ra uint64) { r.Values[armPC], r.Values[armCPSR] = ra&^1, armModeSVC },
	},
}

// armWriteRegs prints a pt_regs as the arm kernel's __show_regs does
// (arch/arm/kernel/process.c), which crash copies.
func armWriteRegs(w io.Writer, r *Regs, _ func(uint64) string) {
	v := r.Get
	fmt.Fprintf(w, "    pc : [<%08x>]    lr : [<%08x>]    psr: %08x\n", v(armPC), v(armLR), v(armCPSR))
	fmt.Fprintf(w, "    sp : %08x  ip : %08x  fp : %08x\n", v(armSP), v(armIP), v(armFP))
	fmt.Fprintf(w, "    r10: %08x  r9 : %08x  r8 : %08x\n", v(10), v(9), v(8))
	fmt.Fprintf(w, "    r7 : %08x  r6 : %08x  r5 : %08x  r4 : %08x\n", v(7), v(6), v(5), v(4))
	fmt.Fprintf(w, "    r3 : %08x  r2 : %08x  r1 : %08x  r0 : %08x\n", v(3), v(2), v(1), v(0))
	fmt.Fprintf(w, "    Flags: %s\n", armPSRFlags(v(armCPSR)))
}

// armPSRModes names CPSR's mode field as __show_regs does.
var armPSRModes = map[uint64]string{0x10: "USER_32", 0x11: "FIQ_32", 0x12: "IRQ_32", 0x13: "SVC_32", 0x17: "ABT_32", 0x1b: "UND_32", 0x1f: "SYSTEM_32"}

// armPSRFlags spells CPSR's condition flags, interrupt masks, mode and
// instruction set: "nZCv  IRQs on  FIQs off  Mode SVC_32  ISA ARM".
func armPSRFlags(cpsr uint64) string {
	flags := ""
	for i, c := range "NZCV" {
		if cpsr&(1<<(31-uint(i))) != 0 {
			flags += string(c)
		} else {
			flags += strings.ToLower(string(c))
		}
	}
	onoff := func(bit uint) string {
		if cpsr&(1<<bit) != 0 {
			return "ff"
		}
		return "n"
	}
	mode := armPSRModes[cpsr&0x1f]
	if mode == "" {
		mode = fmt.Sprintf("%#x", cpsr&0x1f)
	}
	isa := "ARM"
	if cpsr&(1<<5) != 0 {
		isa = "Thumb"
	}
	return fmt.Sprintf("%s  IRQs o%s  FIQs o%s  Mode %s  ISA %s", flags, onoff(7), onoff(6), mode, isa)
}

// cpuStacks: arm's irq_stack_ptr holds the IRQ stack's top,
// &stack[THREAD_SIZE] (arch/arm/kernel/irq.c).
func (a *armUnwinder) cpuStacks(cpu int) []stackRange { return a.u.irqStacks(cpu, true) }

func (a *armUnwinder) textWord(v uint64) uint64 { return v }
