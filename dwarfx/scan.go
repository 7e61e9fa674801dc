package dwarfx

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
)

// DWARF constants used by the scanner (values from the DWARF 5 standard).
const (
	tagArrayType       = 0x01
	tagEnumerationType = 0x04
	tagMember          = 0x0d
	tagPointerType     = 0x0f
	tagCompileUnit     = 0x11
	tagStructType      = 0x13
	tagSubroutineType  = 0x15
	tagTypedef         = 0x16
	tagUnionType       = 0x17
	tagBaseType        = 0x24
	tagEnumerator      = 0x28
	tagSubprogram      = 0x2e
	tagVariable        = 0x34
	tagPartialUnit     = 0x3c

	atSibling        = 0x01
	atLocation       = 0x02
	atName           = 0x03
	atLowPC          = 0x11
	atHighPC         = 0x12
	atConstValue     = 0x1c
	atInline         = 0x20
	atAbstractOrigin = 0x31
	atDeclaration    = 0x3c
	atExternal       = 0x3f
	atSpecification  = 0x47
	atRanges         = 0x55
	atStrOffsetsBase = 0x72
	atAddrBase       = 0x73
	atRnglistsBase   = 0x74

	formAddr          = 0x01
	formBlock2        = 0x03
	formBlock4        = 0x04
	formData2         = 0x05
	formData4         = 0x06
	formData8         = 0x07
	formString        = 0x08
	formBlock         = 0x09
	formBlock1        = 0x0a
	formData1         = 0x0b
	formFlag          = 0x0c
	formSdata         = 0x0d
	formStrp          = 0x0e
	formUdata         = 0x0f
	formRefAddr       = 0x10
	formRef1          = 0x11
	formRef2          = 0x12
	formRef4          = 0x13
	formRef8          = 0x14
	formRefUdata      = 0x15
	formIndirect      = 0x16
	formSecOffset     = 0x17
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
	formGNUAddrIndex  = 0x1f01
	formGNUStrIndex   = 0x1f02
	formGNURefAlt     = 0x1f20
	formGNUStrpAlt    = 0x1f21

	opAddr         = 0x03
	opAddrx        = 0xa1
	opGNUAddrIndex = 0xfb
)

// Name kinds indexed.
const (
	kStruct uint8 = iota
	kUnion
	kEnum
	kTypedef
	kBase
	kVarDecl
	kEnumerator
	kNumKinds
)

// def is a variable or function definition.
type def struct {
	name string
	off  uint64 // DIE offset
	lo   uint64 // variable address or function entry
	hi   uint64 // function end (one past)
	ext  bool
	isFn bool
	next int32 // next def with the same name, -1 at the end
	rng  int32 // functions with DW_AT_ranges: index of first range in index.pcs, else -1
}

type pcRange struct {
	lo, hi uint64
	def    int32 // index into defs
}

type typeKey struct {
	kind uint8
	name string
}

type index struct {
	units    []unitInfo
	types    map[typeKey]cand // kStruct..kBase, kVarDecl, kEnumerator
	defs     []def
	vars     nameMap // head of the def chain
	funcs    nameMap
	pcs      []pcRange     // sorted by lo
	ranges   [][][2]uint64 // DW_AT_ranges of functions that have them (def.rng)
	warnings []error
	dies     uint64 // DIEs visited (statistics)
}

// scanner holds the sections and per-worker results.
type scanner struct {
	order    binary.ByteOrder
	info     []byte
	abbrev   []byte
	str      []byte
	strOff   []byte
	addr     []byte
	ranges   []byte
	rnglists []byte
	units    []unitInfo

	// reusable buffers (the table is valid while one unit is scanned)
	attrBuf  []abbrevAttr
	planBuf  []planOp
	spanBuf  []abbrevSpan
	denseBuf []abbrev
	tabBuf   abbrevTable

	fp    maphash.Hash
	enums map[uint64]uint64 // fingerprints of the enumerations indexed: the lowest offset

	// per-worker results
	keep  bool     // merge keeps them: a lazy run's, merged again into the full index (lazy.go)
	m     keyTable // name key -> index into cands
	cands []cand
	rngs  [][][2]uint64 // DW_AT_ranges of functions (wdef.rng)
	defs  []wdef
	pcs   []wpc
	errs  []error
	dies  uint64

	// per-unit state
	u           *unitInfo
	tab         *abbrevTable
	strBase     uint64
	addrBase    uint64
	rngBase     uint64
	cuBase      uint64
	offsize     int
	haveStrBase bool
}

