package dump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeMem is a sparse physical memory of 4 KiB pages for constructed page
// tables. Reads of absent pages fail with ErrNotInDump, as a dump's would.
type fakeMem struct {
	pages map[uint64][]byte
}

func newFakeMem() *fakeMem { return &fakeMem{pages: make(map[uint64][]byte)} }

func (m *fakeMem) page(pa uint64) []byte {
	base := pa &^ 0xfff
	p, ok := m.pages[base]
	if !ok {
		p = make([]byte, 4096)
		m.pages[base] = p
	}
	return p
}

func (m *fakeMem) put64(pa, v uint64) { binary.LittleEndian.PutUint64(m.page(pa)[pa&0xfff:], v) }
func (m *fakeMem) put32(pa, v uint64) {
	binary.LittleEndian.PutUint32(m.page(pa)[pa&0xfff:], uint32(v))
}
func (m *fakeMem) putBytes(pa uint64, b []byte) {
	for i := range b {
		m.page(pa + uint64(i))[(pa+uint64(i))&0xfff] = b[i]
	}
}

func (m *fakeMem) ReadPhys(p []byte, addr uint64) error {
	for i := 0; i < len(p); {
		a := addr + uint64(i)
		pg, ok := m.pages[a&^0xfff]
		if !ok {
			return &ReadError{Space: "physical", Addr: a, Size: len(p), Offset: -1, Err: ErrNotInDump}
		}
		n := copy(p[i:], pg[a&0xfff:])
		i += n
	}
	return nil
}

type vtCase struct {
	name    string
	va      uint64
	pa      uint64
	wantErr string // substring of the error; "" = success
}

