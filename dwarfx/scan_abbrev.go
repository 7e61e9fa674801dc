package dwarfx

// Abbreviation tables: each unit's .debug_abbrev declarations, compiled
// into plans that let the scanner skip or read attributes quickly.

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
	size := func(form uint64) int32 {
		if form < uint64(len(sizes)) {
			return sizes[form]
		}
		return formSize(uint32(form), int32(u.asize), osz, u.vers)
	}
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
		var msg string
		if attrs, plans, p, msg = readAbbrevAttrs(b, p, &sp, attrs, plans, size); msg != "" {
			return nil, trunc(msg)
		}
		if sp.tag == tagEnumerator {
			sp.shape = abbrevShape(sp.tag, sp.children, attrs[sp.start:sp.end])
		}
		spans = append(spans, sp)
		if code > maxCode {
			maxCode = code
		}
	}
	s.attrBuf, s.planBuf, s.spanBuf = attrs, plans, spans[:0]
	return s.abbrevTableOf(spans, attrs, plans, maxCode), nil
}

// readAbbrevAttrs reads one abbreviation's attribute specifications at p
// into attrs, and builds its readAttrs plan: runs of fixed-size attributes
// of no interest become a byte count to skip. It notes in sp the fixed
// size, the sibling attribute's place and the plan's tail; size gives a
// form's fixed size (-1: variable). A non-empty message says what was cut.
func readAbbrevAttrs(b []byte, p int, sp *abbrevSpan, attrs []abbrevAttr, plans []planOp, size func(form uint64) int32) ([]abbrevAttr, []planOp, int, string) {
	pre := int32(0) // fixed bytes to skip before the next plan step
	off := int32(0) // offset of the current attribute, while all before are fixed
	for i := int32(0); ; i++ {
		var at, form uint64
		at, p = uleb(b, p)
		if p < 0 {
			return attrs, plans, p, "truncated abbreviation"
		}
		form, p = uleb(b, p)
		if p < 0 {
			return attrs, plans, p, "truncated abbreviation"
		}
		if at == 0 && form == 0 {
			break
		}
		aa := abbrevAttr{attr: uint32(at), form: uint32(form), size: -1}
		if form == formImplicitConst {
			aa.ic, p = sleb(b, p)
			if p < 0 {
				return attrs, plans, p, "truncated implicit_const"
			}
			aa.size = 0
		} else {
			aa.size = size(form)
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
	return attrs, plans, p, ""
}

// abbrevTableOf turns the parsed spans into the scanner's reusable table:
// a dense slice by code when codes are compact, a map otherwise.
func (s *scanner) abbrevTableOf(spans []abbrevSpan, attrs []abbrevAttr, plans []planOp, maxCode uint64) *abbrevTable {
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
	return t
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
