package kstructs

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// Page is one struct page as crash's kmem shows it (PAGE, PHYSICAL,
// MAPPING, INDEX, CNT, FLAGS).
type Page struct {
	Addr     uint64 // the struct page
	PFN      uint64
	Phys     uint64
	Flags    uint64
	Names    []string // the set flags, named by the kernel's pageflag_names (mm/debug.c)
	Mapping  uint64
	Index    uint64
	Refcount int64  // _refcount
	Mapcount int64  // _mapcount (-1: not mapped), or page_type where they share a word
	Head     uint64 // compound head for a tail page, else Addr
	Slab     bool   // PG_slab set (or the slab page type on 6.10+)
}

type pageLayout struct {
	size                                                      int
	flags, mapping, index, refcount, mapcount, compound, ptyp fieldLoc
	names                                                     []pageFlagName
	slabBit                                                   int    // PG_slab, -1 when slab is a page type
	slabType                                                  uint64 // PGTY_slab (top byte of page_type), 0 if none
	model                                                     *memModel
}

type pageFlagName struct {
	mask uint64
	name string
}

// memModel maps pfns to struct pages: FLATMEM's one mem_map array or
// SPARSEMEM's sections (include/linux/mmzone.h).
type memModel struct {
	flat      bool
	memMap    uint64 // FLATMEM: mem_map
	pfnOffset uint64 // FLATMEM: ARCH_PFN_OFFSET
	nrPages   uint64 // FLATMEM: pages in mem_map
	secShift  uint   // PFN_SECTION_SHIFT
	sections  []memSection
}

// memSection is one present SPARSEMEM section; map is the decoded
// section_mem_map: the struct page of pfn is map + pfn*sizeof(struct page).
type memSection struct {
	nr, addr, coded, mapBase uint64
}

var pageLayouts sync.Map // *Kernel → *pageOnce

type pageOnce struct {
	once sync.Once
	l    *pageLayout
	err  error
}

func (k *Kernel) pageLayout() (*pageLayout, error) {
	v, _ := pageLayouts.LoadOrStore(k, &pageOnce{})
	p := v.(*pageOnce)
	p.once.Do(func() { p.l, p.err = k.buildPageLayout() })
	return p.l, p.err
}

func (k *Kernel) buildPageLayout() (*pageLayout, error) {
	pt, err := k.structType("page")
	if err != nil {
		return nil, err
	}
	b := &layoutBuilder{t: pt, name: "struct page"}
	l := &pageLayout{size: int(pt.Size()), slabBit: -1}
	l.flags = b.need("flags")
	l.mapping = b.need("mapping")
	l.index = b.need("index")
	l.refcount = b.need("_refcount", "_count")
	l.mapcount = b.opt("_mapcount")
	l.compound = b.opt("compound_head")
	l.ptyp = b.opt("page_type")
	if err := b.err(); err != nil {
		return nil, err
	}
	l.names = k.pageFlagNames()
	if v, ok := k.enumValue("PG_slab"); ok {
		l.slabBit = int(v)
	} else if v, ok := k.enumValue("PGTY_slab"); ok {
		l.slabType = uint64(v)
	}
	if l.model, err = k.buildMemModel(uint64(l.size)); err != nil {
		return nil, err
	}
	return l, nil
}

// pageFlagNames reads the kernel's own names of the page flags,
// pageflag_names[] (mm/debug.c: {mask, name} pairs ended by a NULL name),
// as crash does; without it, the enum pageflags names without "PG_".
func (k *Kernel) pageFlagNames() []pageFlagName {
	var out []pageFlagName
	if v, err := k.Image.Variable("pageflag_names"); err == nil {
		ps := uint64(k.PtrSize())
		for i := uint64(0); i < 64; i++ {
			mask, err1 := k.readPointer(v.Addr + i*2*ps)
			name, err2 := k.readPointer(v.Addr + i*2*ps + ps)
			if err1 != nil || err2 != nil || name == 0 {
				break
			}
			s, err := k.readCString(name, 64)
			if err != nil {
				break
			}
			out = append(out, pageFlagName{mask, s})
		}
		if len(out) > 0 {
			return out
		}
	}
	n, ok := k.enumValue("__NR_PAGEFLAGS")
	t, err := k.Image.Type("enum pageflags")
	et, isEnum := dwarfx.Strip(t).(*dwarf.EnumType)
	if !ok || err != nil || !isEnum {
		return nil
	}
	seen := map[int64]bool{} // aliases (PG_checked = PG_owner_priv_1): the first name
	for _, e := range et.Val {
		if e.Val < n && !seen[e.Val] && strings.HasPrefix(e.Name, "PG_") {
			seen[e.Val] = true
			out = append(out, pageFlagName{1 << uint(e.Val), strings.TrimPrefix(e.Name, "PG_")})
		}
	}
	return out
}

