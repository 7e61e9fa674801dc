package dwarfx

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// cuDwarf is a debug/dwarf reader over a single unit: creating one costs
// only that unit's abbreviation table, and its type cache holds only that
// unit's types. Units using DW_FORM_ref_addr share a whole-section reader.
type cuDwarf struct {
	mu    sync.Mutex
	d     *dwarf.Data
	base  uint64                  // section offset that d's offset 0 corresponds to
	lines map[uint64]*lineTable   // by unit offset (several for a whole-section reader)
	names map[dwarf.Offset]string // scope names by abstract origin (lines.go)
}

// unitIndex returns the index of the unit holding section offset off.
func (im *Image) unitIndex(off uint64) (int, bool) {
	units := im.units
	i := sort.Search(len(units), func(i int) bool { return units[i].end > off })
	if i >= len(units) || off < units[i].off {
		return 0, false
	}
	return i, true
}

func (im *Image) dwarfFor(off uint64) (*cuDwarf, error) {
	ui, ok := im.unitIndex(off)
	if !ok {
		return nil, &FormatError{Section: ".debug_info", Offset: off, Msg: "offset outside every unit"}
	}
	im.dataMu.Lock()
	defer im.dataMu.Unlock()
	if c := im.cuData[ui]; c != nil {
		return c, nil
	}
	u := &im.units[ui]
	info := im.sects[".debug_info"]
	whole := unitUsesRefAddr(im, u)
	key := ui
	lo, hi := u.off, u.end
	if whole {
		key = -1
		if c := im.cuData[-1]; c != nil {
			im.cuData[ui] = c
			return c, nil
		}
		lo, hi = 0, uint64(len(info))
	}
	d, err := dwarf.New(im.sects[".debug_abbrev"], nil, nil, info[lo:hi], im.sects[".debug_line"], nil, im.sects[".debug_ranges"], im.sects[".debug_str"])
	if err != nil {
		return nil, fmt.Errorf("dwarfx: unit at .debug_info+%#x: %w", u.off, err)
	}
	for _, n := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
		if b := im.sects[n]; len(b) > 0 {
			d.AddSection(n, b)
		}
	}
	c := &cuDwarf{d: d, base: lo}
	im.cuData[key] = c
	im.cuData[ui] = c
	return c, nil
}

// unitUsesRefAddr reports whether u's abbreviations use DW_FORM_ref_addr
// (section-relative references), which a single-unit reader cannot follow.
func unitUsesRefAddr(im *Image, u *unitInfo) bool {
	s := &scanner{order: im.order, info: im.sects[".debug_info"], abbrev: im.sects[".debug_abbrev"]}
	tab, err := s.parseAbbrevs(u)
	if err != nil {
		return true
	}
	check := func(a *abbrev) bool {
		if a == nil {
			return false
		}
		for _, at := range a.attrs {
			if at.form == formRefAddr || at.form == formIndirect || at.form == formGNURefAlt {
				return true
			}
		}
		return false
	}
	for i := range tab.dense {
		if check(&tab.dense[i]) {
			return true
		}
	}
	for _, a := range tab.sparse {
		if check(a) {
			return true
		}
	}
	return false
}

// typeAt decodes the type whose DIE is at section offset off.
func (im *Image) typeAt(off uint64) (dwarf.Type, error) {
	c, err := im.dwarfFor(off)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.d.Type(dwarf.Offset(off - c.base))
	if err != nil {
		return nil, fmt.Errorf("dwarfx: type at .debug_info+%#x: %w", off, err)
	}
	return t, nil
}

// entryAt reads the DIE at section offset off.
func (im *Image) entryAt(off uint64) (*dwarf.Entry, *cuDwarf, error) {
	c, err := im.dwarfFor(off)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.d.Reader()
	r.Seek(dwarf.Offset(off - c.base))
	e, err := r.Next()
	if err != nil {
		return nil, nil, fmt.Errorf("dwarfx: DIE at .debug_info+%#x: %w", off, err)
	}
	if e == nil {
		return nil, nil, &FormatError{Section: ".debug_info", Offset: off, Msg: "no DIE"}
	}
	return e, c, nil
}

