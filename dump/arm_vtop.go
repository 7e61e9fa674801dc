package dump

import "fmt"

// armTranslator translates 32-bit ARM kernel addresses.
//
// The walk follows the hardware tables, which are what the MMU used, not
// Linux's shadow "Linux PTE" copies:
//
//   - short-descriptor (classic) format: swapper_pg_dir is the 16 KiB
//     first-level table of 4096 entries, one per MiB (Linux's pgd_t is a
//     pair of them, which is why Linux indexes it by va>>21); each entry is
//     a fault, a 1 MiB section, a 16 MiB supersection (repeated 16 times) or
//     a pointer to a 256-entry second-level table of 4 KiB small or 64 KiB
//     large pages.
//   - long-descriptor (LPAE) format: a 4-entry first level (1 GiB each), 512-
//     entry second level (2 MiB blocks) and 512-entry third level (4 KiB
//     pages), entries 8 bytes, output addresses up to 40 bits.
type armTranslator struct {
	mem    PhysMemory
	l      KernelLayout
	tables *tableReader
	tlb    tlb
}

func newARMTranslator(mem PhysMemory, l KernelLayout) (*armTranslator, error) {
	if l.PageSize == 0 {
		l.PageSize = 4096
	}
	if l.PageSize != 4096 {
		return nil, fmt.Errorf("dump: arm page size %#x, want 0x1000", l.PageSize)
	}
	if l.PageOffset == 0 || l.PageOffset > 0xffffffff {
		return nil, fmt.Errorf("dump: arm PAGE_OFFSET %#x: want a 32-bit kernel address", l.PageOffset)
	}
	return &armTranslator{mem: mem, l: l, tables: newTableReader(mem)}, nil
}

func (t *armTranslator) Layout() KernelLayout { return t.l }

func (t *armTranslator) Translate(va uint64) (uint64, error) {
	if va > 0xffffffff {
		return 0, notMapped(va, "not a 32-bit address")
	}
	if va >= t.l.PageOffset && t.l.User {
		return 0, notMapped(va, "a kernel address, not a user one")
	}
	if va >= t.l.PageOffset {
		// Lowmem is linearly mapped up to high_memory; above it lie
		// vmalloc, highmem kmaps and the fixmap, which need the tables.
		// Without high_memory, walk when there are tables to walk.
		if (t.l.LinearEnd != 0 && va < t.l.LinearEnd) || (t.l.LinearEnd == 0 && t.l.PGDPhys == 0) {
			return va - t.l.PageOffset + t.l.PhysOffset, nil
		}
	}
	if pa, ok := t.tlb.get(va); ok {
		return pa, nil
	}
	var pa uint64
	var err error
	switch {
	case t.l.PGDPhys == 0:
		return 0, notMapped(va, "outside the linear map, and no page table is known")
	case t.l.LPAE:
		pa, err = t.walkLPAE(va)
	default:
		pa, err = t.walkShort(va)
	}
	if err == nil {
		t.tlb.put(va, pa)
	}
	return pa, err
}

func (t *armTranslator) traceTables(va uint64, seen func(level string, table uint64)) error {
	var err error
	if t.l.LPAE {
		_, err = t.walkLPAESeen(va, seen)
	} else {
		_, err = t.walkShortSeen(va, seen)
	}
	return err
}

// walkShort walks short-descriptor tables (ARM ARM B3.5).
func (t *armTranslator) walkShort(va uint64) (uint64, error) { return t.walkShortSeen(va, nil) }

// walkShortSeen is walkShort calling seen (if not nil) with each table
// it reads.
func (t *armTranslator) walkShortSeen(va uint64, seen func(level string, table uint64)) (uint64, error) {
	if seen != nil {
		seen("pgd", t.l.PGDPhys&^0x3fff)
	}
	epa := t.l.PGDPhys&^0x3fff + (va>>20)*4
	e, err := t.tables.read(epa, 4)
	if err != nil {
		return 0, tableReadError(va, "pgd", epa, err)
	}
	pa, next, err := decodeShortL1(va, e)
	if err != nil || next == 0 {
		return pa, wrapLevel(err, va, "pgd", e, epa)
	}
	if seen != nil {
		seen("pte", next)
	}
	epa = next + (va>>12&0xff)*4
	if t.l.User {
		return t.linuxPTE(va, epa)
	}
	e, err = t.tables.read(epa, 4)
	if err != nil {
		return 0, tableReadError(va, "pte", epa, err)
	}
	pa, err = decodeShortL2(va, e)
	return pa, wrapLevel(err, va, "pte", e, epa)
}

