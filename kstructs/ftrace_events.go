package kstructs

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file knows the events: the kernel's trace_event_call list
// (ftrace_events) gives each event type's name, system, fields and print
// format; the events are printed the way the kernel's trace file prints
// them, from the event's own print_fmt when kinspect can evaluate its
// arguments (REC->field, __get_str, __print_flags, __print_symbolic and
// sched_switch's prev_state), as "name: field=value ..." otherwise.

type ftEventType struct {
	Type     int
	Name     string
	System   string
	PrintFmt string
	Fields   []ftEventField // by offset
	pf       *ftPrintFmt
}

type ftEventField struct {
	Name, Type   string
	Offset, Size int
	Signed       bool
}

func (k *Kernel) ftEventTypes() (map[int]*ftEventType, error) {
	st := k.ftState()
	st.evOnce.Do(func() { st.events, st.eventsErr = k.readFtEventTypes() })
	return st.events, st.eventsErr
}

func (k *Kernel) readFtEventTypes() (map[int]*ftEventType, error) {
	l, err := k.ftLayout()
	if err != nil {
		return nil, err
	}
	head, err := k.Image.Variable("ftrace_events")
	if err != nil {
		return nil, fmt.Errorf("ftrace_events: %w", err)
	}
	nodes, werr := WalkList(k, head.Addr, ListOptions{Head: true, Limit: 1 << 16})
	tpName := noField
	if tp, err := ftType(k.Image, "struct tracepoint"); err == nil {
		tpName = tp.opt("name")
	}
	d := l.dec
	out := map[int]*ftEventType{}
	for _, n := range nodes {
		call := n - uint64(l.callList.Off)
		b, err := k.ftRead(call, l.call.size)
		if err != nil {
			continue
		}
		et := &ftEventType{Type: int(d.uint(b, l.callEventType))}
		np := d.uint(b, l.callName)
		if l.flTracepoint != 0 && d.uint(b, l.callFlags)&l.flTracepoint != 0 && tpName.ok() {
			np, _ = k.ftPtr(np + uint64(tpName.Off))
		}
		if np != 0 {
			et.Name, _ = k.readCString(np, 128)
		}
		if p := d.uint(b, l.callPrintFmt); p != 0 {
			et.PrintFmt, _ = k.readCString(p, 8192)
		}
		if class := d.uint(b, l.callClass); class != 0 {
			cb, err := k.ftRead(class, l.class.size)
			if err == nil {
				if p := d.uint(cb, l.classSystem); p != 0 {
					et.System, _ = k.readCString(p, 64)
				}
				fields, _ := WalkList(k, class+uint64(l.classFields.Off), ListOptions{Head: true, Limit: 1024})
				et.Fields = k.ftReader().readFtFields(l, fields)
			}
		}
		et.pf = parsePrintFmt(et.PrintFmt)
		if _, dup := out[et.Type]; !dup {
			out[et.Type] = et
		}
	}
	if len(out) == 0 && werr != nil {
		return nil, fmt.Errorf("ftrace_events: %w", werr)
	}
	return out, nil
}

