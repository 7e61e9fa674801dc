package dwarfx

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type evalCase struct {
	expr string
	want any // int64, uint64, string (CString), or error substring via errWant
	typ  string
	err  string
}

func checkEval(t *testing.T, env *Env, c evalCase) {
	t.Helper()
	v, err := env.Eval(c.expr)
	if c.err != "" && err == nil {
		_, err = v.Load(nil) // lvalues are read lazily
	}
	if c.err != "" {
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Eval(%q) = %v, want error containing %q", c.expr, err, c.err)
		}
		return
	}
	if err != nil {
		t.Errorf("Eval(%q): %v", c.expr, err)
		return
	}
	if c.typ != "" && TypeString(v.Type()) != c.typ {
		t.Errorf("Eval(%q) type %q, want %q", c.expr, TypeString(v.Type()), c.typ)
	}
	switch w := c.want.(type) {
	case nil:
	case int:
		got, err := v.Int(nil)
		if err != nil || got != int64(w) {
			t.Errorf("Eval(%q) = %d (%#x), %v; want %d", c.expr, got, got, err, w)
		}
	case uint64:
		got, err := v.Uint(nil)
		if err != nil || got != w {
			t.Errorf("Eval(%q) = %#x, %v; want %#x", c.expr, got, err, w)
		}
	case string:
		got, err := v.CString(nil, 0)
		if err != nil || got != w {
			t.Errorf("Eval(%q) = %q, %v; want %q", c.expr, got, err, w)
		}
	}
}

