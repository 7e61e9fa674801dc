package repl

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file decodes a typed object into a tree of vnodes: the one walk over
// a value that the gdb (p/struct/union/task), Trace32 (v.v) and JSON
// printers all render. Decoding reads the object's bytes once; an
// unreadable part of an object becomes an error on the members it covers,
// as gdb prints `<error: Cannot access memory at address 0x...>` for them,
// instead of failing the whole object.

// printMax is gdb's "print elements" limit as crash sets it: arrays and
// strings show at most this many elements, then "...".
const printMax = 256

// maxObject bounds one object read (a 16 MB struct is a wrong cast).
const maxObject = 16 << 20

type vkind uint8

const (
	vkInt    vkind = iota // IntType, signed
	vkUint                // UintType
	vkChar                // CharType/UcharType (signed per Signed)
	vkBool                //
	vkEnum                //
	vkFloat               //
	vkPtr                 // any pointer; Func set for function pointers
	vkStruct              // struct or union; Kids are members
	vkArray               // Kids are elements (at most printMax)
	vkString              // char array: Str holds the elements
	vkFunc                // a function itself (p schedule)
	vkOther               // void, unspecified: raw bytes in Str
)

// vnode is one decoded value.
type vnode struct {
	Name    string     // member name, "" for elements and anonymous members
	Type    dwarf.Type // as declared, typedefs kept
	Addr    uint64
	HasAddr bool
	Kind    vkind

	U      uint64   // scalar bits; signed values sign-extended
	Wide   *big.Int // integers wider than 64 bits (__int128: arm64 vregs), else nil
	Signed bool
	Bits   int     // width of the scalar in bits (bit-field width, or 8*size)
	F      float64 // vkFloat

	Str    []byte // vkString elements (at most printMax+1); char * target
	StrOK  bool   // char *: Str was read
	StrErr error  // char *: why its string could not be read

	Func     bool // vkPtr to a function
	CharPtr  bool // vkPtr to char/unsigned char
	Target   dwarf.Type
	Kids     []*vnode
	Count    int64 // vkArray/vkString: elements in the type
	Union    bool
	Err      error // unreadable: Kind is meaningless
	ErrAddr  uint64
	Anon     bool // an anonymous struct/union member
	BitField bool
}

// memErr is gdb's message for an unreadable address.
type memErr struct{ addr uint64 }

func (e memErr) Error() string { return fmt.Sprintf("Cannot access memory at address %#x", e.addr) }

// decoder turns objects into vnodes.
type decoder struct {
	im  *dwarfx.Image
	mem dwarfx.Memory
	bo  binary.ByteOrder
	// strings reads the target of char pointers (gdb shows them).
	strings bool
}

func (s *Session) decoder() *decoder {
	return &decoder{im: s.K.Image, mem: s.K.Memory(), bo: s.K.Image.ByteOrder(), strings: true}
}

// object is a window on bytes read from the target: bad marks bytes that
// could not be read.
type object struct {
	b       []byte
	bad     []bool // nil when every byte was read
	addr    uint64
	hasAddr bool
}

func (o object) sub(off, n int64) object {
	r := object{b: o.b[off : off+n], addr: o.addr + uint64(off), hasAddr: o.hasAddr}
	if o.bad != nil {
		r.bad = o.bad[off : off+n]
	}
	return r
}

// readable reports whether n bytes at off were read, and if not the first
// address that was not.
func (o object) readable(off, n int64) (bool, uint64) {
	if o.bad == nil {
		return true, 0
	}
	for i := off; i < off+n && i < int64(len(o.bad)); i++ {
		if o.bad[i] {
			return false, o.addr + uint64(i)
		}
	}
	return true, 0
}