// typeOfDIE returns the DW_AT_type of the DIE at off, following
// DW_AT_specification / DW_AT_abstract_origin to find it.
func (im *Image) typeOfDIE(off uint64) (dwarf.Type, error) {
	for depth := 0; depth < 5; depth++ {
		e, c, err := im.entryAt(off)
		if err != nil {
			return nil, err
		}
		if t, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
			return im.typeAt(uint64(t) + c.base)
		}
		if e.Tag == dwarf.TagSubprogram {
			// A function: build its type from the DIE.
			return im.funcTypeAt(off)
		}
		ref, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		if !ok {
			ref, ok = e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		}
		if !ok {
			return &dwarf.VoidType{}, nil
		}
		off = uint64(ref) + c.base
	}
	return nil, &FormatError{Section: ".debug_info", Offset: off, Msg: "specification chain too long"}
}

// funcTypeAt builds the C function type of the subprogram DIE at off from its
// return type and formal parameters.
func (im *Image) funcTypeAt(off uint64) (dwarf.Type, error) {
	c, err := im.dwarfFor(off)
	if err != nil {
		return nil, err
	}
	// Walk to the DIE holding the parameters (the abstract origin for
	// concrete instances of inlined functions).
	var ret dwarf.Type = &dwarf.VoidType{}
	var params []dwarf.Type
	cur := off
	for depth := 0; depth < 5; depth++ {
		c.mu.Lock()
		r := c.d.Reader()
		r.Seek(dwarf.Offset(cur - c.base))
		e, err := r.Next()
		if err != nil || e == nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("dwarfx: subprogram at .debug_info+%#x: %v", cur, err)
		}
		var retOff, next dwarf.Offset
		hasRet, hasNext := false, false
		if t, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
			retOff, hasRet = t, true
		}
		if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
			next, hasNext = o, true
		} else if o, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
			next, hasNext = o, true
		}
		var poffs []dwarf.Offset
		variadic := false
		if e.Children {
			for {
				k, err := r.Next()
				if err != nil || k == nil || k.Tag == 0 {
					break
				}
				switch k.Tag {
				case dwarf.TagFormalParameter:
					if t, ok := k.Val(dwarf.AttrType).(dwarf.Offset); ok {
						poffs = append(poffs, t)
					}
				case dwarf.TagUnspecifiedParameters:
					variadic = true
				}
				if k.Children {
					r.SkipChildren()
				}
			}
		}
		c.mu.Unlock()
		if hasRet {
			t, err := im.typeAt(uint64(retOff) + c.base)
			if err != nil {
				return nil, err
			}
			ret = t
		}
		if len(poffs) > 0 || !hasNext {
			for _, p := range poffs {
				t, err := im.typeAt(uint64(p) + c.base)
				if err != nil {
					return nil, err
				}
				params = append(params, t)
			}
			if variadic {
				params = append(params, &dwarf.DotDotDotType{})
			}
			if !hasRet && hasNext {
				continue
			}
			break
		}
		cur = uint64(next) + c.base
	}
	ft := &dwarf.FuncType{ReturnType: ret, ParamType: params}
	ft.ByteSize = 1
	return ft, nil
}

// Var is a global variable.
type Var struct {
	Name   string
	Addr   uint64 // relocated by the KASLR offset (zero-based per-cpu addresses excepted)
	Type   dwarf.Type
	Decl   string       // "static" for a file-local variable, "" for a global one
	PerCPU bool         // lies in .data..percpu: Addr is a per-cpu offset/base, not a plain address
	Offset dwarf.Offset // DIE offset in .debug_info; 0 if the type came from a declaration only
}

// Variable finds the global variable called name. A global (extern)
// definition wins over static ones of the same name; a variable only
// declared in DWARF (defined by the linker script, e.g. jiffies) takes its
// address from the ELF symbol table.
func (im *Image) Variable(name string) (Var, error) {
	vs, err := im.variables(name, true)
	if err != nil {
		return Var{}, err
	}
	return vs[0], nil
}

// Variables returns every definition of name (static variables may share a
// name across files), globals first.
func (im *Image) Variables(name string) ([]Var, error) {
	return im.variables(name, false)
}

func (im *Image) variables(name string, first bool) ([]Var, error) {
	var final func(*index) bool
	if first {
		final = definedExt(false, name)
	}
	return im.variablesIn(im.names(final), name, first)
}

