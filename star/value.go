package star

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// Object is a kernel object as a Starlark value: a dwarfx.Value (typed,
// usually an lvalue in the dump) read lazily. Members are attributes
// (obj.se.vruntime, through pointers too), elements are obj[i], and
// integer, enum, bool and float members are read into Starlark numbers as
// they are selected; structs, unions, arrays and pointers stay objects.
type Object struct {
	v  dwarfx.Value
	st *state
}

var (
	_ starlark.HasAttrs   = (*Object)(nil)
	_ starlark.Mapping    = (*Object)(nil)
	_ starlark.Sequence   = (*Object)(nil)
	_ starlark.Comparable = (*Object)(nil)
)

func (st *state) object(v dwarfx.Value) *Object {
	return &Object{v: v.WithImage(st.k().Image).WithMem(st.k().Memory()), st: st}
}

// wrap turns a value into Starlark: scalars are read, the rest stays an Object.
func (st *state) wrap(v dwarfx.Value) (starlark.Value, error) {
	switch t := dwarfx.Strip(v.Type()).(type) {
	case *dwarf.BoolType:
		x, err := v.Uint(st.k().Memory())
		if err != nil {
			return nil, readFault(err)
		}
		return starlark.Bool(x != 0), nil
	case *dwarf.IntType, *dwarf.CharType, *dwarf.EnumType:
		x, err := v.Int(st.k().Memory())
		if err != nil {
			return nil, readFault(err)
		}
		return starlark.MakeInt64(x), nil
	case *dwarf.UintType, *dwarf.UcharType:
		x, err := v.Uint(st.k().Memory())
		if err != nil {
			return nil, readFault(err)
		}
		return starlark.MakeUint64(x), nil
	case *dwarf.FloatType:
		_ = t
		x, err := v.Float(st.k().Memory())
		if err != nil {
			return nil, readFault(err)
		}
		return starlark.Float(x), nil
	}
	return st.object(v), nil
}

// ReadFault is a failed read of the dump's memory inside a script: its
// message names the address. try_read turns it into a value.
type ReadFault struct {
	Addr uint64
	Err  error
}

func (e *ReadFault) Error() string { return e.Err.Error() }
func (e *ReadFault) Unwrap() error { return e.Err }

// readFault marks err as a read fault when it is one (a dump.ReadError
// underneath), so try_read can catch it.
func readFault(err error) error {
	var re *dump.ReadError
	if errors.As(err, &re) {
		return &ReadFault{Addr: re.Addr, Err: err}
	}
	return err
}

func (o *Object) String() string {
	if s, ok := o.cstring(); ok {
		return s
	}
	s, err := o.st.sess.FormatValue(o.v)
	if err != nil {
		return fmt.Sprintf("<%s: %v>", dwarfx.TypeString(o.v.Type()), err)
	}
	return s
}

// cstring is a char array's text up to its NUL.
func (o *Object) cstring() (string, bool) {
	at, ok := dwarfx.Strip(o.v.Type()).(*dwarf.ArrayType)
	if !ok {
		return "", false
	}
	switch dwarfx.Strip(at.Type).(type) {
	case *dwarf.CharType, *dwarf.UcharType:
	default:
		return "", false
	}
	s, err := o.v.CString(o.st.k().Memory(), int(max(o.v.Size(), 0)))
	if err != nil {
		return "", false
	}
	return s, true
}

func (o *Object) Type() string { return "kernel.object" }
func (o *Object) Freeze()      {}

func (o *Object) Truth() starlark.Bool {
	if _, ok := dwarfx.Strip(o.v.Type()).(*dwarf.PtrType); ok {
		p, err := o.v.Uint(o.st.k().Memory())
		return starlark.Bool(err == nil && p != 0)
	}
	return true
}

func (o *Object) Hash() (uint32, error) {
	if a, ok := o.v.Addr(); ok {
		return uint32(a ^ a>>32), nil
	}
	if p, err := o.pointer(); err == nil {
		return uint32(p ^ p>>32), nil
	}
	return 0, fmt.Errorf("unhashable: %s is not in memory", o.desc())
}

func (o *Object) desc() string {
	if n := o.v.Name(); n != "" {
		return n
	}
	return dwarfx.TypeString(o.v.Type())
}

// pointer is a pointer object's value.
func (o *Object) pointer() (uint64, error) {
	if _, ok := dwarfx.Strip(o.v.Type()).(*dwarf.PtrType); !ok {
		return 0, fmt.Errorf("%s is not a pointer (type %s)", o.desc(), dwarfx.TypeString(o.v.Type()))
	}
	p, err := o.v.Uint(o.st.k().Memory())
	return p, readFault(err)
}

// identity is what == compares: the pointer value for pointers, the address
// for objects in memory.
func (o *Object) identity() (uint64, bool) {
	if p, err := o.pointer(); err == nil {
		return p, true
	}
	return o.v.Addr()
}

