package dump

import "fmt"

// x86_64Spec: registers in struct user_regs_struct order
// (arch/x86/include/asm/user_64.h), which is pr_reg's.
var x86_64Spec = ArchSpec{
	Name:    ArchX86_64,
	PtrSize: 8,
	RegNames: []string{"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
		"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
		"fs_base", "gs_base", "ds", "es", "fs", "gs"},
	PC: 16, SP: 19, FP: 4, LR: -1,

	elfMachine: emX86_64,
	unameMatch: func(m string) bool { return m == "x86_64" || m == "amd64" },
	prstatus:   prstatusLayout{size: 336, pidOff: 32, regOff: 112, nregs: 27, regSize: 8},
	translator: func(mem PhysMemory, l KernelLayout) (Translator, error) { return newX86_64Translator(mem, l) },
	walk: func(mem PhysMemory, l KernelLayout, va uint64) (uint64, error) {
		t, err := newX86_64Translator(mem, l)
		if err != nil {
			return 0, err
		}
		return t.walk(va)
	},
	discover: (*discoverer).x86_64,
	describe: func(l KernelLayout) string {
		return fmt.Sprintf(" phys_base=%#x page_offset_base=%#x levels=%d", l.PhysBase, l.PageOffsetBase, l.PGTableLevels)
	},
	// The direct map starts at page_offset_base (arch/x86/include/asm/page.h __va).
	physToVirt: func(l KernelLayout, pa uint64) (uint64, error) { return pa + l.PageOffsetBase, nil },
}