// variablesIn answers variables from idx (the index, or a run of units
// settling the question: lazy.go).
func (im *Image) variablesIn(idx *index, name string, first bool) ([]Var, error) {
	var out []Var
	if head, ok := idx.vars.get(name); ok {
		for i := head; i >= 0; i = idx.defs[i].next {
			d := &idx.defs[i]
			t, err := im.typeOfDIE(d.off)
			if err != nil {
				return nil, fmt.Errorf("variable %s: %w", name, err)
			}
			v := Var{Name: strings.Clone(name), Addr: im.reloc(d.lo), Type: t, Offset: dwarf.Offset(d.off)}
			if !d.ext {
				v.Decl = "static"
			}
			v.PerCPU = im.percpuHi > im.percpuLo && d.lo >= im.percpuLo && d.lo < im.percpuHi
			out = append(out, v)
			if first {
				return out, nil
			}
		}
		return out, nil
	}
	if c, ok := idx.types[typeKey{kVarDecl, name}]; ok {
		if sym, ok := im.Lookup(name); ok && addrBearing(sym.Kind) {
			t, err := im.typeOfDIE(c.off)
			if err != nil {
				return nil, fmt.Errorf("variable %s: %w", name, err)
			}
			link := sym.Addr
			if j, _ := im.syms.byName.get(name); !im.syms.all[j].noRel {
				link -= im.kaslr.Load()
			}
			v := Var{Name: strings.Clone(name), Addr: sym.Addr, Type: t}
			if !sym.Global() {
				v.Decl = "static"
			}
			v.PerCPU = im.percpuHi > im.percpuLo && link >= im.percpuLo && link < im.percpuHi
			return []Var{v}, nil
		}
	}
	return nil, &NotFoundError{What: "variable", Name: name}
}

// NotFoundError reports a name the image does not define.
type NotFoundError struct {
	What string // "variable", "function", "type", "symbol", "enum constant"
	Name string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("no %s '%s'", e.What, e.Name) }

// Func is a function with code in the image.
type Func struct {
	Name     string
	Low      uint64      // entry (relocated)
	High     uint64      // end of the entry range, exclusive (relocated)
	Ranges   [][2]uint64 // all code ranges (relocated); one range [Low, High) unless the function is split (hot/cold)
	External bool
	Offset   dwarf.Offset // DIE offset in .debug_info; 0 for a function known only from the symbol table
	NoDWARF  bool         // found only in the ELF symbol table (assembly)
}

func (im *Image) funcFromDef(idx *index, i int32) Func {
	d := &idx.defs[i]
	off := im.kaslr.Load()
	f := Func{Name: strings.Clone(d.name), Low: d.lo + off, High: d.hi + off, External: d.ext, Offset: dwarf.Offset(d.off)}
	if d.rng >= 0 {
		for _, r := range idx.ranges[d.rng] {
			f.Ranges = append(f.Ranges, [2]uint64{r[0] + off, r[1] + off})
		}
	} else {
		f.Ranges = [][2]uint64{{f.Low, f.High}}
	}
	if f.Name == "" {
		if s, o, ok := im.SymbolAt(f.Low); ok && o == 0 {
			f.Name = s.Name
		}
	}
	return f
}

// Function finds the function called name: a global definition first, then
// static ones; an assembly function without DWARF comes from the symbol table.
func (im *Image) Function(name string) (Func, error) {
	return im.functionIn(im.names(definedExt(true, name)), name)
}

// functionIn answers Function from idx (the index, or a run of units
// settling the question: lazy.go).
func (im *Image) functionIn(idx *index, name string) (Func, error) {
	if head, ok := idx.funcs.get(name); ok {
		return im.funcFromDef(idx, head), nil
	}
	if s, ok := im.Lookup(name); ok && (s.Kind == 'T' || s.Kind == 't' || s.Kind == 'W') {
		return Func{Name: s.Name, Low: s.Addr, High: s.Addr + s.Size, Ranges: [][2]uint64{{s.Addr, s.Addr + s.Size}}, External: s.Global(), NoDWARF: true}, nil
	}
	return Func{}, &NotFoundError{What: "function", Name: name}
}

