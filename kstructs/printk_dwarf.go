package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file holds the small DWARF layout helpers the printk decoders use:
// they turn a struct type into byte offsets and bit-field positions once, so
// that the decoders themselves work on plain byte slices (and can be tested
// on hand-built memory images without a vmlinux).

// pkStruct returns t (through typedefs and, if deref is set, one pointer)
// completed to its full struct or union definition.
func pkStruct(im *dwarfx.Image, t dwarf.Type, deref bool) (*dwarf.StructType, error) {
	t = dwarfx.Strip(t)
	if p, ok := t.(*dwarf.PtrType); ok && deref {
		t = dwarfx.Strip(p.Type)
	}
	if t == nil {
		return nil, fmt.Errorf("no type")
	}
	st, ok := dwarfx.Strip(im.Complete(t)).(*dwarf.StructType)
	if !ok {
		return nil, fmt.Errorf("%s is not a struct", dwarfx.TypeString(t))
	}
	if st.Incomplete {
		return nil, fmt.Errorf("%s is only declared (no members in DWARF)", dwarfx.TypeString(st))
	}
	return st, nil
}

// pkField is a member located in its outermost struct: byte offset and
// size, and for a bit-field its bit position (dwarfx.Field.BitOffset terms)
// and width.
type pkField struct {
	Off     int64
	Size    int64
	BitPos  int64 // only if Bits > 0
	Bits    int64
	Type    dwarf.Type
	present bool
}

// ok reports whether the member exists.
func (f pkField) ok() bool { return f.present }

// pkMember resolves a dotted member path ("desc_ring.count_bits") in the
// struct st, through anonymous members (dwarfx.FindMember does that).
func pkMember(im *dwarfx.Image, st dwarf.Type, path string) (pkField, error) {
	var base int64
	cur := st
	parts := strings.Split(path, ".")
	for i, name := range parts {
		f, ok := im.FindMember(cur, name)
		if !ok {
			return pkField{}, fmt.Errorf("%s has no member '%s'", dwarfx.TypeString(st), strings.Join(parts[:i+1], "."))
		}
		if i < len(parts)-1 {
			base += f.ByteOffset
			cur = f.Type
			continue
		}
		out := pkField{Off: base + f.ByteOffset, Type: f.Type, present: true}
		out.Size, _ = im.Sizeof(f.Type)
		if f.BitSize > 0 {
			out.Bits = f.BitSize
			out.BitPos = base*8 + f.BitOffset
		}
		return out, nil
	}
	return pkField{}, fmt.Errorf("empty member path")
}

// pkOptMember is pkMember for members only some kernels have: a missing
// member gives a zero field (ok() false).
func pkOptMember(im *dwarfx.Image, st dwarf.Type, path string) pkField {
	f, err := pkMember(im, st, path)
	if err != nil {
		return pkField{}
	}
	return f
}

// get reads the field from b (the bytes of the struct that contains it).
// Integers of 1, 2, 4 and 8 bytes and bit-fields are supported; a field that
// does not fit in b reads as 0 and false.
func (f pkField) get(b []byte, bo binary.ByteOrder) (uint64, bool) {
	if !f.present {
		return 0, false
	}
	if f.Bits > 0 {
		first := f.BitPos / 8
		last := (f.BitPos + f.Bits - 1) / 8
		if first < 0 || last >= int64(len(b)) || last-first >= 8 {
			return 0, false
		}
		var x uint64
		n := last - first + 1
		if bo == binary.BigEndian {
			for i := int64(0); i < n; i++ {
				x = x<<8 | uint64(b[first+i])
			}
			x >>= uint64(n*8 - f.BitPos%8 - f.Bits)
		} else {
			for i := n - 1; i >= 0; i-- {
				x = x<<8 | uint64(b[first+i])
			}
			x >>= uint64(f.BitPos % 8)
		}
		return x & (1<<uint64(f.Bits) - 1), true
	}
	if f.Off < 0 || f.Off+f.Size > int64(len(b)) {
		return 0, false
	}
	p := b[f.Off:]
	switch f.Size {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(bo.Uint16(p)), true
	case 4:
		return uint64(bo.Uint32(p)), true
	case 8:
		return bo.Uint64(p), true
	}
	return 0, false
}

// cstr reads a char-array field as a C string.
func (f pkField) cstr(b []byte) string {
	if !f.present || f.Off < 0 || f.Off+f.Size > int64(len(b)) {
		return ""
	}
	return string(cString(b[f.Off : f.Off+f.Size]))
}
