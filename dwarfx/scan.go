package dwarfx

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
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

// unitInfo describes one unit of .debug_info.
type unitInfo struct {
	off       uint64 // unit header offset
	end       uint64 // one past the unit
	dieOff    uint64 // first DIE
	abbrevOff uint64
	vers      uint8
	asize     uint8
	is64      bool
	utype     uint8
}

func (u *unitInfo) size() uint32 {
	s := u.end - u.off
	if s > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(s)
}

// cand is a candidate DIE for a name: the best is kept (see better).
type cand struct {
	off  uint64 // DIE offset (enumerators: the enumeration type's DIE)
	size uint32 // size of its unit: smaller units decode faster
	decl bool   // a declaration only
	val  int64  // enumerators: the value
}

// better reports whether a should be preferred to b: definitions first, then
// the smallest unit, then the lowest offset (so that the choice does not
// depend on the order the parallel scan met them).
func (a cand) better(b cand) bool {
	if a.decl != b.decl {
		return !a.decl
	}
	if a.size != b.size {
		return a.size < b.size
	}
	return a.off < b.off
}

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
	vars     map[string]int32 // head of the def chain
	funcs    map[string]int32
	pcs      []pcRange     // sorted by lo
	ranges   [][][2]uint64 // DW_AT_ranges of functions that have them (def.rng)
	warnings []error
	dies     uint64 // DIEs visited (statistics)
}

// nameKey identifies a name during the scan without materialising a string:
//
//	bit 63 = 0: bits 0..59 hold a .debug_str offset
//	bit 63 = 1, bit 59 = 0: an inline string of <= 7 bytes, packed in bits 0..55, its length in 56..58
//	bit 63 = 1, bit 59 = 1: an inline string at .debug_info offset bits 0..58
//
// Bits 60..62 hold the kind.
type nameKey = uint64

const (
	nkInline  = 1 << 63
	nkLong    = 1 << 59
	nkPayload = 1<<59 - 1
	nkNone    = ^uint64(0)
)

func withKind(k nameKey, kind uint8) uint64 { return k&^(7<<60) | uint64(kind)<<60 }

type abbrevAttr struct {
	attr uint32
	form uint32
	size int32 // fixed size in bytes, -1 if variable
	ic   int64 // DW_FORM_implicit_const value
}

type abbrev struct {
	tag      uint32
	children bool
	fixed    int32 // total size of all attributes if all are fixed, else -1
	attrs    []abbrevAttr
	shape    uint64 // enumerators: hash of tag, children flag and attribute specs (not the code)
	plan     []planOp
	tail     int32 // fixed bytes after the last plan step
	sibOff   int32 // offset of a ref1/2/4/8 DW_AT_sibling when all before it are fixed-size, else -1
	sibForm  uint32
}

// planOp is a step of an abbreviation's plan for readAttrs: skip pre bytes
// (fixed-size attributes of no interest), then handle attribute idx (one of
// interest, or a variable-size one to skip).
type planOp struct {
	pre int32
	idx int32
}

// abbrevSpan is an abbreviation while its table is parsed.
type abbrevSpan struct {
	code               uint64
	tag                uint32
	children           bool
	fixed              int32
	start, end         int32
	planStart, planEnd int32
	tail               int32
	sibOff             int32
	sibForm            uint32
	shape              uint64
}

type abbrevTable struct {
	dense  []abbrev // indexed by code; tag 0 marks an unused code
	sparse map[uint64]*abbrev
}