// Functions returns every definition of name.
func (im *Image) Functions(name string) []Func {
	var out []Func
	idx := im.index()
	if head, ok := idx.funcs.get(name); ok {
		for i := head; i >= 0; i = idx.defs[i].next {
			out = append(out, im.funcFromDef(idx, i))
		}
	}
	return out
}

// FunctionAt finds the function whose code contains pc (a run-time address).
func (im *Image) FunctionAt(pc uint64) (Func, bool) {
	a := pc - im.kaslr.Load()
	idx := im.index()
	pcs := idx.pcs
	i := sort.Search(len(pcs), func(i int) bool { return pcs[i].lo > a })
	// Ranges may nest or overlap slightly; look back a little.
	for j := i - 1; j >= 0 && j >= i-16; j-- {
		if a >= pcs[j].lo && a < pcs[j].hi {
			return im.funcFromDef(idx, pcs[j].def), true
		}
	}
	// arm64 kernels built with -fpatchable-function-entry put NOPs between
	// the ELF symbol and DW_AT_low_pc: a pc there belongs to the function
	// whose symbol covers both.
	if i < len(pcs) && pcs[i].lo-a <= 32 {
		if s, _, ok := im.SymbolAt(pc); ok && s.IsText() && s.Addr <= pc && s.Addr+s.Size > pcs[i].lo+im.kaslr.Load() {
			return im.funcFromDef(idx, pcs[i].def), true
		}
	}
	return Func{}, false
}

// FuncType returns the C type of f (return and parameter types).
func (im *Image) FuncType(f Func) (*dwarf.FuncType, error) {
	if f.Offset == 0 {
		return nil, fmt.Errorf("function %s has no DWARF", f.Name)
	}
	t, err := im.funcTypeAt(uint64(f.Offset))
	if err != nil {
		return nil, err
	}
	return t.(*dwarf.FuncType), nil
}

// EnumConstant returns the value and enumeration type of the enumerator
// called name.
func (im *Image) EnumConstant(name string) (int64, dwarf.Type, bool) {
	c, ok := im.index().types[typeKey{kEnumerator, name}]
	if !ok {
		return 0, nil, false
	}
	t, err := im.typeAt(c.off)
	if err != nil {
		return 0, nil, false
	}
	// Prefer the enumerator's value as decoded (signedness resolved).
	if et, ok := t.(*dwarf.EnumType); ok {
		for _, v := range et.Val {
			if v.Name == name {
				return v.Val, t, true
			}
		}
	}
	return c.val, t, true
}

// IndexStats describes the name index.
type IndexStats struct {
	Units, DIEs                              int
	Types, Variables, Functions, Enumerators int
	PCRanges, Symbols                        int
}

// Stats counts what the index holds.
func (im *Image) Stats() IndexStats {
	idx := im.index()
	st := IndexStats{Units: len(idx.units), DIEs: int(idx.dies), Variables: idx.vars.len(), Functions: idx.funcs.len(), PCRanges: len(idx.pcs), Symbols: len(im.syms.all)}
	for k := range idx.types {
		switch k.kind {
		case kEnumerator:
			st.Enumerators++
		case kVarDecl:
		default:
			st.Types++
		}
	}
	return st
}

// PrepareCompletion builds the sorted name tables TypeNames and SymbolNames
// use. It runs once; call it in a goroutine right after Open so that the
// first completion does not pay for it.
func (im *Image) PrepareCompletion() {
	im.completion.Do(func() {
		idx := im.index()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			names := make([]string, 0, len(idx.types))
			for k := range idx.types {
				switch k.kind {
				case kStruct:
					names = append(names, "struct "+k.name)
				case kUnion:
					names = append(names, "union "+k.name)
				case kEnum:
					names = append(names, "enum "+k.name)
				case kTypedef, kBase:
					names = append(names, k.name)
				}
			}
			sortStrings(names)
			im.typeNamesSorted = arena(dedupSorted(names))
		}()
		names := make([]string, 0, len(im.syms.all)+idx.vars.len())
		for i := range im.syms.all {
			names = append(names, im.syms.all[i].name)
		}
		idx.vars.each(func(n string, _ int32) { names = append(names, n) })
		for k := range idx.types {
			if k.kind == kEnumerator {
				names = append(names, k.name)
			}
		}
		sortStrings(names)
		im.symNamesSorted = arena(dedupSorted(names))
		wg.Wait()
	})
}

