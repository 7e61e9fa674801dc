package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ELF constants used here (see elf(5)).
const (
	etCore = 4

	ptLoad = 1
	ptNote = 4

	emARM     = 40
	emX86_64  = 62
	emAArch64 = 183

	pnXNum = 0xffff

	elf32EhdrSize = 52
	elf64EhdrSize = 64
	elf32PhdrSize = 32
	elf64PhdrSize = 56
	elf32ShdrSize = 40
	elf64ShdrSize = 64
)

var elfMagic = []byte("\x7fELF")

// elfHeader holds the fields of an ELF header a vmcore reader needs.
type elfHeader struct {
	class     int // 32 or 64
	bo        binary.ByteOrder
	typ       uint16
	machine   uint16
	phoff     uint64
	phentsize uint16 // as written; the standard size is used regardless
	phnum     uint64 // resolved through section 0 when e_phnum is PN_XNUM
	shoff     uint64
}

// elfProg is one program header.
type elfProg struct {
	typ                              uint32
	off, vaddr, paddr, filesz, memsz uint64
}

func (h *elfHeader) phdrSize() uint64 {
	if h.class == 32 {
		return elf32PhdrSize
	}
	return elf64PhdrSize
}

// errNotCore is wrapped when an ELF file is not a core file (a vmlinux,
// say).
var errNotCore = errors.New("ELF file is not a core dump")

// parseELFHeader reads and checks the ELF header of s, resolving PN_XNUM.
func parseELFHeader(s store, name string) (*elfHeader, error) {
	ferr := formatErrors(name)
	var ident [16]byte
	if err := readFull(s, ident[:], 0); err != nil {
		return nil, ferr(0, "ELF identification", truncErr(err, 16, s.Size()))
	}
	if !bytes.Equal(ident[:4], elfMagic) {
		return nil, ferr(0, "ELF identification", errors.New("bad magic"))
	}
	h := &elfHeader{}
	switch ident[4] {
	case 1:
		h.class = 32
	case 2:
		h.class = 64
	default:
		return nil, ferr(4, "ELF identification", fmt.Errorf("bad class %d", ident[4]))
	}
	switch ident[5] {
	case 1:
		h.bo = binary.LittleEndian
	case 2:
		h.bo = binary.BigEndian
	default:
		return nil, ferr(5, "ELF identification", fmt.Errorf("bad data encoding %d", ident[5]))
	}
	ehsize := elf64EhdrSize
	if h.class == 32 {
		ehsize = elf32EhdrSize
	}
	var b [elf64EhdrSize]byte
	eh := b[:ehsize]
	if err := readFull(s, eh, 0); err != nil {
		return nil, ferr(0, fmt.Sprintf("ELF%d header", h.class), truncErr(err, uint64(ehsize), s.Size()))
	}
	bo := h.bo
	h.typ = bo.Uint16(eh[16:])
	h.machine = bo.Uint16(eh[18:])
	var phnum uint16
	if h.class == 64 {
		h.phoff = bo.Uint64(eh[32:])
		h.shoff = bo.Uint64(eh[40:])
		h.phentsize = bo.Uint16(eh[54:])
		phnum = bo.Uint16(eh[56:])
	} else {
		h.phoff = uint64(bo.Uint32(eh[28:]))
		h.shoff = uint64(bo.Uint32(eh[32:]))
		h.phentsize = bo.Uint16(eh[42:])
		phnum = bo.Uint16(eh[44:])
	}
	if h.typ != etCore {
		return nil, ferr(16, fmt.Sprintf("ELF%d header", h.class), fmt.Errorf("%w (e_type %d)", errNotCore, h.typ))
	}
	h.phnum = uint64(phnum)
	if phnum == pnXNum {
		// The real count is in section header 0's sh_info.
		shsize, infoOff := uint64(elf64ShdrSize), uint64(44)
		if h.class == 32 {
			shsize, infoOff = elf32ShdrSize, 28
		}
		if h.shoff == 0 || h.shoff > math.MaxInt64 || !within(int64(h.shoff), shsize, s.Size()) {
			return nil, ferr(int64(min(h.shoff, math.MaxInt64)), "ELF section header 0 (PN_XNUM program header count)",
				fmt.Errorf("%w: e_shoff %#x outside the file (size %#x)", ErrTruncated, h.shoff, s.Size()))
		}
		var sh [4]byte
		if err := readFull(s, sh[:], int64(h.shoff+infoOff)); err != nil {
			return nil, ferr(int64(h.shoff), "ELF section header 0", err)
		}
		h.phnum = uint64(bo.Uint32(sh[:]))
	}
	// e_phentsize is not trusted (QEMU 7.2 writes odd values in some
	// headers); entries are read at the standard size for the class.
	tbl := h.phnum * h.phdrSize() // at most 2^32 * 56: no overflow
	if h.phnum > 0 && (h.phoff > math.MaxInt64 || !within(int64(h.phoff), tbl, s.Size())) {
		return nil, ferr(int64(min(h.phoff, math.MaxInt64)), "ELF program header table",
			fmt.Errorf("%w: %d entries at %#x overrun the file (size %#x)", ErrTruncated, h.phnum, h.phoff, s.Size()))
	}
	return h, nil
}