func (t *abbrevTable) get(code uint64) *abbrev {
	if code < uint64(len(t.dense)) {
		if a := &t.dense[code]; a.tag != 0 {
			return a
		}
		return nil
	}
	if t.sparse != nil {
		return t.sparse[code]
	}
	return nil
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
	enums map[uint64]struct{} // fingerprints of the enumerations indexed

	// per-worker results
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

// parseUnits lists the units of .debug_info.
func parseUnits(info []byte, order binary.ByteOrder) ([]unitInfo, error) {
	var units []unitInfo
	p := uint64(0)
	n := uint64(len(info))
	for p < n {
		if n-p < 11 {
			return units, &FormatError{Section: ".debug_info", Offset: p, Msg: "truncated unit header"}
		}
		u := unitInfo{off: p}
		l := uint64(order.Uint32(info[p:]))
		q := p + 4
		if l == 0xffffffff {
			if n-q < 8 {
				return units, &FormatError{Section: ".debug_info", Offset: p, Msg: "truncated 64-bit unit header"}
			}
			l = order.Uint64(info[q:])
			q += 8
			u.is64 = true
		} else if l >= 0xfffffff0 {
			return units, &FormatError{Section: ".debug_info", Offset: p, Msg: fmt.Sprintf("reserved unit length %#x", l)}
		}
		if l > n-q {
			return units, &FormatError{Section: ".debug_info", Offset: p, Msg: fmt.Sprintf("unit length %#x runs past the section end", l)}
		}
		u.end = q + l
		if l < 2 {
			p = u.end
			continue
		}
		u.vers = uint8(order.Uint16(info[q:]))
		vers := order.Uint16(info[q:])
		q += 2
		osz := uint64(4)
		if u.is64 {
			osz = 8
		}
		readOff := func() (uint64, bool) {
			if q+osz > u.end {
				return 0, false
			}
			var v uint64
			if osz == 8 {
				v = order.Uint64(info[q:])
			} else {
				v = uint64(order.Uint32(info[q:]))
			}
			q += osz
			return v, true
		}
		var ok bool
		switch {
		case vers >= 2 && vers <= 4:
			if u.abbrevOff, ok = readOff(); !ok || q >= u.end {
				return units, &FormatError{Section: ".debug_info", Offset: p, Msg: "truncated unit header"}
			}
			u.asize = info[q]
			q++
			u.utype = 1
		case vers == 5:
			if q+2 > u.end {
				return units, &FormatError{Section: ".debug_info", Offset: p, Msg: "truncated unit header"}
			}
			u.utype = info[q]
			u.asize = info[q+1]
			q += 2
			if u.abbrevOff, ok = readOff(); !ok {
				return units, &FormatError{Section: ".debug_info", Offset: p, Msg: "truncated unit header"}
			}
			switch u.utype {
			case 4, 5: // skeleton, split_compile
				q += 8
			case 2, 6: // type, split_type
				q += 8 + osz
			}
		default:
			return units, &FormatError{Section: ".debug_info", Offset: p, Msg: fmt.Sprintf("unsupported DWARF version %d", vers)}
		}
		if u.asize != 4 && u.asize != 8 && u.asize != 2 {
			return units, &FormatError{Section: ".debug_info", Offset: p, Msg: fmt.Sprintf("unsupported address size %d", u.asize)}
		}
		if q > u.end {
			return units, &FormatError{Section: ".debug_info", Offset: p, Msg: "truncated unit header"}
		}
		u.dieOff = q
		units = append(units, u)
		p = u.end
	}
	return units, nil
}

func buildIndex(im *Image) (*index, error) {
	info := im.sects[".debug_info"]
	units, uerr := parseUnits(info, im.order)
	if len(units) == 0 && uerr != nil {
		return nil, uerr
	}
	idx := &index{units: units}
	if uerr != nil {
		idx.warnings = append(idx.warnings, uerr)
	}

	nw := runtime.GOMAXPROCS(0)
	if nw > len(units) {
		nw = len(units)
	}
	if nw < 1 {
		nw = 1
	}
	order := make([]int32, len(units))
	for i := range order {
		order[i] = int32(i)
	}
	// Units are scanned in file order, so the scanned prefix of
	// .debug_info grows steadily and its pages can be released behind the
	// workers in a few large steps (release.go). Which unit's definition of
	// a name wins is decided by cand.better, not by the order.
	workers := make([]*scanner, nw)
	rel := newReleaser(im, units)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		s := &scanner{
			order:    im.order,
			info:     info,
			abbrev:   im.sects[".debug_abbrev"],
			str:      im.sects[".debug_str"],
			strOff:   im.sects[".debug_str_offsets"],
			addr:     im.sects[".debug_addr"],
			ranges:   im.sects[".debug_ranges"],
			rnglists: im.sects[".debug_rnglists"],
			units:    units,
			m:        newKeyTable(16),
			defs:     make([]wdef, 0, 1<<16),
			pcs:      make([]wpc, 0, 1<<15),
			cands:    make([]cand, 0, 1<<15),
			enums:    make(map[uint64]struct{}, 1<<12),
		}
		workers[w] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(order)) {
					return
				}
				if err := s.scanUnitSafe(&units[order[i]]); err != nil {
					s.errs = append(s.errs, err)
				}
				rel.done(int(order[i]))
			}
		}()
	}
	wg.Wait()
	merge(idx, workers, im)
	return idx, nil
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

func uleb(b []byte, p int) (uint64, int) {
	if p < len(b) && b[p] < 0x80 {
		return uint64(b[p]), p + 1
	}
	return ulebSlow(b, p)
}

func ulebSlow(b []byte, p int) (uint64, int) {
	var v uint64
	var sh uint
	for p < len(b) {
		c := b[p]
		p++
		if sh < 64 {
			v |= uint64(c&0x7f) << sh
		}
		if c < 0x80 {
			return v, p
		}
		sh += 7
	}
	return v, -1
}

func sleb(b []byte, p int) (int64, int) {
	var v int64
	var sh uint
	for p < len(b) {
		c := b[p]
		p++
		if sh < 64 {
			v |= int64(c&0x7f) << sh
		}
		sh += 7
		if c < 0x80 {
			if sh < 64 && c&0x40 != 0 {
				v |= -1 << sh
			}
			return v, p
		}
	}
	return v, -1
}

