package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
)

// Source lines for backtraces (bt -l): the compile unit holding a pc comes
// from .debug_aranges, its line table gives file:line, and its
// DW_TAG_subprogram / DW_TAG_inlined_subroutine tree gives the functions
// inlined at the pc, which become frames of their own (as drgn shows them).
// dwarfx does not expose line tables, so this reader lives here.

type lineTable struct {
	d       *dwarf.Data
	order   binary.ByteOrder
	aranges []arange // sorted by lo

	mu    sync.Mutex
	units map[dwarf.Offset]*lineUnit
	names map[dwarf.Offset]string
}

type arange struct {
	lo, hi uint64
	cu     dwarf.Offset
}

type lineUnit struct {
	cu    *dwarf.Entry
	first dwarf.Offset // offset of the unit's entry
	files []*dwarf.LineFile
	rows  []dwarf.LineEntry // the whole line program, in order
	err   error
}

// scope is a subprogram or inlined subroutine with its code ranges.
type scope struct {
	depth    int
	name     string
	origin   dwarf.Offset
	inlined  bool
	callFile int
	callLine int
}

func (k *Kernel) lineTable() (*lineTable, error) {
	u, err := k.unwinder()
	if err != nil {
		return nil, err
	}
	u.linesM.Lock()
	defer u.linesM.Unlock()
	if u.lines != nil {
		return u.lines, nil
	}
	img := k.Image
	sec := func(n string) []byte { b, _ := img.SectionData(n); return b }
	d, err := dwarf.New(sec(".debug_abbrev"), nil, nil, sec(".debug_info"), sec(".debug_line"), nil, sec(".debug_ranges"), sec(".debug_str"))
	if err != nil {
		return nil, fmt.Errorf("reading DWARF line tables: %w", err)
	}
	for _, n := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
		if b := sec(n); len(b) > 0 {
			if err := d.AddSection(n, b); err != nil {
				return nil, fmt.Errorf("reading DWARF section %s: %w", n, err)
			}
		}
	}
	lt := &lineTable{d: d, order: img.ByteOrder(), units: map[dwarf.Offset]*lineUnit{}, names: map[dwarf.Offset]string{}}
	lt.aranges = parseAranges(sec(".debug_aranges"), lt.order)
	u.lines = lt
	return lt, nil
}