// truncErr turns a short read into an ErrTruncated-wrapping error.
func truncErr(err error, want uint64, size int64) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: need %d bytes, file has %d", ErrTruncated, want, size)
	}
	return err
}

// parseELFProgs reads the program header table.
func parseELFProgs(s store, name string, h *elfHeader) ([]elfProg, error) {
	if h.phnum == 0 {
		return nil, nil
	}
	esz := h.phdrSize()
	tbl, err := bytesAt(s, int64(h.phoff), h.phnum*esz, nil)
	if err != nil {
		return nil, &FormatError{File: name, Offset: int64(h.phoff), What: "ELF program header table", Err: truncErr(err, h.phnum*esz, s.Size())}
	}
	bo := h.bo
	progs := make([]elfProg, h.phnum)
	for i := range progs {
		e := tbl[uint64(i)*esz:]
		p := &progs[i]
		if h.class == 64 {
			p.typ = bo.Uint32(e[0:])
			p.off = bo.Uint64(e[8:])
			p.vaddr = bo.Uint64(e[16:])
			p.paddr = bo.Uint64(e[24:])
			p.filesz = bo.Uint64(e[32:])
			p.memsz = bo.Uint64(e[40:])
		} else {
			p.typ = bo.Uint32(e[0:])
			p.off = uint64(bo.Uint32(e[4:]))
			p.vaddr = uint64(bo.Uint32(e[8:]))
			p.paddr = uint64(bo.Uint32(e[12:]))
			p.filesz = uint64(bo.Uint32(e[16:]))
			p.memsz = uint64(bo.Uint32(e[20:]))
		}
	}
	if h.class == 32 {
		unwrapELF32Loads(progs, uint64(s.Size()))
	}
	return progs, nil
}

// unwrapELF32Loads restores the sizes of PT_LOADs of 4 GiB or more that a
// 32-bit header could not hold. QEMU writes an arm guest's dump as ELF32
// whatever its RAM (target/arm/arch_dump.c: cpu_get_dump_info), and
// dump/dump.c's write_elf32_load stores p_filesz and p_memsz cut to 32
// bits: an LPAE guest's 4 GiB of RAM from 0x40000000 becomes one PT_LOAD
// of size 0. A segment's bytes run up to the next segment's (or the file's
// end, less QEMU's trailing .shstrtab: a few bytes, whose sh_offset is cut
// too): when that room exceeds p_filesz by whole multiples of 4 GiB plus
// less than elf32Trailer bytes and p_filesz == p_memsz (QEMU stores all of
// RAM), the size is p_filesz plus those multiples. (A p_paddr at or above
// 4 GiB is cut too, and cannot be recovered.)
// elf32Trailer bounds what may follow a wrapped PT_LOAD's bytes.
const elf32Trailer = 1 << 16