func (s *scanner) parseAbbrevs(u *unitInfo) (*abbrevTable, error) {
	b := s.abbrev
	if u.abbrevOff >= uint64(len(b)) {
		return nil, s.fail(u.off, "abbrev offset %#x out of range", u.abbrevOff)
	}
	p := int(u.abbrevOff)
	osz := int32(4)
	if u.is64 {
		osz = 8
	}
	// Fixed form sizes for this unit's format.
	var sizes [formAddrx4 + 1]int32
	for f := range sizes {
		sizes[f] = formSize(uint32(f), int32(u.asize), osz, u.vers)
	}
	// Attributes and plan steps go to flat slices (reused across units by
	// a scanner); abbreviations refer to them by index until they stop
	// growing. One pass builds each abbreviation's readAttrs plan: runs of
	// fixed-size attributes of no interest become a byte count to skip.
	attrs := s.attrBuf[:0]
	plans := s.planBuf[:0]
	spans := s.spanBuf[:0]
	var maxCode uint64
	trunc := func(msg string) error {
		return &FormatError{Section: ".debug_abbrev", Offset: u.abbrevOff, Msg: msg}
	}
	for {
		var code, tag uint64
		code, p = uleb(b, p)
		if p < 0 {
			return nil, trunc("truncated abbreviation table")
		}
		if code == 0 {
			break
		}
		tag, p = uleb(b, p)
		if p < 0 || p >= len(b) {
			return nil, trunc("truncated abbreviation")
		}
		sp := abbrevSpan{code: code, tag: uint32(tag), children: b[p] != 0, start: int32(len(attrs)),
			planStart: int32(len(plans)), sibOff: -1}
		p++
		pre := int32(0) // fixed bytes to skip before the next plan step
		off := int32(0) // offset of the current attribute, while all before are fixed
		for i := int32(0); ; i++ {
			var at, form uint64
			at, p = uleb(b, p)
			if p < 0 {
				return nil, trunc("truncated abbreviation")
			}
			form, p = uleb(b, p)
			if p < 0 {
				return nil, trunc("truncated abbreviation")
			}
			if at == 0 && form == 0 {
				break
			}
			aa := abbrevAttr{attr: uint32(at), form: uint32(form), size: -1}
			if form == formImplicitConst {
				aa.ic, p = sleb(b, p)
				if p < 0 {
					return nil, trunc("truncated implicit_const")
				}
				aa.size = 0
			} else if form < uint64(len(sizes)) {
				aa.size = sizes[form]
			} else {
				aa.size = formSize(uint32(form), int32(u.asize), osz, u.vers)
			}
			if aa.size < 0 {
				sp.fixed = -1
			} else if sp.fixed >= 0 {
				sp.fixed += aa.size
			}
			if aa.attr == atSibling && off >= 0 && sp.sibOff < 0 {
				switch aa.form {
				case formRef1, formRef2, formRef4, formRef8:
					sp.sibOff, sp.sibForm = off, aa.form
				}
			}
			if off >= 0 {
				if aa.size < 0 {
					off = -1
				} else {
					off += aa.size
				}
			}
			if !wanted(aa.attr) && aa.size >= 0 {
				pre += aa.size
			} else {
				plans = append(plans, planOp{pre: pre, idx: i})
				pre = 0
			}
			attrs = append(attrs, aa)
		}
		sp.end = int32(len(attrs))
		sp.planEnd, sp.tail = int32(len(plans)), pre
		if sp.tag == tagEnumerator {
			sp.shape = abbrevShape(sp.tag, sp.children, attrs[sp.start:sp.end])
		}
		spans = append(spans, sp)
		if code > maxCode {
			maxCode = code
		}
	}
	s.attrBuf, s.planBuf, s.spanBuf = attrs, plans, spans[:0]
	mk := func(sp *abbrevSpan) abbrev {
		return abbrev{tag: sp.tag, children: sp.children, fixed: sp.fixed,
			attrs: attrs[sp.start:sp.end:sp.end], shape: sp.shape,
			plan: plans[sp.planStart:sp.planEnd:sp.planEnd], tail: sp.tail,
			sibOff: sp.sibOff, sibForm: sp.sibForm}
	}
	t := &s.tabBuf
	t.sparse = nil
	if maxCode < uint64(4*len(spans)+256) {
		if uint64(cap(s.denseBuf)) < maxCode+1 {
			s.denseBuf = make([]abbrev, maxCode+1)
		}
		dense := s.denseBuf[:maxCode+1]
		clear(dense)
		t.dense = dense
		for i := range spans {
			dense[spans[i].code] = mk(&spans[i])
		}
	} else {
		t.dense = nil
		t.sparse = make(map[uint64]*abbrev, len(spans))
		for i := range spans {
			a := mk(&spans[i])
			t.sparse[spans[i].code] = &a
		}
	}
	return t, nil
}

// abbrevShape hashes what an abbreviation means (computed for
// enumerators only, whose enumerations seenEnum fingerprints).
func abbrevShape(tag uint32, children bool, attrs []abbrevAttr) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h = (h ^ v) * 0x9E3779B97F4A7C15
		h ^= h >> 29
	}
	mix(uint64(tag))
	if children {
		mix(1)
	}
	for _, a := range attrs {
		mix(uint64(a.attr)<<32 | uint64(a.form))
		if a.form == formImplicitConst {
			mix(uint64(a.ic))
		}
	}
	return h
}

// formSize is the fixed size of a form's data, -1 if it varies.
func formSize(form uint32, asize, osize int32, vers uint8) int32 {
	switch form {
	case formAddr:
		return asize
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		return 1
	case formData2, formRef2, formStrx2, formAddrx2:
		return 2
	case formStrx3, formAddrx3:
		return 3
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		return 4
	case formData8, formRef8, formRefSig8, formRefSup8:
		return 8
	case formData16:
		return 16
	case formStrp, formSecOffset, formStrpSup, formLineStrp, formGNURefAlt, formGNUStrpAlt:
		return osize
	case formRefAddr:
		if vers <= 2 {
			return asize
		}
		return osize
	case formFlagPresent, formImplicitConst:
		return 0
	}
	return -1
}

