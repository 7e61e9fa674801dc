package dump

import (
	"fmt"
	"math/bits"
)

// AArch64 stage-1 descriptor bits (Arm ARM D8.3).
const (
	arm64DescValid = 1 << 0
	arm64DescTable = 1 << 1 // table (non-last level) or page (last level); clear: block
)

type arm64Translator struct {
	mem    PhysMemory
	l      KernelLayout
	tables *tableReader
	tlb    tlb

	linEnd     uint64 // end of the linear map
	pageShift  uint
	levelBits  uint // index bits per level below the top
	levels     int
	walkBits   int  // VA bits the walk indexes with (see newARM64Translator)
	lpa2       bool // 52-bit VA with 4K/16K granule: PA[51:50] in bits 9:8
	levelNames []string
}

// arm64LevelNames: Linux's names from the top for each number of levels,
// the folded levels left out.
var arm64LevelNames = map[int][]string{
	2: {"pgd", "pte"},
	3: {"pgd", "pmd", "pte"},
	4: {"pgd", "pud", "pmd", "pte"},
	5: {"pgd", "p4d", "pud", "pmd", "pte"},
}

// arm64PageEnd is _PAGE_END(VA_BITS_MIN): the linear map's end in the
// flipped layout (5.4+), where the kernel image and modules start.
func arm64PageEnd(vaBits int) uint64 {
	return -(uint64(1) << (min(vaBits, 48) - 1))
}

func newARM64Translator(mem PhysMemory, l KernelLayout) (*arm64Translator, error) {
	if l.PageSize == 0 {
		l.PageSize = 4096
	}
	if l.VABits == 0 {
		l.VABits = 48
	}
	t := &arm64Translator{mem: mem, tables: newTableReader(mem)}
	switch l.PageSize {
	case 4096:
		t.pageShift = 12
	case 16384:
		t.pageShift = 14
	case 65536:
		t.pageShift = 16
	default:
		return nil, fmt.Errorf("dump: arm64 page size %#x, want 4K, 16K or 64K", l.PageSize)
	}
	if l.VABits < 36 || l.VABits > 52 {
		return nil, fmt.Errorf("dump: arm64 VA_BITS %d out of range 36..52", l.VABits)
	}
	if l.PageOffset == 0 {
		// The flipped layout of 5.4+ kernels: the linear map is the
		// bottom half of the kernel's address space.
		l.PageOffset = -(uint64(1) << l.VABits)
	}
	if l.VABitsActual == 0 {
		l.VABitsActual = l.VABits
	}
	if l.VABitsActual < 36 || l.VABitsActual > l.VABits {
		return nil, fmt.Errorf("dump: arm64 vabits_actual %d out of range 36..VA_BITS (%d)", l.VABitsActual, l.VABits)
	}
	t.levelBits = t.pageShift - 3
	// A 52-bit kernel on a 48-bit CPU: with 64K pages TTBR1 points into
	// the 52-bit pgd at TTBR1_BADDR_4852_OFFSET, which for a kernel address
	// (bits 51:48 all ones) is the entry 52-bit indexing finds anyway; with
	// 4K/16K pages (LPA2, 6.9+) the top level is folded at run time and
	// swapper_pg_dir is walked as the hardware's smaller tree.
	t.walkBits = l.VABitsActual
	if t.pageShift == 16 {
		t.walkBits = l.VABits
	}
	// ARM64_HW_PGTABLE_LEVELS(va bits)
	t.levels = (t.walkBits - 4) / int(t.levelBits)
	t.levelNames = arm64LevelNames[t.levels]
	if t.levelNames == nil {
		return nil, fmt.Errorf("dump: arm64 VA bits %d with %d-byte pages gives %d levels", t.walkBits, l.PageSize, t.levels)
	}
	// The LPA2 descriptor format needs TCR_EL1.DS, which the kernel sets
	// only when it runs with 52 bits; otherwise bits 9:8 are shareability.
	t.lpa2 = l.VABitsActual == 52 && l.PageSize != 65536
	t.linEnd = l.LinearEnd
	if t.linEnd == 0 {
		if pe := arm64PageEnd(l.VABits); l.PageOffset < pe {
			t.linEnd = pe
		} else {
			// Pre-5.4 layout: the linear map is the top half and runs to
			// the end of the address space.
			t.linEnd = 0
		}
	}
	t.l = l
	return t, nil
}

func (t *arm64Translator) Layout() KernelLayout { return t.l }

func (t *arm64Translator) Translate(va uint64) (uint64, error) {
	if t.l.User {
		return t.tlb.walk(va, t.walk)
	}
	if va >= t.l.PageOffset && (t.linEnd == 0 || va < t.linEnd) {
		return va - t.l.PageOffset + t.l.PhysOffset, nil
	}
	if t.inImage(va) {
		return va - t.l.KimageVoffset, nil
	}
	return t.tlb.walk(va, t.walk)
}

