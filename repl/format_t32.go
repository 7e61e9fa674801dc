package repl

import (
	"debug/dwarf"
	"fmt"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// t32Opts are Trace32 Var.View format flags.
type t32Opts struct {
	Type     bool // %t: (type) prefix
	Location bool // %l: [D:0x...] prefix, [-] without an address
	Hex      bool // %h
	Dec      bool // %d
	Symbols  bool // %s: pointer symbols, strings, list_head owners
	Index    bool // %i: [n] = before array elements
	Compact  bool // %c: one line (default %m: one member per line)
	Expand   int  // %e[N]: expand nested pointers N levels
}

// parseT32Flag applies one %flag word; false if w is not one.
func (o *t32Opts) parse(w string) (bool, error) {
	if !strings.HasPrefix(w, "%") || len(w) < 2 {
		return false, nil
	}
	switch f := w[1:]; {
	case f == "t" || f == "type":
		o.Type = true
	case f == "l" || f == "location":
		o.Location = true
	case f == "h" || f == "hex":
		o.Hex, o.Dec = true, false
	case f == "d" || f == "decimal":
		o.Dec, o.Hex = true, false
	case f == "s" || f == "symbol":
		o.Symbols = true
	case f == "i" || f == "index":
		o.Index = true
	case f == "m" || f == "multiline":
		o.Compact = false
	case f == "c" || f == "compact":
		o.Compact = true
	case strings.HasPrefix(f, "e"):
		n := 1
		if f != "e" {
			v, err := strconv.Atoi(f[1:])
			if err != nil || v < 0 || v > 16 {
				return false, &UsageError{"v.v", fmt.Sprintf("bad expansion depth in %q (use %%e or %%e0..%%e16)", w)}
			}
			n = v
		}
		o.Expand = n
	default:
		return false, &UsageError{"v.v", fmt.Sprintf("unknown format flag %q (see 'help v.v')", w)}
	}
	return true, nil
}

// t32Printer renders decoded values in Trace32's Var.View layout.
type t32Printer struct {
	s    *Session
	d    *decoder
	o    t32Opts
	pw   int // hex digits of a pointer
	task *taskLists
}

func newT32Printer(s *Session, o t32Opts) *t32Printer {
	return &t32Printer{s: s, d: s.decoder(), o: o, pw: 2 * s.K.PtrSize()}
}

// t32Type spells a type as Trace32 does: DWARF's base type names, and
// function pointers as "ret (*)()".
func t32Type(t dwarf.Type) string {
	if p, ok := dwarfx.Strip(t).(*dwarf.PtrType); ok {
		if ft, ok := dwarfx.Strip(p.Type).(*dwarf.FuncType); ok {
			return dwarfx.TypeString(ft.ReturnType) + " (*)()"
		}
	}
	return dwarfx.TypeString(unqualArray(t))
}

func (p *t32Printer) hex(v uint64, digits int) string {
	return fmt.Sprintf("0x%0*X", digits, v)
}

// prefix is "(type) [D:0x...] " as the flags ask.
func (p *t32Printer) prefix(n *vnode, static bool) string {
	var sb strings.Builder
	if p.o.Type {
		sb.WriteString("(")
		if static {
			sb.WriteString("static ")
		}
		sb.WriteString(t32Type(n.Type) + ") ")
	}
	if p.o.Location {
		if n.HasAddr {
			sb.WriteString("[D:" + p.hex(n.Addr, p.pw) + "] ")
		} else {
			sb.WriteString("[-] ")
		}
	}
	return sb.String()
}

// item renders "prefix name = value" as lines (the last without its
// separator). expand is how many pointer levels may still be followed.
func (p *t32Printer) item(n *vnode, label string, static bool, depth, expand int) []string {
	head := p.prefix(n, static) + label + " = "
	val := p.value(n, depth, expand)
	val[0] = head + val[0]
	return val
}

func (p *t32Printer) value(n *vnode, depth, expand int) []string {
	if n.Err != nil {
		return []string{"<error: " + n.Err.Error() + ">"}
	}
	switch n.Kind {
	case vkStruct:
		return p.block(p.members(n), depth)
	case vkArray:
		return p.array(n, depth, expand)
	case vkString:
		if p.o.Symbols {
			str := n.Str
			if i := strings.IndexByte(string(str), 0); i >= 0 {
				str = str[:i]
			}
			s := gdbQuote(str[:min(len(str), printMax)])
			if len(str) > printMax {
				s += "..."
			}
			return []string{s}
		}
		return p.array(n, depth, expand)
	case vkPtr:
		return p.pointer(n, depth, expand)
	case vkEnum:
		gp := &gdbPrinter{radix: 10}
		gp.enum(n)
		return []string{gp.String()}
	case vkFloat:
		return []string{strconv.FormatFloat(n.F, 'g', -1, 64)}
	case vkFunc:
		if n.HasAddr {
			return []string{p.hex(n.Addr, p.pw)}
		}
		return []string{"(function)"}
	case vkOther:
		return []string{fmt.Sprintf("0x%X", n.Str)}
	}
	return []string{p.integer(n)}
}

func (p *t32Printer) integer(n *vnode) string {
	if n.Wide != nil {
		if p.o.Hex {
			return "0x" + strings.ToUpper(wideUnsigned(n).Text(16))
		}
		return n.Wide.String()
	}
	if p.o.Hex {
		v := n.U
		if n.Bits > 0 && n.Bits < 64 {
			v &= 1<<n.Bits - 1
		}
		if n.Signed || n.BitField {
			return fmt.Sprintf("0x%X", v)
		}
		return p.hex(v, (n.Bits+3)/4)
	}
	if n.Signed {
		return strconv.FormatInt(int64(n.U), 10)
	}
	return strconv.FormatUint(n.U, 10)
}

// members lists a struct's members (anonymous ones flattened) as items.
func (p *t32Printer) members(n *vnode) []*vnode {
	var out []*vnode
	for _, k := range n.Kids {
		if k.Anon && k.Err == nil {
			out = append(out, p.members(k)...)
			continue
		}
		out = append(out, k)
	}
	return out
}

// block renders children as "(" ... ")": one per line (%m) or on one line
// (%c, or a struct holding a single scalar, as Trace32 shows atomic_t).
func (p *t32Printer) block(kids []*vnode, depth int) []string {
	return p.blockOf(len(kids), func(i, d int) []string {
		return p.item(kids[i], kids[i].Name, false, d, p.o.Expand)
	}, len(kids) == 1 && kids[0].Kind != vkStruct && kids[0].Kind != vkArray, depth)
}

func (p *t32Printer) blockOf(count int, render func(i, depth int) []string, inline bool, depth int) []string {
	if count == 0 {
		return []string{"()"}
	}
	if p.o.Compact || inline {
		parts := make([]string, count)
		for i := range count {
			parts[i] = strings.Join(render(i, depth+1), " ")
		}
		return []string{"(" + strings.Join(parts, ", ") + ")"}
	}
	lines := []string{"("}
	ind := strings.Repeat("  ", depth+1)
	for i := range count {
		item := render(i, depth+1)
		item[0] = ind + item[0]
		if i < count-1 {
			item[len(item)-1] += ","
		} else {
			item[len(item)-1] += ")"
		}
		lines = append(lines, item...)
	}
	return lines
}

func (p *t32Printer) array(n *vnode, depth, expand int) []string {
	kids := n.Kids
	if n.Kind == vkString {
		// A char array without %s: its elements as numbers.
		kids = nil
		for i, c := range n.Str[:min(len(n.Str), printMax)] {
			kids = append(kids, &vnode{Type: n.Type, Kind: vkChar, U: uint64(c), Bits: 8, Addr: n.Addr + uint64(i), HasAddr: n.HasAddr})
		}
	}
	structs := len(kids) > 0 && (kids[0].Kind == vkStruct || kids[0].Kind == vkArray)
	label := func(i int) string {
		if p.o.Index || structs {
			return "[" + strconv.Itoa(i) + "] = "
		}
		return ""
	}
	lines := p.blockOf(len(kids), func(i, d int) []string {
		v := p.value(kids[i], d, expand)
		v[0] = label(i) + v[0]
		return v
	}, !structs, depth)
	if n.truncated() {
		last := lines[len(lines)-1]
		lines[len(lines)-1] = strings.TrimSuffix(last, ")") + ", ...)"
	}
	return lines
}

// pointer renders a pointer: its value, then with %s "= symbol", a char *
// string or the task owning a list_head, and "-> (...)" when expanded.
func (p *t32Printer) pointer(n *vnode, depth, expand int) []string {
	if n.U == 0 {
		return []string{"0x0"}
	}
	s := p.hex(n.U, p.pw)
	switch {
	case n.Func || p.o.Symbols:
		owner := ""
		if p.o.Symbols {
			owner = p.listOwner(n)
		}
		if owner != "" {
			s += " = " + owner
		} else if name, off, ok := p.s.kernelSymbol(n.U); ok {
			s += " = " + name
			if off != 0 {
				s += fmt.Sprintf("+0x%X", off)
			}
		} else if p.o.Symbols && n.CharPtr && n.StrOK {
			s += " = " + gdbQuote(n.Str[:min(len(n.Str), printMax)])
		}
	}
	if expand <= 0 || n.Func || n.CharPtr {
		return []string{s}
	}
	tt := p.d.complete(n.Target)
	st, ok := dwarfx.Strip(tt).(*dwarf.StructType)
	if !ok || st.Incomplete {
		return []string{s}
	}
	target := p.d.decodeAt("", n.Target, n.U)
	if target.Err != nil {
		return []string{s + " -> <error: " + target.Err.Error() + ">"}
	}
	kids := p.members(target)
	body := p.blockOf(len(kids), func(i, d int) []string {
		return p.item(kids[i], kids[i].Name, false, d, expand-1)
	}, false, depth)
	body[0] = s + " -> " + body[0]
	return body
}

// taskLists knows where struct list_head members lie in task_struct, to
// name the task a list pointer leads into.
type taskLists struct {
	names   []string
	offsets []int64
}

func (p *t32Printer) taskListMembers() *taskLists {
	if p.task != nil {
		return p.task
	}
	p.task = &taskLists{}
	t, err := p.s.K.Image.Type("struct task_struct")
	if err != nil {
		return p.task
	}
	var walk func(t dwarf.Type, base int64, depth int)
	walk = func(t dwarf.Type, base int64, depth int) {
		st, ok := dwarfx.Strip(p.s.K.Image.Complete(t)).(*dwarf.StructType)
		if !ok || depth > 4 {
			return
		}
		for _, f := range st.Field {
			if f.Name == "" {
				walk(f.Type, base+f.ByteOffset, depth+1)
				continue
			}
			if lt, ok := dwarfx.Strip(f.Type).(*dwarf.StructType); ok && lt.StructName == "list_head" {
				p.task.names = append(p.task.names, f.Name)
				p.task.offsets = append(p.task.offsets, base+f.ByteOffset)
			}
		}
	}
	walk(t, 0, 0)
	return p.task
}

// listOwner names the task whose list_head member a struct list_head *
// points to: "&task_struct(0x... "comm").sibling". A candidate task must be
// in the kernel's task list.
func (p *t32Printer) listOwner(n *vnode) string {
	lt, ok := dwarfx.Strip(n.Target).(*dwarf.StructType)
	if !ok || lt.StructName != "list_head" {
		return ""
	}
	tl := p.taskListMembers()
	for i, off := range tl.offsets {
		if n.U < uint64(off) {
			continue
		}
		t, err := p.s.K.TaskByAddr(n.U - uint64(off))
		if err != nil {
			continue
		}
		return fmt.Sprintf("&task_struct(%s %s).%s", p.hex(t.Addr, p.pw), gdbQuote([]byte(t.Comm)), tl.names[i])
	}
	return ""
}

// view renders a whole v.v: the top item at two spaces. A pointer to a
// struct or union is followed one level (plus %e levels below it).
// members, if set, lists member paths shown instead of all members.
func (p *t32Printer) view(n *vnode, label string, static bool, members []string) ([]string, error) {
	if len(members) == 0 {
		lines := p.item(n, label, static, 0, 0)
		if n.Kind == vkPtr && !n.Func && !n.CharPtr && n.Err == nil {
			lines = p.item(n, label, static, 0, p.o.Expand+1)
		}
		return indentLines(lines), nil
	}
	obj := n
	head := p.prefix(n, static) + label + " = "
	if n.Kind == vkPtr && n.Err == nil && n.U != 0 {
		obj = p.d.decodeAt("", n.Target, n.U)
		head += p.pointer(n, 0, 0)[0] + " -> "
	}
	if obj.Err != nil {
		return nil, fmt.Errorf("reading %s: %w", label, obj.Err)
	}
	var kids []*vnode
	var names []string
	for _, m := range members {
		k, err := memberPath(obj, m)
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
		names = append(names, m)
	}
	body := p.blockOf(len(kids), func(i, d int) []string {
		return p.item(kids[i], names[i], false, d, p.o.Expand)
	}, false, 0)
	body[0] = head + body[0]
	return indentLines(body), nil
}

// memberPath finds "se.vruntime" or "cpus_mask.bits[0]" in a decoded struct.
func memberPath(n *vnode, path string) (*vnode, error) {
	cur := n
	for _, part := range strings.Split(path, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		if cur.Kind != vkStruct {
			return nil, fmt.Errorf("%s: %q is not inside a struct or union", path, name)
		}
		k, _ := findKid(cur, name)
		if k == nil {
			return nil, fmt.Errorf("%s: no member %q in %s", path, name, gdbType(cur.Type))
		}
		cur = k
		for hasIdx {
			var rest string
			idx, rest, _ = strings.Cut(idx, "]")
			i, err := strconv.Atoi(idx)
			if err != nil || cur.Kind != vkArray || i < 0 || i >= len(cur.Kids) {
				return nil, fmt.Errorf("%s: bad index [%s]", path, idx)
			}
			cur = cur.Kids[i]
			idx, hasIdx = strings.CutPrefix(rest, "[")
		}
	}
	return cur, nil
}

// indentLines puts a view at Trace32's two-space margin.
func indentLines(lines []string) []string {
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return lines
}