// readObject reads n bytes at addr; pages that cannot be read are marked
// bad rather than failing the read. It fails only if nothing is readable.
func (d *decoder) readObject(addr uint64, n int64) (object, error) {
	if n < 0 || n > maxObject {
		return object{}, fmt.Errorf("object of %d bytes at %#x is too large to print", n, addr)
	}
	o := object{b: make([]byte, n), addr: addr, hasAddr: true}
	if n == 0 {
		return o, nil
	}
	if err := d.mem.ReadVirt(o.b, addr); err == nil {
		return o, nil
	}
	// Read page by page so the readable parts still print.
	const page = 4096
	o.bad = make([]bool, n)
	any := false
	for off := int64(0); off < n; {
		end := min(n, int64((addr+uint64(off))/page+1)*page-int64(addr))
		if end <= off {
			end = n
		}
		if err := d.mem.ReadVirt(o.b[off:end], addr+uint64(off)); err != nil {
			for i := off; i < end; i++ {
				o.bad[i] = true
			}
		} else {
			any = true
		}
		off = end
	}
	if !any {
		return o, memErr{addr}
	}
	return o, nil
}

// readSize is how many bytes printing an object of type t needs: arrays
// beyond printMax elements are not read.
func readSize(t dwarf.Type) int64 {
	n := t.Size()
	if at, ok := dwarfx.Strip(t).(*dwarf.ArrayType); ok && at.Count > printMax+1 {
		if es := at.Type.Size(); es > 0 {
			n = (printMax + 1) * es
		}
	}
	return n
}

// decodeValue decodes an expression's value (an lvalue or a constant).
func (d *decoder) decodeValue(v dwarfx.Value, name string) *vnode {
	t := d.complete(v.Type())
	addr, hasAddr := v.Addr()
	if bs, _ := v.BitField(); bs > 0 {
		x, err := v.Uint(d.mem)
		n := &vnode{Name: name, Type: v.Type(), BitField: true}
		if err != nil {
			n.Err = err
			return n
		}
		d.scalar(n, t, x, int(bs))
		return n
	}
	switch st := dwarfx.Strip(t).(type) {
	case *dwarf.FuncType:
		return &vnode{Name: name, Type: v.Type(), Addr: addr, HasAddr: hasAddr, Kind: vkFunc}
	case *dwarf.VoidType:
		return &vnode{Name: name, Type: v.Type(), Kind: vkOther}
	case *dwarf.StructType:
		if st.Incomplete {
			return &vnode{Name: name, Type: v.Type(), Addr: addr, HasAddr: hasAddr, Err: fmt.Errorf("incomplete type")}
		}
	}
	if hasAddr {
		o, err := d.readObject(addr, readSize(t))
		if err != nil {
			return &vnode{Name: name, Type: v.Type(), Addr: addr, HasAddr: true, Err: err, ErrAddr: addr}
		}
		return d.decode(name, v.Type(), o)
	}
	b, err := v.Bytes(d.mem)
	if err != nil {
		return &vnode{Name: name, Type: v.Type(), Err: err}
	}
	return d.decode(name, v.Type(), object{b: b})
}

// decodeAt decodes the object of type t at addr.
func (d *decoder) decodeAt(name string, t dwarf.Type, addr uint64) *vnode {
	return d.decodeValue(d.im.NewValueAt(t, addr), name)
}

func (d *decoder) complete(t dwarf.Type) dwarf.Type {
	if d.im == nil {
		return t
	}
	return d.im.Complete(t)
}

// decode decodes an object of type t whose bytes are o.
func (d *decoder) decode(name string, t dwarf.Type, o object) *vnode {
	n := &vnode{Name: name, Type: t, Addr: o.addr, HasAddr: o.hasAddr}
	ct := d.complete(t)
	st := dwarfx.Strip(ct)
	size := ct.Size()
	if _, ok := st.(*dwarf.ArrayType); !ok && size > 0 {
		if size > int64(len(o.b)) {
			n.Err = fmt.Errorf("object of type %s needs %d bytes, have %d", dwarfx.TypeString(t), size, len(o.b))
			return n
		}
		if _, isStruct := st.(*dwarf.StructType); !isStruct {
			if ok, bad := o.readable(0, size); !ok {
				n.Err, n.ErrAddr = memErr{bad}, bad
				return n
			}
		}
	}
	switch tt := st.(type) {
	case *dwarf.StructType:
		d.structure(n, tt, o)
	case *dwarf.ArrayType:
		d.array(n, tt, o)
	case *dwarf.FuncType:
		n.Kind = vkFunc
	case *dwarf.FloatType:
		n.Kind = vkFloat
		switch size {
		case 4:
			n.F = float64(math.Float32frombits(d.bo.Uint32(o.b)))
		case 8:
			n.F = math.Float64frombits(d.bo.Uint64(o.b))
		default:
			n.Kind, n.Str = vkOther, o.b[:size]
		}
	case *dwarf.IntType, *dwarf.UintType, *dwarf.CharType, *dwarf.UcharType, *dwarf.BoolType,
		*dwarf.EnumType, *dwarf.PtrType, *dwarf.AddrType:
		d.scalar(n, ct, dwarfx.DecodeUint(d.bo, o.b[:size]), int(8*size))
		if size > 8 {
			n.Wide = wideInt(d.bo, o.b[:size], n.Signed)
		}
	default:
		n.Kind = vkOther
		if size > 0 {
			n.Str = o.b[:size]
		}
	}
	return n
}

