package dump

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Symbols is what layout discovery needs from the kernel image: link-time
// (unrelocated) addresses from vmlinux's symbol table.
type Symbols interface {
	LinkAddr(name string) (uint64, bool)
	PtrSize() int
}

// LayoutHints carries what the user (or the kernel's DWARF) knows better
// than the dump. Nil/zero fields are discovered.
type LayoutHints struct {
	PhysOffset  *uint64 // arm/arm64 PHYS_OFFSET (--phys-offset)
	KASLROffset *uint64 // --kaslr
	Arch        Arch    // when the dump does not say

	// Banner is the text of vmlinux's linux_banner (up to its NUL). When
	// the dump has no VMCOREINFO it lets discovery find the kernel image
	// in physical memory without ambiguity; without it discovery looks for
	// "Linux version " and checks each match against the page tables.
	Banner []byte

	// LPAE, when set, says whether a 32-bit ARM kernel uses long-descriptor
	// tables (DWARF: sizeof(pte_t) == 8, or CONFIG_ARM_LPAE=y). Nil: look at
	// swapper_pg_dir.
	LPAE *bool
	// PageOffset overrides arm's PAGE_OFFSET (otherwise _stext rounded
	// down to 32 MiB).
	PageOffset *uint64
	// PageSize and VABits for arm64 dumps without VMCOREINFO (from the
	// kernel's config: CONFIG_ARM64_PAGE_SHIFT, CONFIG_ARM64_VA_BITS).
	// Zero: 4096 and a guess from the image's link address.
	PageSize uint64
	VABits   int
}

// DiscoverLayout works out the kernel's memory layout from the dump
// (VMCOREINFO, notes, physical memory) and the kernel image's symbols,
// with hints taking precedence. The result is checked by reading
// linux_banner through it (and, where there are page tables, by walking
// them to the same place). When that check fails the layout that failed
// it comes back with the error, for diagnosis.
func DiscoverLayout(d *Dump, syms Symbols, hints LayoutHints) (KernelLayout, error) {
	if d == nil {
		return KernelLayout{}, errors.New("dump: DiscoverLayout: nil dump")
	}
	in := layoutInput{mem: d, ranges: d.Ranges(), arch: d.Arch(), vmci: d.VMCoreInfo(), notes: d.Notes()}
	return discoverLayout(in, syms, hints)
}

// layoutInput is what discovery reads from a dump; DiscoverLayout fills it
// from a *Dump, tests can fill it by hand (to hide VMCOREINFO, say).
type layoutInput struct {
	mem    PhysMemory
	ranges []PhysRange // sorted by start once, in discoverLayout
	arch   Arch
	vmci   *VMCoreInfo // nil: the dump has none
	notes  []Note
}

// discoverer carries one discovery's state.
type discoverer struct {
	in    layoutInput
	syms  Symbols
	hints LayoutHints
	l     KernelLayout
}

func discoverLayout(in layoutInput, syms Symbols, hints LayoutHints) (KernelLayout, error) {
	if syms == nil {
		return KernelLayout{}, errors.New("dump: layout discovery needs the kernel's symbols")
	}
	arch := hints.Arch
	if arch == ArchUnknown {
		arch = in.arch
	}
	if arch == ArchUnknown {
		switch syms.PtrSize() {
		case 4:
			arch = ArchARM
		}
	}
	// Every scan below walks RAM lowest address first.
	in.ranges = slices.Clone(in.ranges)
	slices.SortFunc(in.ranges, func(a, b PhysRange) int { return cmp.Compare(a.Start, b.Start) })
	d := &discoverer{in: in, syms: syms, hints: hints}
	d.l.Arch = arch
	var err error
	switch arch {
	case ArchX86_64:
		err = d.x86_64()
	case ArchARM64:
		err = d.arm64()
	case ArchARM:
		err = d.arm()
	default:
		return KernelLayout{}, fmt.Errorf("dump: layout discovery: unknown or unsupported architecture %q", arch)
	}
	if err != nil {
		err = fmt.Errorf("dump: %s layout discovery: %w", arch, err)
		if me := d.mismatch(err); me != nil {
			return KernelLayout{}, me
		}
		return KernelLayout{}, err
	}
	if err := d.verify(); err != nil {
		err = fmt.Errorf("dump: %s layout discovery: %w (layout: %v)", arch, err, d.l)
		if me := d.mismatch(err); me != nil {
			return d.l, me
		}
		return d.l, err
	}
	return d.l, nil
}

