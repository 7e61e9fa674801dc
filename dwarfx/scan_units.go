package dwarfx

// Unit headers: where each unit of .debug_info starts and ends, its DWARF
// version, address and offset sizes and abbreviation table.

import (
	"encoding/binary"
	"fmt"
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

// parseUnits lists the units of .debug_info. read, if set, is told every
// few MB how far into info the headers have been read (the caller drops
// those pages of its file mapping: image.go).
func parseUnits(info []byte, order binary.ByteOrder, read func(end uint64)) ([]unitInfo, error) {
	var told uint64
	if read != nil {
		defer func() { read(uint64(len(info))) }()
	}
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
		if read != nil && p-told >= releaseStep {
			read(p)
			told = p
		}
	}
	return units, nil
}
