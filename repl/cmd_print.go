package repl

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// HistoryEntry is one value of p's value history ($1, $2, ...): a
// snapshot, so $N keeps what was printed.
type HistoryEntry struct {
	Expr  string
	Value dwarfx.Value
}

// env is the kernel's expression environment with the session's value
// history behind $N, $ and $$.
func (s *Session) env() *dwarfx.Env {
	e := s.K.Env()
	e.Lookup = s.frameLookup
	e.History = func(n int) (dwarfx.Value, bool) {
		i := n - 1 // $n
		if n <= 0 {
			i = len(s.history) - 1 + n // $ is the last, $$k k before it
		}
		if i < 0 || i >= len(s.history) {
			return dwarfx.Value{}, false
		}
		return s.history[i].Value, true
	}
	return e
}

// radixOf is the output radix a command's -x/-d flags select, the
// session's when neither.
func (s *Session) radixOf(inv *Invocation) int {
	if r := flagRadix(inv); r != 0 {
		return r
	}
	return s.Vars.Radix
}

// flagRadix is the radix -x (16) or -d (10) selects, 0 for neither: the one
// reading of those flags.
func flagRadix(inv *Invocation) int {
	switch {
	case inv.Has("x"):
		return 16
	case inv.Has("d"):
		return 10
	}
	return 0
}

// cpuSpec is crash's ":cpuspec" suffix: "a"/"all", "3", "1,3", "0-2".
var cpuSpecRE = regexp.MustCompile(`^(.+):(a|all|[0-9][0-9,\-]*)$`)

