package dump

import (
	"errors"
	"fmt"
)

// arm64 discovers an arm64 layout in steps (arm64Discovery): page size and
// VA_BITS, where the image is (KASLR, kimage_voffset), vabits_actual,
// PHYS_OFFSET, a 52-bit linear map, swapper_pg_dir.
func (d *discoverer) arm64() error {
	a := &arm64Discovery{d: d, l: &d.l}
	return runSteps(a.sizes, a.symbols, a.image, a.vaBitsActual, a.physOffset, a.linear52, a.tables)
}

// arm64Discovery is one arm64 layout discovery's working state.
type arm64Discovery struct {
	d                   *discoverer
	l                   *KernelLayout
	bannerLink, pgdLink uint64
	actualKnown         bool // l.VABitsActual is settled
	kaslr, voff         uint64
	haveKASLR, haveVoff bool
}

// sizes settles the page size and VA_BITS (VMCOREINFO, hints, else a guess
// from the image's link address) and PAGE_OFFSET.
func (a *arm64Discovery) sizes() error {
	d, l := a.d, a.l
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
	return nil
}

// symbols looks up the image symbols the later steps place, and what
// VMCOREINFO says of vabits_actual: T1SZ (5.9+); a kernel of 48 bits or
// fewer runs with what it was built for.
func (a *arm64Discovery) symbols() error {
	d, l := a.d, a.l
	var err error
	if a.bannerLink, err = d.sym("linux_banner"); err != nil {
		return err
	}
	if a.pgdLink, err = d.sym("swapper_pg_dir"); err != nil {
		return err
	}
	if v, ok := d.vmciNumber("TCR_EL1_T1SZ"); ok && v > 0 && v < 64 {
		l.VABitsActual, a.actualKnown = 64-int(v), true
	} else if l.VABits <= 48 {
		l.VABitsActual, a.actualKnown = l.VABits, true
	}
	return nil
}

// actuals lists what vabits_actual may be, given where linux_banner lies
// physically: the variable (5.4..6.8) when the kernel has one, else both
// sizes a 52-bit kernel can run with; the page tables choose.
func (a *arm64Discovery) actuals(bannerPA uint64) []int {
	d, l := a.d, a.l
	if a.actualKnown {
		return []int{l.VABitsActual}
	}
	if v, err := d.imageVar("vabits_actual", 8, a.bannerLink, bannerPA); err == nil && v >= 36 && v <= uint64(l.VABits) {
		return []int{int(v)}
	}
	return []int{l.VABits, arm64VABitsMin(l.VABits, l.PageSize)}
}

// image finds the KASLR offset and kimage_voffset: from VMCOREINFO, else
// by finding linux_banner in physical memory where the page tables agree.
func (a *arm64Discovery) image() error {
	d, l := a.d, a.l
	a.kaslr, a.haveKASLR = d.kaslrFromVMCI()
	a.voff, a.haveVoff = d.vmciUint("NUMBER(kimage_voffset)")
	if !a.haveKASLR || !a.haveVoff {
		// The image is placed at least page-aligned physically and KASLR
		// moves it in 2 MiB steps virtually: page congruence holds.
		if _, found := d.scanBanner(l.PageSize, a.acceptBanner); !found {
			return errors.New("no VMCOREINFO (KERNELOFFSET, kimage_voffset) and linux_banner not found in physical memory: give the KASLR offset")
		}
	}
	l.KASLROffset = a.kaslr
	l.KimageVoffset = a.voff
	return nil
}

