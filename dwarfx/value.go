package dwarfx

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Memory reads the target's kernel virtual memory. ReadVirt fills all of p
// from addr or returns an error saying why not; Values wrap that error with
// what was being read.
type Memory interface {
	ReadVirt(p []byte, addr uint64) error
}

// ByteOrderer may be implemented by a Memory to give the target's byte
// order to Values built without an Image (little-endian otherwise).
type ByteOrderer interface {
	ByteOrder() binary.ByteOrder
}

// maxRead bounds the bytes a Value reads at once (Bytes, CString).
const maxRead = 64 << 20

// Value is a typed object: either an lvalue at an address in target memory
// (read lazily through a Memory) or a constant held in bytes. Values are
// small and immutable; operations return new Values.
//
// A Value may be bound to an Image (byte order, pointer size, completion of
// opaque struct types) and to a Memory (used by operations that must read
// a pointer: Deref, Index on pointers, Member through a pointer, Cast). The
// Memory argument of Uint, Int, Bytes and CString overrides the bound one
// when not nil.
type Value struct {
	typ     dwarf.Type
	addr    uint64
	hasAddr bool
	buf     []byte // contents of a constant
	bitSize int64  // > 0 for a bit-field
	bitOff  int64  // bit-field: first bit, counted from addr/buf[0] (DW_AT_data_bit_offset convention)
	im      *Image
	mem     Memory
	desc    string // what the value is, for messages ("init_task.se.vruntime")
	perCPU  bool   // the address is a per-cpu variable's (not yet mapped to a cpu)
	elfOnly bool   // an ELF symbol without DWARF (evaluator)
	symAddr uint64
}

// IsPerCPU reports whether v is (part of) a per-cpu variable addressed
// without choosing a cpu: its address is the per-cpu section's, not an
// instance's.
func (v Value) IsPerCPU() bool { return v.perCPU }

// NewValueAt is the object of type t at addr.
func NewValueAt(t dwarf.Type, addr uint64) Value {
	return Value{typ: t, addr: addr, hasAddr: true}
}

// NewConst is a constant of scalar type t holding v (truncated to t's size,
// little-endian unless t comes with a big-endian Image: use Image.NewConst).
func NewConst(t dwarf.Type, v uint64) Value {
	return newConst(nil, t, v)
}

// NewConstBytes is a constant of type t with contents b.
func NewConstBytes(t dwarf.Type, b []byte) Value {
	return Value{typ: t, buf: append([]byte(nil), b...)}
}

// NewValueAt is the object of type t at addr, bound to the image (byte
// order, completion of opaque types).
func (im *Image) NewValueAt(t dwarf.Type, addr uint64) Value {
	return Value{typ: t, addr: addr, hasAddr: true, im: im}
}

// NewConst is a constant of type t holding v in the image's byte order.
func (im *Image) NewConst(t dwarf.Type, v uint64) Value { return newConst(im, t, v) }

// ValueOf is the value of global variable name, bound to the image.
func (im *Image) ValueOf(name string) (Value, error) {
	v, err := im.Variable(name)
	if err != nil {
		return Value{}, err
	}
	return Value{typ: v.Type, addr: v.Addr, hasAddr: true, im: im, desc: name}, nil
}

func newConst(im *Image, t dwarf.Type, v uint64) Value {
	n := sizeOf(t)
	if n <= 0 || n > 8 {
		n = 8
	}
	b := make([]byte, n)
	putUint(orderOf(im, nil), b, v)
	return Value{typ: t, buf: b, im: im}
}

func orderOf(im *Image, m Memory) binary.ByteOrder {
	if im != nil {
		return im.order
	}
	if bo, ok := m.(ByteOrderer); ok {
		if o := bo.ByteOrder(); o != nil {
			return o
		}
	}
	return binary.LittleEndian
}

func putUint(o binary.ByteOrder, b []byte, v uint64) {
	if o == binary.ByteOrder(binary.BigEndian) {
		for i := len(b) - 1; i >= 0; i-- {
			b[i] = byte(v)
			v >>= 8
		}
		return
	}
	for i := range b {
		b[i] = byte(v)
		v >>= 8
	}
}

func getUint(o binary.ByteOrder, b []byte) uint64 { return DecodeUint(o, b) }