func unwrapELF32Loads(progs []elfProg, fileSize uint64) {
	for i := range progs {
		p := &progs[i]
		if p.typ != ptLoad || p.filesz != p.memsz || p.off >= fileSize {
			continue
		}
		end := fileSize
		for _, q := range progs {
			if q.off > p.off && q.off < end && (q.typ == ptLoad || q.typ == ptNote) {
				end = q.off
			}
		}
		room := end - p.off
		if room >= p.filesz+1<<32 && (room-p.filesz)%(1<<32) < elf32Trailer {
			size := room - (room-p.filesz)%(1<<32)
			p.filesz, p.memsz = size, size
		}
	}
}

// elfDump is what an ELF vmcore yields.
type elfDump struct {
	hdr   *elfHeader
	progs []elfProg
	mem   *segmentMem
	notes []Note
}

// parseELF parses an ELF vmcore held in s.
func parseELF(s store, name string) (*elfDump, error) {
	h, err := parseELFHeader(s, name)
	if err != nil {
		return nil, err
	}
	progs, err := parseELFProgs(s, name, h)
	if err != nil {
		return nil, err
	}
	d := &elfDump{hdr: h, progs: progs}
	phdrOff := func(i int) int64 { return int64(h.phoff + uint64(i)*h.phdrSize()) }
	notStored := uint64(math.MaxUint64)
	if h.class == 32 {
		notStored = math.MaxUint32
	}
	n := uint64(len(progs))
	var layers []layer
	for i, p := range progs {
		switch p.typ {
		case ptLoad:
			if p.filesz == 0 && p.off == notStored {
				continue // QEMU: memory not stored in the vmcore
			}
			if p.paddr == notStored {
				// /proc/kcore: vmalloc, modules, vmemmap and other
				// areas with no physical address (fs/proc/kcore.c
				// writes p_paddr = -1); their pages are read through
				// the page tables and the RAM segments.
				continue
			}
			memsz := max(p.memsz, p.filesz)
			if p.paddr+memsz < p.paddr {
				return nil, &FormatError{File: name, Offset: phdrOff(i), What: "ELF PT_LOAD",
					Err: fmt.Errorf("%w: p_paddr %#x + p_memsz %#x overflows", ErrCorrupt, p.paddr, memsz)}
			}
			if p.filesz > 0 && (p.off > math.MaxInt64 || p.filesz > math.MaxInt64-p.off) {
				return nil, &FormatError{File: name, Offset: phdrOff(i), What: "ELF PT_LOAD",
					Err: fmt.Errorf("%w: p_offset %#x + p_filesz %#x overflows", ErrCorrupt, p.off, p.filesz)}
			}
			// File-backed bytes win over zero fill; then earlier segments
			// over later ones (kdump's kernel-text PT_LOAD duplicates RAM).
			layers = append(layers,
				layer{start: p.paddr, end: p.paddr + p.filesz, off: int64(p.off), prio: 1<<40 + (n - uint64(i))},
				layer{start: p.paddr + p.filesz, end: p.paddr + memsz, off: -1, prio: n - uint64(i)})
		case ptNote:
			if p.filesz == 0 {
				continue
			}
			if p.off > math.MaxInt64 || !within(int64(p.off), p.filesz, s.Size()) {
				return nil, &FormatError{File: name, Offset: phdrOff(i), What: "ELF PT_NOTE",
					Err: fmt.Errorf("%w: notes at %#x+%#x lie past the end of the file (size %#x)", ErrTruncated, p.off, p.filesz, s.Size())}
			}
			b, err := bytesAt(s, int64(p.off), p.filesz, nil)
			if err != nil {
				return nil, &FormatError{File: name, Offset: int64(p.off), What: "ELF PT_NOTE", Err: err}
			}
			notes, err := parseNotes(b, int64(p.off), h.bo)
			if err != nil {
				off := int64(p.off)
				var ne *noteError
				if errors.As(err, &ne) {
					off = ne.offset
				}
				return nil, &FormatError{File: name, Offset: off, What: "ELF note", Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
			}
			d.notes = append(d.notes, notes...)
		}
	}
	mem := &segmentMem{}
	for _, e := range paint(layers) {
		sg := segment{start: e.start, end: e.end, off: e.off}
		if e.off >= 0 {
			sg.st = s
		}
		mem.segs = append(mem.segs, sg)
	}
	d.mem = mem
	return d, nil
}