// skipForm skips a variable-size form at p, returning the new position or -1.
func (s *scanner) skipForm(b []byte, form uint32, p int) int {
	switch form {
	case formString:
		if p >= len(b) {
			return -1
		}
		i := bytes.IndexByte(b[p:], 0)
		if i < 0 {
			return -1
		}
		return p + i + 1
	case formBlock1:
		if p >= len(b) {
			return -1
		}
		return p + 1 + int(b[p])
	case formBlock2:
		if p+2 > len(b) {
			return -1
		}
		return p + 2 + int(s.order.Uint16(b[p:]))
	case formBlock4:
		if p+4 > len(b) {
			return -1
		}
		n := uint64(s.order.Uint32(b[p:]))
		if n > uint64(len(b)) {
			return -1
		}
		return p + 4 + int(n)
	case formBlock, formExprloc:
		n, q := uleb(b, p)
		if q < 0 || n > uint64(len(b)) {
			return -1
		}
		return q + int(n)
	case formSdata, formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx, formGNUAddrIndex, formGNUStrIndex:
		_, q := uleb(b, p)
		return q
	case formIndirect:
		f, q := uleb(b, p)
		if q < 0 || f == formIndirect {
			return -1
		}
		sz := formSize(uint32(f), int32(s.u.asize), int32(s.offsize), s.u.vers)
		if sz >= 0 {
			return q + int(sz)
		}
		return s.skipForm(b, uint32(f), q)
	}
	sz := formSize(form, int32(s.u.asize), int32(s.offsize), s.u.vers)
	if sz >= 0 {
		return p + int(sz)
	}
	return -1
}

// readUint reads a constant/reference/address/offset-class form as an
// unsigned value. Blocks and strings are not handled here.
func (s *scanner) readUint(b []byte, form uint32, p int) (uint64, int) {
	o := s.order
	switch form {
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		return uint64(b[p]), p + 1
	case formData2, formRef2, formStrx2, formAddrx2:
		return uint64(o.Uint16(b[p:])), p + 2
	case formStrx3, formAddrx3:
		if o == binary.ByteOrder(binary.BigEndian) {
			return uint64(b[p])<<16 | uint64(b[p+1])<<8 | uint64(b[p+2]), p + 3
		}
		return uint64(b[p]) | uint64(b[p+1])<<8 | uint64(b[p+2])<<16, p + 3
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		return uint64(o.Uint32(b[p:])), p + 4
	case formData8, formRef8, formRefSig8, formRefSup8:
		return o.Uint64(b[p:]), p + 8
	case formAddr:
		switch s.u.asize {
		case 8:
			return o.Uint64(b[p:]), p + 8
		case 4:
			return uint64(o.Uint32(b[p:])), p + 4
		default:
			return uint64(o.Uint16(b[p:])), p + 2
		}
	case formStrp, formSecOffset, formStrpSup, formLineStrp, formGNURefAlt, formGNUStrpAlt:
		if s.offsize == 8 {
			return o.Uint64(b[p:]), p + 8
		}
		return uint64(o.Uint32(b[p:])), p + 4
	case formRefAddr:
		if s.u.vers <= 2 {
			return s.readUint(b, formAddr, p)
		}
		return s.readUint(b, formSecOffset, p)
	case formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx, formGNUAddrIndex, formGNUStrIndex:
		return uleb(b, p)
	case formSdata:
		v, q := sleb(b, p)
		return uint64(v), q
	case formFlagPresent:
		return 1, p
	}
	return 0, s.skipForm(b, form, p)
}

// strOffset maps a DW_FORM_strx index to a .debug_str offset.
func (s *scanner) strOffset(i uint64) (uint64, bool) {
	if !s.haveStrBase {
		return 0, false
	}
	p := s.strBase + i*uint64(s.offsize)
	if p+uint64(s.offsize) > uint64(len(s.strOff)) || p < s.strBase {
		return 0, false
	}
	if s.offsize == 8 {
		return s.order.Uint64(s.strOff[p:]), true
	}
	return uint64(s.order.Uint32(s.strOff[p:])), true
}

// addrIndex maps a DW_FORM_addrx index to an address.
func (s *scanner) addrIndex(i uint64) (uint64, bool) {
	sz := uint64(s.u.asize)
	p := s.addrBase + i*sz
	if p+sz > uint64(len(s.addr)) || p < s.addrBase {
		return 0, false
	}
	if sz == 8 {
		return s.order.Uint64(s.addr[p:]), true
	}
	return uint64(s.order.Uint32(s.addr[p:])), true
}