func TestEvalMini(t *testing.T) {
	for _, ver := range miniVersions {
		im := openMini(t, ver)
		items, _ := im.Lookup("items")
		banner, _ := im.Lookup("banner")
		get, _ := im.Lookup("get_counter")
		history := map[int]Value{}
		env := &Env{Img: im, Mem: im.StaticMemory(), History: func(n int) (Value, bool) {
			v, ok := history[n]
			return v, ok
		}}
		percpu := map[int]uint64{0: 0, 1: 96, 2: 192} // fake per-cpu offsets: items[i]
		env.PerCPU = func(v Value, cpu int) (Value, error) {
			a, ok := v.Addr()
			if !ok {
				return Value{}, fmt.Errorf("no address")
			}
			return im.NewValueAt(v.Type(), a+percpu[cpu]), nil
		}
		env.NrCPUs = func() int { return 3 }
		h1, _ := env.Eval("items[1].id")
		history[1] = h1
		history[0] = h1
		cases := []evalCase{
			{expr: "items[0].id", want: 7, typ: "int"},
			{expr: "items[1].name", want: "eight", typ: "char [12]"},
			{expr: "items[0].key", want: uint64(0x1122334455667788), typ: "u64"},
			{expr: "items[0].lo", want: 0x55667788, typ: "u32"},
			{expr: "items[0].hi", want: 0x11223344},
			{expr: "items[1].hi", want: 2},
			{expr: "items[0].flags.b", want: -3},
			{expr: "items[0].flags.wide + 1", want: 0xABCDEF0124},
			{expr: "items[0].flags.e", want: -1},
			{expr: "head->next->id", want: 8},
			{expr: "head->next->next->name", want: "nine"},
			{expr: "(*head).id", want: 7},
			{expr: "head[1].id", want: 8},
			{expr: "*head->label", want: 'h'},
			{expr: "head->label", want: "hello"},
			{expr: "head.id", want: 7},      // '.' through a pointer, as gdb allows
			{expr: "items[0]->id", want: 7}, // '->' on a struct, as gdb allows
			{expr: "items[0].color", want: -2, typ: "enum color"},
			{expr: "BLUE", want: -2, typ: "enum color"},
			{expr: "GREEN * 2 + RED", want: 10},
			{expr: "items[0].color == BLUE", want: 1, typ: "int"},
			{expr: "counter", want: 42},
			{expr: "answer", want: 0x2a2a},
			{expr: "banner", want: "mini banner"},
			{expr: "&banner[5]", want: "banner"},
			{expr: "banner[0]", want: 'm', typ: "const char"},
			{expr: "zeroed[3]", want: 0},
			{expr: "items[0].small", want: -5, typ: "s8"},
			{expr: "items[0].small + 0", want: -5, typ: "int"},
			{expr: "items[0].arr[1][2]", want: -6, typ: "short int"},
			{expr: "sizeof(items[0].arr)", want: 12},
			{expr: "sizeof items", want: 288},
			{expr: "sizeof(struct item)", want: 96, typ: "long unsigned int"},
			{expr: "sizeof(struct item *)", want: 8},
			{expr: "sizeof(int[3])", want: 12},
			{expr: "sizeof *head", want: 96},
			{expr: "sizeof(u64)", want: 8},
			{expr: "&items[1] - &items[0]", want: 1, typ: "long int"},
			{expr: "&items[2]", want: items.Addr + 192, typ: "struct item *"},
			{expr: "&items[0] + 2", want: items.Addr + 192, typ: "struct item *"},
			{expr: "items + 1", want: items.Addr + 96, typ: "struct item *"},
			{expr: "(struct item *)(" + fmt.Sprint(items.Addr+192) + ")", want: items.Addr + 192},
			{expr: fmt.Sprintf("((struct item *)%#x)->id", items.Addr+96), want: 8},
			{expr: fmt.Sprintf("((struct item *)(%#x - 0x4))->id", items.Addr+100), want: 8},
			{expr: fmt.Sprintf("((struct item *)%#x + 1)->name", items.Addr), want: "eight"},
			{expr: "(void *)head + 1", want: items.Addr + 1, typ: "void *"},
			{expr: "(char *)head + 4", want: "seven"},
			{expr: "container_of(&items[2].node, struct item, node)", want: items.Addr + 192, typ: "struct item *"},
			{expr: "container_of(&items[2].node.prev, struct item, node.prev)->id", want: 9},
			{expr: "container_of(&items[1].arr[1][0], item, arr[1][0])->id", want: 8},
			{expr: "offsetof(struct item, flags)", want: 24},
			{expr: "&((struct item *)0)->label", want: 88},
			{expr: "(unsigned char)0x1234", want: 0x34, typ: "unsigned char"},
			{expr: "(signed char)0xff", want: -1},
			{expr: "(short)-1 == -1", want: 1},
			{expr: "(unsigned int)-1", want: uint64(0xffffffff)},
			{expr: "(unsigned long)-1", want: uint64(0xffffffffffffffff)},
			{expr: "(u32)items[0].key", want: 0x55667788},
			{expr: "(long)&items", want: items.Addr},
			{expr: "(long)items", want: items.Addr},
			{expr: "get_counter", want: nil, typ: "int (int)"},
			{expr: "&get_counter", want: get.Addr, typ: "int (*)(int)"},
			{expr: "(unsigned long)get_counter", want: get.Addr},
			{expr: "*get_counter", typ: "int (int)"},
			{expr: "_start", typ: "void (void)"},
			{expr: "__bss_start", typ: "void *"}, // ELF-only symbol: its address
			{expr: "(char *)__bss_start - (char *)&zeroed[0]", want: 0},
			{expr: "&banner", want: banner.Addr, typ: "const char (*)[12]"},
			{expr: "$1", want: 8},
			{expr: "$", want: 8},
			{expr: "$1 + $1", want: 16},
			{expr: "items:1", want: nil, typ: "struct item [3]"},
			{expr: "items[0]:1.id", want: 8},
			{expr: "per_cpu(items[0], 2).id", want: 9},
			{expr: "per_cpu_ptr(&items[0], 1)->name", want: "eight"},
			{expr: "per_cpu(items[0].id, 1 + 1)", want: 9},
			{expr: "1 ? 2 : 3", want: 2},
			{expr: "0 ? items[0] : items[1].id", want: 8},
			{expr: "1 + 2 * 3", want: 7},
			{expr: "(1 + 2) * 3", want: 9},
			{expr: "10 - 2 - 3", want: 5},
			{expr: "100 / 7 % 5", want: 4},
			{expr: "-7 / 2", want: -3},
			{expr: "-7 % 3", want: -1},
			{expr: "7u / 2", want: 3},
			{expr: "1 << 4 | 1", want: 17},
			{expr: "0xf0 >> 4 & 3", want: 3},
			{expr: "-16 >> 2", want: -4},
			{expr: "1UL << 40", want: uint64(1) << 40},
			{expr: "~0", want: -1},
			{expr: "~0u", want: uint64(0xffffffff)},
			{expr: "!0 + !5", want: 1},
			{expr: "1 < 2 && 2 > 1 || 0", want: 1},
			{expr: "-1 < 0u", want: 0}, // C: -1 converts to unsigned
			{expr: "-1L < 0", want: 1},
			{expr: "3 == 3 != 0", want: 1},
			{expr: "'a'", want: 'a', typ: "char"},
			{expr: "'\\n' + '\\x41'", want: 10 + 65},
			{expr: "0x7fffffff", typ: "int"},
			{expr: "0x80000000", typ: "unsigned int"},
			{expr: "2147483648", typ: "long int"},
			{expr: "0xffffffffffffffff", want: uint64(0xffffffffffffffff), typ: "long unsigned int"},
			{expr: "0b101", want: 5},
			{expr: "0 && *(int *)0", want: 0},             // short circuit: no read
			{expr: "1 || *(int *)0", want: 1},             // short circuit: no read
			{expr: "sizeof(*(struct item *)0)", want: 96}, // sizeof does not read

			// Errors, with positions.
			{expr: "nosuch", err: "unknown symbol 'nosuch' at column 1"},
			{expr: "items[0].bar", err: "struct item has no member 'bar' at column 10"},
			{expr: "head->bar", err: "struct item has no member 'bar'"},
			{expr: "(struct item *)(head", err: "expected ')', found end of expression at column 21"},
			{expr: "(items[0].id", err: "expected ')'"},
			{expr: "items[0].id)", err: "unbalanced ')' at column 12"},
			{expr: "1 +", err: "unexpected end of expression at column 4"},
			{expr: "1 / 0", err: "division by zero at column 3"},
			{expr: "5 % (2 - 2)", err: "division by zero"},
			{expr: "*items[0].id", err: "not a pointer"},
			{expr: "items[0].id.x", err: "not a struct or union"},
			{expr: "&1", err: "not an lvalue"},
			{expr: "&items[0].flags.a", err: "bit-field"},
			{expr: "(struct nosuch *)0", err: "no struct 'nosuch'"},
			{expr: "sizeof(struct nosuch)", err: "no struct 'nosuch'"},
			{expr: "get_counter(1)", err: "function calls are not supported"},
			{expr: "items[0] + 1", err: "not a number"},
			{expr: "head + head", err: "cannot add two pointers"},
			{expr: "*(void *)head", err: "void pointer"},
			{expr: "*__bss_start", err: "has no type information"},
			{expr: "(int *)0x10 - (char *)0", err: "different sizes"},
			{expr: "$7", err: "history value $7 is not available"},
			{expr: "items:3", err: "cpu 3 out of range (the target has 3 cpus)"},
			{expr: "items:a", err: "all cpus"},
			{expr: "1 @ 2", err: "unexpected character \"@\" at column 3"},
			{expr: "0x", err: "malformed number"},
			{expr: "12abc", err: "malformed number '12abc'"},
			{expr: "99999999999999999999", err: "out of range"},
			{expr: "'ab", err: "unterminated quote"},
			{expr: "", err: "empty expression"},
			{expr: "sizeof(void)", err: "has no size"},
			{expr: "struct item", err: "type name is only allowed"},
			{expr: "1 -> x", err: "not a struct"},
		}
		for _, c := range cases {
			checkEval(t, env, c)
		}
		// Memory errors are wrapped, with the expression read named.
		bad := &Env{Img: im, Mem: newMapMemory()}
		_, err := bad.Eval("head->next->id")
		v, _ := bad.Eval("head->next")
		if err == nil {
			t.Errorf("read through unmapped memory succeeded: %v", v)
		} else if !strings.Contains(err.Error(), "reading head") || !strings.Contains(err.Error(), "not mapped") {
			t.Errorf("memory error not descriptive: %v", err)
		}
		var xe *ExprError
		if !errors.As(err, &xe) || xe.Err == nil {
			t.Errorf("memory error not an ExprError wrapping the cause: %#v", err)
		}
		// No PerCPU callback.
		if _, err := (&Env{Img: im}).Eval("per_cpu(items, 0)"); err == nil || !strings.Contains(err.Error(), "per-cpu") {
			t.Errorf("per_cpu without PerCPU: %v", err)
		}
	}
}

