package kstructs

import (
	"debug/elf"
	"fmt"
	"io"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

var arm64Spec = dump.ArchARM64.Spec()

// Register indexes in Regs.Values (struct user_pt_regs order, dump's table).
var (
	arm64FP, arm64LR, arm64SP = arm64Spec.FP, arm64Spec.LR, arm64Spec.SP
	arm64PC, arm64PState      = arm64Spec.PC, regIndex(arm64Spec, "pstate")
	arm64NRegs                = len(arm64Spec.RegNames)
)

var arm64Ops = archOps{
	tifSigPending: 0, // arch/arm64/include/asm/thread_info.h
	spec:          arm64Spec,
	nregs:         arm64NRegs,
	// struct pt_regs { union { struct user_pt_regs user_regs; struct {
	// u64 regs[31]; u64 sp, pc, pstate; }; }; u64 orig_x0; s32 syscallno;
	// ... struct frame_record stackframe; } (arch/arm64/include/asm/ptrace.h)
	ptRegs: func(k *Kernel, pl *ptRegsLayout, member func(string) int64) error {
		base := member("regs")
		if base < 0 {
			return fmt.Errorf("struct pt_regs has no member regs")
		}
		for i := 0; i < 31; i++ {
			pl.offs = append(pl.offs, base+int64(i)*8)
		}
		pl.offs = append(pl.offs, member("sp"), member("pc"), member("pstate"))
		for _, n := range []string{"orig_x0", "syscallno"} {
			if off, f, err := k.memberOffset("struct pt_regs", n); err == nil {
				pl.extra[n] = [2]uint64{off, uint64(f.Type.Size())}
			}
		}
		pl.stackframe = member("stackframe")
		return nil
	},
	userMode: func(r *Regs) bool { return r.Get(arm64PState)&0xf == 0 }, // PSR_MODE_EL0t
	newUnwinder: func(u *unwinder) (archUnwinder, error) {
		a, err := newARM64Unwinder(u)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
	dwarfRegs:   arm64DwarfRegs,
	crashStyle:  CrashStyle{CallSiteBack: 4, writeRegs: arm64WriteRegs},
	eframe:      arm64Eframe,
	koAbsRelocs: map[uint32]int{uint32(elf.R_AARCH64_ABS64): 8, uint32(elf.R_AARCH64_ABS32): 4}, // FDE locations, CIE pointers
	cfi: cfiHooks{
		// Frame records give x29 exactly, not the stack pointer: that
		// comes from the CFI chain (or the CPU's registers).
		seed: func(f *Frame, r *dwarfx.FrameRegs) {
			if f.FP != 0 {
				r.Set(uint64(arm64FP), f.FP) // x29 is DWARF register 29
			}
		},
		// PSTATE EL1h: a kernel context.
		resume: func(r *Regs, ra uint64) { r.Values[arm64PC], r.Values[arm64PState] = ra, 0x5 },
	},
}

// arm64WriteRegs prints a pt_regs as crash's arm64 bt does: PC, LR, SP
// (symbolised for a kernel context), then x29 down to x0, three a line.
func arm64WriteRegs(w io.Writer, r *Regs, symOff func(uint64) string) {
	if r.User {
		fmt.Fprintf(w, "     PC: %016x   LR: %016x   SP: %016x\n    ", r.PC(), r.LR(), r.SP())
	} else {
		fmt.Fprintf(w, "     PC: %016x  [%s]\n", r.PC(), symOff(r.PC()))
		fmt.Fprintf(w, "     LR: %016x  [%s]\n", r.LR(), symOff(r.LR()))
		fmt.Fprintf(w, "     SP: %016x  PSTATE: %08x\n    ", r.SP(), r.Get(arm64PState))
	}
	for n, i := 0, arm64FP; i >= 0; n, i = n+1, i-1 {
		if n > 0 {
			if n%3 == 0 {
				io.WriteString(w, "\n    ")
			} else {
				io.WriteString(w, "  ")
			}
		}
		pad := ""
		if i < 10 {
			pad = " "
		}
		fmt.Fprintf(w, "%sX%d: %016x", pad, i, r.Get(i))
	}
	io.WriteString(w, "\n")
	if r.User {
		fmt.Fprintf(w, "    ORIG_X0: %016x  SYSCALLNO: %x  PSTATE: %08x\n", r.Extra["orig_x0"], r.Extra["syscallno"], r.Get(arm64PState))
	}
}

// unwindCPU: a CPU's registers need no recovery on arm64.
func (a *arm64Unwinder) unwindCPU(bt *Backtrace, t *taskCtx, regs *Regs) {
	a.unwind(bt, t, regs, true)
}

// cpuStacks: irq_stack_ptr holds the IRQ stack's base
// (arch/arm64/kernel/irq.c), and overflow_stack is per-cpu.
func (a *arm64Unwinder) cpuStacks(cpu int) []stackRange { return a.u.irqStacks(cpu, false) }

func (a *arm64Unwinder) textWord(v uint64) uint64 { return a.stripPAC(v) }
