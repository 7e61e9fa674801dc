package kstructs

import (
	"debug/elf"
	"fmt"
	"io"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// x86Spec numbers the registers: dump's table (struct user_regs_struct
// order) is the only one.
var x86Spec = dump.ArchX86_64.Spec()

// Register indexes in Regs.Values.
var (
	x86R15, x86R14, x86R13, x86R12 = regIndex(x86Spec, "r15"), regIndex(x86Spec, "r14"), regIndex(x86Spec, "r13"), regIndex(x86Spec, "r12")
	x86BP, x86BX, x86R11, x86R10   = regIndex(x86Spec, "rbp"), regIndex(x86Spec, "rbx"), regIndex(x86Spec, "r11"), regIndex(x86Spec, "r10")
	x86R9, x86R8, x86AX, x86CX     = regIndex(x86Spec, "r9"), regIndex(x86Spec, "r8"), regIndex(x86Spec, "rax"), regIndex(x86Spec, "rcx")
	x86DX, x86SI, x86DI, x86OrigAX = regIndex(x86Spec, "rdx"), regIndex(x86Spec, "rsi"), regIndex(x86Spec, "rdi"), regIndex(x86Spec, "orig_rax")
	x86IP, x86CS, x86Flags         = regIndex(x86Spec, "rip"), regIndex(x86Spec, "cs"), regIndex(x86Spec, "eflags")
	x86SP, x86SS                   = regIndex(x86Spec, "rsp"), regIndex(x86Spec, "ss")
	// struct pt_regs ends at ss; prstatus' fs_base..gs are not in it.
	x86NRegs = x86SS + 1
)

// x86PtRegsMembers are struct pt_regs' members (arch/x86/include/asm/ptrace.h)
// in Regs order: the kernel's names for user_regs_struct's slots.
var x86PtRegsMembers = []string{"r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8",
	"ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"}

var x86_64Ops = archOps{
	tifSigPending: 2, // arch/x86/include/asm/thread_info.h
	spec:          x86Spec,
	nregs:         x86NRegs,
	ptRegs: func(_ *Kernel, pl *ptRegsLayout, member func(string) int64) error {
		for _, n := range x86PtRegsMembers {
			pl.offs = append(pl.offs, member(n))
		}
		return nil
	},
	// The CPL is in CS's low two bits.
	userMode: func(r *Regs) bool { return r.Get(x86CS)&3 == 3 },
	newUnwinder: func(u *unwinder) (archUnwinder, error) {
		x, err := newX86Unwinder(u)
		if err != nil {
			return nil, err
		}
		return x, nil
	},
	dwarfRegs:   x86DwarfRegs,
	crashStyle:  CrashStyle{EframeIndent: "  ", writeRegs: x86WriteRegs},
	eframe:      x86Eframe,
	koAbsRelocs: map[uint32]int{uint32(elf.R_X86_64_64): 8, uint32(elf.R_X86_64_32): 4}, // FDE locations, CIE pointers
	cfi: cfiHooks{
		// ORC knows rsp and rbp exactly; a return frame's SP is the slot
		// its return address was read from, below the caller's rsp.
		seed: func(f *Frame, r *dwarfx.FrameRegs) {
			sp := f.SP
			if f.IsReturn {
				sp += 8
			}
			x86DwarfRegs.seed(x86Spec, r, sp, f.FP)
		},
		resume: func(r *Regs, ra uint64) { r.Values[x86IP] = ra }, // cs 0: kernel mode
	},
}

// x86WriteRegs prints a pt_regs as crash's x86_64 bt does.
func x86WriteRegs(w io.Writer, r *Regs, symOff func(uint64) string) {
	v := r.Get
	if !r.User {
		fmt.Fprintf(w, "    [exception RIP: %s]\n", symOff(r.PC()))
	}
	fmt.Fprintf(w, "    RIP: %016x  RSP: %016x  RFLAGS: %08x\n", v(x86IP), v(x86SP), v(x86Flags))
	fmt.Fprintf(w, "    RAX: %016x  RBX: %016x  RCX: %016x\n", v(x86AX), v(x86BX), v(x86CX))
	fmt.Fprintf(w, "    RDX: %016x  RSI: %016x  RDI: %016x\n", v(x86DX), v(x86SI), v(x86DI))
	fmt.Fprintf(w, "    RBP: %016x   R8: %016x   R9: %016x\n", v(x86BP), v(x86R8), v(x86R9))
	fmt.Fprintf(w, "    R10: %016x  R11: %016x  R12: %016x\n", v(x86R10), v(x86R11), v(x86R12))
	fmt.Fprintf(w, "    R13: %016x  R14: %016x  R15: %016x\n", v(x86R13), v(x86R14), v(x86R15))
	fmt.Fprintf(w, "    ORIG_RAX: %016x  CS: %04x  SS: %04x\n", v(x86OrigAX), v(x86CS), v(x86SS))
}

// unwindCPU: a CPU's registers need no recovery on x86_64.
func (x *x86Unwinder) unwindCPU(bt *Backtrace, t *taskCtx, regs *Regs) { x.unwind(bt, t, regs, true) }

// textWord: x86_64 return addresses are plain.
func (x *x86Unwinder) textWord(v uint64) uint64 { return v }