// scalar fills n from the raw bits x (zero-extended) of width bits.
func (d *decoder) scalar(n *vnode, t dwarf.Type, x uint64, bits int) {
	n.Bits = bits
	st := dwarfx.Strip(t)
	signed := false
	switch tt := st.(type) {
	case *dwarf.IntType:
		n.Kind, signed = vkInt, true
	case *dwarf.UintType:
		n.Kind = vkUint
	case *dwarf.CharType:
		n.Kind, signed = vkChar, true
	case *dwarf.UcharType:
		n.Kind = vkChar
	case *dwarf.BoolType:
		n.Kind = vkBool
	case *dwarf.EnumType:
		n.Kind = vkEnum
		for _, v := range tt.Val {
			signed = signed || v.Val < 0
		}
	case *dwarf.PtrType:
		n.Kind = vkPtr
		n.Target = tt.Type
		switch dwarfx.Strip(tt.Type).(type) {
		case *dwarf.FuncType:
			n.Func = true
		case *dwarf.CharType, *dwarf.UcharType:
			n.CharPtr = true
		}
	default:
		n.Kind = vkUint
	}
	if signed && bits > 0 && bits < 64 && x&(1<<(bits-1)) != 0 {
		x |= ^uint64(0) << bits
	} else if bits > 0 && bits < 64 {
		x &= 1<<bits - 1
	}
	n.U, n.Signed = x, signed
	if n.CharPtr && x != 0 && d.strings {
		s, err := d.cstring(x, printMax)
		n.Str, n.StrErr, n.StrOK = s, err, err == nil
	}
}

// cstring reads a NUL-terminated string of at most max bytes (max+1 read
// so the printer knows it was cut).
func (d *decoder) cstring(addr uint64, max int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64)
	for len(out) <= max {
		// Do not cross a page in one read: the next page may be absent.
		n := min(uint64(len(buf)), 4096-addr%4096)
		if err := d.mem.ReadVirt(buf[:n], addr); err != nil {
			if len(out) == 0 {
				return nil, memErr{addr}
			}
			return out, nil
		}
		for _, c := range buf[:n] {
			if c == 0 {
				return out, nil
			}
			out = append(out, c)
			if len(out) > max {
				return out, nil
			}
		}
		addr += n
	}
	return out, nil
}

func (d *decoder) structure(n *vnode, st *dwarf.StructType, o object) {
	n.Kind, n.Union = vkStruct, st.Kind == "union"
	if st.Incomplete {
		n.Err = errors.New("incomplete type")
		return
	}
	for _, f := range st.Field {
		n.Kids = append(n.Kids, d.member(st, f, o))
	}
}

