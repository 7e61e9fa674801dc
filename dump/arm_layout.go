package dump

import (
	"errors"
	"fmt"
)

// arm discovers a 32-bit arm layout in steps (armDiscovery): PAGE_OFFSET
// and KASLR, PHYS_OFFSET, classic or LPAE tables, the end of lowmem.
func (d *discoverer) arm() error {
	a := &armDiscovery{d: d, l: &d.l}
	if err := runSteps(a.offsets, a.physOffset, a.lpae, a.lowmemEnd); err != nil {
		return err
	}
	d.setImageBounds()
	return nil
}

// armDiscovery is one arm layout discovery's working state.
type armDiscovery struct {
	d                   *discoverer
	l                   *KernelLayout
	bannerLink, pgdLink uint64
	pvLink              uint64 // __pv_phys_pfn_offset, if havePV
	havePV              bool
}

// offsets settles PAGE_OFFSET as crash does: the image starts a few pages
// into the linear map, and PAGE_OFFSET (0xC0000000 3G/1G, 0x80000000
// 2G/2G, 0xB0000000...) is 32 MiB aligned or more; then KASLR.
func (a *armDiscovery) offsets() error {
	d, l := a.d, a.l
	l.PageSize = 4096
	stext, err := d.sym("_stext")
	if err != nil {
		return err
	}
	l.PageOffset = stext &^ 0x1ffffff
	if d.hints.PageOffset != nil {
		l.PageOffset = *d.hints.PageOffset
	}
	if d.hints.KASLROffset != nil {
		l.KASLROffset = *d.hints.KASLROffset
	} else if v, ok := d.vmciUint("KERNELOFFSET"); ok {
		l.KASLROffset = v
	}
	if a.bannerLink, err = d.sym("linux_banner"); err != nil {
		return err
	}
	if a.pgdLink, err = d.sym("swapper_pg_dir"); err != nil {
		return err
	}
	// With ARM_PATCH_PHYS_VIRT the kernel records PHYS_OFFSET's PFN; it
	// confirms a candidate better than the banner alone.
	a.pvLink, a.havePV = d.syms.LinkAddr("__pv_phys_pfn_offset")
	return nil
}

// lowmemPA is the physical address of an image symbol's link address
// under PHYS_OFFSET physOffset.
func (a *armDiscovery) lowmemPA(link, physOffset uint64) uint64 {
	return link + a.l.KASLROffset - a.l.PageOffset + physOffset
}

// good reports whether PHYS_OFFSET po puts linux_banner (and
// __pv_phys_pfn_offset's value) where they belong.
func (a *armDiscovery) good(po uint64) bool {
	d := a.d
	var b [14]byte
	if err := d.in.mem.ReadPhys(b[:], a.lowmemPA(a.bannerLink, po)); err != nil || string(b[:]) != "Linux version " {
		return false
	}
	if a.havePV {
		v, err := d.readPhysUint(a.lowmemPA(a.pvLink, po), 4)
		if err != nil || v<<12 != po {
			return false
		}
	}
	return true
}

// physOffset settles PHYS_OFFSET, the start of RAM: hint, VMCOREINFO, each
// range's start lowest first, else where linux_banner is found.
func (a *armDiscovery) physOffset() error {
	d, l := a.d, a.l
	if po, ok := d.physOffsetGiven(); ok {
		l.PhysOffset = po
	} else {
		ranges := d.in.ranges
		found := false
		// A filtered kdump lists many ranges; RAM starts among the first.
		for _, r := range ranges[:min(len(ranges), 16)] {
			if a.good(r.Start) {
				l.PhysOffset, found = r.Start, true
				break
			}
		}
		if !found {
			pa, ok := d.scanBanner(4096, func(pa uint64) bool {
				return a.good(pa - a.lowmemPA(a.bannerLink, 0))
			})
			if !ok {
				return errors.New("cannot find PHYS_OFFSET: linux_banner is at no RAM start's offset and not found in physical memory: give --phys-offset")
			}
			l.PhysOffset = pa - a.lowmemPA(a.bannerLink, 0)
		}
	}
	l.PGDPhys = a.lowmemPA(a.pgdLink, l.PhysOffset)
	return nil
}

// lpae settles classic or LPAE tables: the caller may know from DWARF;
// otherwise ask swapper_pg_dir which walk maps the banner where the
// linear map says it is.
func (a *armDiscovery) lpae() error {
	d, l := a.d, a.l
	switch {
	case d.hints.LPAE != nil:
		l.LPAE = *d.hints.LPAE
	case d.vmciHas("CONFIG_ARM_LPAE"):
		v, _ := d.in.vmci.Get("CONFIG_ARM_LPAE")
		l.LPAE = v == "y"
	default:
		va := a.bannerLink + l.KASLROffset
		want := a.lowmemPA(a.bannerLink, l.PhysOffset)
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
	return nil
}

// lowmemEnd reads high_memory, the end of lowmem; past it (vmalloc,
// highmem kmaps) only the tables know.
func (a *armDiscovery) lowmemEnd() error {
	d, l := a.d, a.l
	if link, ok := d.syms.LinkAddr("high_memory"); ok {
		if v, err := d.readPhysUint(a.lowmemPA(link, l.PhysOffset), 4); err == nil && v > l.PageOffset && v <= 0xffffffff {
			l.LinearEnd = v
		}
	}
	return nil
}