type wdef struct {
	key    nameKey // nkNone: resolve ref later
	ref    uint64  // unresolved name reference (section offset)
	off    uint64
	lo, hi uint64
	rng    int32 // index into the scanner's rngs, -1 if none
	ext    bool
	isFn   bool
}

type wpc struct {
	lo, hi uint64
	def    int32 // index into the worker's defs
}

func (s *scanner) fail(off uint64, format string, args ...any) error {
	return &FormatError{Section: ".debug_info", Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// buildIndex scans the units of the image (parseUnits; uerr is its
// warning) in parallel and merges the workers' results with those of the
// runs of units lookups scanned meanwhile (lazy.go): the workers scan the
// back half of .debug_info, then what the lookups left of the front half,
// so that no unit is scanned twice. It is nil if the build was abandoned
// (Close handed the index off).
func buildIndex(im *Image, uerr error) *index {
	units := im.units
	idx := &index{units: units}
	if uerr != nil {
		idx.warnings = append(idx.warnings, uerr)
	}
	// One core is left to the process's own work (its first answer): a
	// caller that waits for the index scans with the workers instead
	// (lazyScan.help).
	nw := runtime.GOMAXPROCS(0) - 1
	if nw > len(units) {
		nw = len(units)
	}
	if nw < 1 {
		nw = 1
	}
	// Units are scanned in file order within each half, so the scanned
	// part of each grows steadily and its pages can be released behind the
	// workers in a few large steps (release.go). Which unit's definition of
	// a name wins is decided by cand.better, not by the order.
	workers := make([]*scanner, 2*nw)
	claims := &im.lazy.claims
	var wg sync.WaitGroup
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newScanner(im, units, 16)
			workers[w] = s
			for i, ok := claims.back(); ok; i, ok = claims.back() {
				s.scanUnits(i, i+1, im.lazy.rel)
			}
			// The front half comes before the back half in the file: its
			// units go to another scanner (seenEnum).
			s = newScanner(im, units, 12)
			workers[nw+w] = s
			for lo, hi := claims.front(lazyFirstRun); lo < hi; lo, hi = claims.front(lazyFirstRun) {
				s.scanUnits(lo, hi, im.lazy.rel)
			}
		}()
	}
	wg.Wait()
	if claims.abandoned() {
		return nil // handed off: nothing will read the index
	}
	merge(idx, append(workers, im.lazy.scanners()...), im)
	return idx
}

// scanUnits scans units[lo:hi], noting the errors and telling rel (if
// set) which units are done.
func (s *scanner) scanUnits(lo, hi int, rel *releaser) {
	for i := lo; i < hi; i++ {
		if err := s.scanUnitSafe(&s.units[i]); err != nil {
			s.errs = append(s.errs, err)
		}
		if rel != nil {
			rel.done(i)
		}
	}
}

// newScanner is a scanner of the image's units; its tables start with room
// for about 1<<bits names (a worker of the full scan meets ~1<<16).
func newScanner(im *Image, units []unitInfo, bits uint) *scanner {
	return &scanner{
		order:    im.order,
		info:     im.sects[".debug_info"],
		abbrev:   im.sects[".debug_abbrev"],
		str:      im.sects[".debug_str"],
		strOff:   im.sects[".debug_str_offsets"],
		addr:     im.sects[".debug_addr"],
		ranges:   im.sects[".debug_ranges"],
		rnglists: im.sects[".debug_rnglists"],
		units:    units,
		m:        newKeyTable(bits),
		defs:     make([]wdef, 0, 1<<bits),
		pcs:      make([]wpc, 0, 1<<(bits-1)),
		cands:    make([]cand, 0, 1<<(bits-1)),
		enums:    make(map[uint64]uint64, 1<<(bits-4)),
	}
}

// scanUnitSafe scans one unit, turning any out-of-range access on malformed
// data into an error.
func (s *scanner) scanUnitSafe(u *unitInfo) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.fail(u.off, "malformed unit: %v", r)
		}
	}()
	return s.scanUnit(u)
}