// sortStrings sorts s with a multikey (three-way radix) quicksort, which
// compares each shared prefix byte once: kernel names share long prefixes
// ("__ksymtab_", "__initcall_") that make plain comparison sorts slow.
// The two halves of the first partition sort concurrently.
func sortStrings(s []string) {
	mkqsort(s, 0, 2)
}

func byteAt(s string, d int) int {
	if d < len(s) {
		return int(s[d])
	}
	return -1
}

func mkqsort(s []string, d int, par int) {
	for len(s) > 1 {
		if len(s) < 16 {
			// Insertion sort on the suffixes from d.
			for i := 1; i < len(s); i++ {
				for j := i; j > 0 && s[j][d:] < s[j-1][d:]; j-- {
					s[j], s[j-1] = s[j-1], s[j]
				}
			}
			return
		}
		// Median of three pivot byte.
		a, b, c := byteAt(s[0], d), byteAt(s[len(s)/2], d), byteAt(s[len(s)-1], d)
		pv := max(min(a, b), min(max(a, b), c))
		lt, gt, i := 0, len(s), 0
		for i < gt {
			switch c := byteAt(s[i], d); {
			case c < pv:
				s[lt], s[i] = s[i], s[lt]
				lt++
				i++
			case c > pv:
				gt--
				s[gt], s[i] = s[i], s[gt]
			default:
				i++
			}
		}
		lo, mid, hi := s[:lt], s[lt:gt], s[gt:]
		if par > 1 && len(s) > 1<<12 {
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				mkqsort(lo, d, 1)
			}()
			if pv >= 0 {
				mkqsort(mid, d+1, 1)
			}
			mkqsort(hi, d, 1)
			wg.Wait()
			return
		}
		mkqsort(lo, d, par)
		if pv >= 0 {
			mkqsort(mid, d+1, par)
		}
		s = hi
	}
}

// arena copies strings (which may alias the mapped file) into one heap
// block, so that they stay valid after Close and can be handed out as they
// are.
func arena(s []string) []string {
	n := 0
	for _, x := range s {
		n += len(x)
	}
	buf := make([]byte, 0, n)
	for _, x := range s {
		buf = append(buf, x...)
	}
	off := 0
	for i, x := range s {
		if len(x) > 0 {
			s[i] = unsafe.String(&buf[off], len(x))
		}
		off += len(x)
	}
	return s
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, n := range s {
		if i > 0 && n == s[i-1] {
			continue
		}
		out = append(out, n)
	}
	return out
}

func prefixRange(sorted []string, prefix string, max int) []string {
	var out []string
	j := sort.SearchStrings(sorted, prefix)
	end := j
	for end < len(sorted) && strings.HasPrefix(sorted[end], prefix) {
		end++
	}
	if max > 0 && end-j > max {
		end = j + max
	}
	out = append(out, sorted[j:end]...)
	return out
}

// TypeNames completes a type name: "struct ta" gives "struct task_struct",
// ...; a prefix without struct/union/enum matches typedefs and base types
// (and, spelled with their keyword, struct/union/enum tags).
func (im *Image) TypeNames(prefix string) []string {
	im.PrepareCompletion()
	p := strings.Join(strings.Fields(prefix), " ")
	if strings.HasSuffix(prefix, " ") && p != "" {
		p += " "
	}
	out := prefixRange(im.typeNamesSorted, p, 0)
	if !strings.HasPrefix(p, "struct ") && !strings.HasPrefix(p, "union ") && !strings.HasPrefix(p, "enum ") && p != "" {
		for _, kw := range []string{"struct ", "union ", "enum "} {
			out = append(out, prefixRange(im.typeNamesSorted, kw+p, 0)...)
		}
	}
	return out
}

// SymbolNames completes an identifier: ELF symbols, DWARF variables and
// enumeration constants starting with prefix, sorted.
func (im *Image) SymbolNames(prefix string) []string {
	im.PrepareCompletion()
	return prefixRange(im.symNamesSorted, prefix, 0)
}