// buildMemModel finds mem_map (FLATMEM) or the present memory sections
// (SPARSEMEM, with or without SPARSEMEM_EXTREME).
func (k *Kernel) buildMemModel(pageSize uint64) (*memModel, error) {
	if v, err := k.Image.Variable("mem_map"); err == nil {
		mm, err := k.readPointer(v.Addr)
		if err != nil {
			return nil, fmt.Errorf("reading mem_map at %#x: %w", v.Addr, err)
		}
		maxPFN, err := k.ReadUint("max_pfn")
		if err != nil {
			return nil, err
		}
		off := k.Layout.PhysOffset / k.PageSize()
		return &memModel{flat: true, memMap: mm, pfnOffset: off, nrPages: maxPFN - off}, nil
	}
	return k.sparseModel()
}

func (k *Kernel) sparseModel() (*memModel, error) {
	vi := k.Dump.VMCoreInfo()
	if vi == nil {
		return nil, fmt.Errorf("SPARSEMEM without VMCOREINFO: SECTION_SIZE_BITS unknown")
	}
	secBits, ok1 := vi.Number("SECTION_SIZE_BITS")
	physBits, ok2 := vi.Number("MAX_PHYSMEM_BITS")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("VMCOREINFO lacks NUMBER(SECTION_SIZE_BITS) or NUMBER(MAX_PHYSMEM_BITS)")
	}
	shift := uint(secBits) - uint(log2(k.PageSize()))
	ms, err := k.structType("mem_section")
	if err != nil {
		return nil, err
	}
	mapOff, err := memberPath(ms, "section_mem_map")
	if err != nil {
		return nil, fmt.Errorf("struct mem_section: %w", err)
	}
	v, err := k.Image.Variable("mem_section")
	if err != nil {
		return nil, err
	}
	m := &memModel{secShift: shift}
	nrSections := uint64(1) << (uint(physBits) - uint(secBits))
	perRoot, rootsAt := uint64(1), v.Addr
	// SPARSEMEM_EXTREME: mem_section is a pointer to an array of roots,
	// each root a page of struct mem_section (include/linux/mmzone.h
	// SECTIONS_PER_ROOT); otherwise a plain array, one section per root.
	_, extreme := dwarfx.Strip(v.Type).(*dwarf.PtrType)
	if extreme {
		perRoot = k.PageSize() / uint64(ms.Size())
		if rootsAt, err = k.readPointer(v.Addr); err != nil {
			return nil, fmt.Errorf("reading mem_section at %#x: %w", v.Addr, err)
		}
	}
	mask := ^uint64(1<<4 - 1) // SECTION_MAP_MASK before the enum (5.10)
	if b, ok := k.enumValue("SECTION_MAP_LAST_BIT"); ok {
		mask = ^(uint64(1)<<uint(b) - 1)
	}
	nrRoots := (nrSections + perRoot - 1) / perRoot
	for r := uint64(0); r < nrRoots; r++ {
		root := rootsAt + r*perRoot*uint64(ms.Size())
		if extreme {
			if root, err = k.readPointer(rootsAt + r*uint64(k.PtrSize())); err != nil {
				return nil, fmt.Errorf("reading mem_section root %d: %w", r, err)
			}
			if root == 0 {
				continue
			}
		}
		buf, err := k.readBytes(root, int(perRoot)*int(ms.Size()), "mem_section root")
		if err != nil {
			return nil, err
		}
		for i := uint64(0); i < perRoot; i++ {
			coded := k.decoder().ptrAt(buf, int(i)*int(ms.Size())+mapOff.Off)
			if coded&2 == 0 { // SECTION_HAS_MEM_MAP
				continue
			}
			nr := r*perRoot + i
			m.sections = append(m.sections, memSection{nr: nr, addr: root + i*uint64(ms.Size()), coded: coded, mapBase: coded & mask})
		}
	}
	if len(m.sections) == 0 {
		return nil, fmt.Errorf("no present memory section in mem_section at %#x", v.Addr)
	}
	return m, nil
}