// scanUnit walks one unit's DIEs with its abbreviation plans and records
// what the index wants. It is the scanner's hot loop — the one place every
// DIE of a 600 MB vmlinux passes through — and is kept whole on purpose:
// its state (depth, parents, the pending definition) lives in locals the
// compiler keeps in registers.
func (s *scanner) scanUnit(u *unitInfo) error {
	s.u = u
	s.offsize = 4
	if u.is64 {
		s.offsize = 8
	}
	s.haveStrBase, s.strBase, s.addrBase, s.rngBase, s.cuBase = false, 0, 0, 0, 0
	if u.utype != 1 && u.utype != 3 { // only compile and partial units
		return nil
	}
	tab, err := s.parseAbbrevs(u)
	if err != nil {
		return err
	}
	s.tab = tab
	b := s.info[:u.end]
	p := int(u.dieOff)

	// The unit DIE: find the DWARF 5 bases first.
	code, p := uleb(b, p)
	if p < 0 || code == 0 {
		return nil
	}
	ab := tab.get(code)
	if ab == nil {
		return s.fail(u.off, "unit DIE: unknown abbreviation code %d", code)
	}
	q := p
	for i := range ab.attrs {
		a := &ab.attrs[i]
		var v uint64
		switch a.attr {
		case atStrOffsetsBase, atAddrBase, atRnglistsBase, atLowPC:
			v, q = s.readUint(b, a.form, q)
			switch a.attr {
			case atStrOffsetsBase:
				s.strBase, s.haveStrBase = v, true
			case atAddrBase:
				s.addrBase = v
			case atRnglistsBase:
				s.rngBase = v
			case atLowPC:
				if a.form == formAddr {
					s.cuBase = v
				}
			}
		default:
			if a.form == formImplicitConst {
				continue
			}
			q = s.skipForm(b, a.form, q)
		}
		if q < 0 {
			return s.fail(u.off, "truncated unit DIE")
		}
	}
	if !s.haveStrBase && u.vers >= 5 {
		// DWARF 5 without DW_AT_str_offsets_base: the first table's entries
		// follow its 8- or 16-byte header.
		s.strBase, s.haveStrBase = uint64(2*s.offsize), true
	}
	p = q
	if !ab.children {
		return nil
	}
	depth := 1
	inEnum := false
	var enumOff uint64
	var enumDecl bool
	var d dieAttrs
	dies := uint64(1)
	for p < len(b) {
		dieOff := p
		code, p = uleb(b, p)
		if p < 0 {
			break
		}
		if code == 0 {
			depth--
			if depth <= 0 {
				break
			}
			if depth == 1 {
				inEnum = false
			}
			continue
		}
		dies++
		ab := tab.get(code)
		if ab == nil {
			return s.fail(uint64(dieOff), "unknown abbreviation code %d", code)
		}
		if depth == 1 && interesting(ab.tag) {
			p = s.readAttrs(b, ab, p, &d)
			if p < 0 {
				return s.fail(uint64(dieOff), "truncated DIE")
			}
			s.record(ab.tag, uint64(dieOff), &d)
			if ab.children {
				if ab.tag == tagEnumerationType {
					// Headers repeat the same enumerations in every unit:
					// an enumeration whose enumerators are byte-for-byte
					// those of one already indexed is skipped whole.
					if end, dup := s.seenEnum(b, p, d.name, uint64(dieOff)); dup {
						p = end
						continue
					}
					depth++
					inEnum, enumOff, enumDecl = true, uint64(dieOff), d.decl
				} else if d.hasSib && d.sibling > uint64(dieOff) && d.sibling <= u.end {
					p = int(d.sibling)
				} else {
					depth++
				}
			}
			continue
		}
		if depth == 2 && inEnum && ab.tag == tagEnumerator {
			p = s.readAttrs(b, ab, p, &d)
			if p < 0 {
				return s.fail(uint64(dieOff), "truncated DIE")
			}
			if d.name != nkNone && d.hasCval {
				c := cand{off: enumOff, decl: enumDecl, val: d.cval}
				s.put(withKind(d.name, kEnumerator), c)
			}
			if ab.children {
				depth++
			}
			continue
		}
		var sib uint64
		var hasSib bool
		p, sib, hasSib = s.skipAttrs(b, ab, p)
		if p < 0 || p > len(b) {
			return s.fail(uint64(dieOff), "truncated DIE")
		}
		if ab.children {
			if hasSib && sib > uint64(dieOff) && sib <= u.end {
				p = int(sib)
			} else {
				depth++
			}
		}
	}
	s.dies += dies
	return nil
}

func interesting(tag uint32) bool {
	switch tag {
	case tagStructType, tagUnionType, tagEnumerationType, tagTypedef, tagBaseType, tagVariable, tagSubprogram:
		return true
	}
	return false
}

