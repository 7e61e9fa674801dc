package dwarfx

// Forms and attributes: LEB128, form sizes, and reading the attributes
// the index wants (names, offsets, sizes, pc ranges) out of a DIE.

import (
	"bytes"
	"encoding/binary"
)

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
// attrUint is an attribute's unsigned value: its DW_FORM_implicit_const
// from the abbreviation, or read at p.
func (s *scanner) attrUint(b []byte, form uint32, ic int64, p int) (uint64, int) {
	if form == formImplicitConst {
		return uint64(ic), p
	}
	return s.readUint(b, form, p)
}

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
// it otherwise, and returns the position after it (-1 if malformed). It is
// the scanner's hot switch, one case per form, kept whole on purpose.
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
		v, q := s.attrUint(b, form, a.ic, p)
		p = q
		d.decl = v != 0
	case atExternal:
		v, q := s.attrUint(b, form, a.ic, p)
		p = q
		d.ext = v != 0
	case atInline:
		v, q := s.attrUint(b, form, a.ic, p)
		p = q
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
		v, q := s.attrUint(b, form, a.ic, p)
		p = q
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
