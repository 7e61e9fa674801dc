package dump

import (
	"encoding/binary"
	"errors"
	"fmt"
)

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