// WithMem binds m to v (and to the values derived from it).
func (v Value) WithMem(m Memory) Value { v.mem = m; return v }

// WithImage binds im to v.
func (v Value) WithImage(im *Image) Value { v.im = im; return v }

// WithName sets the description used in error messages.
func (v Value) WithName(s string) Value { v.desc = s; return v }

// Name is the value's description ("init_task.se.vruntime"), "" if none.
func (v Value) Name() string { return v.desc }

// Type is the value's type.
func (v Value) Type() dwarf.Type { return v.typ }

// Addr is the value's address, if it is an lvalue (and not a bit-field).
func (v Value) Addr() (uint64, bool) { return v.addr, v.hasAddr && v.bitSize == 0 }

// IsValid reports whether v holds a type (the zero Value does not).
func (v Value) IsValid() bool { return v.typ != nil }

// BitField returns the bit size and the bit offset from the value's storage
// start (Addr rounded down) of a bit-field member; size 0 if v is not one.
func (v Value) BitField() (size, offset int64) { return v.bitSize, v.bitOff }

// Size is the size of the value's type in bytes (-1 if none).
func (v Value) Size() int64 { return sizeOf(v.complete(v.typ)) }

func (v Value) complete(t dwarf.Type) dwarf.Type {
	if v.im != nil {
		return v.im.Complete(t)
	}
	return t
}

func (v Value) order(m Memory) binary.ByteOrder { return orderOf(v.im, m) }

func (v Value) memOr(m Memory) Memory {
	if m != nil {
		return m
	}
	return v.mem
}

func (v Value) what() string {
	if v.desc != "" {
		return v.desc
	}
	if v.hasAddr {
		return fmt.Sprintf("(%s)%#x", TypeString(v.typ), v.addr)
	}
	return TypeString(v.typ)
}

func (v Value) derive(t dwarf.Type, desc string) Value {
	return Value{typ: t, im: v.im, mem: v.mem, desc: desc, perCPU: v.perCPU}
}

func (v Value) ptrSize() int64 {
	if v.im != nil {
		return int64(v.im.ptr)
	}
	return 8
}

// errNoMem is returned when a pointer must be read and no Memory is bound.
var errNoMem = errors.New("no memory to read from")

// readBytes reads n bytes at off from the value's start.
func (v Value) readBytes(m Memory, off, n int64) ([]byte, error) {
	if n < 0 || n > maxRead {
		return nil, fmt.Errorf("%s: cannot read %d bytes", v.what(), n)
	}
	if !v.hasAddr {
		if off < 0 || off+n > int64(len(v.buf)) {
			return nil, fmt.Errorf("%s: constant has %d bytes, need %d at offset %d", v.what(), len(v.buf), n, off)
		}
		return v.buf[off : off+n], nil
	}
	m = v.memOr(m)
	if m == nil {
		return nil, fmt.Errorf("reading %s: %w", v.what(), errNoMem)
	}
	b := make([]byte, n)
	if n == 0 {
		return b, nil
	}
	addr := v.addr + uint64(off)
	if err := m.ReadVirt(b, addr); err != nil {
		return nil, fmt.Errorf("reading %s (%d bytes at %#x): %w", v.what(), n, addr, err)
	}
	return b, nil
}

// scalarKind classifies the stripped type for integer reads.
func isSigned(t dwarf.Type) bool {
	switch x := Strip(t).(type) {
	case *dwarf.IntType, *dwarf.CharType:
		return true
	case *dwarf.EnumType:
		for _, e := range x.Val {
			if e.Val < 0 {
				return true
			}
		}
	}
	return false
}

func isScalar(t dwarf.Type) bool {
	switch Strip(t).(type) {
	case *dwarf.IntType, *dwarf.UintType, *dwarf.CharType, *dwarf.UcharType, *dwarf.BoolType,
		*dwarf.EnumType, *dwarf.PtrType, *dwarf.AddrType, *dwarf.UnspecifiedType:
		return true
	}
	return false
}

func isFloat(t dwarf.Type) bool {
	_, ok := Strip(t).(*dwarf.FloatType)
	return ok
}