// parseAranges reads .debug_aranges (DWARF 2-5, 32- and 64-bit formats).
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
		off := 2 // version
		var cu uint64
		if hdr == 12 {
			if len(set) < off+8 {
				continue
			}
			cu = bo.Uint64(set[off:])
			off += 8
		} else {
			if len(set) < off+4 {
				continue
			}
			cu = uint64(bo.Uint32(set[off:]))
			off += 4
		}
		if len(set) < off+2 {
			continue
		}
		asize, ssize := int(set[off]), int(set[off+1])
		off += 2
		if asize != 4 && asize != 8 {
			continue
		}
		tuple := 2*asize + ssize*asize
		start := hdr + off
		if r := start % (2 * asize); r != 0 {
			off += 2*asize - r
		}
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
			out = append(out, arange{lo: lo, hi: lo + n, cu: dwarf.Offset(cu)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out
}

func (lt *lineTable) unitFor(pc uint64) (dwarf.Offset, bool) {
	i := sort.Search(len(lt.aranges), func(i int) bool { return lt.aranges[i].lo > pc }) - 1
	for j := i; j >= 0 && j >= i-8; j-- {
		if pc >= lt.aranges[j].lo && pc < lt.aranges[j].hi {
			return lt.aranges[j].cu, true
		}
	}
	return 0, false
}

// unit reads a compile unit's entry and file table once. off is the
// unit's header offset (as .debug_aranges gives it); debug/dwarf seeks to
// the first entry, after the header.
func (lt *lineTable) unit(off dwarf.Offset, info []byte) *lineUnit {
	if lu, ok := lt.units[off]; ok {
		return lu
	}
	lu := &lineUnit{}
	lt.units[off] = lu
	hdr, err := unitHeaderSize(info, uint64(off), lt.order)
	if err != nil {
		lu.err = err
		return lu
	}
	r := lt.d.Reader()
	r.Seek(off + dwarf.Offset(hdr))
	cu, err := r.Next()
	if err != nil || cu == nil {
		lu.err = fmt.Errorf("reading the compile unit at .debug_info+%#x: %v", off, err)
		return lu
	}
	lu.cu = cu
	lu.first = off + dwarf.Offset(hdr)
	if lr, err := lt.d.LineReader(cu); err == nil && lr != nil {
		var le dwarf.LineEntry
		for lr.Next(&le) == nil {
			lu.rows = append(lu.rows, le)
		}
		lu.files = lr.Files()
	}
	return lu
}

// lineAt finds the row covering pc. (debug/dwarf's SeekPC misses rows of
// the kernel's multi-sequence line programs, so the rows are scanned.)
func (lu *lineUnit) lineAt(pc uint64) (string, int) {
	for i := 0; i+1 < len(lu.rows); i++ {
		r := &lu.rows[i]
		if r.EndSequence || r.Address > pc {
			continue
		}
		if next := &lu.rows[i+1]; pc < next.Address && r.File != nil {
			return r.File.Name, r.Line
		}
	}
	return "", 0
}

// unitHeaderSize is the size of the unit header at off: DWARF 5 headers
// carry a unit type byte (and skeleton/type units more, not used by
// vmlinux compile units); the 64-bit format a 12-byte length.
func unitHeaderSize(info []byte, off uint64, bo binary.ByteOrder) (int, error) {
	if off+24 > uint64(len(info)) {
		return 0, fmt.Errorf("compile unit offset %#x is past .debug_info", off)
	}
	p := info[off:]
	lenSize, offSize := 4, 4
	if bo.Uint32(p) == 0xffffffff {
		lenSize, offSize = 12, 8
	}
	version := bo.Uint16(p[lenSize:])
	if version >= 5 {
		return lenSize + 2 + 1 + 1 + offSize, nil
	}
	return lenSize + 2 + offSize + 1, nil
}

// chainAt returns the subprogram and inlined-subroutine scopes containing
// pc, outermost first. It walks the unit's tree, descending only into
// entries whose code contains pc.
func (lt *lineTable) chainAt(lu *lineUnit, pc uint64) []scope {
	r := lt.d.Reader()
	r.Seek(lu.first)
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
			depth--
			if depth < 0 {
				break
			}
			continue
		}
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
			rs, err := lt.d.Ranges(e)
			in := false
			if err == nil {
				for _, rg := range rs {
					if pc >= rg[0] && pc < rg[1] {
						in = true
						break
					}
				}
			}
			if !in {
				if e.Children {
					r.SkipChildren()
				}
				continue
			}
			if e.Tag != dwarf.TagLexDwarfBlock {
				s := scope{depth: depth, inlined: e.Tag == dwarf.TagInlinedSubroutine}
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
				chain = append(chain, s)
			}
			if e.Children {
				depth++
			}
		default:
			if e.Children {
				r.SkipChildren()
			}
		}
	}
	return chain
}

// nameOf resolves a scope's name through abstract_origin/specification.
func (lt *lineTable) nameOf(s scope) string {
	if s.name != "" {
		return s.name
	}
	off := s.origin
	for i := 0; i < 4 && off != 0; i++ {
		if n, ok := lt.names[off]; ok {
			return n
		}
		r := lt.d.Reader()
		r.Seek(off)
		e, err := r.Next()
		if err != nil || e == nil {
			return ""
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			lt.names[s.origin] = n
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

func (lu *lineUnit) file(i int) string {
	if i >= 0 && i < len(lu.files) && lu.files[i] != nil {
		return lu.files[i].Name
	}
	return ""
}

// SymbolizeFrames returns frames with file:line filled in and the
// functions inlined at each pc inserted before it as Inline frames. Frames
// whose pc has no line information are returned as they were.
func (k *Kernel) SymbolizeFrames(frames []Frame) []Frame {
	lt, err := k.lineTable()
	if err != nil {
		return frames
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	kaslr := k.Image.KASLROffset()
	info, _ := k.Image.SectionData(".debug_info")
	var out []Frame
	for _, f := range frames {
		pc := f.PC - kaslr
		if f.IsReturn {
			pc-- // the call instruction's line
		}
		cuOff, ok := lt.unitFor(pc)
		if !ok {
			out = append(out, f)
			continue
		}
		lu := lt.unit(cuOff, info)
		if lu.cu == nil {
			out = append(out, f)
			continue
		}
		file, line := lu.lineAt(pc)
		chain := lt.chainAt(lu, pc)
		// Innermost inlined function first; each inlined scope's call site
		// is the line of the scope around it.
		for i := len(chain) - 1; i >= 1 && chain[i].inlined; i-- {
			g := f
			g.Inline, g.ExceptionRegs = true, nil
			g.Function, g.Offset = lt.nameOf(chain[i]), 0
			g.File, g.Line = file, line
			out = append(out, g)
			file, line = lu.file(chain[i].callFile), chain[i].callLine
		}
		f.File, f.Line = file, line
		out = append(out, f)
	}
	for i := range out {
		out[i].Level = i
	}
	return out
}