// TestEvalNoImage evaluates against hand-built types and a fake memory,
// the evaluator's unit test proper.
func TestEvalNoImage(t *testing.T) {
	intT := &dwarf.IntType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: "int"}}}
	ulongT := &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 8, Name: "long unsigned int"}}}
	uintT := &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: "unsigned int"}}}
	charT := &dwarf.CharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: "char"}}}
	node := &dwarf.StructType{StructName: "node", Kind: "struct", CommonType: dwarf.CommonType{ByteSize: 40}}
	nodeP := &dwarf.PtrType{CommonType: dwarf.CommonType{ByteSize: 8}, Type: node}
	comm, _ := arrayOf(charT, 8)
	inner := &dwarf.StructType{Kind: "union", CommonType: dwarf.CommonType{ByteSize: 8}, Field: []*dwarf.StructField{
		{Name: "raw", Type: ulongT, ByteOffset: 0},
		{Name: "lo", Type: intT, ByteOffset: 0},
	}}
	node.Field = []*dwarf.StructField{
		{Name: "val", Type: intT, ByteOffset: 0},
		{Name: "flag", Type: uintT, ByteOffset: 4, BitSize: 3, DataBitOffset: 32},
		{Name: "neg", Type: intT, ByteOffset: 4, BitSize: 4, DataBitOffset: 35},
		{Name: "next", Type: nodeP, ByteOffset: 8},
		{Name: "name", Type: comm, ByteOffset: 16},
		{Name: "", Type: inner, ByteOffset: 24},
		{Name: "tail", Type: ulongT, ByteOffset: 32},
	}
	mem := newMapMemory()
	const a, b = 0x1000, 0x2000
	mem.put32(a, 11)
	mem.write(a+4, []byte{0x5 | 0xA<<3, 0, 0, 0}) // flag=5, neg=0b1010=-6
	mem.put64(a+8, b)
	mem.write(a+16, []byte("first\x00\x00\x00"))
	mem.put64(a+24, 0xdeadbeefcafe)
	mem.put64(a+32, 77)
	mem.put32(b, 22)
	mem.write(b+4, []byte{0, 0, 0, 0})
	mem.put64(b+8, 0)
	mem.write(b+16, []byte("second\x00\x00"))
	types := map[string]dwarf.Type{"struct node": node, "node": node, "int": intT}
	env := &Env{
		Mem: mem,
		Lookup: func(name string) (Value, bool) {
			switch name {
			case "first":
				return NewValueAt(node, a), true
			case "firstp":
				return NewConst(nodeP, a), true
			}
			return Value{}, false
		},
		LookupType: func(name string) (dwarf.Type, bool) {
			t, ok := types[name]
			return t, ok
		},
	}
	for _, c := range []evalCase{
		{expr: "first.val", want: 11},
		{expr: "first.flag", want: 5},
		{expr: "first.neg", want: -6},
		{expr: "first.next->val", want: 22},
		{expr: "firstp->next->name", want: "second"},
		{expr: "first.name", want: "first"},
		{expr: "first.raw", want: uint64(0xdeadbeefcafe)},
		{expr: "first.lo", want: -0x41103502}, // 0xbeefcafe as int
		{expr: "first.tail", want: 77},
		{expr: "firstp + 1", want: uint64(a + 40), typ: "struct node *"},
		{expr: "(struct node *)0x2000 == first.next", want: 1},
		{expr: "((node *)0x1000)->next->val", want: 22},
		{expr: "sizeof(struct node)", want: 40},
		{expr: "sizeof(unsigned long)", want: 8},
		{expr: "(unsigned long)-1 >> 60", want: 15},
		{expr: "first.next->next->val", err: "not mapped"},
		{expr: "container_of(&first.tail, struct node, tail)", want: uint64(a)},
		{expr: "unknown", err: "unknown symbol 'unknown'"},
		{expr: "(struct nope *)0", err: "no struct 'nope'"},
		{expr: "per_cpu(first, 0)", err: "per-cpu"},
	} {
		checkEval(t, env, c)
	}
	// Value API directly.
	v := NewValueAt(node, a).WithMem(mem)
	nm, err := v.Path("next->name")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := nm.CString(nil, 0); s != "second" {
		t.Errorf("Path(next->name) = %q", s)
	}
	if _, err := NewValueAt(node, a).Path("next->name"); !errors.Is(err, errNoMem) {
		t.Errorf("Path without memory = %v", err)
	}
	c, err := ContainerOf(a+32, node, "tail")
	if err != nil || c.addr != a {
		t.Errorf("ContainerOf = %+v %v", c, err)
	}
	if _, err := ContainerOf(a, node, "nope"); err == nil {
		t.Errorf("ContainerOf(nope) succeeded")
	}
	if names := (*Image)(nil).MemberNames(nodeP); strings.Join(names, ",") != "val,flag,neg,next,name,raw,lo,tail" {
		t.Errorf("MemberNames = %v", names)
	}
	k := NewConst(intT, 0xfffffffe)
	if x, _ := k.Int(nil); x != -2 {
		t.Errorf("NewConst int = %d", x)
	}
	if _, err := k.Deref(); err == nil {
		t.Errorf("Deref of int succeeded")
	}
	if _, err := k.Index(1); err == nil {
		t.Errorf("Index of int succeeded")
	}
	if u, err := NewConst(charT, 0x41).Cast(ulongT); err != nil {
		t.Error(err)
	} else if x, _ := u.Uint(nil); x != 0x41 {
		t.Errorf("cast = %#x", x)
	}
}

