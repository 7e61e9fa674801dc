package dump

import "fmt"

// x86_64 layout constants (Documentation/arch/x86/x86_64/mm.rst).
const (
	x86StartKernelMap = 0xffffffff80000000 // __START_KERNEL_map: kernel image mapping base
	// Default direct-map bases without CONFIG_RANDOMIZE_MEMORY.
	x86PageOffset4 = 0xffff888000000000
	x86PageOffset5 = 0xff11000000000000
	// Direct-map sizes: 64 TiB with 4-level paging, 32 PiB with 5-level.
	x86DirectMapSize4 = 1 << 46
	x86DirectMapSize5 = 1 << 55
	// Image mapping size (KERNEL_IMAGE_SIZE with KASLR); modules follow it.
	x86ImageMapSize = 1 << 30

	x86PTEPresent = 1 << 0
	x86PTEPSE     = 1 << 7
	// Physical address bits 12..51 of an entry (__PHYSICAL_MASK_SHIFT 52).
	x86AddrMask = 0x000ffffffffff000
)

type x86_64Translator struct {
	mem      PhysMemory
	l        KernelLayout
	tables   *tableReader
	tlb      tlb
	linEnd   uint64 // end of the direct map
	addrMask uint64 // x86AddrMask minus the SME bit
}

func newX86_64Translator(mem PhysMemory, l KernelLayout) (*x86_64Translator, error) {
	if l.PageSize == 0 {
		l.PageSize = 4096
	}
	if l.PageSize != 4096 {
		return nil, fmt.Errorf("dump: x86_64 page size %#x, want 0x1000", l.PageSize)
	}
	switch l.PGTableLevels {
	case 0:
		l.PGTableLevels = 4
	case 4, 5:
	default:
		return nil, fmt.Errorf("dump: x86_64 with %d page-table levels, want 4 or 5", l.PGTableLevels)
	}
	if l.PageOffsetBase == 0 {
		l.PageOffsetBase = l.PageOffset
	}
	if l.PageOffsetBase == 0 {
		l.PageOffsetBase = x86PageOffset4
		if l.PGTableLevels == 5 {
			l.PageOffsetBase = x86PageOffset5
		}
	}
	l.PageOffset = l.PageOffsetBase
	t := &x86_64Translator{mem: mem, l: l, tables: newTableReader(mem), addrMask: x86AddrMask &^ l.SMEMask}
	t.linEnd = l.LinearEnd
	if t.linEnd == 0 {
		size := uint64(x86DirectMapSize4)
		if l.PGTableLevels == 5 {
			size = x86DirectMapSize5
		}
		t.linEnd = l.PageOffsetBase + size
		if t.linEnd < l.PageOffsetBase { // wrapped: clamp
			t.linEnd = ^uint64(0)
		}
	}
	return t, nil
}

func (t *x86_64Translator) Layout() KernelLayout { return t.l }

func (t *x86_64Translator) Translate(va uint64) (uint64, error) {
	if t.l.User {
		if int64(va) < 0 {
			return 0, notMapped(va, "a kernel address, not a user one")
		}
		return t.tlb.walk(va, t.walk)
	}
	if va >= t.l.PageOffsetBase && va < t.linEnd {
		return va - t.l.PageOffsetBase, nil
	}
	if t.inImage(va) {
		return va - x86StartKernelMap + uint64(t.l.PhysBase), nil
	}
	return t.tlb.walk(va, t.walk)
}

func (t *x86_64Translator) inImage(va uint64) bool {
	if t.l.ImageEnd != 0 {
		return va >= t.l.ImageStart && va < t.l.ImageEnd
	}
	// Image bounds unknown: arithmetic is a better guess than nothing
	// only when there are no page tables to ask.
	return t.l.PGDPhys == 0 && va >= x86StartKernelMap && va-x86StartKernelMap < x86ImageMapSize
}

// x86 level names as Linux calls them, from the top; 4-level paging folds
// p4d into pgd.
var (
	x86Levels5 = []string{"pgd", "p4d", "pud", "pmd", "pte"}
	x86Levels4 = []string{"pgd", "pud", "pmd", "pte"}
)

func (t *x86_64Translator) walk(va uint64) (uint64, error) { return t.walkSeen(va, nil) }

func (t *x86_64Translator) traceTables(va uint64, seen func(level string, table uint64)) error {
	_, err := t.walkSeen(va, seen)
	return err
}

// walkSeen walks the tables for va, calling seen (if not nil) with each
// table it reads.
func (t *x86_64Translator) walkSeen(va uint64, seen func(level string, table uint64)) (uint64, error) {
	if t.l.PGDPhys == 0 {
		return 0, notMapped(va, "outside the linear map and kernel image, and no page table is known")
	}
	levels := x86Levels4
	vaBits := 48
	if t.l.PGTableLevels == 5 {
		levels = x86Levels5
		vaBits = 57
	}
	// Non-canonical addresses fault on hardware; say so rather than
	// walking with the upper bits silently dropped.
	if top := int64(va) >> (vaBits - 1); top != 0 && top != -1 {
		return 0, notMapped(va, "non-canonical address for %d-bit virtual addresses", vaBits)
	}
	table := t.l.PGDPhys &^ 0xfff
	for i, name := range levels {
		shift := 12 + 9*uint(len(levels)-1-i)
		if seen != nil {
			seen(name, table)
		}
		epa := table + (va>>shift&0x1ff)*8
		e, err := t.tables.read(epa, 8)
		if err != nil {
			return 0, tableReadError(va, name, epa, err)
		}
		if e&x86PTEPresent == 0 {
			return 0, notMapped(va, "%s entry %#x at pa %#x not present", name, e, epa)
		}
		last := i == len(levels)-1
		if !last && e&x86PTEPSE != 0 {
			// Large pages exist at pud (1 GiB) and pmd (2 MiB) only; the
			// bit is reserved higher up.
			if shift != 30 && shift != 21 {
				return 0, notMapped(va, "%s entry %#x at pa %#x has the page-size bit set at a level without large pages", name, e, epa)
			}
			// Bit 12 of a large-page entry is PAT, not address: mask the
			// offset bits away as well.
			mask := t.addrMask &^ (uint64(1)<<shift - 1)
			return e&mask | va&(uint64(1)<<shift-1), nil
		}
		if last {
			return e&t.addrMask | va&0xfff, nil
		}
		table = e & t.addrMask
	}
	return 0, notMapped(va, "page-table walk ended without a leaf") // not reached: the last level always returns
}