func (r *ftReader) readFtFields(l *ftLayout, nodes []uint64) []ftEventField {
	d := l.dec
	var out []ftEventField
	for _, n := range nodes {
		b, err := r.read(n-uint64(l.fldLink.Off), l.fld.size)
		if err != nil {
			continue
		}
		f := ftEventField{Offset: int(int32(d.uint(b, l.fldOffset))), Size: int(int32(d.uint(b, l.fldSize))), Signed: d.uint(b, l.fldSigned) != 0}
		f.Name, _ = r.cstring(d.uint(b, l.fldName), 128)
		f.Type, _ = r.cstring(d.uint(b, l.fldType), 128)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// TraceField is one event field's value: int64, uint64, string or []byte.
type TraceField struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Fields decodes the event's own fields (not the common trace_entry
// header), in offset order.
func (e *TraceEvent) Fields(k *Kernel) []TraceField {
	if e.ev == nil {
		return nil
	}
	out := make([]TraceField, 0, len(e.ev.Fields))
	for _, f := range e.ev.Fields {
		out = append(out, TraceField{Name: f.Name, Type: f.Type, Value: e.fieldValue(k, f)})
	}
	return out
}

func (e *TraceEvent) field(name string) (ftEventField, bool) {
	if e.ev == nil {
		return ftEventField{}, false
	}
	for _, f := range e.ev.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return ftEventField{}, false
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (e *TraceEvent) fieldValue(k *Kernel, f ftEventField) any {
	b := e.Data
	if f.Offset < 0 || f.Size < 0 || f.Offset+f.Size > len(b) {
		return nil
	}
	raw := b[f.Offset : f.Offset+f.Size]
	bo := k.Image.ByteOrder()
	if strings.HasPrefix(f.Type, "__data_loc") || strings.HasPrefix(f.Type, "__rel_loc") {
		if f.Size != 4 {
			return raw
		}
		v := bo.Uint32(raw)
		off, n := int(v&0xffff), int(v>>16)
		if strings.HasPrefix(f.Type, "__rel_loc") {
			off += f.Offset + f.Size
		}
		if off+n > len(b) {
			return nil
		}
		if strings.Contains(f.Type, "char") {
			return cstr(b[off : off+n])
		}
		return b[off : off+n]
	}
	if strings.Contains(f.Type, "char[") || strings.Contains(f.Type, "char [") {
		return cstr(raw)
	}
	if strings.Contains(f.Type, "[") {
		return raw
	}
	switch f.Size {
	case 1, 2, 4, 8:
		u := dwarfx.DecodeUint(bo, raw)
		if f.Signed {
			sh := 64 - 8*uint(f.Size)
			return int64(u<<sh) >> sh
		}
		return u
	}
	return raw
}

// Text is what the trace file prints after the timestamp: for most events
// "name: " and the event's print format; for the function tracer
// "func <-parent".
func (e *TraceEvent) Text(k *Kernel) string {
	if e.ev == nil {
		return fmt.Sprintf("Unknown type %d", e.Type)
	}
	if s, ok := e.ftraceText(k); ok {
		return s
	}
	if e.ev.pf != nil {
		if s, ok := e.ev.pf.format(k, e); ok {
			return e.Name + ": " + s
		}
	}
	var b strings.Builder
	b.WriteString(e.Name + ":")
	for _, f := range e.Fields(k) {
		fmt.Fprintf(&b, " %s=%s", f.Name, ftValueString(f.Value))
	}
	return b.String()
}

func ftValueString(v any) string {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", x)
	case nil:
		return "?"
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	return fmt.Sprint(v)
}

func (e *TraceEvent) uintField(k *Kernel, name string) (uint64, bool) {
	f, ok := e.field(name)
	if !ok {
		return 0, false
	}
	switch v := e.fieldValue(k, f).(type) {
	case uint64:
		return v, true
	case int64:
		return uint64(v), true
	}
	return 0, false
}

// ftSym is %ps: the symbol's name, or the address when there is none.
func ftSym(k *Kernel, addr uint64) string {
	if s, _, ok := k.Image.SymbolAt(addr); ok && s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("0x%x", addr)
}

// ftPrintFmt is an event's print_fmt split into its format string and
// argument expressions.
type ftPrintFmt struct {
	fmtStr string
	args   []string
	cargs  []ftArg // args compiled
}

func parsePrintFmt(s string) *ftPrintFmt {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return nil
	}
	var f strings.Builder
	i := 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				f.WriteByte('\n')
			case 't':
				f.WriteByte('\t')
			default:
				f.WriteByte(s[i])
			}
			continue
		}
		f.WriteByte(s[i])
	}
	if i >= len(s) {
		return nil
	}
	pf := &ftPrintFmt{fmtStr: f.String()}
	rest := strings.TrimSpace(s[i+1:])
	if rest == "" {
		return pf
	}
	if rest[0] != ',' {
		return nil
	}
	pf.args = splitTopLevel(rest[1:])
	for _, a := range pf.args {
		pf.cargs = append(pf.cargs, compileArg(a))
	}
	return pf
}

// splitTopLevel splits at commas outside parentheses, braces and quotes.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQ:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQ = false
			}
		case c == '"':
			inQ = true
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