func (t *arm64Translator) inImage(va uint64) bool {
	if t.l.ImageEnd != 0 {
		return va >= t.l.ImageStart && va < t.l.ImageEnd
	}
	return t.l.PGDPhys == 0 && t.l.KimageVoffset != 0 && va >= -(uint64(1)<<t.l.VABits)
}

// outputAddr extracts the output address of a block or page descriptor
// or the next-level table address of a table descriptor.
func (t *arm64Translator) outputAddr(e uint64) uint64 {
	switch {
	case t.pageShift == 16:
		// 64K granule: bits 47:16, with PA[51:48] in bits 15:12 when the
		// kernel uses 52-bit PAs (those bits are RES0 otherwise).
		return e&0x0000ffffffff0000 | (e>>12&0xf)<<48
	case t.lpa2:
		// FEAT_LPA2: bits 49:12 and PA[51:50] in bits 9:8.
		return e&0x0003fffffffff000 | (e>>8&3)<<50
	}
	return e & 0x0000fffffffff000
}

func (t *arm64Translator) walk(va uint64) (uint64, error) { return t.walkSeen(va, nil) }

func (t *arm64Translator) traceTables(va uint64, seen func(level string, table uint64)) error {
	_, err := t.walkSeen(va, seen)
	return err
}

// walkSeen walks the tables for va, calling seen (if not nil) with each
// table it reads.
func (t *arm64Translator) walkSeen(va uint64, seen func(level string, table uint64)) (uint64, error) {
	if t.l.PGDPhys == 0 {
		return 0, notMapped(va, "outside the linear map and kernel image, and no page table is known")
	}
	// Kernel addresses live in TTBR1's range: the top 64-VA_BITS bits are
	// all ones; user addresses in TTBR0's, all zeros. (Tagged pointers are
	// the caller's business.)
	bits := t.l.VABitsActual
	if t.l.User && va>>bits != 0 {
		return 0, notMapped(va, "not a user (TTBR0) address for %d-bit virtual addresses", bits)
	}
	if !t.l.User && va>>bits != (^uint64(0))>>bits {
		return 0, notMapped(va, "not a kernel (TTBR1) address for %d-bit virtual addresses", bits)
	}
	table := t.l.PGDPhys
	if t.walkBits != t.l.VABits {
		table &^= t.l.PageSize - 1 // pgd_to_folded_p4d: the page holding the pgd
	}
	for i, name := range t.levelNames {
		fromBottom := uint(t.levels - 1 - i)
		shift := t.pageShift + t.levelBits*fromBottom
		idxBits := t.levelBits
		if i == 0 {
			idxBits = uint(t.walkBits) - shift
		}
		if seen != nil {
			seen(name, table)
		}
		epa := table + (va>>shift&(uint64(1)<<idxBits-1))*8
		e, err := t.tables.read(epa, 8)
		if err != nil {
			return 0, tableReadError(va, name, epa, err)
		}
		if e&arm64DescValid == 0 {
			return 0, notMapped(va, "%s entry %#x at pa %#x not present", name, e, epa)
		}
		last := fromBottom == 0
		if last {
			if e&arm64DescTable == 0 {
				return 0, notMapped(va, "%s entry %#x at pa %#x is a reserved descriptor", name, e, epa)
			}
			return t.outputAddr(e)&^(t.l.PageSize-1) | va&(t.l.PageSize-1), nil
		}
		if e&arm64DescTable == 0 {
			// Blocks sit one or two levels above the pages (2M/1G with 4K
			// pages, 32M with 16K, 512M/4T with 64K); elsewhere the
			// encoding is reserved.
			if fromBottom > 2 {
				return 0, notMapped(va, "%s entry %#x at pa %#x is a block at a level without blocks", name, e, epa)
			}
			size := uint64(1) << shift
			return t.outputAddr(e)&^(size-1) | va&(size-1), nil
		}
		table = t.outputAddr(e) &^ (t.l.PageSize - 1)
	}
	return 0, notMapped(va, "page-table walk ended without a leaf") // not reached: the last level always returns
}

// arm64VABitsFromImage guesses VA_BITS from the kernel image's link
// address, and whether the layout is the flipped one of 5.4+ kernels. The
// flipped layout puts the image just above _PAGE_END = -(1 << (VA_BITS-1)),
// the older one just above VA_START = -(1 << VA_BITS); only one of the two
// readings gives a VA_BITS Linux supports. (16K/47-bit old-layout kernels
// read as 48-bit flipped ones: VMCOREINFO or a hint must say.)
func arm64VABitsFromImage(text uint64) (vaBits int, flipped bool) {
	n := 65 - bits.LeadingZeros64(^text)
	valid := func(v int) bool {
		switch v {
		case 36, 39, 42, 47, 48, 52:
			return true
		}
		return false
	}
	switch {
	case valid(n):
		return n, true
	case valid(n - 1):
		return n - 1, false
	}
	return 0, false
}