func runVT(t *testing.T, tr Translator, cases []vtCase) {
	t.Helper()
	for _, c := range cases {
		pa, err := tr.Translate(c.va)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Translate(%#x): %v", c.name, c.va, err)
			} else if pa != c.pa {
				t.Errorf("%s: Translate(%#x) = %#x, want %#x", c.name, c.va, pa, c.pa)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: Translate(%#x) = %#x, want error %q", c.name, c.va, pa, c.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: Translate(%#x): %v, want it to contain %q", c.name, c.va, err, c.wantErr)
		}
		var re *ReadError
		if !errors.As(err, &re) || re.Space != "virtual" || re.Addr != c.va {
			t.Errorf("%s: error %#v is not a virtual ReadError at the va", c.name, err)
		}
	}
}

func TestX86_64Walk(t *testing.T) {
	m := newFakeMem()
	const pgd = 0x1000
	l := KernelLayout{Arch: ArchX86_64, PGDPhys: pgd, PhysBase: 0x1000000, PGTableLevels: 4,
		ImageStart: 0xffffffff81000000, ImageEnd: 0xffffffff83000000}
	// vmalloc 0xffffc90000000000: pgd[402] -> pud 0x2000 -> pmd 0x3000 -> pte 0x4000
	va := uint64(0xffffc90000123000)
	m.put64(pgd+402*8, 0x2000|0x63)
	m.put64(0x2000+0*8, 0x3000|0x63)
	m.put64(0x3000+0*8, 0x4000|0x63)
	m.put64(0x4000+0x123*8, 0x8000_0000_7654_3163) // NX set, pa 0x76543000
	// 2 MiB page at pmd[1]; PAT bit (12) set must not leak into the address
	m.put64(0x3000+1*8, 0x4_0060_0000|0x1083)
	// 1 GiB page at pud[1]
	m.put64(0x2000+1*8, 0x1_4000_0000|0x83)
	// pud[2] not present, pmd[3] a table pointing outside the dump
	m.put64(0x3000+3*8, 0x900000|0x63)
	// PSE at pgd level is reserved
	m.put64(pgd+403*8, 0x5000|0x83)
	tr, err := NewTranslator(m, l)
	if err != nil {
		t.Fatal(err)
	}
	runVT(t, tr, []vtCase{
		{"linear", 0xffff888012345678, 0x12345678, ""},
		{"image", 0xffffffff81234567, 0x1234567 + 0x1000000, ""},
		{"4k page", va + 0x45, 0x76543045, ""},
		{"4k page cached", va + 0x46, 0x76543046, ""},
		{"2m page", 0xffffc90000200000 + 0x12345, 0x4_0060_0000 + 0x12345, ""},
		{"1g page", 0xffffc90040000000 + 0x1234567, 0x1_4000_0000 + 0x1234567, ""},
		{"pud not present", 0xffffc90080000000, 0, "pud entry 0x0 at pa 0x2010 not present"},
		{"pte not present", va + 0x1000, 0, "pte entry 0x0 at pa 0x4920 not present"},
		{"pgd not present", 0xffffea0000000000, 0, "pgd entry 0x0 at pa 0x1ea0 not present"},
		{"table outside dump", 0xffffc90000600000, 0, "reading pte entry at pa 0x900000"},
		{"reserved pse", 0xffffc98000000000, 0, "page-size bit set"},
		{"non-canonical", 0x0000900000000000, 0, "non-canonical"},
		{"module area walks", 0xffffffffc0000000, 0, "pgd entry 0x0 at pa 0x1ff8 not present"},
	})
	_, err = tr.Translate(0xffffc90000600000)
	if !errors.Is(err, ErrNotInDump) {
		t.Errorf("table outside dump: %v does not wrap ErrNotInDump", err)
	}
	_, err = tr.Translate(0xffffc90080000000)
	if !errors.Is(err, ErrNotMapped) {
		t.Errorf("not present: %v does not wrap ErrNotMapped", err)
	}
}

func TestX86_64FiveLevel(t *testing.T) {
	m := newFakeMem()
	// 5-level vmalloc base 0xffa0000000000000: pgd index (va>>48)&511 = 0x1a0
	va := uint64(0xffa0000000000000) + 0x5000
	m.put64(0x1000+0x1a0*8, 0x2000|3)
	m.put64(0x2000, 0x3000|3)
	m.put64(0x3000, 0x4000|3)
	m.put64(0x4000, 0x5000|3)
	m.put64(0x5000+5*8, 0xabc000|3)
	tr, err := NewTranslator(m, KernelLayout{Arch: ArchX86_64, PGDPhys: 0x1000, PGTableLevels: 5})
	if err != nil {
		t.Fatal(err)
	}
	runVT(t, tr, []vtCase{
		{"5-level", va + 7, 0xabc007, ""},
		{"5-level linear default", 0xff11000000001000, 0x1000, ""},
		{"p4d missing", va + 1<<39, 0, "p4d entry 0x0 at pa 0x2008 not present"},
	})
}

func TestX86_64NoTables(t *testing.T) {
	tr, err := NewTranslator(newFakeMem(), KernelLayout{Arch: ArchX86_64, PhysBase: -0x1000000 + 0x3000000})
	if err != nil {
		t.Fatal(err)
	}
	runVT(t, tr, []vtCase{
		{"image without bounds", 0xffffffff81000000, 0x3000000, ""},
		{"vmalloc", 0xffffc90000000000, 0, "no page table is known"},
	})
}

func TestARM64Walk(t *testing.T) {
	m := newFakeMem()
	// 4K pages, 48-bit VA: 4 levels, shifts 39/30/21/12.
	const pgd = 0x40001000
	l := KernelLayout{Arch: ArchARM64, PageSize: 4096, VABits: 48, PhysOffset: 0x40000000,
		KimageVoffset: 0xffff800008000000 - 0x40200000, PGDPhys: pgd,
		ImageStart: 0xffff800008000000, ImageEnd: 0xffff80000a000000}
	va := uint64(0xffff800008000000) + 0x10_0000_0000 // a vmalloc address past the image
	i0 := va >> 39 & 511
	i1 := va >> 30 & 511
	i2 := va >> 21 & 511
	i3 := va >> 12 & 511
	m.put64(pgd+i0*8, 0x40002000|3)
	m.put64(0x40002000+i1*8, 0x40003000|3)
	m.put64(0x40003000+i2*8, 0x40004000|3)
	m.put64(0x40004000+i3*8, 0x00e8_0000_4567_8f43|1<<52) // page, attrs and contiguous bit
	m.put64(0x40003000+(i2+1)*8, 0x4_8000_0000|0x701)     // 2M block
	m.put64(0x40002000+(i1+1)*8, 0x1_0000_0000|0x701)     // 1G block
	m.put64(0x40003000+(i2+2)*8, 0x40005000|1)            // 2M block with stray low address bits
	m.put64(0x40004000+(i3+1)*8, 0x40006000|1)            // reserved at last level
	m.put64(pgd+(i0+1)*8, 0x40007000|1)                   // level-0 block: reserved
	tr, err := NewTranslator(m, l)
	if err != nil {
		t.Fatal(err)
	}
	runVT(t, tr, []vtCase{
		{"linear", 0xffff000000123456, 0x40123456, ""},
		{"image", 0xffff800008123456, 0x40323456, ""},
		{"page", va + 0x10, 0x45678010, ""},
		{"2m block", va + 1<<21 + 0x1234, 0x4_8000_1234, ""},
		{"1g block", va + 1<<30 + 0x123456, 0x1_0812_3456, ""},
		{"unaligned block addr masked", va + 2<<21 + 0x10, 0x40000010, ""},
		{"reserved last", va + 1<<12, 0, "is a reserved descriptor"},
		{"level0 block", va + 1<<39, 0, "block at a level without blocks"},
		{"pud missing", va + 3<<30, 0, "pud entry 0x0 at pa 0x40002"},
		{"user address", 0x0000ffff00001000, 0, "not a kernel (TTBR1) address"},
	})
}

func TestARM64Granules(t *testing.T) {
	for _, c := range []struct {
		page   uint64
		vaBits int
		levels int
	}{
		{4096, 39, 3}, {4096, 48, 4}, {4096, 52, 5},
		{16384, 47, 3}, {16384, 48, 4}, {16384, 36, 2},
		{65536, 42, 2}, {65536, 48, 3}, {65536, 52, 3},
	} {
		m := newFakeMem()
		tr, err := newARM64Translator(m, KernelLayout{Arch: ArchARM64, PageSize: c.page, VABits: c.vaBits, PGDPhys: 0x10000})
		if err != nil {
			t.Fatalf("%d/%d: %v", c.page, c.vaBits, err)
		}
		if tr.levels != c.levels {
			t.Errorf("%d/%d: %d levels, want %d", c.page, c.vaBits, tr.levels, c.levels)
		}
		// Build a full walk for a vmalloc-ish address and check the leaf.
		va := arm64PageEnd(c.vaBits) + 0x1234*c.page + 0x123
		table := uint64(0x10000)
		next := uint64(0x100000)
		shift := uint(tr.pageShift) + tr.levelBits*uint(tr.levels-1)
		for lv := 0; lv < tr.levels; lv++ {
			idxBits := tr.levelBits
			if lv == 0 {
				idxBits = uint(c.vaBits) - shift
			}
			epa := table + (va>>shift&(1<<idxBits-1))*8
			if lv == tr.levels-1 {
				m.put64(epa, 0x7ab0000&^(c.page-1)|3)
			} else {
				m.put64(epa, next|3)
				table = next
				next += c.page
			}
			shift -= tr.levelBits
		}
		pa, err := tr.Translate(va)
		if err != nil {
			t.Errorf("%d/%d: %v", c.page, c.vaBits, err)
			continue
		}
		want := 0x7ab0000&^(c.page-1) | va&(c.page-1)
		if pa != want {
			t.Errorf("%d/%d: pa %#x, want %#x", c.page, c.vaBits, pa, want)
		}
	}
}

func TestARM64PA52(t *testing.T) {
	tr, err := newARM64Translator(newFakeMem(), KernelLayout{Arch: ArchARM64, PageSize: 65536, VABits: 52})
	if err != nil {
		t.Fatal(err)
	}
	// 64K: PA[51:48] in bits 15:12
	if got := tr.outputAddr(0x0000_1234_5678_0000 | 0xa<<12 | 3); got != 0xa_1234_5678_0000 {
		t.Errorf("64K PA52: %#x", got)
	}
	tr, err = newARM64Translator(newFakeMem(), KernelLayout{Arch: ArchARM64, PageSize: 4096, VABits: 52})
	if err != nil {
		t.Fatal(err)
	}
	// LPA2: PA[51:50] in bits 9:8
	if got := tr.outputAddr(0x0003_1234_5678_9000 | 3<<8 | 3); got != 0xf_1234_5678_9000 {
		t.Errorf("LPA2: %#x", got)
	}
}

func TestARM64VABitsFromImage(t *testing.T) {
	for _, c := range []struct {
		text    uint64
		bits    int
		flipped bool
	}{
		{0xffff800008010000, 48, true},
		{0xffffffc008010000, 39, true},
		{0xffff000008080000, 48, false},
		{0xffffff8008080000, 39, false},
		{0xfffffe0008000000, 42, true},
	} {
		b, f := arm64VABitsFromImage(c.text)
		if b != c.bits || f != c.flipped {
			t.Errorf("%#x: %d %v, want %d %v", c.text, b, f, c.bits, c.flipped)
		}
	}
}

func TestARMShortWalk(t *testing.T) {
	m := newFakeMem()
	const pgd = 0x40004000
	l := KernelLayout{Arch: ArchARM, PageOffset: 0xc0000000, PhysOffset: 0x40000000,
		PGDPhys: pgd, LinearEnd: 0xef800000}
	// vmalloc 0xf0000000 + 0x123000: L1 index 0xf00 -> coarse table at 0x41000400
	m.put32(pgd+0xf00*4, 0x41000400|1)
	m.put32(0x41000400+0x23*4, 0x5a5a5000|0x32) // small page, bit 1 set
	m.put32(0x41000400+0x24*4, 0x5a5a6000|0x33) // small page with XN
	for i := uint64(0x30); i < 0x40; i++ {
		m.put32(0x41000400+i*4, 0x6b6b0000|0x1) // 64K large page, replicated 16 times
	}
	m.put32(pgd+0xf01*4, 0x7f100000|0x0c0e) // section
	m.put32(pgd+0xf02*4, 0x7f200000|0x0c0f) // section with PXN
	// supersection at 0xf1000000: PA 0x12_3400_0000 + ext bits
	m.put32(pgd+0xf10*4, 0x34000000|2<<20|1<<5|1<<18|2)
	m.put32(pgd+0xf03*4, 0x00000400|1) // table at pa 0x400: not in dump
	m.put32(pgd+0xbf0*4, 0)
	tr, err := NewTranslator(m, l)
	if err != nil {
		t.Fatal(err)
	}
	runVT(t, tr, []vtCase{
		{"lowmem", 0xc0123456, 0x40123456, ""},
		{"small page", 0xf0023456, 0x5a5a5456, ""},
		{"small page xn", 0xf0024004, 0x5a5a6004, ""},
		{"large page", 0xf003abcd, 0x6b6babcd, ""},
		{"section", 0xf0112345, 0x7f112345, ""},
		{"section pxn", 0xf0212345, 0x7f212345, ""},
		{"supersection", 0xf10bcdef, 0x12_340b_cdef, ""},
		{"pte missing", 0xf0025000, 0, "pte entry 0x0 at pa 0x41000494 not present"},
		{"pgd missing", 0xf8000000, 0, "pgd entry 0x0 at pa 0x40007e00 not present"},
		{"table outside dump", 0xf0300000, 0, "reading pte entry at pa 0x400"},
		{"modules below PAGE_OFFSET", 0xbf000000, 0, "pgd entry 0x0 at pa 0x40006fc0 not present"},
		{"64-bit va", 0x1_0000_0000, 0, "not a 32-bit address"},
	})
}

func TestARMLPAEWalk(t *testing.T) {
	m := newFakeMem()
	const pgd = 0x80003000
	l := KernelLayout{Arch: ArchARM, PageOffset: 0xc0000000, PhysOffset: 0x80000000,
		PGDPhys: pgd, LinearEnd: 0xef800000, LPAE: true}
	m.put64(pgd+3*8, 0x80004000|3)
	va := uint64(0xf0123000)
	m.put64(0x80004000+(va>>21&511)*8, 0x80005000|3)
	m.put64(0x80005000+(va>>12&511)*8, 0x2_1234_5000|0x7df)           // page above 4G
	m.put64(0x80004000+((va>>21&511)+1)*8, 0x3_0060_0000|1<<54|0x701) // 2M block, XN
	m.put64(0x80005000+((va>>12&511)+1)*8, 0x3_0000_0000|1)           // reserved at L3
	m.put64(pgd+2*8, 0x40000000|1)                                    // 1G block for 0x80000000
	tr, err := NewTranslator(m, l)
	if err != nil {
		t.Fatal(err)
	}
	runVT(t, tr, []vtCase{
		{"lowmem", 0xc0000010, 0x80000010, ""},
		{"page", va + 0x10, 0x2_1234_5010, ""},
		{"block", va&^0x1fffff + 1<<21 + 0x1234, 0x3_0060_1234, ""},
		{"1g block", 0x80123456, 0x40123456, ""},
		{"reserved", va + 0x1000, 0, "pte entry 0x300000001 at pa 0x80005920 is a reserved descriptor"},
		{"pgd missing", 0x10000000, 0, "pgd entry 0x0 at pa 0x80003000 not present"},
	})
}

func TestVirtMemoryCrossesPages(t *testing.T) {
	m := newFakeMem()
	const pgd = 0x1000
	// Two virtual pages mapped to physically distant frames.
	m.put64(pgd+402*8, 0x2000|3)
	m.put64(0x2000, 0x3000|3)
	m.put64(0x3000, 0x4000|3)
	m.put64(0x4000, 0x10000|3)
	m.put64(0x4000+8, 0x7000|3)
	m.putBytes(0x10ffc, []byte("abcd"))
	m.putBytes(0x7000, []byte("efgh"))
	m.put64(0x4000+24, 0x900000|3) // mapped to a frame outside the dump
	tr, err := NewTranslator(m, KernelLayout{Arch: ArchX86_64, PGDPhys: pgd})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVirtMemory(m, tr)
	buf := make([]byte, 8)
	base := uint64(0xffffc90000000000)
	if err := v.ReadVirt(buf, base+0xffc); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "abcdefgh" {
		t.Errorf("read %q", buf)
	}
	// Third page unmapped: the error names its first byte.
	err = v.ReadVirt(make([]byte, 0x2000), base+0x1800)
	var re *ReadError
	if !errors.As(err, &re) || re.Addr != base+0x2000 || re.Size != 0x2000 || !errors.Is(err, ErrNotMapped) {
		t.Errorf("unmapped read: %v", err)
	}
	err = v.ReadVirt(buf, base+0x3000)
	if !errors.Is(err, ErrNotInDump) || !errors.As(err, &re) || re.Space != "virtual" {
		t.Errorf("frame not in dump: %v", err)
	}
	if got, err := v.ReadUint(base+0x1000, 4); err != nil || got != 0x68676665 {
		t.Errorf("ReadUint = %#x, %v", got, err)
	}
}

// patternMem is garbage physical memory for fuzzing: every address reads
// data repeated, except above limit, which is not in the dump.
type patternMem struct {
	data  []byte
	limit uint64
}

func (m patternMem) ReadPhys(p []byte, addr uint64) error {
	if len(m.data) == 0 || addr >= m.limit || addr+uint64(len(p)) > m.limit {
		return &ReadError{Space: "physical", Addr: addr, Size: len(p), Offset: -1, Err: ErrNotInDump}
	}
	for i := range p {
		p[i] = m.data[(addr+uint64(i))%uint64(len(m.data))]
	}
	return nil
}

// checkFuzzResult: any failure must be a virtual ReadError at va.
func checkFuzzResult(t *testing.T, va uint64, err error) {
	if err == nil {
		return
	}
	var re *ReadError
	if !errors.As(err, &re) || re.Space != "virtual" || re.Addr != va {
		t.Fatalf("Translate(%#x): error %v is not a virtual ReadError at the va", va, err)
	}
	if !errors.Is(err, ErrNotMapped) && !errors.Is(err, ErrNotInDump) {
		t.Fatalf("Translate(%#x): error %v wraps neither ErrNotMapped nor ErrNotInDump", va, err)
	}
}

func FuzzX86_64Walk(f *testing.F) {
	f.Add([]byte{0x63, 0x10, 0, 0, 0, 0, 0, 0}, uint64(0xffffc90000123000), uint64(0x1000), uint8(4), uint64(1<<40))
	f.Add([]byte{0x83, 0, 0, 0x40, 0, 0, 0, 0}, uint64(0xffffffffc0001000), uint64(0), uint8(5), uint64(1<<30))
	f.Fuzz(func(t *testing.T, data []byte, va, pgd uint64, levels uint8, limit uint64) {
		l := KernelLayout{Arch: ArchX86_64, PGDPhys: pgd, PGTableLevels: 4 + int(levels&1)}
		tr, err := NewTranslator(patternMem{data, limit}, l)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Translate(va)
		checkFuzzResult(t, va, err)
		// Twice: the second may come from the caches.
		_, err = tr.Translate(va)
		checkFuzzResult(t, va, err)
	})
}

func FuzzARM64Walk(f *testing.F) {
	f.Add([]byte{3, 0x10, 0, 0, 0, 0, 0, 0}, uint64(0xffff800008123000), uint64(0x1000), uint8(0), uint8(48), uint64(1<<40))
	f.Fuzz(func(t *testing.T, data []byte, va, pgd uint64, gran, vaBits uint8, limit uint64) {
		sizes := []uint64{4096, 16384, 65536}
		l := KernelLayout{Arch: ArchARM64, PGDPhys: pgd, PageSize: sizes[int(gran)%3], VABits: 36 + int(vaBits)%17}
		tr, err := NewTranslator(patternMem{data, limit}, l)
		if err != nil {
			return // an impossible geometry, refused up front
		}
		_, err = tr.Translate(va)
		checkFuzzResult(t, va, err)
	})
}

func FuzzARMDescriptors(f *testing.F) {
	f.Add(uint32(0xf0123456), uint32(0x41000401), uint32(0x5a5a5032), uint64(0x1234), false)
	f.Add(uint32(0xf0123456), uint32(0x34240022), uint32(0), uint64(0x80004003), true)
	f.Fuzz(func(t *testing.T, va32, l1, l2 uint32, lpaeEntry uint64, lpae bool) {
		va := uint64(va32)
		// Descriptor decoding alone.
		if pa, next, err := decodeShortL1(va, uint64(l1)); err == nil && next == 0 && pa>>40 != 0 {
			t.Fatalf("short L1 %#x: pa %#x beyond 40 bits", l1, pa)
		}
		if pa, err := decodeShortL2(va, uint64(l2)); err == nil && pa>>32 != 0 {
			t.Fatalf("short L2 %#x: pa %#x beyond 32 bits", l2, pa)
		}
		for level := 0; level < 3; level++ {
			if pa, next, err := decodeLPAE(va, lpaeEntry, level); err == nil && next == noNext && pa>>40 != 0 {
				t.Fatalf("LPAE %#x: pa %#x beyond 40 bits", lpaeEntry, pa)
			}
		}
		// Whole walks over memory made of these descriptors.
		var data []byte
		data = binary.LittleEndian.AppendUint32(data, l1)
		data = binary.LittleEndian.AppendUint32(data, l2)
		data = binary.LittleEndian.AppendUint64(data, lpaeEntry)
		l := KernelLayout{Arch: ArchARM, PageOffset: 0xc0000000, PhysOffset: 0x40000000,
			PGDPhys: 0x40004000, LinearEnd: 0xef800000, LPAE: lpae}
		tr, err := NewTranslator(patternMem{data, 1 << 34}, l)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Translate(va)
		checkFuzzResult(t, va, err)
	})
}

// TestUserTranslators walks a process's tables (NewUserTranslator) on each
// architecture: user addresses through the given pgd, no linear-map
// arithmetic, kernel addresses refused, and PageTables naming each table
// the walk reads.
func TestUserTranslators(t *testing.T) {
	type tcase struct {
		name   string
		l      KernelLayout
		pgd    uint64
		setup  func(m *fakeMem)
		va, pa uint64
		tables []string // "level@pa"
		kernel uint64   // a kernel address the user walk must refuse
	}
	cases := []tcase{
		{name: "x86_64", l: KernelLayout{Arch: ArchX86_64, PGTableLevels: 4, PageOffset: 0xffff888000000000}, pgd: 0x1000,
			setup: func(m *fakeMem) {
				m.put64(0x1000+0*8, 0x2000|0x67)
				m.put64(0x2000+0*8, 0x3000|0x67)
				m.put64(0x3000+2*8, 0x4000|0x67)
				m.put64(0x4000+0x1*8, 0x7654_3000|0x67)
			},
			va: 0x401234, pa: 0x76543234, tables: []string{"pgd@1000", "pud@2000", "pmd@3000", "pte@4000"}, kernel: 0xffff888000001000},
		{name: "arm64", l: KernelLayout{Arch: ArchARM64, PageSize: 4096, VABits: 48, PhysOffset: 0x40000000,
			KimageVoffset: 0xffff800008000000 - 0x40200000}, pgd: 0x40001000,
			setup: func(m *fakeMem) {
				m.put64(0x40001000+0*8, 0x40002000|3)
				m.put64(0x40002000+0*8, 0x40003000|3)
				m.put64(0x40003000+2*8, 0x40004000|3)
				m.put64(0x40004000+1*8, 0x4567_8000|0x743)
			},
			va: 0x401234, pa: 0x45678234, tables: []string{"pgd@40001000", "pud@40002000", "pmd@40003000", "pte@40004000"}, kernel: 0xffff000000001000},
		{name: "arm", l: KernelLayout{Arch: ArchARM, PageOffset: 0xc0000000, PhysOffset: 0x40000000, LinearEnd: 0xef800000}, pgd: 0x40004000,
			setup: func(m *fakeMem) {
				// h/w pt 0 at +2048 of the pte page, zero: the page is not
				// young; Linux pt 0 at +0 says present.
				m.put32(0x40004000+4*4, 0x41000800|1)
				m.put32(0x41000000+1*4, 0x5a5a5000|0x3)
			},
			va: 0x401234, pa: 0x5a5a5234, tables: []string{"pgd@40004000", "pte@41000800"}, kernel: 0xc0001000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newFakeMem()
			c.setup(m)
			tr, err := NewUserTranslator(m, c.l, c.pgd)
			if err != nil {
				t.Fatal(err)
			}
			if pa, err := tr.Translate(c.va); err != nil || pa != c.pa {
				t.Errorf("Translate(%#x) = %#x, %v; want %#x", c.va, pa, err, c.pa)
			}
			if _, err := tr.Translate(c.va + 0x10000); !errors.Is(err, ErrNotMapped) {
				t.Errorf("unmapped user address: %v, want ErrNotMapped", err)
			}
			if _, err := tr.Translate(c.kernel); !errors.Is(err, ErrNotMapped) {
				t.Errorf("kernel address %#x through a user translator: %v, want ErrNotMapped", c.kernel, err)
			}
			var got []string
			if err := PageTables(tr, c.va, func(level string, table uint64) { got = append(got, fmt.Sprintf("%s@%x", level, table)) }); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.tables) {
				t.Errorf("PageTables(%#x) = %v, want %v", c.va, got, c.tables)
			}
		})
	}
}