func log2(v uint64) int {
	n := 0
	for v > 1 {
		v >>= 1
		n++
	}
	return n
}

// pageOfPFN is the struct page of pfn.
func (m *memModel) pageOfPFN(pfn, size uint64) (uint64, bool) {
	if m.flat {
		if pfn < m.pfnOffset || pfn-m.pfnOffset >= m.nrPages {
			return 0, false
		}
		return m.memMap + (pfn-m.pfnOffset)*size, true
	}
	nr := pfn >> m.secShift
	i := sort.Search(len(m.sections), func(i int) bool { return m.sections[i].nr >= nr })
	if i == len(m.sections) || m.sections[i].nr != nr {
		return 0, false
	}
	return m.sections[i].mapBase + pfn*size, true
}

// pfnOfPage is the pfn a struct page address describes; ok is false when
// addr is not the start of a struct page of a present section.
func (m *memModel) pfnOfPage(addr, size uint64) (uint64, bool) {
	if m.flat {
		if addr < m.memMap || addr >= m.memMap+m.nrPages*size || (addr-m.memMap)%size != 0 {
			return 0, false
		}
		return (addr-m.memMap)/size + m.pfnOffset, true
	}
	per := uint64(1) << m.secShift
	for _, s := range m.sections {
		lo := s.mapBase + (s.nr<<m.secShift)*size
		if addr >= lo && addr < lo+per*size {
			if (addr-lo)%size != 0 {
				return 0, false
			}
			return s.nr<<m.secShift + (addr-lo)/size, true
		}
	}
	return 0, false
}

// PageOfPhys is the struct page that describes physical address pa.
func (k *Kernel) PageOfPhys(pa uint64) (uint64, error) {
	l, err := k.pageLayout()
	if err != nil {
		return 0, err
	}
	p, ok := l.model.pageOfPFN(pa/k.PageSize(), uint64(l.size))
	if !ok {
		return 0, fmt.Errorf("physical address %#x: pfn %#x has no struct page (no memory section)", pa, pa/k.PageSize())
	}
	return p, nil
}

// IsPagePtr reports whether addr is a struct page of the page array, and
// the physical address of the page it describes.
func (k *Kernel) IsPagePtr(addr uint64) (uint64, bool) {
	l, err := k.pageLayout()
	if err != nil {
		return 0, false
	}
	pfn, ok := l.model.pfnOfPage(addr, uint64(l.size))
	return pfn * k.PageSize(), ok
}

// ReadPage reads the struct page at addr.
func (k *Kernel) ReadPage(addr uint64) (*Page, error) {
	l, err := k.pageLayout()
	if err != nil {
		return nil, err
	}
	pfn, ok := l.model.pfnOfPage(addr, uint64(l.size))
	if !ok {
		return nil, fmt.Errorf("%#x is not a struct page of the page array", addr)
	}
	b, err := k.readBytes(addr, l.size, "struct page")
	if err != nil {
		return nil, err
	}
	p := k.decodePage(l, addr, pfn, b)
	p.Slab, err = k.pageIsSlab(l, p)
	return p, err
}