// acceptBanner checks a copy of linux_banner at pa: the layout it implies
// must walk the page tables to it.
func (a *arm64Discovery) acceptBanner(pa uint64) bool {
	d, l := a.d, a.l
	v := a.voff
	switch {
	case a.haveVoff:
	case a.haveKASLR:
		v = a.bannerLink + a.kaslr - pa
	default:
		var err error
		if v, err = d.imageVar("kimage_voffset", 8, a.bannerLink, pa); err != nil {
			return false
		}
	}
	k := pa + v - a.bannerLink
	if a.haveKASLR && k != a.kaslr {
		return false
	}
	cand := *l
	cand.KimageVoffset, cand.KASLROffset = v, k
	cand.PGDPhys = pa + (a.pgdLink - a.bannerLink)
	for _, bits := range a.actuals(pa) {
		cand.VABitsActual = bits
		if got, err := walkOnly(d.in.mem, cand, a.bannerLink+k); err == nil && got == pa {
			a.voff, a.kaslr = v, k
			l.VABitsActual, a.actualKnown = bits, true
			return true
		}
	}
	return false
}

// bannerPA is where linux_banner lies physically.
func (a *arm64Discovery) bannerPA() uint64 { return a.bannerLink + a.kaslr - a.voff }

// vaBitsActual takes the size whose walk agrees with the image arithmetic;
// if none does, VA_BITS stays and the final check reports the walk.
func (a *arm64Discovery) vaBitsActual() error {
	d, l := a.d, a.l
	if a.actualKnown {
		return nil
	}
	l.VABitsActual = l.VABits
	cand := *l
	cand.PGDPhys = a.pgdLink + a.kaslr - a.voff
	if va, ok := d.vmciUint("SYMBOL(swapper_pg_dir)"); ok {
		cand.PGDPhys = va - a.voff
	}
	for _, bits := range a.actuals(a.bannerPA()) {
		cand.VABitsActual = bits
		if got, err := walkOnly(d.in.mem, cand, a.bannerLink+a.kaslr); err == nil && got == a.bannerPA() {
			l.VABitsActual = bits
			break
		}
	}
	return nil
}

// physOffset settles PHYS_OFFSET: hint, VMCOREINFO, memstart_addr (which
// KASLR also randomises: the linear map's placement), else the lowest RAM.
func (a *arm64Discovery) physOffset() error {
	d, l := a.d, a.l
	if po, ok := d.physOffsetGiven(); ok {
		l.PhysOffset = po
	} else {
		if link, ok := d.syms.LinkAddr("memstart_addr"); ok {
			v, err := d.readPhysUint(link+a.kaslr-a.voff, 8)
			if err != nil {
				return fmt.Errorf("reading memstart_addr: %w", err)
			}
			l.PhysOffset = v
		} else if lo, ok := d.lowestRAM(); ok {
			l.PhysOffset = lo
		}
	}
	return nil
}

// linear52: without VMCOREINFO a 52-bit kernel looks 48-bit: its image
// sits at _PAGE_END(VA_BITS_MIN) either way, but its linear map starts at
// _PAGE_OFFSET(52). Ask the page tables which PAGE_OFFSET maps the
// banner's linear alias onto the banner.
func (a *arm64Discovery) linear52() error {
	d, l := a.d, a.l
	if d.vmciHas("NUMBER(VA_BITS)") || d.hints.VABits != 0 || l.VABits != arm64VABitsMin(52, l.PageSize) ||
		l.PageOffset != -(uint64(1)<<l.VABits) {
		return nil
	}
	cand := *l
	cand.VABits = 52
	cand.PageOffset = -(uint64(1) << cand.VABits)
	cand.PGDPhys = a.pgdLink + a.kaslr - a.voff
	lin := a.bannerPA() - cand.PhysOffset + cand.PageOffset
	if got, err := walkOnly(d.in.mem, cand, lin); err == nil && got == a.bannerPA() {
		l.VABits, l.PageOffset = cand.VABits, cand.PageOffset
	}
	return nil
}

// tables places swapper_pg_dir and the image bounds.
func (a *arm64Discovery) tables() error {
	d, l := a.d, a.l
	if va, ok := d.vmciUint("SYMBOL(swapper_pg_dir)"); ok {
		l.PGDPhys = va - a.voff
	} else {
		l.PGDPhys = a.pgdLink + a.kaslr - a.voff
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
