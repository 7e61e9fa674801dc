package dwarfx

import (
	"debug/dwarf"
	"encoding/binary"
	"sort"
)

// The line-table and inline-scope service: which unit holds a pc
// (.debug_aranges, else the function index), the file:line of the pc
// (the unit's line program), and the functions inlined at it (the unit's
// DW_TAG_subprogram / DW_TAG_inlined_subroutine tree), for backtraces
// (bt -l) and anything else that symbolizes code addresses.

// arange is one address range of .debug_aranges: [lo, hi) belongs to the
// unit whose header is at .debug_info offset cu.
type arange struct {
	lo, hi uint64
	cu     uint64
}

// parseAranges reads .debug_aranges (DWARF 2-5, 32- and 64-bit formats),
// sorted by address. Malformed sets end the parse; what came before stays.
func parseAranges(b []byte, bo binary.ByteOrder) []arange {
	var out []arange
	for len(b) >= 16 {
		length := uint64(bo.Uint32(b))
		hdr := 4
		if length == 0xffffffff {
			length = bo.Uint64(b[4:])
			hdr = 12
		}
		if length > uint64(len(b)-hdr) {
			break
		}
		set := b[hdr : hdr+int(length)]
		b = b[hdr+int(length):]
		out = append(out, parseArangeSet(set, hdr, bo)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out
}

// parseArangeSet decodes one set after its unit_length (hdr bytes): version,
// debug_info_offset, address_size, segment_selector_size, then tuples
// aligned to twice the address size from the start of the set.
func parseArangeSet(set []byte, hdr int, bo binary.ByteOrder) []arange {
	off := 2 // version
	var cu uint64
	if hdr == 12 {
		if len(set) < off+8 {
			return nil
		}
		cu = bo.Uint64(set[off:])
		off += 8
	} else {
		if len(set) < off+4 {
			return nil
		}
		cu = uint64(bo.Uint32(set[off:]))
		off += 4
	}
	if len(set) < off+2 {
		return nil
	}
	asize, ssize := int(set[off]), int(set[off+1])
	off += 2
	if asize != 4 && asize != 8 {
		return nil
	}
	tuple := 2*asize + ssize*asize
	if r := (hdr + off) % (2 * asize); r != 0 {
		off += 2*asize - r
	}
	var out []arange
	for off+tuple <= len(set) {
		p := set[off+ssize*asize:]
		var lo, n uint64
		if asize == 8 {
			lo, n = bo.Uint64(p), bo.Uint64(p[8:])
		} else {
			lo, n = uint64(bo.Uint32(p)), uint64(bo.Uint32(p[4:]))
		}
		off += tuple
		if lo == 0 && n == 0 {
			break
		}
		out = append(out, arange{lo: lo, hi: lo + n, cu: cu})
	}
	return out
}

// unitAt returns the .debug_info offset of the unit whose code holds pc (a
// link-time address): .debug_aranges covers assembler units too (entry
// code), which define no functions; the function index is the fallback.
func (im *Image) unitAt(a uint64) (uint64, bool) {
	im.arangesOnce.Do(func() { im.aranges = parseAranges(im.sects[".debug_aranges"], im.order) })
	ar := im.aranges
	i := sort.Search(len(ar), func(i int) bool { return ar[i].lo > a }) - 1
	for j := i; j >= 0 && j >= i-8; j-- {
		if a >= ar[j].lo && a < ar[j].hi {
			if _, ok := im.unitIndex(ar[j].cu); ok {
				return ar[j].cu, true
			}
		}
	}
	f, ok := im.FunctionAt(a + im.kaslr.Load())
	if !ok || f.Offset == 0 {
		return 0, false
	}
	ui, ok := im.unitIndex(uint64(f.Offset))
	if !ok {
		return 0, false
	}
	return im.units[ui].off, true
}

// unitLines returns the unit's reader (locked: the caller unlocks c.mu)
// and its line table, read once.
func (im *Image) unitLines(uoff uint64) (*cuDwarf, *lineTable, bool) {
	c, err := im.dwarfFor(uoff)
	if err != nil {
		return nil, nil, false
	}
	c.mu.Lock()
	lt := c.lines[uoff]
	if lt == nil {
		lt = c.lineTable(uoff)
		if c.lines == nil {
			c.lines = make(map[uint64]*lineTable)
		}
		c.lines[uoff] = lt
	}
	return c, lt, true
}

// LineAt returns the source file and line of the instruction at pc (a
// run-time address), from the line table of the unit holding pc.
func (im *Image) LineAt(pc uint64) (file string, line int, ok bool) {
	a := pc - im.kaslr.Load()
	uoff, ok := im.unitAt(a)
	if !ok {
		return "", 0, false
	}
	c, lt, ok := im.unitLines(uoff)
	if !ok {
		return "", 0, false
	}
	defer c.mu.Unlock()
	return lt.at(a)
}

// InlinedCall is a function inlined at a pc: where in it the pc is.
type InlinedCall struct {
	Function string
	File     string
	Line     int
}

// Source is what the debug information says about one pc.
type Source struct {
	// Inlined are the functions inlined at the pc, innermost first, each
	// with the position in it (the innermost's from the line table, the
	// others' the call site of the one inside).
	Inlined []InlinedCall
	// File and Line are the position in the function that owns the code:
	// the line table's, or the call site of the outermost inlined function.
	// Empty when the line table has no row for the pc.
	File string
	Line int
}

// SourceAt symbolizes pc (a run-time address): its file:line and the
// functions inlined at it. false: no unit's debug information covers pc.
// Answers are cached by address: foreach bt -l / --locals asks for the same
// few pcs (schedule, syscall entries) for every task.
func (im *Image) SourceAt(pc uint64) (Source, bool) {
	a := pc - im.kaslr.Load()
	if v, ok := im.frames.sources.Load(a); ok {
		c := v.(cachedSource)
		return c.src, c.ok
	}
	src, ok := im.sourceAt(a)
	im.frames.sources.Store(a, cachedSource{src, ok})
	return src, ok
}

type cachedSource struct {
	src Source
	ok  bool
}

func (im *Image) sourceAt(a uint64) (Source, bool) {
	uoff, ok := im.unitAt(a)
	if !ok {
		return Source{}, false
	}
	c, lt, ok := im.unitLines(uoff)
	if !ok {
		return Source{}, false
	}
	defer c.mu.Unlock()
	var src Source
	src.File, src.Line, _ = lt.at(a)
	chain := c.scopesAt(uoff, a)
	for i := len(chain) - 1; i >= 1 && chain[i].inlined; i-- {
		src.Inlined = append(src.Inlined, InlinedCall{Function: c.scopeName(chain[i]), File: src.File, Line: src.Line})
		src.File, src.Line = lt.file(chain[i].callFile), chain[i].callLine
	}
	return src, true
}

// lineTable is a unit's line program as its sequences, in program order.
// Sequences may come in any address order (kernels with .sched.text or
// .init.text) and may even overlap (arm's vector page and its Spectre-BHB
// copies are all linked at 0xffff0000): the first sequence covering an
// address wins, as a reader of the program in order would find.
type lineTable struct {
	seqs  []lineSeq
	files []string // by lineRow.file
	// table is the unit's file table as DW_AT_call_file numbers it.
	table []string
}

// lineSeq is one sequence: rows in non-decreasing address order covering
// [lo, hi), hi being its end_sequence address.
type lineSeq struct {
	lo, hi uint64
	rows   []lineRow
}

type lineRow struct {
	addr uint64
	line int32
	file int32
}

// at returns the row covering link-time address a: in the first sequence
// that covers a, the last row at or below a.
func (lt *lineTable) at(a uint64) (string, int, bool) {
	for _, sq := range lt.seqs {
		if a < sq.lo || a >= sq.hi {
			continue
		}
		i := sort.Search(len(sq.rows), func(i int) bool { return sq.rows[i].addr > a }) - 1
		if i >= 0 {
			r := sq.rows[i]
			return lt.files[r.file], int(r.line), true
		}
	}
	return "", 0, false
}

// file names entry i of the unit's file table, "" if there is none.
func (lt *lineTable) file(i int) string {
	if i >= 0 && i < len(lt.table) {
		return lt.table[i]
	}
	return ""
}

func (c *cuDwarf) lineTable(uoff uint64) *lineTable {
	lt := &lineTable{}
	r := c.d.Reader()
	r.Seek(dwarf.Offset(uoff - c.base))
	cu, err := r.Next()
	if err != nil || cu == nil {
		return lt
	}
	lr, err := c.d.LineReader(cu)
	if err != nil || lr == nil {
		return lt
	}
	fileIdx := map[*dwarf.LineFile]int32{}
	var e dwarf.LineEntry
	var cur []lineRow
	for lr.Next(&e) == nil {
		if e.EndSequence {
			if len(cur) > 0 && e.Address > cur[0].addr {
				lt.seqs = append(lt.seqs, lineSeq{lo: cur[0].addr, hi: e.Address, rows: cur})
			}
			cur = nil
			continue
		}
		fi, ok := fileIdx[e.File]
		if !ok {
			fi = int32(len(lt.files))
			name := ""
			if e.File != nil {
				name = e.File.Name
			}
			lt.files = append(lt.files, name)
			fileIdx[e.File] = fi
		}
		cur = append(cur, lineRow{addr: e.Address, line: int32(e.Line), file: fi})
	}
	for _, f := range lr.Files() {
		name := ""
		if f != nil {
			name = f.Name
		}
		lt.table = append(lt.table, name)
	}
	return lt
}

// scope is a subprogram or inlined subroutine whose code holds a pc.
type scope struct {
	name     string
	origin   dwarf.Offset // abstract_origin or specification, for the name
	inlined  bool
	callFile int
	callLine int
}

// scopesAt returns the subprogram and inlined-subroutine scopes of the
// unit at uoff that hold link-time address a, outermost first. It walks
// the unit's tree, descending only into entries whose code holds a.
func (c *cuDwarf) scopesAt(uoff, a uint64) []scope {
	r := c.d.Reader()
	r.Seek(dwarf.Offset(uoff - c.base))
	if _, err := r.Next(); err != nil { // the unit entry itself
		return nil
	}
	var chain []scope
	depth := 0
	for steps := 0; steps < 1<<22; steps++ {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			if depth--; depth < 0 {
				break
			}
			continue
		}
		isScope := e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine || e.Tag == dwarf.TagLexDwarfBlock
		if !isScope || !c.holds(e, a) {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		if e.Tag != dwarf.TagLexDwarfBlock {
			chain = append(chain, scopeOf(e))
		}
		if e.Children {
			depth++
		}
	}
	return chain
}

// holds reports whether entry e's code ranges contain a.
func (c *cuDwarf) holds(e *dwarf.Entry, a uint64) bool {
	rs, err := c.d.Ranges(e)
	if err != nil {
		return false
	}
	for _, rg := range rs {
		if a >= rg[0] && a < rg[1] {
			return true
		}
	}
	return false
}

func scopeOf(e *dwarf.Entry) scope {
	s := scope{inlined: e.Tag == dwarf.TagInlinedSubroutine}
	s.name, _ = e.Val(dwarf.AttrName).(string)
	if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
		s.origin = o
	} else if o, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok && s.name == "" {
		s.origin = o
	}
	if v, ok := e.Val(dwarf.AttrCallFile).(int64); ok {
		s.callFile = int(v)
	}
	if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
		s.callLine = int(v)
	}
	return s
}

// scopeName resolves a scope's name through abstract_origin and
// specification (at most four hops), caching by origin.
func (c *cuDwarf) scopeName(s scope) string {
	if s.name != "" {
		return s.name
	}
	if c.names == nil {
		c.names = map[dwarf.Offset]string{}
	}
	off := s.origin
	for i := 0; i < 4 && off != 0; i++ {
		if n, ok := c.names[off]; ok {
			return n
		}
		r := c.d.Reader()
		r.Seek(off)
		e, err := r.Next()
		if err != nil || e == nil {
			return ""
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			c.names[s.origin] = n
			return n
		}
		next, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			next, _ = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		off = next
	}
	return ""
}
