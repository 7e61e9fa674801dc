package dwarfx

import (
	"encoding/binary"
	"testing"
)

// FuzzExtraSymbols: module symbol tables of any content (as a corrupt dump
// may hold) index and answer lookups without panicking, and a lookup's
// answer always lies in the region that holds the address.
func FuzzExtraSymbols(f *testing.F) {
	f.Add([]byte("\x00\x10\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00"), uint64(0x1008))
	f.Add(make([]byte, 64), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, addr uint64) {
		var syms []Symbol
		var ranges []SymRange
		for i := 0; i+16 <= len(b) && i < 16*64; i += 16 {
			a, sz := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:])
			syms = append(syms, Symbol{Name: string(rune('a' + i%26)), Addr: a, Size: sz % 4096, Kind: "tTdD"[i%4], Module: "m"})
			if i%32 == 0 {
				ranges = append(ranges, SymRange{Lo: a &^ 0xfff, Hi: (a &^ 0xfff) + 0x2000, Module: "m", Text: i%64 == 0})
			}
		}
		x := NewExtraSymbols(syms, ranges)
		if s, off, ok := x.at(addr); ok {
			r, in := x.rangeOf(addr)
			if !in || s.Addr < r.Lo || s.Addr+off != addr {
				t.Fatalf("at(%#x) = %s %#x+%#x outside its region %+v", addr, s.Name, s.Addr, off, r)
			}
		}
		_ = x.Symbols()
	})
}
