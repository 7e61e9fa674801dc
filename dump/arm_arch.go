package dump

import (
	"fmt"
	"strings"
)

// armSpec: registers in struct pt_regs' uregs order
// (arch/arm/include/uapi/asm/ptrace.h): r0..r15, cpsr, orig_r0.
var armSpec = ArchSpec{
	Name:     ArchARM,
	PtrSize:  4,
	RegNames: append(numberedRegs("r", 16), "cpsr", "orig_r0"),
	PC:       15, SP: 13, FP: 11, LR: 14,

	elfMachine: emARM,
	unameMatch: func(m string) bool { return strings.HasPrefix(m, "arm") },
	prstatus:   prstatusLayout{size: 148, pidOff: 24, regOff: 72, nregs: 18, regSize: 4},
	translator: func(mem PhysMemory, l KernelLayout) (Translator, error) { return newARMTranslator(mem, l) },
	walk: func(mem PhysMemory, l KernelLayout, va uint64) (uint64, error) {
		t, err := newARMTranslator(mem, l)
		if err != nil {
			return 0, err
		}
		if l.LPAE {
			return t.walkLPAE(va)
		}
		return t.walkShort(va)
	},
	discover: (*discoverer).arm,
	describe: func(l KernelLayout) string {
		return fmt.Sprintf(" phys_offset=%#x lpae=%v linear_end=%#x", l.PhysOffset, l.LPAE, l.LinearEnd)
	},
	physToVirt: linearPhysToVirt,
}