var (
	reRec      = regexp.MustCompile(`^REC->(\w+)$`)
	reCast     = regexp.MustCompile(`^\((?:const |unsigned |signed |struct )*\w+(?: \w+)*\s*\**\)\s*`)
	reGetStr   = regexp.MustCompile(`^__get_str\((\w+)\)$`)
	reTable    = regexp.MustCompile(`\{\s*(-?(?:0x[0-9a-fA-F]+|\d+))[UL]*\s*,\s*"([^"]*)"\s*\}`)
	reFlagsArg = regexp.MustCompile(`^__print_flags\(\s*REC->(\w+)\s*(?:&[^,]*)?,\s*"([^"]*)"\s*,`)
	reSymArg   = regexp.MustCompile(`^__print_symbolic\(\s*REC->(\w+)\s*,`)
)

func stripArg(a string) string {
	a = strings.TrimSpace(a)
	for {
		if m := reCast.FindString(a); m != "" && len(m) < len(a) {
			a = strings.TrimSpace(a[len(m):])
			continue
		}
		if strings.HasPrefix(a, "(") && strings.HasSuffix(a, ")") && balanced(a[1:len(a)-1]) {
			a = strings.TrimSpace(a[1 : len(a)-1])
			continue
		}
		return a
	}
}

func balanced(s string) bool {
	d := 0
	for _, c := range s {
		if c == '(' {
			d++
		} else if c == ')' {
			d--
			if d < 0 {
				return false
			}
		}
	}
	return d == 0
}

type ftTableEntry struct {
	v    uint64
	name string
}

func parseTable(s string) []ftTableEntry {
	var out []ftTableEntry
	for _, m := range reTable.FindAllStringSubmatch(s, -1) {
		v, err := strconv.ParseInt(m[1], 0, 64)
		if err != nil {
			u, err2 := strconv.ParseUint(m[1], 0, 64)
			if err2 != nil {
				continue
			}
			v = int64(u)
		}
		out = append(out, ftTableEntry{uint64(v), m[2]})
	}
	return out
}

func printFlags(v uint64, sep string, table []ftTableEntry) string {
	var parts []string
	for _, t := range table {
		if t.v != 0 && v&t.v == t.v {
			parts = append(parts, t.name)
			v &^= t.v
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", v))
	}
	return strings.Join(parts, sep)
}

// ftArg is a print_fmt argument analysed once per event type.
type ftArg struct {
	kind  int // argRec, argStr, argState, argPlus, argFlags, argSym, argUnknown
	field string
	sep   string
	table []ftTableEntry
	max   uint64 // prev_state: the highest state bit
}

const (
	argUnknown = iota
	argRec
	argStr
	argState
	argPlus
	argFlags
	argSym
)

func compileArg(arg string) ftArg {
	a := stripArg(arg)
	if m := reRec.FindStringSubmatch(a); m != nil {
		return ftArg{kind: argRec, field: m[1]}
	}
	if m := reGetStr.FindStringSubmatch(a); m != nil {
		return ftArg{kind: argStr, field: m[1]}
	}
	// sched_switch's prev_state: (REC->prev_state & MASK) ?
	// __print_flags(REC->prev_state & MASK, "|", {...}) : "R", and the
	// preemption marker REC->prev_state & TASK_REPORT_MAX ? "+" : "".
	if strings.HasPrefix(a, "REC->prev_state") || strings.Contains(a, "__print_flags(REC->prev_state") {
		out := ftArg{field: "prev_state", table: parseTable(a)}
		if len(out.table) == 0 {
			out.table = []ftTableEntry{{1, "S"}, {2, "D"}, {4, "T"}, {8, "t"}, {0x10, "X"}, {0x20, "Z"}, {0x40, "P"}, {0x80, "I"}}
		}
		for _, t := range out.table {
			out.max = max(out.max, t.v)
		}
		switch {
		case strings.Contains(a, `? "+" : ""`):
			out.kind = argPlus
		case strings.Contains(a, "__print_flags"):
			out.kind = argState
		}
		return out
	}
	if m := reFlagsArg.FindStringSubmatch(a); m != nil {
		return ftArg{kind: argFlags, field: m[1], sep: m[2], table: parseTable(a)}
	}
	if m := reSymArg.FindStringSubmatch(a); m != nil {
		return ftArg{kind: argSym, field: m[1], table: parseTable(a)}
	}
	return ftArg{}
}

// evalArg evaluates one print_fmt argument for the event.
func (e *TraceEvent) evalArg(k *Kernel, a *ftArg) (any, bool) {
	switch a.kind {
	case argRec:
		f, ok := e.field(a.field)
		if !ok {
			return nil, false
		}
		v := e.fieldValue(k, f)
		return v, v != nil
	case argStr:
		f, ok := e.field(a.field)
		if !ok {
			return nil, false
		}
		v, ok := e.fieldValue(k, f).(string)
		return v, ok
	case argState, argPlus:
		st, ok := e.uintField(k, a.field)
		if !ok {
			return nil, false
		}
		reportMax := a.max << 1
		if a.kind == argPlus {
			if st&reportMax != 0 {
				return "+", true
			}
			return "", true
		}
		if s := st & (reportMax - 1); s != 0 {
			return printFlags(s, "|", a.table), true
		}
		return "R", true
	case argFlags:
		v, ok := e.uintField(k, a.field)
		if !ok {
			return nil, false
		}
		return printFlags(v, a.sep, a.table), true
	case argSym:
		v, ok := e.uintField(k, a.field)
		if !ok {
			return nil, false
		}
		for _, t := range a.table {
			if t.v == v {
				return t.name, true
			}
		}
		return fmt.Sprintf("0x%x", v), true
	}
	return nil, false
}

// format renders the event with its print_fmt; false if an argument is
// beyond this evaluator.
func (pf *ftPrintFmt) format(k *Kernel, e *TraceEvent) (string, bool) {
	var b strings.Builder
	s := pf.fmtStr
	ai := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		cv, ok := parsePrintfConv(s, i, nil)
		if !ok || ai >= len(pf.args) {
			return "", false
		}
		v, ok := e.evalArg(k, &pf.cargs[ai])
		ai++
		if !ok || !ftFormatArg(&b, k, &cv, v) {
			return "", false
		}
		i = cv.end
	}
	return b.String(), true
}

