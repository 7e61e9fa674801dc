package dump

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Note is one ELF note as found in a dump: a PT_NOTE segment of an ELF
// vmcore or the note area of a kdump-compressed file.
type Note struct {
	Name   string // owner name without its terminating NUL: "CORE", "VMCOREINFO", "QEMU", "LINUX"...
	Type   uint32 // n_type
	Desc   []byte // descriptor (a copy, safe to keep after Close)
	Offset int64  // file offset of the note header (logical offset for flattened files)
}

// Note types the package interprets.
const (
	NT_PRSTATUS   = 1 // per-CPU registers (struct elf_prstatus)
	NT_PRFPREG    = 2
	NT_PRPSINFO   = 3
	NT_TASKSTRUCT = 4
	NT_AUXV       = 6
)

// noteError describes a malformed note stream; offset is absolute.
type noteError struct {
	offset int64
	msg    string
}

func (e *noteError) Error() string { return e.msg }

// parseNotes decodes the note stream b, which starts at file offset base.
// Notes are 4-byte aligned (as the kernel, kexec-tools, makedumpfile and
// QEMU write them for both ELF classes). Parsing stops at the end of b or
// at a header whose n_namesz is 0 (zero padding after the last note, as in
// kexec-tools' per-CPU note buffers). A note that runs past the end of b is
// an error; the notes before it are returned with it.
func parseNotes(b []byte, base int64, bo binary.ByteOrder) ([]Note, error) {
	var notes []Note
	pos := uint64(0)
	n := uint64(len(b))
	for pos < n {
		at := base + int64(pos)
		if n-pos < 12 {
			// Trailing bytes too short for a header: accept zero padding.
			if allZero(b[pos:]) {
				break
			}
			return notes, &noteError{at, fmt.Sprintf("note header cut short (%d bytes left)", n-pos)}
		}
		namesz := uint64(bo.Uint32(b[pos:]))
		descsz := uint64(bo.Uint32(b[pos+4:]))
		typ := bo.Uint32(b[pos+8:])
		if namesz == 0 {
			break
		}
		nameOff := pos + 12
		descOff := nameOff + align4(namesz)
		end := descOff + align4(descsz)
		// descsz's last padding may be missing on the very last note.
		if descOff > n || descsz > n-descOff {
			return notes, &noteError{at, fmt.Sprintf("note (name size %d, desc size %d) extends past the end of the note area (%d bytes left)", namesz, descsz, n-pos)}
		}
		name := b[nameOff : nameOff+namesz]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		desc := make([]byte, descsz)
		copy(desc, b[descOff:descOff+descsz])
		notes = append(notes, Note{Name: string(name), Type: typ, Desc: desc, Offset: at})
		if end > n {
			break
		}
		pos = end
	}
	return notes, nil
}

func align4(x uint64) uint64 { return (x + 3) &^ 3 }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// CPUState is the register state of one CPU, from an NT_PRSTATUS note.
type CPUState struct {
	CPU int // index, in note order
	PID int // pr_pid as written (QEMU writes cpu+1, the kernel the pid of the task on that CPU)
	// Regs is the note's pr_reg in the kernel's user_regs order for the
	// arch: arm64 x0..x30, sp, pc, pstate; arm r0..r15, cpsr, orig_r0;
	// x86_64 struct user_regs_struct (r15, r14, r13, r12, rbp, rbx, r11,
	// r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp,
	// ss, fs_base, gs_base, ds, es, fs, gs). Nil if the layout is unknown.
	Regs []uint64
	// PC, SP, FP and LR picked out of Regs (LR is 0 on x86_64; FP is
	// x29, r11 and rbp).
	PC, SP, FP, LR uint64
}

// prstatusLayout places pr_pid and pr_reg in one architecture's struct
// elf_prstatus (include/linux/elfcore.h); the descriptor's size identifies
// the architecture when the dump does not say.
type prstatusLayout struct {
	size    int // sizeof(struct elf_prstatus)
	pidOff  int
	regOff  int
	nregs   int
	regSize int
}

// prstatusSpec picks the architecture whose prstatus layout fits a
// descriptor of size bytes: arch's own when it fits, else the one of
// exactly that size (arch unknown or wrong).
func prstatusSpec(arch Arch, size int) *ArchSpec {
	if s := arch.Spec(); s != nil && size >= s.prstatus.regOff+s.prstatus.nregs*s.prstatus.regSize {
		return s
	}
	for _, s := range archSpecs {
		if s.prstatus.size == size {
			return s
		}
	}
	return nil
}

// archFromPrstatus guesses the arch from the first NT_PRSTATUS note's size.
func archFromPrstatus(notes []Note) Arch {
	for _, n := range notes {
		if n.Type == NT_PRSTATUS && n.Name == "CORE" {
			if s := prstatusSpec(ArchUnknown, len(n.Desc)); s != nil {
				return s.Name
			}
			return ArchUnknown
		}
	}
	return ArchUnknown
}

// cpuStates decodes every NT_PRSTATUS note, in order.
func cpuStates(notes []Note, arch Arch, bo binary.ByteOrder) []CPUState {
	var cpus []CPUState
	for _, n := range notes {
		if n.Type != NT_PRSTATUS || n.Name != "CORE" {
			continue
		}
		c := CPUState{CPU: len(cpus)}
		if s := prstatusSpec(arch, len(n.Desc)); s != nil {
			c.decode(s, n.Desc, bo)
		} else if len(n.Desc) >= 36 {
			// Unknown layout: pr_pid sits at 32 in every 64-bit elf_prstatus.
			c.PID = int(int32(bo.Uint32(n.Desc[32:])))
		}
		cpus = append(cpus, c)
	}
	return cpus
}

// decode fills c from an NT_PRSTATUS descriptor laid out as s says.
func (c *CPUState) decode(s *ArchSpec, desc []byte, bo binary.ByteOrder) {
	l := s.prstatus
	if l.pidOff+4 <= len(desc) {
		c.PID = int(int32(bo.Uint32(desc[l.pidOff:])))
	}
	c.Regs = make([]uint64, l.nregs)
	for i := range c.Regs {
		p := desc[l.regOff+i*l.regSize:]
		if l.regSize == 8 {
			c.Regs[i] = bo.Uint64(p)
		} else {
			c.Regs[i] = uint64(bo.Uint32(p))
		}
	}
	pick := func(i int) uint64 {
		if i < 0 {
			return 0
		}
		return c.Regs[i]
	}
	c.PC, c.SP, c.FP, c.LR = pick(s.PC), pick(s.SP), pick(s.FP), pick(s.LR)
}

// vmcoreinfoFromNotes returns the descriptor of the first VMCOREINFO note.
func vmcoreinfoFromNotes(notes []Note) []byte {
	for _, n := range notes {
		if n.Name == "VMCOREINFO" {
			return n.Desc
		}
	}
	return nil
}
