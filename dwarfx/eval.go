package dwarfx

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strings"
)

// Env evaluates C expressions (gdb/crash `p`, `struct`, Trace32 `v.v`)
// against an image and a target memory.
type Env struct {
	Img *Image // symbols, types; may be nil if Lookup/LookupType supply names
	Mem Memory // target memory; nil: only constants and addresses can be computed

	// PerCPU maps a per-cpu variable (an lvalue at its per-cpu address) to
	// its instance on cpu; set by the kernel layer. Used by per_cpu(x, n),
	// per_cpu_ptr(p, n) and crash's x:n suffix.
	PerCPU func(v Value, cpu int) (Value, error)
	// NrCPUs, if set and > 0, bounds the cpu numbers. A function: the
	// kernel layer's count reads the cpu masks, which only a per-cpu
	// access needs (a cold open's `p init_task.comm` must not wait for
	// their DWARF).
	NrCPUs func() int

	// History returns value history entry n for $n (n >= 1); $ asks for
	// n = 0 (the last value), $$ for n = -1, $$k for n = -k.
	History func(n int) (Value, bool)

	// Lookup, if set, resolves identifiers before the image does
	// (convenience variables, tests).
	Lookup func(name string) (Value, bool)
	// LookupType, if set, resolves type names ("struct foo", "foo", "u32")
	// before the image does.
	LookupType func(name string) (dwarf.Type, bool)
}

func (e *Env) nrCPUs() int {
	if e.NrCPUs == nil {
		return 0
	}
	return e.NrCPUs()
}

// Eval parses and evaluates expr. Errors are *ExprError values naming the
// column; memory read failures are wrapped (errors.Is works through them).
func (e *Env) Eval(expr string) (v Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = Value{}, &ExprError{Expr: expr, Msg: fmt.Sprintf("internal error evaluating expression: %v", r)}
		}
	}()
	return e.eval(expr)
}

// Parse checks the syntax of expr without evaluating it.
func (e *Env) Parse(expr string) error {
	_, err := parseExpr(expr, e.isType)
	return err
}

func (e *Env) eval(expr string) (Value, error) {
	n, err := parseExpr(expr, e.isType)
	if err != nil {
		return Value{}, err
	}
	ev := &evaluator{env: e, expr: expr, mem: e.Mem}
	v, err := ev.eval(n)
	if err != nil {
		if ev.perCPUName != "" && !strings.Contains(err.Error(), "per-cpu") {
			var xe *ExprError
			if errors.As(err, &xe) {
				xe.Msg += fmt.Sprintf(" (%s is a per-cpu variable: use %s:N or per_cpu(%s, N))", ev.perCPUName, ev.perCPUName, ev.perCPUName)
			}
		}
		return Value{}, err
	}
	return v, nil
}

func (e *Env) isType(name string) bool {
	if e.Lookup != nil {
		if _, ok := e.Lookup(name); ok {
			return false
		}
	}
	if e.LookupType != nil {
		if _, ok := e.LookupType(name); ok {
			return true
		}
	}
	if e.Img != nil {
		return e.Img.isTypeName(name)
	}
	return false
}

type evaluator struct {
	env        *Env
	expr       string
	mem        Memory
	perCPUName string // a per-cpu variable was used without a cpu
}

func (ev *evaluator) im() *Image { return ev.env.Img }

func (ev *evaluator) ptrSize() int64 {
	if ev.env.Img != nil {
		return int64(ev.env.Img.ptr)
	}
	return 8
}

