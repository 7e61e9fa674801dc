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

// x86_64 discovers an x86_64 layout in steps (x86Discovery): paging
// mode, where the image is (KASLR, phys_base), the top-level page table,
// and the direct map's bounds.
func (d *discoverer) x86_64() error {
	x := &x86Discovery{d: d, l: &d.l}
	if err := runSteps(x.paging, x.symbols, x.image, x.tables, x.directMap); err != nil {
		return err
	}
	d.setImageBounds()
	return nil
}

// x86Discovery is one x86_64 layout discovery's working state.
type x86Discovery struct {
	d                *discoverer
	l                *KernelLayout
	crs              [][5]uint64 // control registers from QEMU's notes
	bannerLink       uint64
	pgdLink          uint64
	havePGD          bool
	cr3PGD           uint64 // a CPU's kernel top-level table, 0 if none
	kaslr            uint64
	physBase         int64
	haveKASLR, haveP bool
}

// paging settles 4- or 5-level paging (VMCOREINFO, else CR4.LA57 of any
// CPU) and AMD's memory-encryption mask.
func (x *x86Discovery) paging() error {
	d, l := x.d, x.l
	l.PageSize = 4096
	l.PGTableLevels = 4
	x.crs = qemuControlRegs(d.in.notes)
	if v, ok := d.vmciNumber("pgtable_l5_enabled"); ok {
		if v != 0 {
			l.PGTableLevels = 5
		}
	} else {
		for _, cr := range x.crs {
			if cr[4]&(1<<12) != 0 { // CR4.LA57
				l.PGTableLevels = 5
				break
			}
		}
	}
	if v, ok := d.vmciNumber("sme_mask"); ok {
		l.SMEMask = uint64(v)
	}
	return nil
}

// symbols looks up linux_banner and the top-level page table
// (init_top_pgt, init_level4_pgt before 4.13), and takes a CPU's CR3: any
// CPU's tables map the kernel half like init_top_pgt does. With PTI, CR3
// may hold the user copy (bit 12 set; the pair is 8 KiB aligned), whose
// kernel half maps almost nothing: take the kernel one.
func (x *x86Discovery) symbols() error {
	d := x.d
	var err error
	if x.bannerLink, err = d.sym("linux_banner"); err != nil {
		return err
	}
	x.pgdLink, x.havePGD = d.syms.LinkAddr("init_top_pgt")
	if !x.havePGD {
		x.pgdLink, x.havePGD = d.syms.LinkAddr("init_level4_pgt")
	}
	for _, cr := range x.crs {
		if cr[3] != 0 {
			x.cr3PGD = cr[3] & x86AddrMask &^ (1 << 12)
			break
		}
	}
	return nil
}

// image finds the KASLR offset and phys_base: from VMCOREINFO, else by
// finding the image in physical memory. Both KASLR displacements are
// multiples of 2 MiB (CONFIG_PHYSICAL_ALIGN), so the banner's physical
// address is congruent to its link address modulo 2 MiB.
func (x *x86Discovery) image() error {
	d, l := x.d, x.l
	x.kaslr, x.haveKASLR = d.kaslrFromVMCI()
	x.physBase, x.haveP = d.vmciNumber("phys_base")
	if !x.haveKASLR || !x.haveP {
		if _, found := d.scanBanner(1<<21, x.acceptBanner); !found {
			return errors.New("no VMCOREINFO (KERNELOFFSET, phys_base) and linux_banner not found in physical memory: give the KASLR offset")
		}
	}
	l.KASLROffset = x.kaslr
	l.PhysBase = x.physBase
	return nil
}

// acceptBanner checks a copy of linux_banner at pa: the page tables must
// map the banner's runtime address to it; with none to ask, the first
// match wins.
func (x *x86Discovery) acceptBanner(pa uint64) bool {
	d := x.d
	pb := x.physBase
	switch {
	case x.haveP:
	case x.haveKASLR:
		pb = int64(pa - (x.bannerLink + x.kaslr - x86StartKernelMap))
	default:
		v, err := d.imageVar("phys_base", 8, x.bannerLink, pa)
		if err != nil {
			return false
		}
		pb = int64(v)
	}
	k := pa + x86StartKernelMap - uint64(pb) - x.bannerLink
	if x.haveKASLR && k != x.kaslr {
		return false
	}
	cand := *x.l
	cand.PhysBase, cand.KASLROffset = pb, k
	switch {
	case x.havePGD:
		cand.PGDPhys = pa + (x.pgdLink - x.bannerLink)
	case x.cr3PGD != 0:
		cand.PGDPhys = x.cr3PGD
	}
	if cand.PGDPhys != 0 {
		got, err := walkOnly(d.in.mem, cand, x.bannerLink+k)
		if err != nil || got != pa {
			return false
		}
	}
	x.physBase, x.kaslr = pb, k
	return true
}

// imagePA is the physical address of an image symbol's link address.
func (x *x86Discovery) imagePA(link uint64) uint64 {
	return link + x.kaslr - x86StartKernelMap + uint64(x.physBase)
}

// tables places the top-level page table: VMCOREINFO, the symbol, else CR3.
func (x *x86Discovery) tables() error {
	d, l := x.d, x.l
	switch {
	case d.in.vmci != nil && d.vmciHas("SYMBOL(init_top_pgt)"):
		va, _ := d.vmciUint("SYMBOL(init_top_pgt)")
		l.PGDPhys = va - x86StartKernelMap + uint64(x.physBase)
	case x.havePGD:
		l.PGDPhys = x.imagePA(x.pgdLink)
	default:
		l.PGDPhys = x.cr3PGD
	}
	return nil
}

// directMap bounds the direct map: page_offset_base is a variable with
// CONFIG_RANDOMIZE_MEMORY, which also packs the regions after the direct
// map with random gaps sized to the RAM rather than the architectural 64
// TiB: vmalloc (vmapped stacks) and vmemmap can start well inside the
// default direct-map span, so the direct map ends where the next begins.
func (x *x86Discovery) directMap() error {
	d, l := x.d, x.l
	l.PageOffsetBase = x86PageOffset4
	if l.PGTableLevels == 5 {
		l.PageOffsetBase = x86PageOffset5
	}
	if link, ok := d.syms.LinkAddr("page_offset_base"); ok {
		v, err := d.readPhysUint(x.imagePA(link), 8)
		if err != nil {
			return fmt.Errorf("reading page_offset_base: %w", err)
		}
		// Randomised in PUD (1 GiB) steps within the kernel half.
		if v>>63 == 0 || v&(1<<30-1) != 0 {
			return fmt.Errorf("page_offset_base reads %#x: not a plausible direct-map base (wrong KASLR offset or phys_base %#x?)", v, x.physBase)
		}
		l.PageOffsetBase = v
	}
	l.PageOffset = l.PageOffsetBase
	for _, name := range []string{"vmalloc_base", "vmemmap_base"} {
		link, ok := d.syms.LinkAddr(name)
		if !ok {
			continue
		}
		v, err := d.readPhysUint(x.imagePA(link), 8)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if v > l.PageOffsetBase && (l.LinearEnd == 0 || v < l.LinearEnd) {
			l.LinearEnd = v
		}
	}
	return nil
}