// member decodes one struct member, bit-fields included.
func (d *decoder) member(st *dwarf.StructType, f *dwarf.StructField, o object) *vnode {
	if f.BitSize > 0 {
		k := &vnode{Name: f.Name, Type: f.Type, BitField: true}
		fd, ok := d.im.FindMember(st, f.Name)
		if f.Name == "" || !ok {
			k.Err = fmt.Errorf("unnamed bit-field")
			return k
		}
		k.Addr, k.HasAddr = o.addr+uint64(fd.ByteOffset), o.hasAddr
		nb := (fd.BitOffset%8 + fd.BitSize + 7) / 8
		if ok, bad := o.readable(fd.ByteOffset, nb); !ok {
			k.Err, k.ErrAddr = memErr{bad}, bad
			return k
		}
		// The bit layout rules live in dwarfx: decode through a constant Value.
		mv, err := dwarfx.NewConstBytes(st, o.b).WithImage(d.im).Member(f.Name)
		if err != nil {
			k.Err = err
			return k
		}
		x, err := mv.Uint(nil)
		if err != nil {
			k.Err = err
			return k
		}
		d.scalar(k, f.Type, x, int(f.BitSize))
		return k
	}
	mt := d.complete(f.Type)
	size := mt.Size()
	if at, ok := dwarfx.Strip(mt).(*dwarf.ArrayType); ok && at.Count <= 0 {
		size = 0 // flexible array member
	}
	if size < 0 {
		size = 0
	}
	if f.ByteOffset < 0 || f.ByteOffset+size > int64(len(o.b)) {
		return &vnode{Name: f.Name, Type: f.Type, Err: fmt.Errorf("member %s lies outside its %d-byte struct", f.Name, len(o.b))}
	}
	k := d.decode(f.Name, f.Type, o.sub(f.ByteOffset, size))
	if f.Name == "" {
		k.Anon = true
	}
	return k
}

func (d *decoder) array(n *vnode, at *dwarf.ArrayType, o object) {
	n.Kind = vkArray
	n.Count = max(at.Count, 0)
	es := d.complete(at.Type).Size()
	if es <= 0 {
		return
	}
	avail := int64(len(o.b)) / es
	shown := min(n.Count, printMax+1, avail)
	switch dwarfx.Strip(at.Type).(type) {
	case *dwarf.CharType, *dwarf.UcharType:
		if es == 1 {
			n.Kind = vkString
			if ok, bad := o.readable(0, shown); !ok {
				n.Err, n.ErrAddr = memErr{bad}, bad
				return
			}
			n.Str = o.b[:shown]
			return
		}
	}
	if n.Count == 0 {
		return
	}
	for i := int64(0); i < min(shown, printMax); i++ {
		n.Kids = append(n.Kids, d.decode("", at.Type, o.sub(i*es, es)))
	}
}

// truncated reports whether an array had more elements than were decoded.
func (n *vnode) truncated() bool {
	if n.Kind == vkString {
		return int64(len(n.Str)) > printMax
	}
	return n.Count > int64(len(n.Kids))
}

// gdbTypeNames maps DWARF base type names to the spelling gdb prints.
var gdbTypeNames = strings.NewReplacer(
	"long long unsigned int", "unsigned long long",
	"long long int", "long long",
	"long unsigned int", "unsigned long",
	"short unsigned int", "unsigned short",
	"long int", "long",
	"short int", "short",
)

// gdbType spells t as gdb does.
func gdbType(t dwarf.Type) string { return gdbTypeNames.Replace(dwarfx.TypeString(unqualArray(t))) }

// unqualArray drops a qualifier applied to an array type: C qualifies the
// elements (GCC emits both), and gdb prints "const char x[8]" once.
func unqualArray(t dwarf.Type) dwarf.Type {
	if q, ok := t.(*dwarf.QualType); ok {
		if _, isArr := q.Type.(*dwarf.ArrayType); isArr {
			return q.Type
		}
	}
	return t
}

// gdbDecl spells a declaration of name as gdb's ptype/whatis does.
func gdbDecl(t dwarf.Type, name string) string {
	return strings.TrimRight(gdbTypeNames.Replace(dwarfx.CDecl(unqualArray(t), name)), " ")
}

// wideInt decodes an integer wider than 64 bits (two's complement if signed).
func wideInt(bo binary.ByteOrder, b []byte, signed bool) *big.Int {
	be := make([]byte, len(b))
	copy(be, b)
	if bo == binary.ByteOrder(binary.LittleEndian) {
		slices.Reverse(be)
	}
	v := new(big.Int).SetBytes(be)
	if signed && len(be) > 0 && be[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(be))))
	}
	return v
}