// readName reads a name attribute as a nameKey.
func (s *scanner) readName(b []byte, form uint32, p int) (nameKey, int) {
	switch form {
	case formString:
		if p >= len(b) {
			return nkNone, -1
		}
		n := bytes.IndexByte(b[p:], 0)
		if n < 0 {
			return nkNone, -1
		}
		if n <= 7 {
			var k uint64
			for i := 0; i < n; i++ {
				k |= uint64(b[p+i]) << (8 * i)
			}
			return nkInline | uint64(n)<<56 | k, p + n + 1
		}
		return nkInline | nkLong | uint64(p), p + n + 1
	case formStrp:
		v, q := s.readUint(b, form, p)
		if v > nkPayload {
			return nkNone, q
		}
		return v, q
	case formStrx, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex:
		v, q := s.readUint(b, form, p)
		off, ok := s.strOffset(v)
		if !ok || off > nkPayload {
			return nkNone, q
		}
		return off, q
	}
	// line_strp, strp_sup, ...: names never use them in practice.
	return nkNone, s.skipForm(b, form, p)
}

// keyString materialises a nameKey (any kind bits are ignored).
func keyString(k nameKey, str, info []byte) string {
	if k&nkInline == 0 {
		return cstringAt(str, int(k&nkPayload))
	}
	if k&nkLong != 0 {
		return cstringAt(info, int(k&(nkLong-1)))
	}
	n := int(k>>56) & 7
	var buf [7]byte
	for i := 0; i < n; i++ {
		buf[i] = byte(k >> (8 * i))
	}
	return string(buf[:n])
}

// dieAttrs holds the attributes of interest of one DIE.
type dieAttrs struct {
	name      nameKey
	decl      bool
	ext       bool
	hasLoc    bool
	loc       uint64
	ref       uint64 // specification / abstract_origin target (section offset)
	hasRef    bool
	lowpc     uint64
	hasLow    bool
	highpc    uint64
	highIsOff bool
	hasHigh   bool
	ranges    uint64
	rangesX   bool // ranges is a rnglistx index
	hasRanges bool
	sibling   uint64
	hasSib    bool
	cval      int64
	hasCval   bool
	inline    bool
}

// readAttrs decodes the interesting attributes of the DIE whose attributes
// start at p.
func (s *scanner) readAttrs(b []byte, ab *abbrev, p int, d *dieAttrs) int {
	*d = dieAttrs{name: nkNone}
	for _, op := range ab.plan {
		p = s.readAttr(b, &ab.attrs[op.idx], p+int(op.pre), d)
		if p < 0 {
			return -1
		}
	}
	p += int(ab.tail)
	if p > len(b) {
		return -1
	}
	return p
}

// readAttr decodes one attribute at p into d if it is of interest, skips
// it otherwise, and returns the position after it (-1 if malformed).
func (s *scanner) readAttr(b []byte, a *abbrevAttr, p int, d *dieAttrs) int {
	form := a.form
	if form == formIndirect {
		f, q := uleb(b, p)
		if q < 0 {
			return -1
		}
		form, p = uint32(f), q
	}
	if p < 0 || p > len(b) {
		return -1
	}
	switch a.attr {
	case atName:
		d.name, p = s.readName(b, form, p)
	case atDeclaration:
		var v uint64
		if form == formImplicitConst {
			v = uint64(a.ic)
		} else {
			v, p = s.readUint(b, form, p)
		}
		d.decl = v != 0
	case atExternal:
		var v uint64
		if form == formImplicitConst {
			v = uint64(a.ic)
		} else {
			v, p = s.readUint(b, form, p)
		}
		d.ext = v != 0
	case atInline:
		var v uint64
		if form == formImplicitConst {
			v = uint64(a.ic)
		} else {
			v, p = s.readUint(b, form, p)
		}
		d.inline = v == 1 || v == 3 // DW_INL_inlined, DW_INL_declared_inlined
	case atSpecification, atAbstractOrigin, atSibling:
		var v uint64
		switch form {
		case formRef1, formRef2, formRef4, formRef8, formRefUdata:
			v, p = s.readUint(b, form, p)
			v += s.u.off
		case formRefAddr:
			v, p = s.readUint(b, form, p)
		default:
			return s.skipForm(b, form, p)
		}
		if a.attr == atSibling {
			d.sibling, d.hasSib = v, true
		} else if !d.hasRef {
			d.ref, d.hasRef = v, true
		}
	case atLocation:
		switch form {
		case formExprloc, formBlock, formBlock1, formBlock2, formBlock4:
			var n uint64
			q := p
			switch form {
			case formExprloc, formBlock:
				n, q = uleb(b, p)
			case formBlock1:
				n, q = uint64(b[p]), p+1
			case formBlock2:
				n, q = uint64(s.order.Uint16(b[p:])), p+2
			case formBlock4:
				n, q = uint64(s.order.Uint32(b[p:])), p+4
			}
			if q < 0 || n > uint64(len(b)-q) {
				return -1
			}
			blk := b[q : q+int(n)]
			p = q + int(n)
			if len(blk) == 1+int(s.u.asize) && blk[0] == opAddr {
				switch s.u.asize {
				case 8:
					d.loc = s.order.Uint64(blk[1:])
				case 4:
					d.loc = uint64(s.order.Uint32(blk[1:]))
				}
				d.hasLoc = true
			} else if len(blk) > 1 && (blk[0] == opAddrx || blk[0] == opGNUAddrIndex) {
				i, r := uleb(blk, 1)
				if r == len(blk) {
					d.loc, d.hasLoc = s.addrIndex(i)
				}
			}
		default:
			p = s.skipForm(b, form, p)
		}
	case atLowPC:
		var v uint64
		v, p = s.readUint(b, form, p)
		switch form {
		case formAddr:
			d.lowpc, d.hasLow = v, true
		case formAddrx, formAddrx1, formAddrx2, formAddrx3, formAddrx4, formGNUAddrIndex:
			d.lowpc, d.hasLow = s.addrIndex(v)
		}
	case atHighPC:
		var v uint64
		if form == formImplicitConst {
			v = uint64(a.ic)
		} else {
			v, p = s.readUint(b, form, p)
		}
		switch form {
		case formAddr:
			d.highpc, d.hasHigh = v, true
		case formAddrx, formAddrx1, formAddrx2, formAddrx3, formAddrx4, formGNUAddrIndex:
			d.highpc, d.hasHigh = s.addrIndex(v)
		default:
			d.highpc, d.hasHigh, d.highIsOff = v, true, true
		}
	case atRanges:
		var v uint64
		v, p = s.readUint(b, form, p)
		d.ranges, d.hasRanges, d.rangesX = v, true, form == formRnglistx
	case atConstValue:
		switch form {
		case formData1, formData2, formData4, formData8, formUdata:
			var v uint64
			v, p = s.readUint(b, form, p)
			d.cval, d.hasCval = int64(v), true
		case formSdata:
			d.cval, p = sleb(b, p)
			d.hasCval = true
		case formImplicitConst:
			d.cval, d.hasCval = a.ic, true
		default:
			p = s.skipForm(b, form, p)
		}
	default:
		if a.size >= 0 && a.form == form {
			p += int(a.size)
		} else {
			p = s.skipForm(b, form, p)
		}
	}
	return p
}

