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
	spec, err := lookupSpec(arch, "layout discovery")
	if err != nil {
		return KernelLayout{}, err
	}
	if err := spec.discover(d); err != nil {
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

// runSteps runs a discoverer's named steps in order, stopping at the
// first that fails.
func runSteps(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// physOffsetGiven is PHYS_OFFSET when the user's hint or VMCOREINFO gives
// it (arm, arm64).
func (d *discoverer) physOffsetGiven() (uint64, bool) {
	if d.hints.PhysOffset != nil {
		return *d.hints.PhysOffset, true
	}
	if d.vmciHas("NUMBER(PHYS_OFFSET)") {
		v, _ := d.vmciUint("NUMBER(PHYS_OFFSET)")
		return v, true
	}
	return 0, false
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
	spec, err := lookupSpec(l.Arch, "page-table walk")
	if err != nil {
		return 0, err
	}
	return spec.walk(mem, l, va)
}

func (d *discoverer) vmciHas(key string) bool {
	if d.in.vmci == nil {
		return false
	}
	_, ok := d.in.vmci.Get(key)
	return ok
}