// ftFormatArg writes one argument by its conversion as the kernel's
// trace_seq_printf would (lib/vsprintf.c); false: not a conversion the
// decoder renders.
func ftFormatArg(b *strings.Builder, k *Kernel, cv *printfConv, v any) bool {
	spec := cv.spec
	switch cv.conv {
	case 's':
		sv, ok := v.(string)
		if !ok {
			sv = ftValueString(v)
		}
		fmt.Fprintf(b, "%"+spec+"s", sv)
		return true
	case 'p':
		return ftFormatPointer(b, k, cv, v)
	}
	n, ok := ftInt(v)
	if !ok {
		return false
	}
	switch cv.conv {
	case 'd', 'i':
		fmt.Fprintf(b, "%"+spec+"d", n)
	case 'u', 'x', 'X', 'o', 'c':
		u := uint64(n)
		lenMod := cv.lenMod
		if !strings.Contains(lenMod, "l") && !strings.Contains(lenMod, "z") {
			u &= 0xffffffff
		} else if lenMod == "l" && k.PtrSize() == 4 {
			u &= 0xffffffff
		}
		verb := map[byte]string{'u': "d", 'x': "x", 'X': "X", 'o': "o", 'c': "c"}[cv.conv]
		if cv.conv == 'c' {
			fmt.Fprintf(b, "%"+spec+"c", rune(byte(u)))
		} else {
			fmt.Fprintf(b, "%"+spec+verb, u)
		}
	default:
		return false
	}
	return true
}

// ftFormatPointer writes a %p argument: %ps/%pf the symbol, %pS/%pF/%pB
// symbol+off/size, else hex.
func ftFormatPointer(b *strings.Builder, k *Kernel, cv *printfConv, v any) bool {
	n, ok := ftInt(v)
	if !ok {
		return false
	}
	switch cv.symbolExt() {
	case 's', 'f':
		b.WriteString(ftSym(k, uint64(n)))
	case 'S', 'F', 'B':
		if sym, off, ok := k.Image.SymbolAt(uint64(n)); ok {
			fmt.Fprintf(b, "%s+0x%x/0x%x", sym.Name, off, sym.Size)
		} else {
			fmt.Fprintf(b, "0x%x", uint64(n))
		}
	default:
		fmt.Fprintf(b, "%"+cv.spec+"x", uint64(n))
	}
	return true
}

func ftInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		return int64(x), true
	}
	return 0, false
}