// raw reads the value's bits, zero-extended, and whether its type is signed.
func (v Value) raw(m Memory) (uint64, bool, error) {
	t := Strip(v.typ)
	if !isScalar(t) {
		return 0, false, fmt.Errorf("%s is not a scalar (type %s)", v.what(), TypeString(v.typ))
	}
	signed := isSigned(t)
	o := v.order(v.memOr(m))
	if v.bitSize > 0 {
		if v.bitSize > 64 {
			return 0, false, fmt.Errorf("%s: bit-field of %d bits", v.what(), v.bitSize)
		}
		first := v.bitOff / 8
		shift := v.bitOff % 8
		n := (shift + v.bitSize + 7) / 8
		b, err := v.readBytes(m, first, n)
		if err != nil {
			return 0, false, err
		}
		var x uint64
		big := o == binary.ByteOrder(binary.BigEndian)
		for i := int64(0); i < v.bitSize; i++ {
			bit := shift + i
			if big {
				x = x<<1 | uint64(b[bit/8]>>(7-bit%8)&1)
			} else {
				x |= uint64(b[bit/8]>>(bit%8)&1) << i
			}
		}
		if signed && v.bitSize < 64 && x&(1<<(v.bitSize-1)) != 0 {
			x |= ^uint64(0) << v.bitSize
		}
		return x, signed, nil
	}
	n := sizeOf(t)
	if n <= 0 {
		return 0, false, fmt.Errorf("%s has no size", v.what())
	}
	var b []byte
	var err error
	if n > 8 {
		// __int128 and friends: the low 64 bits.
		b, err = v.readBytes(m, 0, n)
		if err != nil {
			return 0, false, err
		}
		if o == binary.ByteOrder(binary.BigEndian) {
			b = b[n-8:]
		} else {
			b = b[:8]
		}
	} else {
		b, err = v.readBytes(m, 0, n)
		if err != nil {
			return 0, false, err
		}
	}
	x := getUint(o, b)
	if signed && len(b) < 8 && x&(1<<(8*len(b)-1)) != 0 {
		x |= ^uint64(0) << (8 * len(b))
	}
	return x, signed, nil
}

// Uint reads a scalar (integer, enum, bool, pointer, bit-field) as an
// unsigned number; signed values are sign-extended to 64 bits first.
func (v Value) Uint(m Memory) (uint64, error) {
	x, _, err := v.raw(m)
	return x, err
}

// Int reads a scalar as a signed number (unsigned types are zero-extended).
func (v Value) Int(m Memory) (int64, error) {
	x, _, err := v.raw(m)
	return int64(x), err
}

// Float reads a float or double (integers are converted).
func (v Value) Float(m Memory) (float64, error) {
	t := Strip(v.typ)
	if ft, ok := t.(*dwarf.FloatType); ok {
		b, err := v.readBytes(m, 0, ft.ByteSize)
		if err != nil {
			return 0, err
		}
		o := v.order(v.memOr(m))
		switch ft.ByteSize {
		case 4:
			return float64(math.Float32frombits(uint32(getUint(o, b)))), nil
		case 8:
			return math.Float64frombits(getUint(o, b)), nil
		}
		return 0, fmt.Errorf("%s: %d-byte floating point not supported", v.what(), ft.ByteSize)
	}
	x, signed, err := v.raw(m)
	if err != nil {
		return 0, err
	}
	if signed {
		return float64(int64(x)), nil
	}
	return float64(x), nil
}

// Bytes reads the value's raw bytes (its type's size).
func (v Value) Bytes(m Memory) ([]byte, error) {
	if v.bitSize > 0 {
		return nil, fmt.Errorf("%s is a bit-field", v.what())
	}
	n := v.Size()
	if n < 0 {
		return nil, fmt.Errorf("%s has no size (type %s)", v.what(), TypeString(v.typ))
	}
	b, err := v.readBytes(m, 0, n)
	if err != nil {
		return nil, err
	}
	if !v.hasAddr {
		b = append([]byte(nil), b...)
	}
	return b, nil
}

