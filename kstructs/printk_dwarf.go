package kstructs

import (
	"debug/dwarf"
	"fmt"

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

// pkMember resolves a member path ("desc_ring.count_bits") in the struct
// st, through anonymous members.
func pkMember(im *dwarfx.Image, st dwarf.Type, path string) (dwarfx.Field, error) {
	return im.Member(st, path)
}

// pkOptMember is pkMember for members only some kernels have: a missing
// member gives a zero field (ok() false).
func pkOptMember(im *dwarfx.Image, st dwarf.Type, path string) dwarfx.Field {
	f, err := pkMember(im, st, path)
	if err != nil {
		return dwarfx.Field{}
	}
	return f
}

// fieldCString reads a char array member out of its struct's bytes b.
func fieldCString(f dwarfx.Field, b []byte) string {
	if !f.Found() || f.ByteOffset < 0 || f.ByteOffset+f.ByteSize > int64(len(b)) {
		return ""
	}
	return string(cString(b[f.ByteOffset : f.ByteOffset+f.ByteSize]))
}