// sym returns a symbol's link address.
func (d *discoverer) sym(name string) (uint64, error) {
	a, ok := d.syms.LinkAddr(name)
	if !ok {
		return 0, fmt.Errorf("symbol %s not found in the kernel image", name)
	}
	return a, nil
}

// vmcoreinfo lookups that tolerate a dump without VMCOREINFO.
func (d *discoverer) vmciUint(key string) (uint64, bool) {
	if d.in.vmci == nil {
		return 0, false
	}
	return d.in.vmci.Uint(key)
}

func (d *discoverer) vmciNumber(name string) (int64, bool) {
	if d.in.vmci == nil {
		return 0, false
	}
	return d.in.vmci.Number(name)
}

// kaslrFromVMCI: hint, then KERNELOFFSET, then SYMBOL(_stext) against the
// link address (older kernels had no KERNELOFFSET on every arch).
func (d *discoverer) kaslrFromVMCI() (uint64, bool) {
	if d.hints.KASLROffset != nil {
		return *d.hints.KASLROffset, true
	}
	if v, ok := d.vmciUint("KERNELOFFSET"); ok {
		return v, true
	}
	if v, ok := d.vmciUint("SYMBOL(_stext)"); ok {
		if link, ok := d.syms.LinkAddr("_stext"); ok {
			return v - link, true
		}
	}
	return 0, false
}

// setImageBounds records the runtime bounds of the image.
func (d *discoverer) setImageBounds() {
	start, ok1 := d.syms.LinkAddr("_text")
	end, ok2 := d.syms.LinkAddr("_end")
	if ok1 && ok2 && end > start {
		d.l.ImageStart = start + d.l.KASLROffset
		d.l.ImageEnd = end + d.l.KASLROffset
	}
}

