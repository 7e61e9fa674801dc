package dwarfx

import (
	"debug/dwarf"
	"encoding/binary"
	"testing"
)

// TestMember resolves member paths through a nested struct, an anonymous
// union, an array index and bit-fields in both DWARF encodings, and decodes
// each with Extract.
func TestMember(t *testing.T) {
	u8 := &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: "u8"}}}
	u32 := &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: "u32"}}}
	arr := &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: 8}, Type: u32, Count: 2}
	anon := &dwarf.StructType{Kind: "union", CommonType: dwarf.CommonType{ByteSize: 8}, Field: []*dwarf.StructField{
		{Name: "pair", Type: arr},
	}}
	inner := &dwarf.StructType{Kind: "struct", StructName: "inner", CommonType: dwarf.CommonType{ByteSize: 12}, Field: []*dwarf.StructField{
		{Name: "", Type: anon, ByteOffset: 0},
		// DWARF 2/3: 3 bits, 5 from the top of the u32 at 8 (bits 24..26 LE).
		{Name: "old", Type: u32, ByteOffset: 8, ByteSize: 4, BitOffset: 5, BitSize: 3},
	}}
	outer := &dwarf.StructType{Kind: "struct", StructName: "outer", CommonType: dwarf.CommonType{ByteSize: 20}, Field: []*dwarf.StructField{
		{Name: "tag", Type: u8, ByteOffset: 0},
		{Name: "in", Type: inner, ByteOffset: 4},
		// DWARF 4: 4 bits from bit 132 of the struct.
		{Name: "new", Type: u32, DataBitOffset: 132, BitSize: 4},
	}}
	b := make([]byte, 20)
	b[0] = 7
	binary.LittleEndian.PutUint32(b[8:], 0x11223344) // in.pair[1]
	binary.LittleEndian.PutUint32(b[12:], 5<<24)     // in.old = 5
	b[16] = 0x9 << 4                                 // new = 9
	var im *Image
	for _, c := range []struct {
		path           string
		off, size, val int64
	}{
		{"tag", 0, 1, 7},
		{"in.pair[1]", 8, 4, 0x11223344},
		{"in.old", 15, 4, 5},
		{"new", 16, 4, 9},
	} {
		f, err := im.Member(outer, c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		v, ok := f.Extract(b, binary.LittleEndian)
		if f.ByteOffset != c.off || f.ByteSize != c.size || !ok || int64(v) != c.val {
			t.Errorf("%s: offset %d size %d value %#x %v, want %d %d %#x", c.path, f.ByteOffset, f.ByteSize, v, ok, c.off, c.size, c.val)
		}
		if off, _, err := im.OffsetOf(outer, c.path); err != nil || off != c.off {
			t.Errorf("OffsetOf(%s) = %d %v, want %d", c.path, off, err, c.off)
		}
	}
	if _, err := im.Member(outer, "in.missing"); err == nil || err.Error() != "struct inner has no member 'missing'" {
		t.Errorf("missing member: %v", err)
	}
	if (Field{}).Found() {
		t.Error("the zero Field is found")
	}
}