// Load reads an lvalue into a constant (a snapshot); constants are returned
// unchanged.
func (v Value) Load(m Memory) (Value, error) {
	if !v.hasAddr {
		return v, nil
	}
	if v.bitSize > 0 {
		x, err := v.Uint(m)
		if err != nil {
			return Value{}, err
		}
		c := newConst(v.im, v.typ, x)
		c.mem, c.desc = v.mem, v.desc
		return c, nil
	}
	b, err := v.Bytes(m)
	if err != nil {
		return Value{}, err
	}
	c := v.derive(v.typ, v.desc)
	c.buf = b
	return c, nil
}

func isCharType(t dwarf.Type) bool {
	switch x := Strip(t).(type) {
	case *dwarf.CharType, *dwarf.UcharType:
		return true
	case *dwarf.IntType:
		return x.ByteSize == 1
	case *dwarf.UintType:
		return x.ByteSize == 1
	}
	return false
}

// CString reads a NUL-terminated string from a char array (at most its
// length) or through a char pointer, at most max bytes (max <= 0: 4096).
func (v Value) CString(m Memory, max int) (string, error) {
	if max <= 0 {
		max = 4096
	}
	if max > maxRead {
		max = maxRead
	}
	switch t := Strip(v.typ).(type) {
	case *dwarf.ArrayType:
		if !isCharType(t.Type) {
			return "", fmt.Errorf("%s is not a char array (type %s)", v.what(), TypeString(v.typ))
		}
		n := t.Count
		if n < 0 || n > int64(max) {
			n = int64(max)
		}
		if !v.hasAddr && n > int64(len(v.buf)) {
			n = int64(len(v.buf))
		}
		b, err := v.readBytes(m, 0, n)
		if err != nil {
			return "", err
		}
		for i, c := range b {
			if c == 0 {
				return string(b[:i]), nil
			}
		}
		return string(b), nil
	case *dwarf.PtrType:
		if !isCharType(t.Type) && !isVoid(t.Type) {
			return "", fmt.Errorf("%s is not a char pointer (type %s)", v.what(), TypeString(v.typ))
		}
		p, err := v.Uint(m)
		if err != nil {
			return "", err
		}
		mm := v.memOr(m)
		if mm == nil {
			return "", fmt.Errorf("reading string at %#x: %w", p, errNoMem)
		}
		return ReadCString(mm, p, max)
	}
	return "", fmt.Errorf("%s is not a string (type %s)", v.what(), TypeString(v.typ))
}

// ReadCString reads a NUL-terminated string at addr, at most max bytes,
// without crossing into a page it does not need.
func ReadCString(m Memory, addr uint64, max int) (string, error) {
	var out []byte
	start := addr
	for len(out) < max {
		chunk := 4096 - int(addr%4096)
		if chunk > max-len(out) {
			chunk = max - len(out)
		}
		b := make([]byte, chunk)
		err := m.ReadVirt(b, addr)
		// A failed chunk may still hold the string's end (the memory ends
		// before the page does): retry with smaller reads.
		for err != nil && chunk > 1 {
			chunk /= 2
			b = b[:chunk]
			err = m.ReadVirt(b, addr)
		}
		if err != nil {
			if len(out) > 0 {
				return string(out), fmt.Errorf("string at %#x unterminated after %d bytes: %w", start, len(out), err)
			}
			return "", fmt.Errorf("reading string at %#x: %w", addr, err)
		}
		for i, c := range b {
			if c == 0 {
				return string(append(out, b[:i]...)), nil
			}
		}
		out = append(out, b...)
		addr += uint64(chunk)
	}
	return string(out), nil
}

func isVoid(t dwarf.Type) bool {
	switch Strip(t).(type) {
	case *dwarf.VoidType, nil:
		return true
	}
	return false
}

// Member selects member name of a struct/union value, through anonymous
// struct/union members; on a pointer to a struct it dereferences first (as
// gdb does for '.').
func (v Value) Member(name string) (Value, error) {
	t := Strip(v.complete(v.typ))
	if _, ok := t.(*dwarf.PtrType); ok {
		d, err := v.Deref()
		if err != nil {
			return Value{}, err
		}
		return d.memberOf(name, v.what()+"->"+name)
	}
	return v.memberOf(name, v.what()+"."+name)
}

