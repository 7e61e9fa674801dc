package kstructs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"

	"github.com/kinspect/kinspect/dump"
)

// A module's call frame information is in its .ko's .debug_frame, which
// the kernel does not load (it is not SHF_ALLOC). Its FDEs' initial
// locations are relocations against the module's text sections and its
// CIE pointers relocations against .debug_frame itself; debug/elf applies
// relocations only to the DWARF sections it reads, so they are applied
// here: S + A at each place, S a symbol's value plus its section's
// run-time address in the dump (ModuleSectionAddrs), A the RELA addend or,
// for REL (32-bit arm), the value already at the place. Each arch lists
// the absolute relocation types GCC emits there (archOps.koAbsRelocs).

// moduleCFI returns the .ko's .debug_frame relocated to the module's
// section addresses secs; nil without one.
func moduleCFI(raw []byte, secs map[string]uint64, ops *archOps) ([]byte, error) {
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if a := dump.ArchFromELFMachine(uint16(ef.Machine)); a != ops.spec.Name {
		return nil, fmt.Errorf("the module is built for %s (ELF machine %v), the kernel for %s", a, ef.Machine, ops.spec.Name)
	}
	idx := -1
	for i, s := range ef.Sections {
		if s.Name == ".debug_frame" && s.Type == elf.SHT_PROGBITS {
			idx = i
		}
	}
	if idx < 0 {
		return nil, nil
	}
	data, err := ef.Sections[idx].Data()
	if err != nil {
		return nil, fmt.Errorf("reading .debug_frame: %w", err)
	}
	syms, err := ef.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, err
	}
	r := koReloc{ef: ef, data: data, syms: syms, secs: secs, types: ops.koAbsRelocs}
	for _, s := range ef.Sections {
		if (s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL) && int(s.Info) == idx {
			if err := r.apply(s); err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
		}
	}
	return data, nil
}

// koReloc applies one .ko's relocations to a section's bytes.
type koReloc struct {
	ef    *elf.File
	data  []byte
	syms  []elf.Symbol
	secs  map[string]uint64
	types map[uint32]int // relocation type -> bytes written
}

// apply applies the relocation section s (Elf64_Rela, Elf32_Rel or
// Elf32_Rela entries).
func (r *koReloc) apply(s *elf.Section) error {
	b, err := s.Data()
	if err != nil {
		return err
	}
	bo := r.ef.ByteOrder
	is64, rela := r.ef.Class == elf.ELFCLASS64, s.Type == elf.SHT_RELA
	size := map[[2]bool]int{{true, true}: 24, {true, false}: 16, {false, true}: 12, {false, false}: 8}[[2]bool{is64, rela}]
	for o := 0; o+size <= len(b); o += size {
		var off, sym uint64
		var typ uint32
		var addend int64
		if is64 {
			off, sym, typ = bo.Uint64(b[o:]), bo.Uint64(b[o+8:])>>32, uint32(bo.Uint64(b[o+8:]))
			if rela {
				addend = int64(bo.Uint64(b[o+16:]))
			}
		} else {
			info := bo.Uint32(b[o+4:])
			off, sym, typ = uint64(bo.Uint32(b[o:])), uint64(info>>8), info&0xff
			if rela {
				addend = int64(int32(bo.Uint32(b[o+8:])))
			}
		}
		if err := r.put(off, sym, typ, addend, !rela); err != nil {
			return err
		}
	}
	return nil
}

// put writes S + A at off.
func (r *koReloc) put(off, sym uint64, typ uint32, addend int64, inPlace bool) error {
	n := r.types[typ]
	if n == 0 {
		return fmt.Errorf("relocation type %d at %#x is not an absolute one this architecture emits in .debug_frame", typ, off)
	}
	if off > uint64(len(r.data)) || uint64(len(r.data))-off < uint64(n) {
		return fmt.Errorf("relocation at %#x is past the end of the section (%d bytes)", off, len(r.data))
	}
	if sym > uint64(len(r.syms)) {
		return fmt.Errorf("relocation at %#x names symbol %d of %d", off, sym, len(r.syms))
	}
	bo := r.ef.ByteOrder
	p := r.data[off:]
	if inPlace {
		addend = int64(int32(bo.Uint32(p))) // REL: 32-bit arm's R_ARM_ABS32
		if n == 8 {
			addend = int64(bo.Uint64(p))
		}
	}
	v := uint64(addend)
	if sym > 0 {
		s := r.syms[sym-1] // Symbols() leaves out the null symbol 0
		v += s.Value
		if int(s.Section) > 0 && int(s.Section) < len(r.ef.Sections) {
			v += r.secs[r.ef.Sections[s.Section].Name]
		}
	}
	if n == 8 {
		bo.PutUint64(p, v)
	} else {
		bo.PutUint32(p, uint32(v))
	}
	return nil
}

// loadModuleCFI gives the Image a module's call frame information.
func (k *Kernel) loadModuleCFI(raw []byte, secs map[string]uint64) error {
	ops, err := opsFor(k.Arch)
	if err != nil {
		return err
	}
	data, err := moduleCFI(raw, secs, ops)
	if err != nil || data == nil {
		return err
	}
	return k.Image.AddModuleCFI(data)
}