func (o *Object) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	a, ok1 := o.identity()
	b, ok2 := y.(*Object).identity()
	if !ok1 || !ok2 {
		return false, fmt.Errorf("cannot compare %s and %s", o.desc(), y.(*Object).desc())
	}
	switch op {
	case syntax.EQL:
		return a == b, nil
	case syntax.NEQ:
		return a != b, nil
	case syntax.LT:
		return a < b, nil
	case syntax.LE:
		return a <= b, nil
	case syntax.GT:
		return a > b, nil
	case syntax.GE:
		return a >= b, nil
	}
	return false, fmt.Errorf("%s not supported on kernel objects", op)
}

// errPerCPU refuses to read a per-cpu variable with no cpu.
func (o *Object) errPerCPU() error {
	if o.v.IsPerCPU() {
		return fmt.Errorf("%s is a per-cpu variable: use per_cpu(obj, cpu)", o.desc())
	}
	return nil
}

func (o *Object) Attr(name string) (starlark.Value, error) {
	if err := o.errPerCPU(); err != nil {
		return nil, err
	}
	m, err := o.v.Member(name)
	if err != nil {
		var me *dwarfx.MemberError
		if errors.As(err, &me) {
			return nil, nil // starlark reports "has no .name field or method"
		}
		return nil, readFault(err)
	}
	return o.st.wrap(m)
}

func (o *Object) AttrNames() []string {
	t := o.v.Type()
	if p, ok := dwarfx.Strip(t).(*dwarf.PtrType); ok {
		t = p.Type
	}
	names := o.st.k().Image.MemberNames(o.st.k().Image.Complete(t))
	sort.Strings(names)
	return names
}

// Get is obj[i] (array element, or pointer indexing as in C) and
// obj["a.b[2]"] (a member path).
func (o *Object) Get(k starlark.Value) (starlark.Value, bool, error) {
	if err := o.errPerCPU(); err != nil {
		return nil, false, err
	}
	switch k := k.(type) {
	case starlark.Int:
		i, ok := k.Int64()
		if !ok {
			return nil, false, fmt.Errorf("index %v out of range", k)
		}
		if n := o.Len(); n >= 0 && (i < 0 || i >= int64(n)) {
			return nil, false, fmt.Errorf("index %d out of range for %s (%d elements)", i, o.desc(), n)
		}
		e, err := o.v.Index(i)
		if err != nil {
			return nil, false, readFault(err)
		}
		v, err := o.st.wrap(e)
		return v, err == nil, err
	case starlark.String:
		m, err := o.v.Path(string(k))
		if err != nil {
			return nil, false, readFault(err)
		}
		v, err := o.st.wrap(m)
		return v, err == nil, err
	}
	return nil, false, fmt.Errorf("kernel object index must be an int or a member path string, not %s", k.Type())
}

// Len is an array's element count, -1 (no len) for other objects.
func (o *Object) Len() int {
	if at, ok := dwarfx.Strip(o.v.Type()).(*dwarf.ArrayType); ok && at.Count >= 0 {
		return int(at.Count)
	}
	return -1
}

func (o *Object) Iterate() starlark.Iterator {
	return &arrayIter{o: o, n: o.Len()}
}

type arrayIter struct {
	o   *Object
	i   int
	n   int
	err error
}

func (it *arrayIter) Next(p *starlark.Value) bool {
	if it.err != nil || it.i >= it.n {
		return false
	}
	e, err := it.o.v.Index(int64(it.i))
	if err == nil {
		*p, err = it.o.st.wrap(e)
	}
	if err != nil {
		it.err = err
		return false
	}
	it.i++
	return true
}

func (it *arrayIter) Done() {}

// kernelValue is the `kernel` global: kernel.NAME and kernel["NAME"] are
// the kernel's global variables (per-cpu ones need per_cpu).
type kernelValue struct{ st *state }

func (kv kernelValue) String() string        { return "<kernel " + kv.st.k().Image.Path() + ">" }
func (kv kernelValue) Type() string          { return "kernel" }
func (kv kernelValue) Freeze()               {}
func (kv kernelValue) Truth() starlark.Bool  { return true }
func (kv kernelValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: kernel") }
func (kv kernelValue) AttrNames() []string   { return nil }

func (kv kernelValue) Attr(name string) (starlark.Value, error) {
	v, err := kv.st.global(name)
	if err != nil {
		return nil, err
	}
	if v.IsPerCPU() {
		return kv.st.object(v), nil // for per_cpu(kernel.NAME, cpu)
	}
	return kv.st.wrap(v)
}

func (kv kernelValue) Get(k starlark.Value) (starlark.Value, bool, error) {
	name, ok := starlark.AsString(k)
	if !ok {
		return nil, false, fmt.Errorf("kernel[...] takes a variable name, not %s", k.Type())
	}
	v, err := kv.Attr(name)
	return v, err == nil, err
}

// global is the kernel variable name (or any C expression kinspect's p
// accepts) as a value.
func (st *state) global(name string) (dwarfx.Value, error) {
	return st.sess.Env().Eval(name)
}