func (v Value) memberOf(name, desc string) (Value, error) {
	t := v.complete(v.typ)
	if _, ok := Strip(t).(*dwarf.StructType); !ok {
		return Value{}, fmt.Errorf("%s is not a struct or union (type %s), cannot select '%s'", v.what(), TypeString(v.typ), name)
	}
	f, ok := findMember(v.im, t, name, 0)
	if !ok {
		return Value{}, &MemberError{Type: TypeString(Strip(t)), Member: name}
	}
	if v.bitSize > 0 {
		return Value{}, fmt.Errorf("%s is a bit-field", v.what())
	}
	r := v.derive(f.Type, desc)
	if f.BitSize > 0 {
		r.bitSize = f.BitSize
		r.bitOff = f.BitOffset % 8
		off := f.BitOffset / 8
		if v.hasAddr {
			r.addr, r.hasAddr = v.addr+uint64(off), true
		} else {
			nb := (r.bitOff + r.bitSize + 7) / 8
			if off < 0 || off+nb > int64(len(v.buf)) {
				return Value{}, fmt.Errorf("%s: constant too short for member '%s'", v.what(), name)
			}
			r.buf = v.buf[off : off+nb]
		}
		return r, nil
	}
	if v.hasAddr {
		r.addr, r.hasAddr = v.addr+uint64(f.ByteOffset), true
		return r, nil
	}
	n := sizeOf(r.complete(f.Type))
	if n < 0 {
		n = 0
	}
	if f.ByteOffset < 0 || f.ByteOffset+n > int64(len(v.buf)) {
		return Value{}, fmt.Errorf("%s: constant too short for member '%s'", v.what(), name)
	}
	r.buf = v.buf[f.ByteOffset : f.ByteOffset+n]
	return r, nil
}

// Path follows a member path: "se.vruntime", "a->b[3].c", "[2]", "->x".
func (v Value) Path(path string) (Value, error) {
	steps, err := parsePath(path)
	if err != nil {
		return Value{}, err
	}
	cur := v
	for _, st := range steps {
		switch st.kind {
		case stepMember:
			cur, err = cur.Member(st.name)
		case stepArrow:
			if _, ok := Strip(cur.typ).(*dwarf.PtrType); ok {
				var d Value
				if d, err = cur.Deref(); err == nil {
					cur, err = d.memberOf(st.name, cur.what()+"->"+st.name)
				}
			} else {
				cur, err = cur.Member(st.name)
			}
		case stepIndex:
			cur, err = cur.Index(st.index)
		}
		if err != nil {
			return Value{}, err
		}
	}
	return cur, nil
}

// Index selects element i of an array, or of the array a pointer points to.
func (v Value) Index(i int64) (Value, error) {
	switch t := Strip(v.complete(v.typ)).(type) {
	case *dwarf.ArrayType:
		et := v.complete(t.Type)
		es := sizeOf(et)
		if t.StrideBitSize > 0 {
			es = t.StrideBitSize / 8
		}
		if es < 0 {
			return Value{}, fmt.Errorf("%s: element type %s has no size", v.what(), TypeString(t.Type))
		}
		r := v.derive(t.Type, fmt.Sprintf("%s[%d]", v.what(), i))
		if v.hasAddr {
			r.addr, r.hasAddr = v.addr+uint64(i*es), true
			return r, nil
		}
		if i < 0 || es > 0 && i >= int64(len(v.buf))/es {
			return Value{}, fmt.Errorf("index %d out of range for %s", i, v.what())
		}
		r.buf = v.buf[i*es : i*es+es]
		return r, nil
	case *dwarf.PtrType:
		et := v.complete(t.Type)
		es := sizeOf(et)
		if es < 0 {
			return Value{}, fmt.Errorf("cannot index %s: pointer to %s", v.what(), TypeString(t.Type))
		}
		p, err := v.Uint(nil)
		if err != nil {
			return Value{}, err
		}
		r := v.derive(et, fmt.Sprintf("%s[%d]", v.what(), i))
		r.perCPU = false
		r.addr, r.hasAddr = p+uint64(i*es), true
		return r, nil
	}
	return Value{}, fmt.Errorf("%s is not an array or pointer (type %s)", v.what(), TypeString(v.typ))
}