func TestParseErrors(t *testing.T) {
	isType := func(s string) bool { return s == "u32" || s == "task_struct" }
	for _, c := range []struct{ expr, err string }{
		{"(u32)1", ""},
		{"(u32 *)p->x", ""},
		{"(task_struct *)0x10", ""},
		{"sizeof(u32) + sizeof x", ""},
		{"a ? b : c ? d : e", ""},
		{"x:1", ""},
		{"x[1:2]", "expected ']'"},
		{"per_cpu(x)", "expected ','"},
		{"container_of(p, struct t)", "expected ','"},
		{"container_of(p, struct t, 1)", "expected a member name"},
		{"a ? b", "expected ':'"},
		{"(u32", "expected ')'"},
		{"a.", "expected a member name after '.'"},
		{"a->1", "expected a member name after '->'"},
		{"x:", "expected a cpu number"},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), "too deeply nested"},
		{strings.Repeat("-", 300) + "1", "too deeply nested"},
		{"(struct)x", "expected a struct tag"},
		{"(unsigned double)1", "invalid type"},
		{"(int [)x", "expected ']' in array type"},
	} {
		_, err := parseExpr(c.expr, isType)
		if c.err == "" && err != nil {
			t.Errorf("parse(%q): %v", c.expr, err)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parse(%q) = %v, want %q", c.expr, err, c.err)
		}
	}
}