// decodePage decodes the struct page at addr (of pfn) from its bytes b.
func (k *Kernel) decodePage(l *pageLayout, addr, pfn uint64, b []byte) *Page {
	d := k.decoder()
	p := &Page{Addr: addr, PFN: pfn, Phys: pfn * k.PageSize(), Flags: d.uint(b, l.flags),
		Mapping: d.uint(b, l.mapping), Index: d.uint(b, l.index), Refcount: d.int(b, l.refcount),
		Mapcount: d.int(b, l.mapcount), Head: addr}
	if ch := d.uint(b, l.compound); ch&1 != 0 { // a tail page: compound_head | 1 (include/linux/page-flags.h)
		p.Head = ch - 1
	}
	for _, n := range l.names {
		if p.Flags&n.mask != 0 {
			p.Names = append(p.Names, n.name)
		}
	}
	return p
}

// pfnRanges are the pfn ranges with struct pages: each present section,
// or FLATMEM's mem_map.
func (m *memModel) pfnRanges() [][2]uint64 {
	if m.flat {
		return [][2]uint64{{m.pfnOffset, m.pfnOffset + m.nrPages}}
	}
	var out [][2]uint64
	for _, s := range m.sections {
		out = append(out, [2]uint64{s.nr << m.secShift, (s.nr + 1) << m.secShift})
	}
	return out
}

// WalkPages calls fn for every struct page of the page array in pfn order
// (crash's kmem -p), reading the array a few thousand pages at a time.
// Slab is not decoded (it needs the compound head). An unreadable part of
// the array (a page excluded from the dump) ends the walk with an error
// naming it.
func (k *Kernel) WalkPages(fn func(p *Page) error) error {
	l, err := k.pageLayout()
	if err != nil {
		return err
	}
	const chunk = 4096
	size := uint64(l.size)
	for _, r := range l.model.pfnRanges() {
		for pfn := r[0]; pfn < r[1]; pfn += chunk {
			n := min(chunk, r[1]-pfn)
			first, _ := l.model.pageOfPFN(pfn, size)
			b, err := k.readBytes(first, int(n*size), "struct page array")
			if err != nil {
				return fmt.Errorf("pfns %#x-%#x: %w", pfn, pfn+n-1, err)
			}
			for i := uint64(0); i < n; i++ {
				if err := fn(k.decodePage(l, first+i*size, pfn+i, b[i*size:(i+1)*size])); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// SharedPages is crash's kmem -i SHARED: the pages of the page array that
// are not PG_reserved and have a _refcount above 1 (memory.c
// dump_mem_map, GET_SHARED_PAGES).
func (k *Kernel) SharedPages() (uint64, error) {
	bit, ok := k.enumValue("PG_reserved")
	if !ok {
		return 0, fmt.Errorf("no PG_reserved in enum pageflags")
	}
	n := uint64(0)
	err := k.WalkPages(func(p *Page) error {
		if p.Flags>>uint(bit)&1 == 0 && p.Refcount > 1 {
			n++
		}
		return nil
	})
	return n, err
}

// pageIsSlab: PG_slab on the head page, or on 6.10+ the slab page type in
// the top byte of page_type (include/linux/page-flags.h PGTY_slab).
func (k *Kernel) pageIsSlab(l *pageLayout, p *Page) (bool, error) {
	head := p
	if p.Head != p.Addr {
		b, err := k.readBytes(p.Head, l.size, "struct page (compound head)")
		if err != nil {
			return false, err
		}
		d := k.decoder()
		head = &Page{Flags: d.uint(b, l.flags)}
		if l.ptyp.ok() {
			head.Mapcount = int64(d.uint(b, l.ptyp))
		}
	} else if l.ptyp.ok() {
		b, err := k.readBytes(p.Addr+uint64(l.ptyp.Off), l.ptyp.Size, "page_type")
		if err != nil {
			return false, err
		}
		head = &Page{Flags: p.Flags, Mapcount: int64(dwarfx.DecodeUint(k.Image.ByteOrder(), b))}
	}
	if l.slabBit >= 0 {
		return head.Flags>>uint(l.slabBit)&1 != 0, nil
	}
	if l.slabType != 0 {
		return uint64(uint32(head.Mapcount))>>24 == l.slabType, nil
	}
	return false, nil
}