// Deref follows a pointer (or takes element 0 of an array).
func (v Value) Deref() (Value, error) {
	switch t := Strip(v.typ).(type) {
	case *dwarf.PtrType:
		if isVoid(t.Type) {
			return Value{}, fmt.Errorf("cannot dereference %s: it is a void pointer", v.what())
		}
		p, err := v.Uint(nil)
		if err != nil {
			return Value{}, err
		}
		r := v.derive(v.complete(t.Type), "*"+v.what())
		r.perCPU = false
		if v.desc != "" {
			r.desc = "(*" + v.desc + ")"
		}
		r.addr, r.hasAddr = p, true
		return r, nil
	case *dwarf.ArrayType:
		return v.Index(0)
	}
	return Value{}, fmt.Errorf("cannot dereference %s: not a pointer (type %s)", v.what(), TypeString(v.typ))
}

// AddrOf is a pointer constant to the lvalue v.
func (v Value) AddrOf() (Value, error) {
	if !v.hasAddr {
		return Value{}, fmt.Errorf("cannot take the address of %s: not an lvalue", v.what())
	}
	if v.bitSize > 0 {
		return Value{}, fmt.Errorf("cannot take the address of bit-field %s", v.what())
	}
	r := newConst(v.im, pointerTo(v.typ, v.ptrSize()), v.addr)
	r.mem = v.mem
	if v.desc != "" {
		r.desc = "&" + v.desc
	}
	return r, nil
}

// Cast converts v to type t: scalars convert as in C (truncating or
// extending); arrays and functions decay to their address; an lvalue can be
// reinterpreted as a struct, union or array type.
func (v Value) Cast(t dwarf.Type) (Value, error) {
	dst := Strip(t)
	switch dst.(type) {
	case *dwarf.VoidType:
		return v.derive(t, v.desc), nil
	case *dwarf.StructType, *dwarf.ArrayType:
		if v.hasAddr && v.bitSize == 0 {
			r := v.derive(v.complete(t), v.desc)
			r.addr, r.hasAddr = v.addr, true
			return r, nil
		}
		if sizeOf(v.complete(t)) == int64(len(v.buf)) && v.bitSize == 0 {
			r := v.derive(t, v.desc)
			r.buf = v.buf
			return r, nil
		}
		return Value{}, fmt.Errorf("cannot cast %s to %s", v.what(), TypeString(t))
	case *dwarf.FloatType:
		return Value{}, fmt.Errorf("cannot cast %s to %s: floating point is not supported", v.what(), TypeString(t))
	}
	if !isScalar(dst) {
		return Value{}, fmt.Errorf("cannot cast %s to %s", v.what(), TypeString(t))
	}
	x, err := v.scalarOrDecay()
	if err != nil {
		return Value{}, err
	}
	r := newConst(v.im, t, x)
	r.mem, r.desc = v.mem, v.desc
	return r, nil
}

// scalarOrDecay reads a scalar, or gives the address an array or function
// decays to.
func (v Value) scalarOrDecay() (uint64, error) {
	switch Strip(v.typ).(type) {
	case *dwarf.ArrayType, *dwarf.FuncType:
		if !v.hasAddr {
			return 0, fmt.Errorf("%s has no address", v.what())
		}
		return v.addr, nil
	}
	if isFloat(v.typ) {
		f, err := v.Float(nil)
		if err != nil {
			return 0, err
		}
		return uint64(int64(f)), nil
	}
	return v.Uint(nil)
}

// ContainerOf is the struct of type t that holds, at member path
// memberPath, the object ptr points to (the kernel's container_of).
func ContainerOf(ptr uint64, t dwarf.Type, memberPath string) (Value, error) {
	return containerOf(nil, ptr, t, memberPath)
}

// ContainerOf is like the package function, naming the type ("struct
// task_struct" or "task_struct") and binding the result to the image.
func (im *Image) ContainerOf(ptr uint64, typeName, memberPath string) (Value, error) {
	t, err := im.Type(typeName)
	if err != nil {
		return Value{}, err
	}
	return containerOf(im, ptr, t, memberPath)
}

func containerOf(im *Image, ptr uint64, t dwarf.Type, memberPath string) (Value, error) {
	off, _, err := im.OffsetOf(t, memberPath)
	if err != nil {
		return Value{}, err
	}
	return Value{typ: t, addr: ptr - uint64(off), hasAddr: true, im: im}, nil
}