// linuxPTE translates a user address by Linux's own pte, which it keeps
// 2048 bytes below the hardware one (arch/arm/include/asm/pgtable-2level.h:
// Linux pt 0/1, then h/w pt 0/1, in each pte page): the hardware entry is
// zero for a page that is mapped but not young (set_pte_ext), and crash's
// arm_vtop reads the Linux one. L_PTE_PRESENT is bit 0.
func (t *armTranslator) linuxPTE(va, hwEPA uint64) (uint64, error) {
	epa := hwEPA - 2048
	e, err := t.tables.read(epa, 4)
	if err != nil {
		return 0, tableReadError(va, "pte", epa, err)
	}
	if e&1 == 0 {
		return 0, notMapped(va, "linux pte entry %#x at pa %#x not present", e, epa)
	}
	return e&^0xfff | va&0xfff, nil
}

// descError says what is wrong with a descriptor; wrapLevel adds the
// level, entry and where it was read.
type descError string

func (e descError) Error() string { return string(e) }

func wrapLevel(err error, va uint64, level string, e, epa uint64) error {
	if err == nil {
		return nil
	}
	return notMapped(va, "%s entry %#x at pa %#x %v", level, e, epa, err)
}

// decodeShortL1 decodes a first-level short descriptor for va: either the
// final physical address, or (next != 0) the second-level table's address.
func decodeShortL1(va, e uint64) (pa, next uint64, err error) {
	switch e & 3 {
	case 0:
		return 0, 0, descError("not present")
	case 1: // page table; bits 31:10
		next = e & 0xfffffc00
		if next == 0 {
			// A table at physical 0 is possible in principle but is far
			// likelier to be garbage; and next==0 means "final" here.
			return 0, 0, descError("points to a page table at pa 0")
		}
		return 0, next, nil
	}
	// 0b10 section, 0b11 section with PXN.
	if e&(1<<18) != 0 {
		// Supersection: PA[31:24] from bits 31:24, PA[35:32] from bits
		// 23:20, PA[39:36] from bits 8:5.
		base := e&0xff000000 | (e>>20&0xf)<<32 | (e>>5&0xf)<<36
		return base | va&0xffffff, 0, nil
	}
	return e&0xfff00000 | va&0xfffff, 0, nil
}

// decodeShortL2 decodes a second-level short descriptor.
func decodeShortL2(va, e uint64) (uint64, error) {
	switch {
	case e&3 == 0:
		return 0, descError("not present")
	case e&3 == 1: // 64 KiB large page
		return e&0xffff0000 | va&0xffff, nil
	}
	// 0b1x: 4 KiB small page (bit 0 is XN).
	return e&0xfffff000 | va&0xfff, nil
}

var armLPAELevels = [3]struct {
	name    string
	shift   uint
	idxBits uint
}{
	{"pgd", 30, 2},
	{"pmd", 21, 9},
	{"pte", 12, 9},
}

// walkLPAE walks long-descriptor tables (ARM ARM B3.6) from the 4-entry
// swapper_pg_dir; Linux indexes it by va>>30 for the whole 4 GiB.
func (t *armTranslator) walkLPAE(va uint64) (uint64, error) { return t.walkLPAESeen(va, nil) }

// walkLPAESeen is walkLPAE calling seen (if not nil) with each table it
// reads.
func (t *armTranslator) walkLPAESeen(va uint64, seen func(level string, table uint64)) (uint64, error) {
	table := t.l.PGDPhys &^ 0x1f
	for i, lv := range armLPAELevels {
		if seen != nil {
			seen(lv.name, table)
		}
		epa := table + (va>>lv.shift&(1<<lv.idxBits-1))*8
		e, err := t.tables.read(epa, 8)
		if err != nil {
			return 0, tableReadError(va, lv.name, epa, err)
		}
		pa, next, err := decodeLPAE(va, e, i)
		if err != nil {
			return 0, wrapLevel(err, va, lv.name, e, epa)
		}
		if next == noNext {
			return pa, nil
		}
		table = next
	}
	return 0, notMapped(va, "page-table walk ended without a leaf") // not reached: level 3 always returns
}

// noNext marks a final translation from decodeLPAE (0 is a valid table
// address in principle).
const noNext = ^uint64(0)

// decodeLPAE decodes a long descriptor at level (0: first, 2: third).
func decodeLPAE(va, e uint64, level int) (pa, next uint64, err error) {
	const addrMask = 0x000000fffffff000 // bits 39:12
	if e&1 == 0 {
		return 0, noNext, descError("not present")
	}
	if level == 2 {
		if e&2 == 0 {
			return 0, noNext, descError("is a reserved descriptor")
		}
		return e&addrMask | va&0xfff, noNext, nil
	}
	if e&2 != 0 {
		return 0, e & addrMask, nil
	}
	size := uint64(1) << armLPAELevels[level].shift
	return e&addrMask&^(size-1) | va&(size-1), noNext, nil
}
