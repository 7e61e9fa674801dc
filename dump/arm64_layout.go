package dump

import (
	"errors"
	"fmt"
)

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
