package dump

import (
	"errors"
	"fmt"
)

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