// parseCPUs expands a cpuspec against the possible cpus.
func (s *Session) parseCPUs(spec string) ([]int, error) {
	if spec == "a" || spec == "all" {
		cpus, err := s.K.PossibleCPUs()
		if err != nil || len(cpus) == 0 {
			cpus = nil
			for i := 0; i < s.K.NrCPUs(); i++ {
				cpus = append(cpus, i)
			}
		}
		return cpus, nil
	}
	var out []int
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, &UsageError{"", fmt.Sprintf("bad cpu %q in cpuspec %q", part, spec)}
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, &UsageError{"", fmt.Sprintf("bad cpu range %q in cpuspec %q", part, spec)}
			}
		}
		for c := a; c <= b; c++ {
			if n := s.K.NrCPUs(); n > 0 && c >= n {
				return nil, fmt.Errorf("cpu %d does not exist (the kernel has %d)", c, n)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ---- p ----

// printResult is one or more printed values.
type printResult struct {
	Values []printedValue `json:"values"`
	preformatted
}

type printedValue struct {
	Expr    string    `json:"expr"`
	History int       `json:"history,omitempty"` // N of $N
	CPU     *int      `json:"cpu,omitempty"`
	Value   *jsonNode `json:"value"`
}

func printCmd() *Command {
	return &Command{
		Name:     "p",
		Aliases:  []string{"print", "p/x", "p/d", "print/x", "print/d"},
		Synopsis: "p [-x|-d] EXPR[:CPUSPEC]",
		Summary:  "print the value of an expression, as crash's gdb does",
		Description: "Evaluates a C expression (symbols, members, casts, pointer arithmetic, " +
			"container_of, per_cpu(sym, cpu), sym:cpu, $N history values) and prints its value in " +
			"gdb's format: structs as { member = value, ... } blocks, pointers as 0x... <symbol+off>, " +
			"char arrays as strings. Each value is numbered $N. A plain symbol is prefixed 'sym = '. " +
			"A per-cpu symbol with :a, :N or :N,M prints per_cpu(sym, N) for those cpus; without a " +
			"cpuspec it lists the per-cpu addresses. -x and -d override the radix set by 'set radix'.",
		Examples: []string{"p jiffies", "p init_task.comm", "p -x init_task.flags", "p runqueues:1", "p &init_task", "p $1"},
		Flags: []Flag{
			{Short: "x", Help: "hexadecimal output"},
			{Short: "d", Help: "decimal output"},
		},
		Complete: ArgExpression,
		Run:      runPrint,
	}
}

func runPrint(s *Session, inv *Invocation) (Result, error) {
	expr := strings.TrimSpace(inv.RestLine())
	if expr == "" {
		return nil, &UsageError{"p", "usage: p [-x|-d] EXPR[:CPUSPEC]"}
	}
	radix := s.radixOf(inv)
	switch {
	case strings.HasSuffix(inv.Name, "/x"):
		radix = 16
	case strings.HasSuffix(inv.Name, "/d"):
		radix = 10
	}
	var r printResult
	var sb strings.Builder
	add := func(label string, v dwarfx.Value, cpu *int) error {
		d := s.decoder()
		n := d.decodeValue(v, "")
		if n.Err != nil && len(n.Kids) == 0 {
			// Nothing of the value is readable: that is a failed print
			// (as gdb's "Cannot access memory"), not a value.
			return fmt.Errorf("%s: %w", expr, n.Err)
		}
		if lv, err := v.Load(s.K.Memory()); err == nil {
			v = lv
		}
		s.history = append(s.history, HistoryEntry{Expr: expr, Value: v})
		num := len(s.history)
		p := newGDBPrinter(s, radix)
		p.top(n)
		out := p.String()
		if label != "" {
			// crash: "sym = $N = {" splits a one-line "{a, b}" after the brace.
			if strings.HasPrefix(out, "{") && !strings.HasPrefix(out, "{\n") {
				out = "\n {" + out[1:]
			}
			sb.WriteString(label + " = ")
		}
		fmt.Fprintf(&sb, "$%d = %s\n", num, out)
		r.Values = append(r.Values, printedValue{Expr: expr, History: num, CPU: cpu, Value: s.jsonNode(n, radix)})
		return nil
	}
	if m := cpuSpecRE.FindStringSubmatch(expr); m != nil && identRE.MatchString(strings.TrimSpace(m[1])) {
		name := strings.TrimSpace(m[1])
		cpus, err := s.parseCPUs(m[2])
		if err != nil {
			return nil, err
		}
		base, err := s.perCPUVar(name)
		if err != nil {
			return nil, err
		}
		for _, c := range cpus {
			v, err := s.K.PerCPU(base, c)
			if err != nil {
				return nil, fmt.Errorf("per_cpu(%s, %d): %w", name, c, err)
			}
			if err := add(fmt.Sprintf("per_cpu(%s, %d)", name, c), v, &c); err != nil {
				return nil, err
			}
		}
		r.text = sb.String()
		return r, nil
	}
	if identRE.MatchString(expr) {
		if v, ok := s.frameLookup(expr); ok {
			if err := add(expr, v, nil); err != nil {
				return nil, err
			}
			r.text = sb.String()
			return r, nil
		}
		if vr, err := s.K.Image.Variable(expr); err == nil {
			if vr.PerCPU {
				return s.perCPUListing(vr)
			}
			if err := add(expr, s.K.Image.NewValueAt(s.varType(vr), vr.Addr), nil); err != nil {
				return nil, err
			}
			r.text = sb.String()
			return r, nil
		}
	}
	v, err := s.env().Eval(expr)
	if err != nil {
		return nil, err
	}
	if err := add("", v, nil); err != nil {
		return nil, err
	}
	r.text = sb.String()
	return r, nil
}

func (s *Session) perCPUVar(name string) (dwarfx.Value, error) {
	vr, err := s.K.Image.Variable(name)
	if err != nil {
		return dwarfx.Value{}, err
	}
	if !vr.PerCPU {
		return dwarfx.Value{}, fmt.Errorf("%s is not a per-cpu variable", name)
	}
	return s.K.Image.NewValueAt(vr.Type, vr.Addr), nil
}

// perCPUListing is crash's output for `p percpu_sym`: its type and the
// address of each cpu's instance.
func (s *Session) perCPUListing(vr dwarfx.Var) (Result, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "PER-CPU DATA TYPE:\n  %s;\nPER-CPU ADDRESSES:\n", gdbDecl(vr.Type, vr.Name))
	cpus, _ := s.parseCPUs("a")
	var r printResult
	for _, c := range cpus {
		v, err := s.K.PerCPU(s.K.Image.NewValueAt(vr.Type, vr.Addr), c)
		if err != nil {
			return nil, err
		}
		a, _ := v.Addr()
		fmt.Fprintf(&sb, "  [%d]: %x\n", c, a)
		c := c
		r.Values = append(r.Values, printedValue{Expr: vr.Name, CPU: &c, Value: &jsonNode{Type: gdbType(vr.Type), Addr: fmt.Sprintf("%#x", a)}})
	}
	r.text = sb.String()
	return r, nil
}

// varType is a variable's type, with an array declared without a size
// (extern char linux_banner[];) sized from its ELF symbol, as gdb shows it.
func (s *Session) varType(vr dwarfx.Var) dwarf.Type {
	at, ok := dwarfx.Strip(vr.Type).(*dwarf.ArrayType)
	if !ok || at.Count >= 0 {
		return vr.Type
	}
	sym, ok := s.K.Image.Lookup(vr.Name)
	es := at.Type.Size()
	if !ok || sym.Size == 0 || es <= 0 {
		return vr.Type
	}
	t, err := s.K.Image.ArrayOf(at.Type, int64(sym.Size)/es)
	if err != nil {
		return vr.Type
	}
	return t
}

// ---- struct / union ----

func structCmd() *Command { return aggregateCmd("struct") }
func unionCmd() *Command  { return aggregateCmd("union") }
func aggregateCmd(kind string) *Command {
	return &Command{
		Name:     kind,
		Synopsis: kind + " NAME[.MEMBER[,MEMBER...]] [-o] [-x|-d] [ADDR|SYMBOL][:CPUSPEC] [COUNT]",
		Summary:  "print a " + kind + "'s declaration, or its contents at an address",
		Description: "Without an address, prints the " + kind + "'s declaration (gdb ptype style) and its SIZE; " +
			"-o adds each member's offset. With an address or a symbol, prints the contents in gdb's format " +
			"(COUNT consecutive objects if given), -o then shows each member's address. " +
			"NAME.m1,m2 restricts the output to those members. A per-cpu symbol with :a or :N,M prints " +
			"each cpu's instance after a '[cpu]: address' line. -x/-d override the radix.",
		Examples: []string{kind + " list_head", kind + " -o task_struct", kind + " task_struct.pid,comm init_task",
			kind + " rq.curr runqueues:a", kind + " list_head ffffffff82a14298 2"},
		Flags: []Flag{
			{Short: "o", Help: "show member offsets (or addresses)"},
			{Short: "x", Help: "hexadecimal output"},
			{Short: "d", Help: "decimal output"},
		},
		Complete: ArgType,
		Run:      func(s *Session, inv *Invocation) (Result, error) { return runAggregate(s, inv, kind) },
	}
}

type structResult struct {
	Type    string        `json:"type"`
	Size    int64         `json:"size"`
	Members []memberDecl  `json:"members,omitempty"`
	Objects []structValue `json:"objects,omitempty"`
	preformatted
}

type memberDecl struct {
	Name   string `json:"name"`
	Decl   string `json:"decl"`
	Offset *int64 `json:"offset,omitempty"`
}

type structValue struct {
	Addr  string    `json:"addr"`
	CPU   *int      `json:"cpu,omitempty"`
	Value *jsonNode `json:"value"`
}

// lookupAggregate finds struct/union NAME.
func (s *Session) lookupAggregate(kind, name string) (*dwarf.StructType, dwarf.Type, error) {
	t, err := s.K.Image.Type(kind + " " + name)
	if err != nil {
		// A typedef of a struct (crash accepts those too).
		if t2, err2 := s.K.Image.Type(name); err2 == nil {
			t, err = t2, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("invalid data structure reference: %s", name)
	}
	t = s.K.Image.Complete(t)
	st, ok := dwarfx.Strip(t).(*dwarf.StructType)
	if !ok || st.Kind != kind {
		return nil, nil, fmt.Errorf("invalid data structure reference: %s", name)
	}
	if st.Incomplete {
		return nil, nil, fmt.Errorf("%s %s is only declared, not defined, in the vmlinux", kind, name)
	}
	return st, t, nil
}

func runAggregate(s *Session, inv *Invocation, kind string) (Result, error) {
	usage := &UsageError{kind, "usage: " + kind + " NAME[.MEMBER[,MEMBER...]] [-o] [-x|-d] [ADDR|SYMBOL][:CPUSPEC] [COUNT]"}
	if len(inv.Args) == 0 || len(inv.Args) > 3 {
		return nil, usage
	}
	name, memberList, _ := strings.Cut(inv.Args[0], ".")
	var members []string
	if memberList != "" {
		members = strings.Split(memberList, ",")
	}
	st, t, err := s.lookupAggregate(kind, name)
	if err != nil {
		return nil, err
	}
	radix := s.radixOf(inv)
	r := structResult{Type: kind + " " + st.StructName, Size: st.ByteSize}
	for _, m := range members {
		if _, ok := s.K.Image.FindMember(st, m); !ok {
			return nil, fmt.Errorf("invalid data structure reference: %s.%s", name, m)
		}
	}
	if len(inv.Args) == 1 {
		r.text, r.Members = s.declaration(st, members, inv.Has("o"), radix, nil)
		return r, nil
	}
	addrArg := inv.Args[1]
	count := 1
	if len(inv.Args) == 3 {
		n, err := strconv.ParseInt(inv.Args[2], 0, 32)
		if err != nil || n == 0 {
			return nil, &UsageError{kind, fmt.Sprintf("count %q is not a non-zero number", inv.Args[2])}
		}
		count = int(n)
	}
	targets, err := s.aggregateTargets(addrArg)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	first := true
	for _, tg := range targets {
		if tg.cpu != nil {
			fmt.Fprintf(&sb, "[%d]: %x\n", *tg.cpu, tg.addr)
		}
		for i := 0; i < max(count, -count); i++ {
			if err := s.Context().Err(); err != nil {
				return nil, err
			}
			step := int64(i) * st.ByteSize
			if count < 0 {
				step = -step
			}
			a := tg.addr + uint64(step)
			if !first && tg.cpu == nil {
				sb.WriteString("\n")
			}
			first = false
			if inv.Has("o") {
				text, _ := s.declaration(st, members, true, radix, &a)
				sb.WriteString(text)
				continue
			}
			n := s.decoder().decodeAt("", t, a)
			if n.Err != nil && len(n.Kids) == 0 {
				return nil, fmt.Errorf("reading %s %s at %#x: %w", kind, st.StructName, a, n.Err)
			}
			r.Objects = append(r.Objects, structValue{Addr: fmt.Sprintf("%#x", a), CPU: tg.cpu, Value: s.jsonNode(selectMembers(n, members), radix)})
			if len(members) > 0 {
				sb.WriteString(s.memberBlocks(n, members, radix))
				continue
			}
			p := newGDBPrinter(s, radix)
			p.value(n, 0)
			fmt.Fprintf(&sb, "%s %s %s\n", kind, st.StructName, p.String())
		}
	}
	r.text = sb.String()
	return r, nil
}

// aggregateTarget is one object struct/union prints: at addr, for a
// per-cpu variable the cpu's copy.
type aggregateTarget struct {
	addr uint64
	cpu  *int
}

// aggregateTargets resolves struct's address argument: an address or
// symbol, or a per-cpu variable with crash's ":cpuspec" suffix.
func (s *Session) aggregateTargets(addrArg string) ([]aggregateTarget, error) {
	m := cpuSpecRE.FindStringSubmatch(addrArg)
	if m == nil || !identRE.MatchString(m[1]) {
		a, err := s.resolveAddress(addrArg)
		if err != nil {
			return nil, err
		}
		return []aggregateTarget{{addr: a}}, nil
	}
	cpus, err := s.parseCPUs(m[2])
	if err != nil {
		return nil, err
	}
	base, err := s.perCPUVar(m[1])
	if err != nil {
		return nil, err
	}
	var targets []aggregateTarget
	for _, c := range cpus {
		v, err := s.K.PerCPU(base, c)
		if err != nil {
			return nil, fmt.Errorf("per_cpu(%s, %d): %w", m[1], c, err)
		}
		a, _ := v.Addr()
		c := c
		targets = append(targets, aggregateTarget{a, &c})
	}
	return targets, nil
}

// findKid finds member name of a decoded struct, through anonymous
// members; last reports whether it is the last member of its own struct
// (gdb prints no comma after it).
func findKid(n *vnode, name string) (k *vnode, last bool) {
	for i, c := range n.Kids {
		if c.Name == name && !c.Anon {
			return c, i == len(n.Kids)-1
		}
	}
	for _, c := range n.Kids {
		if c.Anon {
			if k, last := findKid(c, name); k != nil {
				return k, last
			}
		}
	}
	return nil, false
}

func selectMembers(n *vnode, members []string) *vnode {
	if len(members) == 0 {
		return n
	}
	sel := *n
	sel.Kids = nil
	for _, m := range members {
		if k, _ := findKid(n, m); k != nil {
			sel.Kids = append(sel.Kids, k)
		}
	}
	return &sel
}

// memberBlocks is crash's `struct X.m1,m2 ADDR`: each member's block as it
// appears in the whole struct's output, at two spaces, with its comma.
func (s *Session) memberBlocks(n *vnode, members []string, radix int) string {
	var sb strings.Builder
	for _, m := range members {
		k, last := findKid(n, m)
		if k == nil {
			continue
		}
		p := newGDBPrinter(s, radix)
		p.member(k, 1)
		sb.WriteString(p.String())
		if !last {
			sb.WriteString(",")
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// ---- declarations (ptype) ----

// ptypeLine is one line of gdb's ptype output of a struct body: its text at
// ptype's indentation, and the member offset crash resolves for it.
type ptypeLine struct {
	text   string
	name   string
	offset int64
	hasOff bool
}

// ptypeBody renders the members of st as gdb's ptype does (4 spaces per
// level; anonymous struct/union types expanded inline). Members of
// anonymous members have resolvable offsets; the lines inside a named
// member of an anonymous type do not, only its closing "} name;" does.
func ptypeBody(im *dwarfx.Image, st *dwarf.StructType, depth int, base int64, resolvable bool, out *[]ptypeLine) {
	ind := strings.Repeat("    ", depth)
	for _, f := range st.Field {
		off := base + f.ByteOffset
		if f.BitSize > 0 && f.Name != "" {
			if fd, ok := im.FindMember(st, f.Name); ok {
				off = base + fd.ByteOffset // the byte holding the first bit
			}
		}
		if inner, ok := f.Type.(*dwarf.StructType); ok && inner.StructName == "" {
			*out = append(*out, ptypeLine{text: ind + inner.Kind + " {"})
			ptypeBody(im, inner, depth+1, off, resolvable && f.Name == "", out)
			closing := ind + "}"
			if f.Name != "" {
				closing += " " + f.Name
			}
			*out = append(*out, ptypeLine{text: closing + ";", name: f.Name, offset: off, hasOff: resolvable && f.Name != ""})
			continue
		}
		decl := gdbDecl(f.Type, f.Name)
		if f.BitSize > 0 {
			decl += fmt.Sprintf(" : %d", f.BitSize)
		}
		*out = append(*out, ptypeLine{text: ind + decl + ";", name: f.Name, offset: off, hasOff: resolvable})
	}
}

// declaration is `struct X` / `struct -o X` without an address (or with
// one, -o: addresses instead of offsets).
func (s *Session) declaration(st *dwarf.StructType, members []string, offsets bool, radix int, addr *uint64) (string, []memberDecl) {
	var lines []ptypeLine
	ptypeBody(s.K.Image, st, 1, 0, true, &lines)
	if len(members) > 0 {
		var sel []ptypeLine
		for _, m := range members {
			for _, l := range lines {
				if l.name == m && l.hasOff {
					sel = append(sel, l)
					break
				}
			}
		}
		lines = sel
	}
	size := strconv.FormatInt(st.ByteSize, 10)
	if radix == 16 {
		size = "0x" + strconv.FormatInt(st.ByteSize, 16)
	}
	width := len(size) + 4
	var sb strings.Builder
	var decls []memberDecl
	fmt.Fprintf(&sb, "%s %s {\n", st.Kind, st.StructName)
	for _, l := range lines {
		if l.name != "" {
			d := memberDecl{Name: l.name, Decl: strings.TrimSuffix(strings.TrimSpace(l.text), ";")}
			if l.hasOff {
				o := l.offset
				d.Offset = &o
			}
			decls = append(decls, d)
		}
		if !offsets {
			sb.WriteString(l.text + "\n")
			continue
		}
		var tag string
		switch {
		case addr != nil && l.hasOff:
			tag = fmt.Sprintf("  [%x]", *addr+uint64(l.offset))
			sb.WriteString(tag + l.text[3:] + "\n")
			continue
		case addr != nil:
			tag = fmt.Sprintf("  [%x]", *addr)
			sb.WriteString(strings.Repeat(" ", len(tag)-3) + l.text + "\n")
			continue
		case !l.hasOff:
			sb.WriteString(strings.Repeat(" ", width-3) + l.text + "\n")
			continue
		case radix == 16:
			tag = fmt.Sprintf("  [0x%x]", l.offset)
		default:
			tag = fmt.Sprintf("  [%d]", l.offset)
		}
		sb.WriteString(fmt.Sprintf("%*s", width, tag) + l.text[3:] + "\n")
	}
	sb.WriteString("}\n")
	if len(members) == 0 && addr == nil {
		fmt.Fprintf(&sb, "SIZE: %s\n", size)
	}
	return sb.String(), decls
}

// ---- whatis ----

type whatisResult struct {
	Name string `json:"name"`
	Decl string `json:"decl"`
	Size *int64 `json:"size,omitempty"`
	preformatted
}

func whatisCmd() *Command {
	return &Command{
		Name:     "whatis",
		Synopsis: "whatis SYMBOL|TYPE|EXPR",
		Summary:  "show the declaration of a symbol, or a type's definition and size",
		Description: "For a variable or function, prints its C declaration (\"struct task_struct init_task;\", " +
			"\"void schedule(void);\"). For a struct or union name, prints its declaration and SIZE like " +
			"'struct NAME'. For a typedef, the typedef and SIZE. For any other expression, its type.",
		Examples: []string{"whatis init_task", "whatis schedule", "whatis task_struct", "whatis init_task.tasks"},
		Complete: ArgExpression,
		Run:      runWhatis,
	}
}

func runWhatis(s *Session, inv *Invocation) (Result, error) {
	arg := strings.TrimSpace(inv.RestLine())
	if arg == "" {
		return nil, &UsageError{"whatis", "usage: whatis SYMBOL|TYPE|EXPR"}
	}
	r := whatisResult{Name: arg}
	im := s.K.Image
	if identRE.MatchString(arg) {
		if vr, err := im.Variable(arg); err == nil {
			r.Decl = gdbDecl(s.varType(vr), arg)
			r.text = r.Decl + ";\n"
			return r, nil
		}
		if fn, err := im.Function(arg); err == nil {
			if ft, err := im.FuncType(fn); err == nil {
				r.Decl = gdbDecl(ft, arg)
				r.text = r.Decl + ";\n"
				return r, nil
			}
		}
	}
	// struct/union NAME, or a bare name of one.
	for _, kind := range []string{"struct", "union"} {
		name := strings.TrimSpace(strings.TrimPrefix(arg, kind+" "))
		if !identRE.MatchString(name) {
			continue
		}
		if t, err := im.Type(kind + " " + name); err == nil {
			if st, ok := dwarfx.Strip(im.Complete(t)).(*dwarf.StructType); ok && !st.Incomplete {
				r.Decl = kind + " " + name
				r.Size = &st.ByteSize
				r.text, _ = s.declaration(st, nil, false, s.Vars.Radix, nil)
				return r, nil
			}
		}
	}
	if t, err := im.Type(arg); err == nil {
		var sb strings.Builder
		if td, ok := t.(*dwarf.TypedefType); ok {
			r.Decl = "typedef " + gdbDecl(td.Type, td.Name)
		} else {
			r.Decl = gdbType(t)
		}
		sb.WriteString(r.Decl + ";\n")
		if n, err := im.Sizeof(t); err == nil {
			r.Size = &n
			if s.Vars.Radix == 16 {
				fmt.Fprintf(&sb, "SIZE: 0x%x\n", n)
			} else {
				fmt.Fprintf(&sb, "SIZE: %d\n", n)
			}
		}
		r.text = sb.String()
		return r, nil
	}
	v, err := s.env().Eval(arg)
	if err != nil {
		var nf *dwarfx.NotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%s: not a symbol, type or expression: %w", arg, err)
		}
		return nil, err
	}
	r.Decl = gdbType(v.Type())
	r.text = r.Decl + "\n"
	return r, nil
}
