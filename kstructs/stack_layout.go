package kstructs

import (
	"debug/dwarf"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file holds the small DWARF layout queries the unwinders need: the
// offset of a member path, the size of a type, a bit-field's position.
// Every layout the unwinders use is read from the vmlinux's DWARF, so kernel
// version differences show up as "member exists or not", never as version
// checks.

// lookupType finds a type by C name ("struct pt_regs").
func (k *Kernel) lookupType(name string) (dwarf.Type, error) {
	t, err := k.Image.Type(name)
	if err != nil {
		return nil, fmt.Errorf("type %s: %w", name, err)
	}
	return dwarfx.Strip(t), nil
}

// typeSize is sizeof(name).
func (k *Kernel) typeSize(name string) (uint64, error) {
	t, err := k.lookupType(name)
	if err != nil {
		return 0, err
	}
	if t.Size() <= 0 {
		return 0, fmt.Errorf("type %s has no size in DWARF", name)
	}
	return uint64(t.Size()), nil
}

// memberOffset returns offsetof(typeName, path) for a dotted member path
// ("thread.cpu_context.fp") and the member's field.
func (k *Kernel) memberOffset(typeName, path string) (uint64, *dwarf.StructField, error) {
	t, err := k.lookupType(typeName)
	if err != nil {
		return 0, nil, err
	}
	return memberPathOffset(t, typeName, path)
}

func memberPathOffset(t dwarf.Type, typeName, path string) (uint64, *dwarf.StructField, error) {
	var off uint64
	var f *dwarf.StructField
	for _, part := range strings.Split(path, ".") {
		st, ok := dwarfx.Strip(t).(*dwarf.StructType)
		if !ok {
			return 0, nil, fmt.Errorf("%s: %s is not a struct in %s", typeName, part, path)
		}
		g, o, ok := findField(st, part)
		if !ok {
			return 0, nil, fmt.Errorf("%s has no member %s", typeName, path)
		}
		f, off, t = g, off+uint64(o), g.Type
	}
	return off, f, nil
}

// bitField locates a bit-field (or a whole member) within a little- or
// big-endian struct: the bit position counted from bit 0 of byte 0 of the
// struct in the target's order (little-endian: bit n of the n/8'th byte),
// and its width.
type bitField struct {
	bit, width uint
}

// bitFieldOf decodes f's position. DWARF 4+ gives DW_AT_data_bit_offset
// (from the start of the struct); older producers give DW_AT_bit_offset
// counted from the most significant bit of a storage unit of byte_size
// bytes at data_member_location.
func bitFieldOf(f *dwarf.StructField, littleEndian bool) bitField {
	if f.BitSize == 0 {
		return bitField{bit: uint(f.ByteOffset) * 8, width: uint(f.Type.Size()) * 8}
	}
	if f.DataBitOffset != 0 || f.ByteSize == 0 {
		return bitField{bit: uint(f.ByteOffset)*8 + uint(f.DataBitOffset), width: uint(f.BitSize)}
	}
	unit := uint(f.ByteSize) * 8
	if littleEndian {
		return bitField{bit: uint(f.ByteOffset)*8 + unit - uint(f.BitOffset) - uint(f.BitSize), width: uint(f.BitSize)}
	}
	return bitField{bit: uint(f.ByteOffset)*8 + uint(f.BitOffset), width: uint(f.BitSize)}
}

// extract reads the field from the raw bytes of one struct (little-endian
// bit numbering only: the big-endian case is not needed by any supported
// target).
func (b bitField) extract(p []byte) uint64 {
	var v uint64
	for i := uint(0); i < b.width; i++ {
		bit := b.bit + i
		if int(bit/8) < len(p) && p[bit/8]&(1<<(bit%8)) != 0 {
			v |= 1 << i
		}
	}
	return v
}
