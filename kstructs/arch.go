package kstructs

import (
	"fmt"

	"github.com/kinspect/kinspect/dump"
)

// archOps is kstructs' value for one architecture, built on dump's
// ArchSpec (register names and PC/SP/FP/LR indexes, prstatus, page tables,
// layout discovery): how struct pt_regs maps onto Regs, which contexts are
// user mode, and the unwinder. One value per architecture, each in its
// architecture's file (x86_64Ops, arm64Ops, armOps); the rest of the
// package asks the value and never switches on the architecture's name.
type archOps struct {
	spec *dump.ArchSpec
	// nregs is how many of spec.RegNames a Regs holds: pt_regs' user_regs
	// part (x86_64's prstatus adds the segment bases, which pt_regs lacks).
	nregs int
	// ptRegs fills pl.offs (one offset per Regs slot) and arch extras
	// from struct pt_regs; member returns a member's offset, -1 if absent.
	ptRegs func(k *Kernel, pl *ptRegsLayout, member func(string) int64) error
	// userMode reports whether a register set is a user-mode context.
	userMode func(r *Regs) bool
	// newUnwinder builds the arch's unwinder once per Kernel.
	newUnwinder func(u *unwinder) (archUnwinder, error)
	// crashStyle is how crash prints frames and pt_regs.
	crashStyle CrashStyle
	// tifSigPending is TIF_SIGPENDING, the thread_info flag bit that says
	// a signal is pending (asm/thread_info.h; a #define, not in DWARF).
	tifSigPending uint
	// dwarfRegs maps DWARF register numbers onto Regs (frame_regs.go).
	dwarfRegs dwarfRegTable
	// eframe tells a plausible struct pt_regs on a stack (bt -e;
	// eframe_rules.go).
	eframe eframeRule
	// cfi is the arch's part of the DWARF-CFI fallback (cfi_unwind.go).
	cfi cfiHooks
	// koAbsRelocs are the absolute relocation types (with the bytes each
	// writes) GCC emits in a module's .debug_frame (module_cfi.go).
	koAbsRelocs map[uint32]int
}

// archUnwinder is what stack.go asks of an architecture's unwinder.
type archUnwinder interface {
	// savedRegs reads the context the last context switch saved.
	savedRegs(t *taskCtx) (*Regs, error)
	// unwind walks the stack from regs; fromCPU says regs are a CPU's
	// (the PC is the interrupted instruction, not a return address).
	unwind(bt *Backtrace, t *taskCtx, regs *Regs, fromCPU bool)
	// unwindCPU unwinds from a CPU's registers in the dump's notes, which
	// on some architectures need recovery first (a CPU stopped in a vector).
	unwindCPU(bt *Backtrace, t *taskCtx, regs *Regs)
	// cpuStacks returns the CPU's stacks other than task stacks.
	cpuStacks(cpu int) []stackRange
	// textWord turns a stack word into the code address it may be
	// (arm64 strips a pointer-authentication code).
	textWord(v uint64) uint64
}

// archTable lists the architectures kstructs can unwind. Filled in init:
// the values' functions reach back to it through the unwinders, which a
// declaration would make an initialisation cycle.
var archTable map[dump.Arch]*archOps

func init() {
	archTable = map[dump.Arch]*archOps{}
	for _, a := range []*archOps{&x86_64Ops, &arm64Ops, &armOps} {
		archTable[a.spec.Name] = a
	}
}

// opsFor returns arch's value.
func opsFor(arch dump.Arch) (*archOps, error) {
	if a, ok := archTable[arch]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no unwinder for architecture %q", arch)
}

// regIndex looks name up in spec's registers (package-level index tables).
func regIndex(spec *dump.ArchSpec, name string) int { return spec.MustReg(name) }
