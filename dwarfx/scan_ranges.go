package dwarfx

// Ranges: DW_AT_ranges in .debug_ranges (DWARF 2-4) and .debug_rnglists
// (DWARF 5), for the pc index.

// readRanges decodes a DW_AT_ranges list (DWARF 4 .debug_ranges or DWARF 5
// .debug_rnglists). Errors yield what was read so far.
func (s *scanner) readRanges(v uint64, isIndex bool) [][2]uint64 {
	if s.u.vers < 5 {
		return s.readRanges4(v)
	}
	return s.readRnglist(v, isIndex)
}

// readAddr reads one target address at p of b; -1 past the end.
func (s *scanner) readAddr(b []byte, p int) (uint64, int) {
	asz := int(s.u.asize)
	if p+asz > len(b) {
		return 0, -1
	}
	if asz == 8 {
		return s.order.Uint64(b[p:]), p + 8
	}
	return uint64(s.order.Uint32(b[p:])), p + asz
}

// readRanges4 decodes a .debug_ranges list at offset v: address pairs
// relative to the unit's base, a base-address selection entry (all-ones
// first address) changing the base, two zeros ending the list.
func (s *scanner) readRanges4(v uint64) [][2]uint64 {
	asz := int(s.u.asize)
	var out [][2]uint64
	base := s.cuBase
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
		lo, p = s.readAddr(b, p)
		if p < 0 {
			break
		}
		hi, p = s.readAddr(b, p)
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

// rnglistOffset is where the DWARF 5 range list v starts: v itself, or
// for DW_FORM_rnglistx the offset the unit's offset table holds at index v.
func (s *scanner) rnglistOffset(v uint64, isIndex bool) (uint64, bool) {
	b := s.rnglists
	off := v
	if isIndex {
		p := s.rngBase + v*uint64(s.offsize)
		if p+uint64(s.offsize) > uint64(len(b)) || p < s.rngBase {
			return 0, false
		}
		var rel uint64
		if s.offsize == 8 {
			rel = s.order.Uint64(b[p:])
		} else {
			rel = uint64(s.order.Uint32(b[p:]))
		}
		off = s.rngBase + rel
	}
	return off, off < uint64(len(b))
}

// readRnglist decodes a .debug_rnglists list (DW_RLE_* entries).
func (s *scanner) readRnglist(v uint64, isIndex bool) [][2]uint64 {
	var out [][2]uint64
	base := s.cuBase
	b := s.rnglists
	off, ok := s.rnglistOffset(v, isIndex)
	if !ok {
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
			base, p = s.readAddr(b, p)
		case 6: // start_end
			x, p = s.readAddr(b, p)
			if p < 0 {
				return out
			}
			y, p = s.readAddr(b, p)
			if y > x {
				out = append(out, [2]uint64{x, y})
			}
		case 7: // start_length
			x, p = s.readAddr(b, p)
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