// errAt makes a positioned error of our own.
func (ev *evaluator) errAt(pos int, format string, args ...any) error {
	return &ExprError{Expr: ev.expr, Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

// wrap positions an error from a Value operation.
func (ev *evaluator) wrap(pos int, err error) error {
	var xe *ExprError
	if errors.As(err, &xe) {
		return err
	}
	var me *MemberError
	var nf *NotFoundError
	if errors.As(err, &me) || errors.As(err, &nf) {
		return &ExprError{Expr: ev.expr, Col: pos + 1, Msg: err.Error()}
	}
	return &ExprError{Expr: ev.expr, Col: pos + 1, Err: err}
}

func (ev *evaluator) bind(v Value) Value {
	if v.im == nil {
		v.im = ev.env.Img
	}
	if v.mem == nil {
		v.mem = ev.mem
	}
	return v
}

// baseType is a C base type by canonical name.
func (ev *evaluator) baseType(name string) dwarf.Type {
	if im := ev.im(); im != nil {
		if t, err := im.resolveSpec(typeSpec{name: name, base: true}); err == nil {
			return t
		}
		return im.syntheticBase(name)
	}
	return (&Image{ptr: int(ev.ptrSize())}).syntheticBase(name)
}

func (ev *evaluator) resolveSpec(spec typeSpec) (dwarf.Type, error) {
	if ev.env.LookupType != nil && !spec.base {
		name := spec.name
		if spec.kw != "" {
			name = spec.kw + " " + spec.name
		}
		if t, ok := ev.env.LookupType(name); ok {
			return ev.derived(t, spec)
		}
	}
	if im := ev.im(); im != nil {
		t, err := im.resolveSpec(spec)
		if err != nil {
			return nil, ev.wrap(spec.pos, err)
		}
		return t, nil
	}
	if spec.base {
		return ev.derived(ev.baseType(spec.name), spec)
	}
	what := spec.kw
	if what == "" {
		what = "type"
	}
	return nil, ev.errAt(spec.pos, "no %s '%s'", what, spec.name)
}

// intTypeFor picks the C integer type of a size and signedness.
func (ev *evaluator) intTypeFor(size int64, signed bool) dwarf.Type {
	var name string
	switch {
	case size <= 4:
		name = "int"
	case size == 8 && ev.ptrSize() == 8:
		name = "long int"
	default:
		name = "long long int"
	}
	if !signed {
		switch name {
		case "int":
			name = "unsigned int"
		case "long int":
			name = "long unsigned int"
		default:
			name = "long long unsigned int"
		}
	}
	return ev.baseType(name)
}

func (ev *evaluator) konst(t dwarf.Type, x uint64) Value {
	v := newConst(ev.im(), t, x)
	v.mem = ev.mem
	return v
}

// eval evaluates one expression node. It is the evaluator's hot switch:
// one case per node kind, kept whole on purpose (a case is short and reads
// next to its siblings; splitting it would scatter the C semantics).
func (ev *evaluator) eval(n node) (Value, error) {
	switch n := n.(type) {
	case *numNode:
		return ev.number(n.tok), nil
	case *charNode:
		return ev.konst(ev.baseType("char"), n.val), nil
	case *identNode:
		return ev.ident(n)
	case *histNode:
		if ev.env.History == nil {
			return Value{}, ev.errAt(n.pos, "no value history")
		}
		v, ok := ev.env.History(int(n.n))
		if !ok {
			return Value{}, ev.errAt(n.pos, "history value %s is not available", ev.tokText(n.pos))
		}
		return ev.bind(v), nil
	case *memberNode:
		x, err := ev.eval(n.x)
		if err != nil {
			return Value{}, err
		}
		var r Value
		if n.arrow {
			if _, ok := Strip(x.typ).(*dwarf.PtrType); ok {
				d, err := x.Deref()
				if err != nil {
					return Value{}, ev.wrap(n.pos, err)
				}
				r, err = d.memberOf(n.name, x.what()+"->"+n.name)
				if err != nil {
					return Value{}, ev.wrap(n.pos+2, err)
				}
				return r, nil
			}
		}
		r, err = x.Member(n.name)
		if err != nil {
			return Value{}, ev.wrap(n.pos+1, err)
		}
		return r, nil
	case *indexNode:
		x, err := ev.eval(n.x)
		if err != nil {
			return Value{}, err
		}
		i, _, err := ev.evalInteger(n.i)
		if err != nil {
			return Value{}, err
		}
		r, err := x.Index(int64(i))
		if err != nil {
			return Value{}, ev.wrap(n.pos, err)
		}
		return r, nil
	case *unaryNode:
		return ev.unary(n)
	case *castNode:
		t, err := ev.resolveSpec(n.spec)
		if err != nil {
			return Value{}, err
		}
		x, err := ev.eval(n.x)
		if err != nil {
			return Value{}, err
		}
		if x.elfOnly && x.hasAddr {
			// An ELF symbol without DWARF: (type)sym means the object
			// of that type at the symbol, as gdb does for minimal symbols.
			x = ev.konst(pointerTo(&dwarf.VoidType{}, ev.ptrSize()), x.addr)
		}
		r, err := x.Cast(t)
		if err != nil {
			return Value{}, ev.wrap(n.pos, err)
		}
		return ev.bind(r), nil
	case *sizeofTypeNode:
		t, err := ev.resolveSpec(n.spec)
		if err != nil {
			return Value{}, err
		}
		sz := sizeOf(ev.im().Complete(t))
		if sz < 0 {
			return Value{}, ev.errAt(n.pos, "sizeof applied to %s, which has no size", TypeString(t))
		}
		return ev.konst(ev.intTypeFor(ev.ptrSize(), false), uint64(sz)), nil
	case *sizeofExprNode:
		// The operand is not evaluated: read memory as zeros to type it.
		sub := &evaluator{env: ev.env, expr: ev.expr, mem: zeroMemory{}}
		x, err := sub.eval(n.x)
		if err != nil {
			return Value{}, err
		}
		sz := sizeOf(ev.im().Complete(x.typ))
		if x.bitSize > 0 {
			return Value{}, ev.errAt(n.pos, "sizeof applied to a bit-field")
		}
		if sz < 0 {
			return Value{}, ev.errAt(n.pos, "sizeof applied to %s, which has no size", TypeString(x.typ))
		}
		return ev.konst(ev.intTypeFor(ev.ptrSize(), false), uint64(sz)), nil
	case *binaryNode:
		return ev.binary(n)
	case *condNode:
		c, err := ev.eval(n.c)
		if err != nil {
			return Value{}, err
		}
		b, err := ev.truth(c, n.c.position())
		if err != nil {
			return Value{}, err
		}
		if b {
			return ev.eval(n.a)
		}
		return ev.eval(n.b)
	case *perCPUNode:
		return ev.perCPU(n)
	case *containerOfNode:
		t, off, err := ev.offsetOf(n.spec, n.member, n.pos)
		if err != nil {
			return Value{}, err
		}
		p, _, err := ev.evalInteger(n.x)
		if err != nil {
			return Value{}, err
		}
		return ev.konst(pointerTo(t, ev.ptrSize()), p-uint64(off)), nil
	case *offsetofNode:
		_, off, err := ev.offsetOf(n.spec, n.member, n.pos)
		if err != nil {
			return Value{}, err
		}
		return ev.konst(ev.intTypeFor(ev.ptrSize(), false), uint64(off)), nil
	}
	return Value{}, ev.errAt(n.position(), "cannot evaluate this expression")
}

// evalInteger evaluates n as an integer (an index, a cpu, a pointer).
func (ev *evaluator) evalInteger(n node) (uint64, bool, error) {
	v, err := ev.eval(n)
	if err != nil {
		return 0, false, err
	}
	return ev.integer(v, n.position())
}

// offsetOf resolves offsetof(spec, member) for offsetof and container_of.
func (ev *evaluator) offsetOf(spec typeSpec, member string, pos int) (dwarf.Type, int64, error) {
	t, err := ev.resolveSpec(spec)
	if err != nil {
		return nil, 0, err
	}
	off, _, err := ev.im().OffsetOf(t, member)
	if err != nil {
		return nil, 0, ev.wrap(pos, err)
	}
	return t, off, nil
}

// derived is t with spec's pointers and array dimensions, for types that
// no Image resolves (a scripting environment's, synthetic base types).
func (ev *evaluator) derived(t dwarf.Type, spec typeSpec) (dwarf.Type, error) {
	for i := 0; i < spec.ptrs; i++ {
		t = pointerTo(t, ev.ptrSize())
	}
	for i := len(spec.dims) - 1; i >= 0; i-- {
		var err error
		if t, err = arrayOf(t, spec.dims[i]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (ev *evaluator) tokText(pos int) string {
	end := pos + 1
	for end < len(ev.expr) && (isIdentChar(ev.expr[end]) || ev.expr[end] == '$') {
		end++
	}
	if pos < len(ev.expr) {
		return ev.expr[pos:end]
	}
	return ""
}

// number types a literal as C does.
func (ev *evaluator) number(t token) Value {
	v := t.val
	hex := strings.HasPrefix(t.text, "0x") || strings.HasPrefix(t.text, "0X") || strings.HasPrefix(t.text, "0b") || strings.HasPrefix(t.text, "0B")
	long := int64(8)
	if ev.ptrSize() == 4 {
		long = 4
	}
	var typ dwarf.Type
	switch {
	case t.long == 0 && !t.unsigned && v < 1<<31:
		typ = ev.baseType("int")
	case t.long == 0 && (t.unsigned || hex) && v < 1<<32:
		typ = ev.baseType("unsigned int")
	case t.long <= 1 && !t.unsigned && (long == 8 && v < 1<<63 || long == 4 && v < 1<<31):
		typ = ev.baseType("long int")
	case t.long <= 1 && (long == 8 || v < 1<<32):
		typ = ev.baseType("long unsigned int")
	case !t.unsigned && v < 1<<63:
		typ = ev.baseType("long long int")
	default:
		typ = ev.baseType("long long unsigned int")
	}
	return ev.konst(typ, v)
}

func (ev *evaluator) ident(n *identNode) (Value, error) {
	name := n.name
	if ev.env.Lookup != nil {
		if v, ok := ev.env.Lookup(name); ok {
			return ev.bind(v), nil
		}
	}
	im := ev.im()
	if im == nil {
		return Value{}, ev.errAt(n.pos, "unknown symbol '%s'", name)
	}
	if v, err := im.Variable(name); err == nil {
		if v.PerCPU && ev.perCPUName == "" {
			ev.perCPUName = name
		}
		r := Value{typ: v.Type, addr: v.Addr, hasAddr: true, im: im, mem: ev.mem, desc: name, perCPU: v.PerCPU}
		return r, nil
	} else {
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			return Value{}, ev.wrap(n.pos, err)
		}
	}
	if f, err := im.Function(name); err == nil {
		var t dwarf.Type
		if !f.NoDWARF {
			if ft, err := im.FuncType(f); err == nil {
				t = ft
			}
		}
		if t == nil {
			ft := &dwarf.FuncType{ReturnType: &dwarf.VoidType{}}
			ft.ByteSize = 1
			t = ft
		}
		return Value{typ: t, addr: f.Low, hasAddr: true, im: im, mem: ev.mem, desc: name}, nil
	}
	if val, t, ok := im.EnumConstant(name); ok {
		return ev.konst(t, uint64(val)).WithName(name), nil
	}
	if s, ok := im.Lookup(name); ok && addrBearing(s.Kind) || ok && (s.Kind == 'A' || s.Kind == 'a') {
		// A symbol without DWARF: its address, as an untyped pointer.
		v := ev.konst(pointerTo(&dwarf.VoidType{}, ev.ptrSize()), s.Addr)
		v.desc = name
		v.elfOnly = true
		v.symAddr = s.Addr
		return v, nil
	}
	return Value{}, ev.errAt(n.pos, "unknown symbol '%s'", name)
}

// integer reads an integer operand (pointers, enums, bools, chars included;
// arrays and functions decay to their address).
func (ev *evaluator) integer(v Value, pos int) (uint64, bool, error) {
	switch Strip(v.typ).(type) {
	case *dwarf.ArrayType, *dwarf.FuncType:
		if !v.hasAddr {
			return 0, false, ev.errAt(pos, "%s has no address", v.what())
		}
		return v.addr, false, nil
	case *dwarf.FloatType:
		return 0, false, ev.errAt(pos, "floating point is not supported (%s)", v.what())
	}
	if !isScalar(v.typ) {
		return 0, false, ev.errAt(pos, "%s is not a number (type %s)", v.what(), TypeString(v.typ))
	}
	x, signed, err := v.raw(nil)
	if err != nil {
		return 0, false, ev.wrap(pos, err)
	}
	return x, signed, nil
}

func (ev *evaluator) truth(v Value, pos int) (bool, error) {
	x, _, err := ev.integer(v, pos)
	return x != 0, err
}

// arith is an operand after the usual conversions.
type arith struct {
	x      uint64
	signed bool
	size   int64
	ptr    *dwarf.PtrType // non-nil for pointers (arrays and functions decayed)
}

func (ev *evaluator) operand(v Value, pos int) (arith, error) {
	switch t := Strip(v.typ).(type) {
	case *dwarf.ArrayType:
		if !v.hasAddr {
			return arith{}, ev.errAt(pos, "%s has no address", v.what())
		}
		return arith{x: v.addr, size: ev.ptrSize(), ptr: pointerTo(t.Type, ev.ptrSize())}, nil
	case *dwarf.FuncType:
		if !v.hasAddr {
			return arith{}, ev.errAt(pos, "%s has no address", v.what())
		}
		return arith{x: v.addr, size: ev.ptrSize(), ptr: pointerTo(v.typ, ev.ptrSize())}, nil
	case *dwarf.PtrType:
		x, _, err := ev.integer(v, pos)
		if err != nil {
			return arith{}, err
		}
		return arith{x: x, size: ev.ptrSize(), ptr: t}, nil
	}
	x, signed, err := ev.integer(v, pos)
	if err != nil {
		return arith{}, err
	}
	size := sizeOf(v.typ)
	if v.bitSize > 0 {
		size = 4
		if v.bitSize > 32 {
			size = 8
		}
	}
	if size < 4 {
		// Integer promotion: everything smaller than int becomes int.
		size, signed = 4, true
	}
	if size > 8 {
		size = 8
	}
	return arith{x: x, signed: signed, size: size}, nil
}

// common applies the usual arithmetic conversions to two integer operands.
func common(a, b arith) (size int64, signed bool) {
	size = a.size
	if b.size > size {
		size = b.size
	}
	switch {
	case a.size == b.size:
		signed = a.signed && b.signed
	case a.size > b.size:
		signed = a.signed
	default:
		signed = b.signed
	}
	return size, signed
}

func truncate(x uint64, size int64, signed bool) uint64 {
	if size >= 8 {
		return x
	}
	bits := uint(size * 8)
	x &= 1<<bits - 1
	if signed && x&(1<<(bits-1)) != 0 {
		x |= ^uint64(0) << bits
	}
	return x
}

func (ev *evaluator) unary(n *unaryNode) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Value{}, err
	}
	switch n.op {
	case "*":
		if x.elfOnly {
			return Value{}, ev.errAt(n.pos, "'%s' has no type information; cast it: *(type *)%s", x.desc, x.desc)
		}
		if _, ok := Strip(x.typ).(*dwarf.FuncType); ok {
			return x, nil // *func is func
		}
		r, err := x.Deref()
		if err != nil {
			return Value{}, ev.wrap(n.pos, err)
		}
		return r, nil
	case "&":
		if x.elfOnly {
			return x, nil // &sym is its address
		}
		if _, ok := Strip(x.typ).(*dwarf.FuncType); ok && x.hasAddr {
			return ev.konst(pointerTo(x.typ, ev.ptrSize()), x.addr).WithName("&" + x.desc), nil
		}
		r, err := x.AddrOf()
		if err != nil {
			return Value{}, ev.wrap(n.pos, err)
		}
		return ev.bind(r), nil
	case "!":
		b, err := ev.truth(x, n.x.position())
		if err != nil {
			return Value{}, err
		}
		if b {
			return ev.konst(ev.baseType("int"), 0), nil
		}
		return ev.konst(ev.baseType("int"), 1), nil
	}
	a, err := ev.operand(x, n.x.position())
	if err != nil {
		return Value{}, err
	}
	if a.ptr != nil {
		return Value{}, ev.errAt(n.pos, "unary '%s' applied to a pointer", n.op)
	}
	t := ev.intTypeFor(a.size, a.signed)
	switch n.op {
	case "-":
		return ev.konst(t, truncate(-a.x, a.size, a.signed)), nil
	case "~":
		return ev.konst(t, truncate(^a.x, a.size, a.signed)), nil
	default: // +
		return ev.konst(t, truncate(a.x, a.size, a.signed)), nil
	}
}

func (ev *evaluator) elemSize(p *dwarf.PtrType) int64 {
	t := ev.im().Complete(p.Type)
	if isVoid(t) {
		return 1
	}
	if _, ok := Strip(t).(*dwarf.FuncType); ok {
		return 1
	}
	n := sizeOf(t)
	if n <= 0 {
		return 1
	}
	return n
}

// binary evaluates a binary operator with C's conversions. Like eval it
// is one documented hot switch, one case per operator, kept whole.
func (ev *evaluator) binary(n *binaryNode) (Value, error) {
	l, err := ev.eval(n.l)
	if err != nil {
		return Value{}, err
	}
	intT := ev.baseType("int")
	if n.op == "&&" || n.op == "||" {
		lb, err := ev.truth(l, n.l.position())
		if err != nil {
			return Value{}, err
		}
		if n.op == "&&" && !lb || n.op == "||" && lb {
			return ev.konst(intT, b2u(lb)), nil
		}
		r, err := ev.eval(n.r)
		if err != nil {
			return Value{}, err
		}
		rb, err := ev.truth(r, n.r.position())
		if err != nil {
			return Value{}, err
		}
		return ev.konst(intT, b2u(rb)), nil
	}
	r, err := ev.eval(n.r)
	if err != nil {
		return Value{}, err
	}
	a, err := ev.operand(l, n.l.position())
	if err != nil {
		return Value{}, err
	}
	b, err := ev.operand(r, n.r.position())
	if err != nil {
		return Value{}, err
	}
	// Pointer arithmetic.
	if a.ptr != nil || b.ptr != nil {
		switch n.op {
		case "+":
			if a.ptr != nil && b.ptr != nil {
				return Value{}, ev.errAt(n.pos, "cannot add two pointers")
			}
			p, i := a, b
			if p.ptr == nil {
				p, i = b, a
			}
			off := int64(i.x)
			if !i.signed && i.size < 8 {
				off = int64(truncate(i.x, i.size, false))
			}
			return ev.konst(p.ptr, p.x+uint64(off*ev.elemSize(p.ptr))), nil
		case "-":
			if a.ptr != nil && b.ptr != nil {
				es := ev.elemSize(a.ptr)
				if eb := ev.elemSize(b.ptr); eb != es {
					return Value{}, ev.errAt(n.pos, "subtracting pointers to types of different sizes (%s and %s)", TypeString(a.ptr), TypeString(b.ptr))
				}
				d := int64(a.x-b.x) / es
				return ev.konst(ev.intTypeFor(ev.ptrSize(), true), uint64(d)), nil
			}
			if a.ptr == nil {
				return Value{}, ev.errAt(n.pos, "cannot subtract a pointer from an integer")
			}
			return ev.konst(a.ptr, a.x-uint64(int64(b.x)*ev.elemSize(a.ptr))), nil
		case "==", "!=", "<", ">", "<=", ">=":
			return ev.konst(intT, b2u(compare(n.op, a.x, b.x, false))), nil
		case "&", "|", "^", "*", "/", "%", "<<", ">>":
			// gdb refuses these on pointers; crash users do (p & mask).
			// Treat pointers as unsigned long.
			if a.ptr != nil {
				a = arith{x: a.x, size: ev.ptrSize()}
			}
			if b.ptr != nil {
				b = arith{x: b.x, size: ev.ptrSize()}
			}
		}
	}
	size, signed := common(a, b)
	x, y := truncate(a.x, a.size, a.signed), truncate(b.x, b.size, b.signed)
	resT := ev.intTypeFor(size, signed)
	var res uint64
	switch n.op {
	case "+":
		res = x + y
	case "-":
		res = x - y
	case "*":
		res = x * y
	case "/", "%":
		if truncate(y, size, signed) == 0 {
			return Value{}, ev.errAt(n.pos, "division by zero")
		}
		if signed {
			sx, sy := int64(truncate(x, size, true)), int64(truncate(y, size, true))
			if n.op == "/" {
				res = uint64(sx / sy)
			} else {
				res = uint64(sx % sy)
			}
		} else {
			ux, uy := truncate(x, size, false), truncate(y, size, false)
			if n.op == "/" {
				res = ux / uy
			} else {
				res = ux % uy
			}
		}
	case "<<", ">>":
		// The result has the (promoted) left operand's type.
		size, signed = a.size, a.signed
		resT = ev.intTypeFor(size, signed)
		cnt := y
		if b.signed && int64(cnt) < 0 {
			return Value{}, ev.errAt(n.pos, "negative shift count")
		}
		if n.op == "<<" {
			if cnt >= 64 {
				res = 0
			} else {
				res = x << cnt
			}
		} else {
			if signed {
				sx := int64(truncate(x, size, true))
				if cnt >= 64 {
					cnt = 63
				}
				res = uint64(sx >> cnt)
			} else {
				if cnt >= 64 {
					res = 0
				} else {
					res = truncate(x, size, false) >> cnt
				}
			}
		}
	case "&":
		res = x & y
	case "|":
		res = x | y
	case "^":
		res = x ^ y
	case "==", "!=", "<", ">", "<=", ">=":
		return ev.konst(intT, b2u(compare(n.op, truncate(x, size, signed), truncate(y, size, signed), signed))), nil
	default:
		return Value{}, ev.errAt(n.pos, "unknown operator '%s'", n.op)
	}
	return ev.konst(resT, truncate(res, size, signed)), nil
}

func compare(op string, x, y uint64, signed bool) bool {
	var lt, eq bool
	if signed {
		lt = int64(x) < int64(y)
	} else {
		lt = x < y
	}
	eq = x == y
	switch op {
	case "==":
		return eq
	case "!=":
		return !eq
	case "<":
		return lt
	case ">":
		return !lt && !eq
	case "<=":
		return lt || eq
	default:
		return !lt
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (ev *evaluator) perCPU(n *perCPUNode) (Value, error) {
	// A per-cpu variable named here is resolved, so no hint is needed.
	saved := ev.perCPUName
	x, err := ev.eval(n.x)
	ev.perCPUName = saved
	if err != nil {
		return Value{}, err
	}
	if id, ok := n.cpu.(*identNode); ok && (id.name == "a" || id.name == "all") {
		return Value{}, ev.errAt(n.cpu.position(), "per-cpu ':%s' (all cpus) gives several values; evaluate one cpu at a time", id.name)
	}
	c, signed, err := ev.evalInteger(n.cpu)
	if err != nil {
		return Value{}, err
	}
	if signed && int64(c) < 0 || c > 1<<20 {
		return Value{}, ev.errAt(n.cpu.position(), "invalid cpu %d", int64(c))
	}
	cpu := int(c)
	if nr := ev.env.nrCPUs(); nr > 0 && cpu >= nr {
		return Value{}, ev.errAt(n.cpu.position(), "cpu %d out of range (the target has %d cpus)", cpu, nr)
	}
	if ev.env.PerCPU == nil {
		return Value{}, ev.errAt(n.pos, "per-cpu access needs a kernel memory layout (Env.PerCPU is not set)")
	}
	obj := x
	if n.ptr {
		// per_cpu_ptr(p, cpu): the object p points to, without reading it.
		pt, ok := Strip(x.typ).(*dwarf.PtrType)
		if !ok {
			return Value{}, ev.errAt(n.x.position(), "per_cpu_ptr needs a pointer, not %s", TypeString(x.typ))
		}
		p, _, err := ev.integer(x, n.x.position())
		if err != nil {
			return Value{}, err
		}
		obj = Value{typ: ev.im().Complete(pt.Type), addr: p, hasAddr: true, im: ev.im(), mem: ev.mem, desc: "*" + x.what()}
	} else if !x.hasAddr {
		return Value{}, ev.errAt(n.x.position(), "per_cpu needs a variable, not %s", x.what())
	}
	r, err := ev.env.PerCPU(obj, cpu)
	if err != nil {
		return Value{}, ev.wrap(n.pos, err)
	}
	r = ev.bind(r)
	r.perCPU = false
	if r.desc == "" || r.desc == obj.desc {
		r.desc = fmt.Sprintf("%s:%d", obj.what(), cpu)
	}
	if n.ptr {
		p, err := r.AddrOf()
		if err != nil {
			return Value{}, ev.wrap(n.pos, err)
		}
		return ev.bind(p), nil
	}
	return r, nil
}

// zeroMemory reads as zeros: used to type sizeof operands without reading.
type zeroMemory struct{}

func (zeroMemory) ReadVirt(p []byte, addr uint64) error {
	clear(p)
	return nil
}