// wanted lists the attributes readAttr decodes; the others are skipped
// (fixed-size ones in bulk, by the abbreviation's plan).
func wanted(at uint32) bool {
	switch at {
	case atName, atDeclaration, atExternal, atInline, atSpecification, atAbstractOrigin, atSibling,
		atLocation, atLowPC, atHighPC, atRanges, atConstValue:
		return true
	}
	return false
}

// skipAttrs skips all attributes of a DIE, noting its sibling if it has
// children.
func (s *scanner) skipAttrs(b []byte, ab *abbrev, p int) (int, uint64, bool) {
	if ab.fixed >= 0 {
		if !ab.children {
			return p + int(ab.fixed), 0, false
		}
		if ab.sibOff >= 0 && p+int(ab.fixed) <= len(b) {
			v, _ := s.readUint(b, ab.sibForm, p+int(ab.sibOff))
			return p + int(ab.fixed), v + s.u.off, true
		}
	}
	var sib uint64
	var hasSib bool
	for i := range ab.attrs {
		a := &ab.attrs[i]
		if a.attr == atSibling && ab.children {
			switch a.form {
			case formRef1, formRef2, formRef4, formRef8, formRefUdata:
				var v uint64
				v, p = s.readUint(b, a.form, p)
				sib, hasSib = v+s.u.off, true
				continue
			}
		}
		if a.size >= 0 {
			p += int(a.size)
		} else {
			p = s.skipForm(b, a.form, p)
			if p < 0 {
				return -1, 0, false
			}
		}
	}
	return p, sib, hasSib
}

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
	cuSize := u.size()

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
			s.record(ab.tag, uint64(dieOff), cuSize, &d)
			if ab.children {
				if ab.tag == tagEnumerationType {
					// Headers repeat the same enumerations in every unit:
					// an enumeration whose enumerators are byte-for-byte
					// those of one already indexed is skipped whole.
					if end, dup := s.seenEnum(b, p, d.name); dup {
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
				c := cand{off: enumOff, size: cuSize, decl: enumDecl, val: d.cval}
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
func (s *scanner) record(tag uint32, off uint64, cuSize uint32, d *dieAttrs) bool {
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
		s.put(withKind(d.name, kind), cand{off: off, size: cuSize})
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
	s.put(withKind(d.name, kind), cand{off: off, size: cuSize, decl: d.decl})
	return true
}

// seenEnum fingerprints the children of an enumeration (whose children
// start at p): the tag's name and, for each child, the shape of its
// abbreviation (not its code, which differs between units) and its attribute
// bytes (which hold global .debug_str offsets and values). It reports the
// position after the enumeration and whether the same fingerprint was met
// before; if not, it is remembered.
func (s *scanner) seenEnum(b []byte, p int, name nameKey) (int, bool) {
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
			if _, ok := s.enums[sum]; ok {
				return q, true
			}
			s.enums[sum] = struct{}{}
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

// put records c for key k unless a better candidate is known.
// It reports whether k was known already, and the rank of what was known.
func (s *scanner) put(k uint64, c cand) (bool, uint32) {
	e := s.m.slot(k)
	r := c.rank()
	if e.k != 0 {
		prev := e.r
		if r < e.r || r == e.r && c.better(s.cands[e.v]) {
			s.cands[e.v] = c
			e.r = r
		}
		return true, prev
	}
	e.k, e.v, e.r = k+1, int32(len(s.cands)), r
	s.cands = append(s.cands, c)
	s.m.n++
	if s.m.n*2 > len(s.m.e) {
		s.m.grow()
	}
	return false, 0
}

// rank orders candidates as better does, but for the offset: lower is better.
func (a cand) rank() uint32 {
	r := a.size
	if r > 1<<31-1 {
		r = 1<<31 - 1
	}
	if a.decl {
		r |= 1 << 31
	}
	return r
}

// keyTable is an open-addressing hash table from name keys to candidate
// indices: the scan's hottest structure, several times faster than a Go map
// for this use. Keys are stored plus one so that 0 marks an empty slot.
type keyTable struct {
	e     []keyEntry
	shift uint
	n     int
}

type keyEntry struct {
	k uint64
	v int32  // index into the scanner's cands
	r uint32 // rank of cands[v], kept here to compare without touching cands
}

func newKeyTable(bits uint) keyTable {
	return keyTable{e: make([]keyEntry, 1<<bits), shift: 64 - bits}
}

// slot returns the entry holding k, or the empty entry where k belongs.
func (t *keyTable) slot(k uint64) *keyEntry {
	mask := uint64(len(t.e) - 1)
	i := ((k + 1) * 0x9E3779B97F4A7C15) >> t.shift
	for {
		e := &t.e[i]
		if e.k == k+1 || e.k == 0 {
			return e
		}
		i = (i + 1) & mask
	}
}

func (t *keyTable) grow() {
	old := t.e
	t.e = make([]keyEntry, 2*len(old))
	t.shift--
	for _, e := range old {
		if e.k != 0 {
			*t.slot(e.k - 1) = e
		}
	}
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

// readRanges decodes a DW_AT_ranges list (DWARF 4 .debug_ranges or DWARF 5
// .debug_rnglists). Errors yield what was read so far.
func (s *scanner) readRanges(v uint64, isIndex bool) [][2]uint64 {
	asz := int(s.u.asize)
	readAddr := func(b []byte, p int) (uint64, int) {
		if p+asz > len(b) {
			return 0, -1
		}
		if asz == 8 {
			return s.order.Uint64(b[p:]), p + 8
		}
		return uint64(s.order.Uint32(b[p:])), p + asz
	}
	var out [][2]uint64
	base := s.cuBase
	if s.u.vers < 5 {
		b := s.ranges
		if v >= uint64(len(b)) {
			return nil
		}
		p := int(v)
		maxAddr := uint64(1)<<(8*uint(asz)) - 1
		if asz == 8 {
			maxAddr = ^uint64(0)
		}
		for i := 0; i < 1<<16; i++ {
			var lo, hi uint64
			lo, p = readAddr(b, p)
			if p < 0 {
				break
			}
			hi, p = readAddr(b, p)
			if p < 0 {
				break
			}
			if lo == 0 && hi == 0 {
				break
			}
			if lo == maxAddr {
				base = hi
				continue
			}
			if hi > lo {
				out = append(out, [2]uint64{base + lo, base + hi})
			}
		}
		return out
	}
	b := s.rnglists
	off := v
	if isIndex {
		p := s.rngBase + v*uint64(s.offsize)
		if p+uint64(s.offsize) > uint64(len(b)) || p < s.rngBase {
			return nil
		}
		var rel uint64
		if s.offsize == 8 {
			rel = s.order.Uint64(b[p:])
		} else {
			rel = uint64(s.order.Uint32(b[p:]))
		}
		off = s.rngBase + rel
	}
	if off >= uint64(len(b)) {
		return nil
	}
	p := int(off)
	for i := 0; i < 1<<16 && p >= 0 && p < len(b); i++ {
		kind := b[p]
		p++
		var x, y uint64
		var ok bool
		switch kind {
		case 0: // end_of_list
			return out
		case 1: // base_addressx
			x, p = uleb(b, p)
			if p < 0 {
				return out
			}
			if base, ok = s.addrIndex(x); !ok {
				return out
			}
		case 2: // startx_endx
			x, p = uleb(b, p)
			if p < 0 {
				return out
			}
			y, p = uleb(b, p)
			lo, ok1 := s.addrIndex(x)
			hi, ok2 := s.addrIndex(y)
			if ok1 && ok2 && hi > lo {
				out = append(out, [2]uint64{lo, hi})
			}
		case 3: // startx_length
			x, p = uleb(b, p)
			if p < 0 {
				return out
			}
			y, p = uleb(b, p)
			if lo, ok := s.addrIndex(x); ok && y > 0 {
				out = append(out, [2]uint64{lo, lo + y})
			}
		case 4: // offset_pair
			x, p = uleb(b, p)
			if p < 0 {
				return out
			}
			y, p = uleb(b, p)
			if y > x {
				out = append(out, [2]uint64{base + x, base + y})
			}
		case 5: // base_address
			base, p = readAddr(b, p)
		case 6: // start_end
			x, p = readAddr(b, p)
			if p < 0 {
				return out
			}
			y, p = readAddr(b, p)
			if y > x {
				out = append(out, [2]uint64{x, y})
			}
		case 7: // start_length
			x, p = readAddr(b, p)
			if p < 0 {
				return out
			}
			y, p = uleb(b, p)
			if y > 0 {
				out = append(out, [2]uint64{x, x + y})
			}
		default:
			return out
		}
	}
	return out
}

// merge combines the workers' results into idx.
func merge(idx *index, ws []*scanner, im *Image) {
	str, info := im.sects[".debug_str"], im.sects[".debug_info"]
	n := 0
	for _, w := range ws {
		n += w.m.n
		idx.dies += w.dies
		idx.warnings = append(idx.warnings, w.errs...)
	}
	// Types, declarations and enumerators, concurrently with definitions.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		types := make(map[typeKey]cand, n/len(ws)+1024)
		for _, w := range ws {
			for _, e := range w.m.e {
				if e.k == 0 {
					continue
				}
				k, c := e.k-1, w.cands[e.v]
				tk := typeKey{kind: uint8(k >> 60 & 7), name: keyString(k&^(7<<60), str, info)}
				if old, ok := types[tk]; !ok || c.better(old) {
					types[tk] = c
				}
			}
			w.m, w.cands = keyTable{}, nil
		}
		idx.types = types
	}()
	defer wg.Wait()

	// Definitions.
	nd, np := 0, 0
	for _, w := range ws {
		nd += len(w.defs)
		np += len(w.pcs)
	}
	idx.defs = make([]def, 0, nd)
	idx.vars = make(map[string]int32, nd/2)
	idx.funcs = make(map[string]int32, nd/2)
	pcs := make([]pcRange, 0, np)
	for _, w := range ws {
		base := int32(len(idx.defs))
		for i := range w.defs {
			wd := &w.defs[i]
			name := ""
			if wd.key != nkNone {
				name = keyString(wd.key, str, info)
			} else if wd.ref != 0 {
				name = im.refNameSlow(wd.ref)
			}
			d := def{name: name, off: wd.off, lo: wd.lo, hi: wd.hi, ext: wd.ext, isFn: wd.isFn, next: -1, rng: -1}
			if wd.rng >= 0 {
				d.rng = int32(len(idx.ranges))
				idx.ranges = append(idx.ranges, w.rngs[wd.rng])
			}
			idx.defs = append(idx.defs, d)
		}
		for _, p := range w.pcs {
			pcs = append(pcs, pcRange{lo: p.lo, hi: p.hi, def: base + p.def})
		}
		w.defs, w.pcs = nil, nil
	}
	// Chain definitions sharing a name; then put each chain in a
	// deterministic order: external ones first, then by DIE offset.
	defs := idx.defs
	var dups []int32 // heads of chains with more than one definition
	for i := range defs {
		d := &defs[i]
		if d.name == "" {
			continue
		}
		m := idx.vars
		if d.isFn {
			m = idx.funcs
		}
		if head, ok := m[d.name]; ok {
			d.next = head
			if defs[head].next < 0 {
				dups = append(dups, int32(i))
			}
		}
		m[d.name] = int32(i)
	}
	var chain []int32
	for _, h := range dups {
		d := &defs[h]
		m := idx.vars
		if d.isFn {
			m = idx.funcs
		}
		head := m[d.name] // the chain may have grown past h
		chain = chain[:0]
		for i := head; i >= 0; i = defs[i].next {
			chain = append(chain, i)
		}
		slices.SortFunc(chain, func(a, b int32) int {
			if defs[a].ext != defs[b].ext {
				if defs[a].ext {
					return -1
				}
				return 1
			}
			return cmp.Compare(defs[a].off, defs[b].off)
		})
		for j, i := range chain {
			if j+1 < len(chain) {
				defs[i].next = chain[j+1]
			} else {
				defs[i].next = -1
			}
		}
		m[d.name] = chain[0]
	}
	slices.SortFunc(pcs, func(a, b pcRange) int {
		if a.lo != b.lo {
			return cmp.Compare(a.lo, b.lo)
		}
		return cmp.Compare(b.hi, a.hi)
	})
	idx.pcs = pcs
}

// refNameSlow resolves the name of the DIE at section offset off anywhere in
// .debug_info (cross-unit references; rare).
func (im *Image) refNameSlow(off uint64) string {
	info := im.sects[".debug_info"]
	units, _ := parseUnits(info, im.order)
	i := sort.Search(len(units), func(i int) bool { return units[i].end > off })
	if i >= len(units) || off < units[i].dieOff {
		return ""
	}
	s := &scanner{order: im.order, info: info, abbrev: im.sects[".debug_abbrev"], str: im.sects[".debug_str"],
		strOff: im.sects[".debug_str_offsets"], addr: im.sects[".debug_addr"]}
	u := &units[i]
	s.u = u
	s.offsize = 4
	if u.is64 {
		s.offsize = 8
	}
	if u.vers >= 5 {
		s.strBase, s.haveStrBase = uint64(2*s.offsize), true
	}
	tab, err := s.parseAbbrevs(u)
	if err != nil {
		return ""
	}
	s.tab = tab
	var k nameKey
	var ok bool
	func() {
		defer func() { recover() }()
		k, _, ok = s.refName(off, 0)
	}()
	if !ok {
		return ""
	}
	return keyString(k, s.str, info)
}
