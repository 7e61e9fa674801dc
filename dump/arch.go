package dump

import (
	"fmt"
	"slices"
	"strings"
)

// Arch names a target architecture as kinspect spells it.
type Arch string

const (
	ArchUnknown Arch = ""
	ArchARM     Arch = "arm"    // 32-bit ARMv7 (Raspberry Pi 2/3 32-bit, Debian armmp)
	ArchARM64   Arch = "arm64"  // AArch64
	ArchX86_64  Arch = "x86_64" // x86-64
)

// ArchSpec is what the dump layer knows about one architecture: its
// registers as the kernel's user_regs/pr_reg orders them, the
// NT_PRSTATUS layout, the page-table walker and the layout discoverer.
// There is one value per architecture (x86_64Spec, arm64Spec, armSpec,
// each in its architecture's file); code outside those files asks the
// value instead of switching on the name. Higher layers (kstructs' unwinders)
// build their own per-architecture values on top of this one.
type ArchSpec struct {
	Name    Arch
	PtrSize int // bytes

	// RegNames names the registers of pr_reg (struct elf_prstatus), in
	// order; struct pt_regs' first members follow the same order.
	RegNames []string
	// PC, SP, FP and LR index RegNames; -1 when the architecture has no
	// such register (x86_64 has no link register).
	PC, SP, FP, LR int

	elfMachine uint16              // e_machine
	unameMatch func(m string) bool // utsname.machine, lower case
	prstatus   prstatusLayout      // NT_PRSTATUS descriptor
	translator func(PhysMemory, KernelLayout) (Translator, error)
	walk       func(PhysMemory, KernelLayout, uint64) (uint64, error) // page tables only
	discover   func(*discoverer) error
	describe   func(KernelLayout) string // KernelLayout.String's arch-specific tail
	physToVirt func(KernelLayout, uint64) (uint64, error)
}

// archSpecs lists the supported architectures. It is filled in init, not
// in its declaration: the specs' functions (layout discovery) look
// architectures up again, which a declaration would make an
// initialisation cycle.
var archSpecs []*ArchSpec

func init() { archSpecs = []*ArchSpec{&x86_64Spec, &arm64Spec, &armSpec} }

// Spec returns a's description, nil for an unknown architecture.
func (a Arch) Spec() *ArchSpec {
	for _, s := range archSpecs {
		if s.Name == a {
			return s
		}
	}
	return nil
}

// lookupSpec is Spec with an error naming what needed the architecture.
func lookupSpec(a Arch, what string) (*ArchSpec, error) {
	if s := a.Spec(); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("dump: %s: unsupported architecture %q", what, a)
}

// PtrSize is the size of a pointer on a in bytes, 0 if unknown.
func (a Arch) PtrSize() int {
	if s := a.Spec(); s != nil {
		return s.PtrSize
	}
	return 0
}

// Reg returns the index of the register named name in RegNames, -1 if
// there is none.
func (s *ArchSpec) Reg(name string) int { return slices.Index(s.RegNames, name) }

// MustReg is Reg for names the caller knows exist (package-level index
// tables): a misspelt name panics at start-up rather than reading slot -1.
func (s *ArchSpec) MustReg(name string) int {
	i := s.Reg(name)
	if i < 0 {
		panic(fmt.Sprintf("dump: %s has no register %q", s.Name, name))
	}
	return i
}

// PhysToVirt maps a physical address to its linear-map virtual address
// under l.
func (s *ArchSpec) PhysToVirt(l KernelLayout, pa uint64) (uint64, error) {
	return s.physToVirt(l, pa)
}

// ArchFromELFMachine maps an ELF e_machine (of a core file or of vmlinux)
// to an Arch, ArchUnknown if unsupported.
func ArchFromELFMachine(m uint16) Arch { return archFromMachine(m) }

// archFromMachine maps an ELF e_machine to an Arch.
func archFromMachine(m uint16) Arch {
	for _, s := range archSpecs {
		if s.elfMachine == m {
			return s.Name
		}
	}
	return ArchUnknown
}

// archFromUname maps utsname.machine (any case: QEMU writes "X86_64",
// "aarch64", "ARM") to an Arch.
func archFromUname(m string) Arch {
	m = strings.ToLower(m)
	for _, s := range archSpecs {
		if s.unameMatch(m) {
			return s.Name
		}
	}
	return ArchUnknown
}

// numberedRegs returns prefix0 .. prefix(n-1).
func numberedRegs(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return names
}

// linearPhysToVirt is arm's linear map: PAGE_OFFSET maps PHYS_OFFSET
// (arch/arm/include/asm/memory.h __phys_to_virt).
func linearPhysToVirt(l KernelLayout, pa uint64) (uint64, error) {
	if pa < l.PhysOffset {
		return 0, fmt.Errorf("physical address %#x is below PHYS_OFFSET %#x", pa, l.PhysOffset)
	}
	return pa - l.PhysOffset + l.PageOffset, nil
}

// arm64PhysToVirt is __phys_to_virt(x) = ((x) - PHYS_OFFSET) | PAGE_OFFSET
// (arch/arm64/include/asm/memory.h). With KASLR memstart_addr (PHYS_OFFSET)
// is an s64 that may be "negative" (0xfffffad240000000): the subtraction
// wraps, as the kernel's does.
func arm64PhysToVirt(l KernelLayout, pa uint64) (uint64, error) {
	return (pa - l.PhysOffset) | l.PageOffset, nil
}