func (d *discoverer) readPhysUint(pa uint64, size int) (uint64, error) {
	var b [8]byte
	if err := d.in.mem.ReadPhys(b[:size], pa); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// imageVar reads a kernel-image variable given where one image symbol
// (anchor, at link address anchorLink) lies physically: the image is
// physically contiguous on every supported arch, so link-address distances
// are physical distances. This works before any layout value is known.
func (d *discoverer) imageVar(name string, size int, anchorLink, anchorPA uint64) (uint64, error) {
	link, err := d.sym(name)
	if err != nil {
		return 0, err
	}
	v, err := d.readPhysUint(anchorPA+(link-anchorLink), size)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	return v, nil
}

// bannerPattern is what a scan of physical memory looks for.
func (d *discoverer) bannerPattern() []byte {
	if b := d.hints.Banner; len(b) > 0 {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		if len(b) > 256 {
			b = b[:256]
		}
		if len(b) >= len("Linux version ") {
			return b
		}
	}
	return []byte("Linux version ")
}

// scanBanner looks through physical memory for linux_banner, only at
// addresses congruent to its link address modulo align (a power of two
// that the kernel's physical and virtual placements both respect), lowest
// address first. Each match is offered to accept; the first accepted
// address is returned. Unreadable parts of the dump are skipped.
func (d *discoverer) scanBanner(align uint64, accept func(pa uint64) bool) (uint64, bool) {
	link, err := d.sym("linux_banner")
	if err != nil {
		return 0, false
	}
	pat := d.bannerPattern()
	want := link & (align - 1)
	ranges := d.in.ranges
	buf := make([]byte, len(pat))
	check := func(pa uint64) (uint64, bool) {
		if err := d.in.mem.ReadPhys(buf, pa); err == nil && bytes.Equal(buf, pat) && accept(pa) {
			return pa, true
		}
		return 0, false
	}
	const chunk = 1 << 20
	big := make([]byte, chunk+len(pat))
	for _, r := range ranges {
		first := r.Start&^(align-1) + want
		if first < r.Start {
			first += align
		}
		if align >= 1<<16 {
			// Sparse candidates: read only them.
			for pa := first; pa+uint64(len(pat)) <= r.End() && pa >= first; pa += align {
				if got, ok := check(pa); ok {
					return got, true
				}
			}
			continue
		}
		for base := r.Start; base < r.End(); base += chunk {
			n := min(uint64(len(big)), r.End()-base)
			b := big[:n]
			if err := d.in.mem.ReadPhys(b, base); err != nil {
				// Part of the chunk is missing (filtered dump): probe
				// the candidates one by one.
				for pa := (base&^(align-1) + want); pa < base+min(chunk, n); pa += align {
					if pa >= base {
						if got, ok := check(pa); ok {
							return got, true
						}
					}
				}
				continue
			}
			for off := (want - base) & (align - 1); off+uint64(len(pat)) <= n && off < chunk; off += align {
				if bytes.Equal(b[off:off+uint64(len(pat))], pat) && accept(base+off) {
					return base + off, true
				}
			}
		}
	}
	return 0, false
}

// lowestRAM is the lowest physical address the dump holds.
func (d *discoverer) lowestRAM() (uint64, bool) {
	if len(d.in.ranges) == 0 {
		return 0, false
	}
	lo := d.in.ranges[0].Start
	for _, r := range d.in.ranges[1:] {
		lo = min(lo, r.Start)
	}
	return lo, true
}

// verify reads linux_banner through the finished layout: a layout that
// cannot read the kernel's own banner is wrong, and saying so here beats
// garbage later.
func (d *discoverer) verify() error {
	link, err := d.sym("linux_banner")
	if err != nil {
		return nil // nothing to check against
	}
	t, err := NewTranslator(d.in.mem, d.l)
	if err != nil {
		return err
	}
	d.l = t.Layout()
	va := link + d.l.KASLROffset
	got := make([]byte, len("Linux version "))
	if err := NewVirtMemory(d.in.mem, t).ReadVirt(got, va); err != nil {
		return fmt.Errorf("check: reading linux_banner: %w", err)
	}
	if string(got) != "Linux version " {
		return fmt.Errorf("check: linux_banner at %#x reads %q, not \"Linux version \": wrong KASLR or physical offset", va, got)
	}
	// Where the layout has page tables, they must agree with the
	// arithmetic for the image: catches a wrong PGDPhys.
	if d.l.PGDPhys != 0 {
		pa, _ := t.Translate(va)
		wpa, werr := walkOnly(d.in.mem, d.l, va)
		if werr != nil {
			return fmt.Errorf("check: page tables at pa %#x do not map linux_banner: %w", d.l.PGDPhys, werr)
		}
		if wpa != pa {
			return fmt.Errorf("check: page tables at pa %#x map linux_banner %#x to pa %#x, arithmetic says %#x", d.l.PGDPhys, va, wpa, pa)
		}
	}
	return nil
}

// walkOnly translates va through the page tables alone, bypassing the
// arithmetic fast paths.
func walkOnly(mem PhysMemory, l KernelLayout, va uint64) (uint64, error) {
	switch l.Arch {
	case ArchX86_64:
		t, err := newX86_64Translator(mem, l)
		if err != nil {
			return 0, err
		}
		return t.walk(va)
	case ArchARM64:
		t, err := newARM64Translator(mem, l)
		if err != nil {
			return 0, err
		}
		return t.walk(va)
	case ArchARM:
		t, err := newARMTranslator(mem, l)
		if err != nil {
			return 0, err
		}
		if l.LPAE {
			return t.walkLPAE(va)
		}
		return t.walkShort(va)
	}
	return 0, fmt.Errorf("unsupported architecture %q", l.Arch)
}

// ---------------------------------------------------------------- x86_64

// qemuCPUState reads control registers from QEMU's "QEMU" notes
// (QEMUCPUState in QEMU's target/i386/arch_dump.c: version, size, 18
// general registers, 10 segment descriptors of 24 bytes, then cr[5]).
func qemuControlRegs(notes []Note) (crs [][5]uint64) {
	const crOff = 8 + 18*8 + 10*24
	for _, n := range notes {
		if n.Name != "QEMU" || len(n.Desc) < crOff+5*8 {
			continue
		}
		var cr [5]uint64
		for i := range cr {
			cr[i] = binary.LittleEndian.Uint64(n.Desc[crOff+8*i:])
		}
		crs = append(crs, cr)
	}
	return crs
}

func (d *discoverer) x86_64() error {
	l := &d.l
	l.PageSize = 4096
	l.PGTableLevels = 4
	crs := qemuControlRegs(d.in.notes)
	if v, ok := d.vmciNumber("pgtable_l5_enabled"); ok {
		if v != 0 {
			l.PGTableLevels = 5
		}
	} else {
		for _, cr := range crs {
			if cr[4]&(1<<12) != 0 { // CR4.LA57
				l.PGTableLevels = 5
				break
			}
		}
	}
	if v, ok := d.vmciNumber("sme_mask"); ok {
		l.SMEMask = uint64(v)
	}
	bannerLink, err := d.sym("linux_banner")
	if err != nil {
		return err
	}
	pgdLink, havePGD := d.syms.LinkAddr("init_top_pgt")
	if !havePGD {
		pgdLink, havePGD = d.syms.LinkAddr("init_level4_pgt") // before 4.13
	}

	// Any CPU's tables map the kernel half like init_top_pgt does. With
	// PTI, CR3 may hold the user copy (bit 12 set; the pair is 8 KiB
	// aligned), whose kernel half maps almost nothing: take the kernel one.
	var cr3PGD uint64
	for _, cr := range crs {
		if cr[3] != 0 {
			cr3PGD = cr[3] & x86AddrMask &^ (1 << 12)
			break
		}
	}

	kaslr, haveK := d.kaslrFromVMCI()
	physBase, haveP := d.vmciNumber("phys_base")
	if !haveK || !haveP {
		// Find the image in physical memory. Both KASLR displacements are
		// multiples of 2 MiB (CONFIG_PHYSICAL_ALIGN), so the banner's
		// physical address is congruent to its link address modulo 2 MiB.
		accept := func(pa uint64) bool {
			pb := physBase
			switch {
			case haveP:
			case haveK:
				pb = int64(pa - (bannerLink + kaslr - x86StartKernelMap))
			default:
				v, err := d.imageVar("phys_base", 8, bannerLink, pa)
				if err != nil {
					return false
				}
				pb = int64(v)
			}
			k := pa + x86StartKernelMap - uint64(pb) - bannerLink
			if haveK && k != kaslr {
				return false
			}
			cand := *l
			cand.PhysBase, cand.KASLROffset = pb, k
			switch {
			case havePGD:
				cand.PGDPhys = pa + (pgdLink - bannerLink)
			case cr3PGD != 0:
				cand.PGDPhys = cr3PGD
			}
			// The page tables must map the banner's runtime address to
			// this copy of it; with none to ask, the first match wins.
			if cand.PGDPhys != 0 {
				got, err := walkOnly(d.in.mem, cand, bannerLink+k)
				if err != nil || got != pa {
					return false
				}
			}
			physBase, kaslr = pb, k
			return true
		}
		if _, found := d.scanBanner(1<<21, accept); !found {
			return errors.New("no VMCOREINFO (KERNELOFFSET, phys_base) and linux_banner not found in physical memory: give the KASLR offset")
		}
	}
	l.KASLROffset = kaslr
	l.PhysBase = physBase
	imagePA := func(link uint64) uint64 { return link + kaslr - x86StartKernelMap + uint64(physBase) }

	switch {
	case d.in.vmci != nil && d.vmciHas("SYMBOL(init_top_pgt)"):
		va, _ := d.vmciUint("SYMBOL(init_top_pgt)")
		l.PGDPhys = va - x86StartKernelMap + uint64(physBase)
	case havePGD:
		l.PGDPhys = imagePA(pgdLink)
	default:
		l.PGDPhys = cr3PGD
	}

	// page_offset_base is a variable with CONFIG_RANDOMIZE_MEMORY.
	l.PageOffsetBase = x86PageOffset4
	if l.PGTableLevels == 5 {
		l.PageOffsetBase = x86PageOffset5
	}
	if link, ok := d.syms.LinkAddr("page_offset_base"); ok {
		v, err := d.readPhysUint(imagePA(link), 8)
		if err != nil {
			return fmt.Errorf("reading page_offset_base: %w", err)
		}
		// Randomised in PUD (1 GiB) steps within the kernel half.
		if v>>63 == 0 || v&(1<<30-1) != 0 {
			return fmt.Errorf("page_offset_base reads %#x: not a plausible direct-map base (wrong KASLR offset or phys_base %#x?)", v, physBase)
		}
		l.PageOffsetBase = v
	}
	l.PageOffset = l.PageOffsetBase
	// CONFIG_RANDOMIZE_MEMORY packs the regions after the direct map with
	// random gaps, sized to the RAM rather than the architectural 64 TiB:
	// vmalloc (vmapped stacks) and vmemmap can start well inside the
	// default direct-map span. The direct map ends where the next one
	// begins.
	for _, name := range []string{"vmalloc_base", "vmemmap_base"} {
		link, ok := d.syms.LinkAddr(name)
		if !ok {
			continue
		}
		v, err := d.readPhysUint(imagePA(link), 8)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if v > l.PageOffsetBase && (l.LinearEnd == 0 || v < l.LinearEnd) {
			l.LinearEnd = v
		}
	}
	d.setImageBounds()
	return nil
}

func (d *discoverer) vmciHas(key string) bool {
	if d.in.vmci == nil {
		return false
	}
	_, ok := d.in.vmci.Get(key)
	return ok
}

// ----------------------------------------------------------------- arm64

func (d *discoverer) arm64() error {
	l := &d.l
	l.PageSize = 4096
	if d.hints.PageSize != 0 {
		l.PageSize = d.hints.PageSize
	}
	if v, ok := d.vmciUint("PAGESIZE"); ok {
		l.PageSize = v
	}
	textLink, err := d.sym("_text")
	if err != nil {
		if textLink, err = d.sym("_stext"); err != nil {
			return err
		}
	}
	guess, _ := arm64VABitsFromImage(textLink)
	l.VABits = guess
	if d.hints.VABits != 0 {
		l.VABits = d.hints.VABits
	}
	if v, ok := d.vmciNumber("VA_BITS"); ok {
		l.VABits = int(v)
	}
	if l.VABits < 36 || l.VABits > 52 {
		return fmt.Errorf("VA_BITS %d is not plausible (image linked at %#x): give it as a hint", l.VABits, textLink)
	}
	// 5.4 flipped the kernel's half: the linear map moved to the bottom
	// and the image to the top; the image's link address says which.
	if textLink >= arm64PageEnd(l.VABits) {
		l.PageOffset = -(uint64(1) << l.VABits)
	} else {
		l.PageOffset = -(uint64(1) << (l.VABits - 1))
	}

	bannerLink, err := d.sym("linux_banner")
	if err != nil {
		return err
	}
	pgdLink, err := d.sym("swapper_pg_dir")
	if err != nil {
		return err
	}
	// vabits_actual: VMCOREINFO has T1SZ (5.9+); a kernel of 48 bits or
	// fewer runs with what it was built for.
	actualKnown := false
	if v, ok := d.vmciNumber("TCR_EL1_T1SZ"); ok && v > 0 && v < 64 {
		l.VABitsActual, actualKnown = 64-int(v), true
	} else if l.VABits <= 48 {
		l.VABitsActual, actualKnown = l.VABits, true
	}
	// actuals lists what vabits_actual may be, given where linux_banner
	// lies physically: the variable (5.4..6.8) when the kernel has one,
	// else both sizes a 52-bit kernel can run with; the page tables choose.
	actuals := func(bannerPA uint64) []int {
		if actualKnown {
			return []int{l.VABitsActual}
		}
		if v, err := d.imageVar("vabits_actual", 8, bannerLink, bannerPA); err == nil && v >= 36 && v <= uint64(l.VABits) {
			return []int{int(v)}
		}
		return []int{l.VABits, arm64VABitsMin(l.VABits, l.PageSize)}
	}
	kaslr, haveK := d.kaslrFromVMCI()
	voff, haveV := d.vmciUint("NUMBER(kimage_voffset)")
	if !haveK || !haveV {
		accept := func(pa uint64) bool {
			v := voff
			switch {
			case haveV:
			case haveK:
				v = bannerLink + kaslr - pa
			default:
				var err error
				if v, err = d.imageVar("kimage_voffset", 8, bannerLink, pa); err != nil {
					return false
				}
			}
			k := pa + v - bannerLink
			if haveK && k != kaslr {
				return false
			}
			cand := *l
			cand.KimageVoffset, cand.KASLROffset = v, k
			cand.PGDPhys = pa + (pgdLink - bannerLink)
			for _, bits := range actuals(pa) {
				cand.VABitsActual = bits
				if got, err := walkOnly(d.in.mem, cand, bannerLink+k); err == nil && got == pa {
					voff, kaslr = v, k
					l.VABitsActual, actualKnown = bits, true
					return true
				}
			}
			return false
		}
		// The image is placed at least page-aligned physically and KASLR
		// moves it in 2 MiB steps virtually: page congruence holds.
		if _, found := d.scanBanner(l.PageSize, accept); !found {
			return errors.New("no VMCOREINFO (KERNELOFFSET, kimage_voffset) and linux_banner not found in physical memory: give the KASLR offset")
		}
	}
	l.KASLROffset = kaslr
	l.KimageVoffset = voff
	bannerPA := bannerLink + kaslr - voff
	if !actualKnown {
		// Take the size whose walk agrees with the image arithmetic; if
		// none does, VA_BITS stays and the check reports the walk.
		l.VABitsActual = l.VABits
		cand := *l
		cand.PGDPhys = pgdLink + kaslr - voff
		if va, ok := d.vmciUint("SYMBOL(swapper_pg_dir)"); ok {
			cand.PGDPhys = va - voff
		}
		for _, bits := range actuals(bannerPA) {
			cand.VABitsActual = bits
			if got, err := walkOnly(d.in.mem, cand, bannerLink+kaslr); err == nil && got == bannerPA {
				l.VABitsActual = bits
				break
			}
		}
	}

	switch {
	case d.hints.PhysOffset != nil:
		l.PhysOffset = *d.hints.PhysOffset
	case d.vmciHas("NUMBER(PHYS_OFFSET)"):
		l.PhysOffset, _ = d.vmciUint("NUMBER(PHYS_OFFSET)")
	default:
		// memstart_addr is PHYS_OFFSET; KASLR also randomises it (the
		// linear map's placement), so the lowest RAM address is only a
		// last resort.
		if link, ok := d.syms.LinkAddr("memstart_addr"); ok {
			v, err := d.readPhysUint(link+kaslr-voff, 8)
			if err != nil {
				return fmt.Errorf("reading memstart_addr: %w", err)
			}
			l.PhysOffset = v
		} else if lo, ok := d.lowestRAM(); ok {
			l.PhysOffset = lo
		}
	}
	// Without VMCOREINFO a 52-bit kernel looks 48-bit: its image sits at
	// _PAGE_END(VA_BITS_MIN) either way, but its linear map starts at
	// _PAGE_OFFSET(52). Ask the page tables which PAGE_OFFSET maps the
	// banner's linear alias onto the banner.
	if !d.vmciHas("NUMBER(VA_BITS)") && d.hints.VABits == 0 && l.VABits == arm64VABitsMin(52, l.PageSize) &&
		l.PageOffset == -(uint64(1)<<l.VABits) {
		cand := *l
		cand.VABits = 52
		cand.PageOffset = -(uint64(1) << cand.VABits)
		cand.PGDPhys = pgdLink + kaslr - voff
		lin := bannerPA - cand.PhysOffset + cand.PageOffset
		if got, err := walkOnly(d.in.mem, cand, lin); err == nil && got == bannerPA {
			l.VABits, l.PageOffset = cand.VABits, cand.PageOffset
		}
	}
	if va, ok := d.vmciUint("SYMBOL(swapper_pg_dir)"); ok {
		l.PGDPhys = va - voff
	} else {
		l.PGDPhys = pgdLink + kaslr - voff
	}
	d.setImageBounds()
	return nil
}

// arm64VABitsMin is VA_BITS_MIN: what a kernel built for more than 48
// bits falls back to on a CPU without 52-bit VAs.
func arm64VABitsMin(vaBits int, pageSize uint64) int {
	switch {
	case vaBits <= 48:
		return vaBits
	case pageSize == 16384:
		return 47
	}
	return 48
}

// ------------------------------------------------------------------- arm

func (d *discoverer) arm() error {
	l := &d.l
	l.PageSize = 4096
	stext, err := d.sym("_stext")
	if err != nil {
		return err
	}
	// As crash does: the image starts a few pages into the linear map, and
	// PAGE_OFFSET (0xC0000000 3G/1G, 0x80000000 2G/2G, 0xB0000000...) is
	// 32 MiB aligned or more.
	l.PageOffset = stext &^ 0x1ffffff
	if d.hints.PageOffset != nil {
		l.PageOffset = *d.hints.PageOffset
	}
	if d.hints.KASLROffset != nil {
		l.KASLROffset = *d.hints.KASLROffset
	} else if v, ok := d.vmciUint("KERNELOFFSET"); ok {
		l.KASLROffset = v
	}
	bannerLink, err := d.sym("linux_banner")
	if err != nil {
		return err
	}
	pgdLink, err := d.sym("swapper_pg_dir")
	if err != nil {
		return err
	}
	lowmemPA := func(link, physOffset uint64) uint64 {
		return link + l.KASLROffset - l.PageOffset + physOffset
	}
	// With ARM_PATCH_PHYS_VIRT the kernel records PHYS_OFFSET's PFN; it
	// confirms a candidate better than the banner alone.
	pvLink, havePV := d.syms.LinkAddr("__pv_phys_pfn_offset")
	good := func(po uint64) bool {
		var b [14]byte
		if err := d.in.mem.ReadPhys(b[:], lowmemPA(bannerLink, po)); err != nil || string(b[:]) != "Linux version " {
			return false
		}
		if havePV {
			v, err := d.readPhysUint(lowmemPA(pvLink, po), 4)
			if err != nil || v<<12 != po {
				return false
			}
		}
		return true
	}
	switch {
	case d.hints.PhysOffset != nil:
		l.PhysOffset = *d.hints.PhysOffset
	case d.vmciHas("NUMBER(PHYS_OFFSET)"):
		l.PhysOffset, _ = d.vmciUint("NUMBER(PHYS_OFFSET)")
	default:
		// PHYS_OFFSET is the start of RAM: try each range's start, lowest
		// first; failing that, find the banner.
		ranges := d.in.ranges
		found := false
		// A filtered kdump lists many ranges; RAM starts among the first.
		for _, r := range ranges[:min(len(ranges), 16)] {
			if good(r.Start) {
				l.PhysOffset, found = r.Start, true
				break
			}
		}
		if !found {
			pa, ok := d.scanBanner(4096, func(pa uint64) bool {
				return good(pa - lowmemPA(bannerLink, 0))
			})
			if !ok {
				return errors.New("cannot find PHYS_OFFSET: linux_banner is at no RAM start's offset and not found in physical memory: give --phys-offset")
			}
			l.PhysOffset = pa - lowmemPA(bannerLink, 0)
		}
	}
	l.PGDPhys = lowmemPA(pgdLink, l.PhysOffset)

	// Classic or LPAE tables: the caller may know from DWARF; otherwise
	// ask swapper_pg_dir which walk maps the banner where the linear map
	// says it is.
	switch {
	case d.hints.LPAE != nil:
		l.LPAE = *d.hints.LPAE
	case d.vmciHas("CONFIG_ARM_LPAE"):
		v, _ := d.in.vmci.Get("CONFIG_ARM_LPAE")
		l.LPAE = v == "y"
	default:
		va := bannerLink + l.KASLROffset
		want := lowmemPA(bannerLink, l.PhysOffset)
		classic, lpae := *l, *l
		lpae.LPAE = true
		if pa, err := walkOnly(d.in.mem, classic, va); err == nil && pa == want {
			l.LPAE = false
		} else if pa, err := walkOnly(d.in.mem, lpae, va); err == nil && pa == want {
			l.LPAE = true
		} else {
			return fmt.Errorf("swapper_pg_dir at pa %#x maps linux_banner (%#x) with neither short nor long descriptors: wrong PHYS_OFFSET or PAGE_OFFSET?", l.PGDPhys, va)
		}
	}

	// high_memory ends lowmem; past it (vmalloc, highmem kmaps) only the
	// tables know.
	if link, ok := d.syms.LinkAddr("high_memory"); ok {
		if v, err := d.readPhysUint(lowmemPA(link, l.PhysOffset), 4); err == nil && v > l.PageOffset && v <= 0xffffffff {
			l.LinearEnd = v
		}
	}
	d.setImageBounds()
	return nil
}
