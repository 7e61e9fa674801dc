package dump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// KernelLayout is everything address translation needs to know about the
// crashed kernel's memory layout. DiscoverLayout fills it from the dump and
// the kernel image; a user can also fill it by hand (--phys-offset,
// --kaslr). Zero fields mean "unknown" unless said otherwise.
//
// Virtual addresses stored here are runtime addresses, that is, with the
// KASLR displacement already applied.
type KernelLayout struct {
	Arch        Arch
	PageSize    uint64 // 4096, 16384 or 65536
	PageOffset  uint64 // start of the linear map (PAGE_OFFSET)
	PhysOffset  uint64 // arm/arm64 PHYS_OFFSET (memstart_addr); may wrap on arm64 52-bit VA
	KASLROffset uint64 // virtual displacement of the kernel image vs vmlinux link addresses

	// arm64
	VABits        int    // VA_BITS (CONFIG_ARM64_VA_BITS), not the hardware's vabits_actual
	KimageVoffset uint64 // kimage_voffset: image va - image pa
	// VABitsActual is vabits_actual: the VA size the kernel runs with
	// (64 - TCR_EL1.T1SZ). A 52-bit kernel falls back to 48 (47 with 16K
	// pages) on CPUs without LVA/LPA2, and its page tables follow the
	// hardware. Zero: VABits.
	VABitsActual int

	// x86_64
	PhysBase       int64  // phys_base: image pa - (image va - __START_KERNEL_map); may be negative
	PageOffsetBase uint64 // page_offset_base (randomised with CONFIG_RANDOMIZE_MEMORY)
	PGTableLevels  int    // 4 or 5
	SMEMask        uint64 // AMD memory-encryption bit set in page-table entries, cleared before use

	// arm (32-bit)
	LPAE bool // long-descriptor (3-level) tables instead of short-descriptor (2-level)

	// PGDPhys is the physical address of the kernel's top-level page table
	// (swapper_pg_dir, init_top_pgt). Zero means no page-table walks: only
	// the arithmetic regions below translate.
	PGDPhys uint64

	// ImageStart and ImageEnd bound the kernel image, [_text, _end), at
	// runtime addresses. Inside it arm64 and x86_64 translate by arithmetic.
	// Zero: unknown; then arithmetic is used for the image only when there
	// are no page tables to walk.
	ImageStart, ImageEnd uint64

	// User makes the translator walk PGDPhys for user addresses: a
	// process's page tables (mm->pgd), with no linear-map or image
	// arithmetic and no kernel (TTBR1) addresses. See NewUserTranslator.
	User bool

	// LinearEnd is one past the last virtual address of the linear map:
	// arm's high_memory (end of lowmem). Zero derives it: arm64 PAGE_END,
	// x86_64 the architectural size of the direct map, arm "everything
	// above PAGE_OFFSET" when there are no page tables, otherwise a walk.
	LinearEnd uint64
}

func (l KernelLayout) String() string {
	s := fmt.Sprintf("arch=%s page_size=%#x page_offset=%#x kaslr=%#x pgd_phys=%#x", l.Arch, l.PageSize, l.PageOffset, l.KASLROffset, l.PGDPhys)
	if spec := l.Arch.Spec(); spec != nil {
		s += spec.describe(l)
	}
	return s
}

// Translator maps kernel virtual addresses to physical ones. The
// translators NewTranslator returns are safe for concurrent use.
type Translator interface {
	// Translate returns the physical address of va. A failure is a
	// *ReadError with Space "virtual" wrapping ErrNotMapped (the entry that
	// stopped the walk is named) or the physical read error that prevented
	// reading a page table.
	Translate(va uint64) (pa uint64, err error)
	Layout() KernelLayout
}

// NewTranslator returns a Translator for l, reading page tables from mem.
func NewTranslator(mem PhysMemory, l KernelLayout) (Translator, error) {
	if mem == nil {
		return nil, errors.New("dump: NewTranslator: nil physical memory")
	}
	spec, err := lookupSpec(l.Arch, "NewTranslator")
	if err != nil {
		return nil, err
	}
	return spec.translator(mem, l)
}

// NewUserTranslator returns a Translator for one process's user
// addresses: each architecture's own walk over the page tables whose top
// level is at pgdPhys (the physical address of the process's mm->pgd).
// The kernel's swapper_pg_dir walk and the user walk are the same code;
// only where the walk starts and which half of the address space it
// accepts differ.
func NewUserTranslator(mem PhysMemory, l KernelLayout, pgdPhys uint64) (Translator, error) {
	l.PGDPhys, l.User = pgdPhys, true
	return NewTranslator(mem, l)
}

// tableTracer is a translator that can name the page tables a walk reads.
type tableTracer interface {
	traceTables(va uint64, seen func(level string, table uint64)) error
}

// PageTables calls seen with each page table (its level name, as Linux
// calls it, and its physical address) the walk of va reads, from the top
// level down as far as the walk goes, and returns the walk's error. It
// never uses the arithmetic regions: a linear-map address is walked too.
func PageTables(t Translator, va uint64, seen func(level string, table uint64)) error {
	tt, ok := t.(tableTracer)
	if !ok {
		return fmt.Errorf("dump: the %T translator cannot list its page tables", t)
	}
	return tt.traceTables(va, seen)
}

// notMapped builds the error for a walk that stopped at an entry.
func notMapped(va uint64, format string, args ...any) error {
	return &ReadError{Space: "virtual", Addr: va, Size: 1, Offset: -1,
		Err: fmt.Errorf("%w: %s", ErrNotMapped, fmt.Sprintf(format, args...))}
}

