package dump

import "fmt"

// arm64Spec: registers in struct user_pt_regs order
// (arch/arm64/include/uapi/asm/ptrace.h): x0..x30, sp, pc, pstate.
var arm64Spec = ArchSpec{
	Name:     ArchARM64,
	PtrSize:  8,
	RegNames: append(numberedRegs("x", 31), "sp", "pc", "pstate"),
	PC:       32, SP: 31, FP: 29, LR: 30,

	elfMachine: emAArch64,
	unameMatch: func(m string) bool { return m == "aarch64" || m == "arm64" },
	prstatus:   prstatusLayout{size: 392, pidOff: 32, regOff: 112, nregs: 34, regSize: 8},
	translator: func(mem PhysMemory, l KernelLayout) (Translator, error) { return newARM64Translator(mem, l) },
	walk: func(mem PhysMemory, l KernelLayout, va uint64) (uint64, error) {
		t, err := newARM64Translator(mem, l)
		if err != nil {
			return 0, err
		}
		return t.walk(va)
	},
	discover: (*discoverer).arm64,
	describe: func(l KernelLayout) string {
		s := fmt.Sprintf(" phys_offset=%#x va_bits=%d", l.PhysOffset, l.VABits)
		if l.VABitsActual != 0 && l.VABitsActual != l.VABits {
			s += fmt.Sprintf(" va_bits_actual=%d", l.VABitsActual)
		}
		return s + fmt.Sprintf(" kimage_voffset=%#x", l.KimageVoffset)
	},
	physToVirt: arm64PhysToVirt,
}
