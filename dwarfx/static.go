package dwarfx

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
)

// IsELFImage reports whether path is an ELF executable with a symbol table
// (a vmlinux), as opposed to an ELF core file (a vmcore) or anything else.
// It reads only the ELF header, so it is cheap on a 600 MB file.
func IsELFImage(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var ident [20]byte
	if _, err := io.ReadFull(f, ident[:]); err != nil {
		return false, nil // too short for ELF: not an image
	}
	if string(ident[:4]) != elf.ELFMAG {
		return false, nil
	}
	var typ uint16
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		typ = uint16(ident[16]) | uint16(ident[17])<<8
	case elf.ELFDATA2MSB:
		typ = uint16(ident[17]) | uint16(ident[16])<<8
	default:
		return false, nil
	}
	return elf.Type(typ) == elf.ET_EXEC || elf.Type(typ) == elf.ET_DYN, nil
}

// LinkBytes returns up to n bytes of the named symbol's initial contents as
// stored in the vmlinux file (at its link-time address): what the kernel
// image held before it ran. Used to compare linux_banner with the dump's.
func (im *Image) LinkBytes(name string, n int) ([]byte, error) {
	sym, ok := im.Lookup(name)
	if !ok {
		return nil, &NotFoundError{What: "symbol", Name: name}
	}
	addr := im.unreloc(sym.Addr)
	if sym.Size > 0 && uint64(n) > sym.Size {
		n = int(sym.Size)
	}
	for _, s := range im.ef.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		if addr < s.Addr || addr >= s.Addr+s.Size {
			continue
		}
		off := addr - s.Addr
		end := min(off+uint64(n), s.Size)
		if s.Offset+end > uint64(len(im.mmap)) {
			return nil, fmt.Errorf("%s: section %s extends past the end of %s", name, s.Name, im.path)
		}
		return im.mmap[s.Offset+off : s.Offset+end], nil
	}
	return nil, fmt.Errorf("%s at %#x lies in no section with contents in %s", name, addr, im.path)
}