// tableReadError builds the error for a page-table entry that could not be
// read from the dump; the cause (excluded, not in dump...) stays testable
// with errors.Is.
func tableReadError(va uint64, level string, pa uint64, err error) error {
	return &ReadError{Space: "virtual", Addr: va, Size: 1, Offset: -1,
		Err: fmt.Errorf("reading %s entry at pa %#x: %w", level, pa, err)}
}

// tableReader reads page-table entries, keeping the most recently used
// table pages: a walk touches one page per level and neighbouring
// addresses share all but the last, so a few pages absorb most reads.
type tableReader struct {
	mem   PhysMemory
	mu    sync.Mutex
	pages map[uint64][]byte // 4 KiB-aligned pa -> page contents
}

// tableCacheMax bounds the cached table pages (4 KiB each).
const tableCacheMax = 1024

func newTableReader(mem PhysMemory) *tableReader {
	return &tableReader{mem: mem, pages: make(map[uint64][]byte)}
}

// read returns the size-byte (4 or 8) little-endian entry at pa.
func (r *tableReader) read(pa uint64, size int) (uint64, error) {
	base := pa &^ 0xfff
	off := int(pa & 0xfff)
	if off+size > 4096 {
		// Only a misaligned (garbage) table puts an entry across pages.
		var e [8]byte
		if err := r.mem.ReadPhys(e[:size], pa); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(e[:]), nil
	}
	r.mu.Lock()
	page, ok := r.pages[base]
	r.mu.Unlock()
	if !ok {
		buf := make([]byte, 4096)
		if err := r.mem.ReadPhys(buf, base); err != nil {
			// A page that is only partly in the dump can still hold the
			// entry: fall back to reading just the entry.
			var e [8]byte
			if err2 := r.mem.ReadPhys(e[:size], pa); err2 != nil {
				return 0, err2
			}
			return binary.LittleEndian.Uint64(e[:]), nil
		}
		page = buf
		r.mu.Lock()
		if len(r.pages) >= tableCacheMax {
			clear(r.pages) // crude but bounded; walks refill what they need
		}
		r.pages[base] = page
		r.mu.Unlock()
	}
	if size == 4 {
		return uint64(binary.LittleEndian.Uint32(page[off:])), nil
	}
	return binary.LittleEndian.Uint64(page[off:]), nil
}

// tlb caches completed walks by virtual page (4 KiB granularity whatever
// the mapping size), so repeated reads of vmalloc'd data cost one map
// lookup.
type tlb struct {
	mu sync.Mutex
	m  map[uint64]uint64 // va>>12 -> pa>>12
}

const tlbMax = 1 << 16

func (t *tlb) get(va uint64) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ppn, ok := t.m[va>>12]
	if !ok {
		return 0, false
	}
	return ppn<<12 | va&0xfff, true
}

// walk translates va from the cache, or by walk (page tables) and
// caches a success.
func (t *tlb) walk(va uint64, walk func(uint64) (uint64, error)) (uint64, error) {
	if pa, ok := t.get(va); ok {
		return pa, nil
	}
	pa, err := walk(va)
	if err == nil {
		t.put(va, pa)
	}
	return pa, err
}

func (t *tlb) put(va, pa uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) >= tlbMax {
		t.m = make(map[uint64]uint64)
	}
	t.m[va>>12] = pa >> 12
}

// VirtMemory reads kernel virtual memory through a Translator.
type VirtMemory struct {
	mem PhysMemory
	t   Translator
}

// NewVirtMemory adapts mem and t to kernel virtual reads.
func NewVirtMemory(mem PhysMemory, t Translator) *VirtMemory {
	return &VirtMemory{mem: mem, t: t}
}

// Translator returns the translator v reads through.
func (v *VirtMemory) Translator() Translator { return v.t }

// ReadVirt fills p from kernel virtual address addr. Reads are split at
// 4 KiB boundaries (the smallest page on every supported architecture), so
// a buffer spanning pages that are physically apart reads correctly. On
// failure the *ReadError names the first virtual address that failed.
func (v *VirtMemory) ReadVirt(p []byte, addr uint64) error {
	for done := 0; done < len(p); {
		va := addr + uint64(done)
		n := min(len(p)-done, int(4096-va&0xfff))
		pa, err := v.t.Translate(va)
		if err != nil {
			var re *ReadError
			if errors.As(err, &re) && re.Space == "virtual" {
				return &ReadError{Space: "virtual", Addr: va, Size: len(p), Offset: re.Offset, Err: re.Err}
			}
			return &ReadError{Space: "virtual", Addr: va, Size: len(p), Offset: -1, Err: err}
		}
		if err := v.mem.ReadPhys(p[done:done+n], pa); err != nil {
			re := &ReadError{Space: "virtual", Addr: va, Size: len(p), Offset: -1}
			var pe *ReadError
			if errors.As(err, &pe) {
				re.Err = fmt.Errorf("%w (pa %#x)", pe.Err, pe.Addr)
				re.Offset = pe.Offset
			} else {
				re.Err = fmt.Errorf("%w (pa %#x)", err, pa)
			}
			return re
		}
		done += n
	}
	return nil
}

// ReadUint reads a little-endian unsigned integer of size 1, 2, 4 or 8
// bytes at addr.
func (v *VirtMemory) ReadUint(addr uint64, size int) (uint64, error) {
	var b [8]byte
	switch size {
	case 1, 2, 4, 8:
	default:
		return 0, fmt.Errorf("dump: ReadUint: bad size %d", size)
	}
	if err := v.ReadVirt(b[:size], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