// record notes a top-level DIE; for a type it reports whether a definition
// of that name was known already.
func (s *scanner) record(tag uint32, off uint64, d *dieAttrs) bool {
	var kind uint8
	switch tag {
	case tagStructType:
		kind = kStruct
	case tagUnionType:
		kind = kUnion
	case tagEnumerationType:
		kind = kEnum
	case tagTypedef:
		kind = kTypedef
	case tagBaseType:
		kind = kBase
	case tagVariable:
		if d.hasLoc {
			s.addDef(off, d, false)
			return false
		}
		if d.name == nkNone || !d.decl {
			return false
		}
		kind = kVarDecl
		s.put(withKind(d.name, kind), cand{off: off})
		return false
	case tagSubprogram:
		if d.decl || !(d.hasLow || d.hasRanges) {
			return false
		}
		s.addDef(off, d, true)
		return false
	default:
		return false
	}
	if d.name == nkNone {
		return false
	}
	s.put(withKind(d.name, kind), cand{off: off, decl: d.decl})
	return true
}

// seenEnum fingerprints the children of an enumeration (whose children
// start at p): the tag's name and, for each child, the shape of its
// abbreviation (not its code, which differs between units) and its attribute
// bytes (which hold global .debug_str offsets and values). It reports the
// position after the enumeration and whether the same fingerprint was met
// before at a lower offset than off; if not, off is remembered. The lowest
// offset wins as cand.better has it: every scanner meets its units in file
// order (lazy.go's unitClaims), so a repeat is always further down, but a
// repeat met lower down would give its enumerators its offset.
func (s *scanner) seenEnum(b []byte, p int, name nameKey, off uint64) (int, bool) {
	h := &s.fp
	h.Reset()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], name)
	h.Write(buf[:])
	n := 0
	for p < len(b) {
		code, q := uleb(b, p)
		if q < 0 {
			return 0, false
		}
		if code == 0 {
			if n == 0 {
				return 0, false
			}
			sum := h.Sum64()
			if low, ok := s.enums[sum]; ok && low <= off {
				return q, true
			}
			s.enums[sum] = off
			return 0, false
		}
		ab := s.tab.get(code)
		if ab == nil || ab.children {
			return 0, false
		}
		end, _, _ := s.skipAttrs(b, ab, q)
		if end < 0 || end > len(b) {
			return 0, false
		}
		binary.LittleEndian.PutUint64(buf[:], ab.shape)
		h.Write(buf[:])
		h.Write(b[q:end])
		p = end
		n++
	}
	return 0, false
}

func (s *scanner) addDef(off uint64, d *dieAttrs, isFn bool) {
	w := wdef{key: d.name, off: off, ext: d.ext, isFn: isFn, rng: -1}
	if d.name == nkNone {
		if !d.hasRef {
			return
		}
		// Name (and external flag) come from the declaration or abstract
		// instance referred to.
		k, ext, ok := s.refName(d.ref, 0)
		if ok {
			w.key = k
			w.ext = w.ext || ext
		} else {
			w.ref = d.ref
		}
	}
	if !isFn {
		w.lo = d.loc
		s.defs = append(s.defs, w)
		return
	}
	if d.hasLow {
		w.lo = d.lowpc
		w.hi = d.highpc
		if d.highIsOff {
			w.hi = d.lowpc + d.highpc
		}
		if !d.hasHigh || w.hi < w.lo {
			w.hi = w.lo
		}
	}
	var rngs [][2]uint64
	if d.hasRanges {
		rngs = s.readRanges(d.ranges, d.rangesX)
		if len(rngs) > 0 {
			if !d.hasLow {
				w.lo, w.hi = rngs[0][0], rngs[0][1]
			}
			w.rng = int32(len(s.rngs))
			s.rngs = append(s.rngs, rngs)
		}
	}
	i := int32(len(s.defs))
	s.defs = append(s.defs, w)
	if len(rngs) > 0 {
		for _, r := range rngs {
			s.pcs = append(s.pcs, wpc{lo: r[0], hi: r[1], def: i})
		}
	} else if w.hi > w.lo {
		s.pcs = append(s.pcs, wpc{lo: w.lo, hi: w.hi, def: i})
	}
}

// refName reads the name of the DIE at section offset off, which must lie in
// the current unit, following specification/abstract_origin chains.
func (s *scanner) refName(off uint64, depth int) (nameKey, bool, bool) {
	u := s.u
	if depth > 4 || off < u.dieOff || off >= u.end {
		return nkNone, false, false
	}
	b := s.info[:u.end]
	code, p := uleb(b, int(off))
	if p < 0 || code == 0 {
		return nkNone, false, false
	}
	ab := s.tab.get(code)
	if ab == nil {
		return nkNone, false, false
	}
	var d dieAttrs
	if s.readAttrs(b, ab, p, &d) < 0 {
		return nkNone, false, false
	}
	if d.name != nkNone {
		return d.name, d.ext, true
	}
	if d.hasRef {
		k, ext, ok := s.refName(d.ref, depth+1)
		return k, ext || d.ext, ok
	}
	return nkNone, false, false
}
