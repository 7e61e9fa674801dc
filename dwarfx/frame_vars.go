package dwarfx

import (
	"debug/dwarf"
	"fmt"
	"sync"
)

// A frame's variables come from the unit whose code holds the frame's pc:
// the subprogram, inlined subroutines and lexical blocks holding the pc, and
// their DW_TAG_formal_parameter / DW_TAG_variable children. Only that unit
// is read (the per-unit debug/dwarf reader of dwarf.go), and what was read
// is cached by pc: a `foreach bt --locals` asks for the same few pcs
// (schedule, the syscall entries) thousands of times.

// frameCache holds the scope descriptions by link-time pc, and the CFI.
type frameCache struct {
	scopes  sync.Map // uint64 -> *pcScopes
	cfiOnce sync.Once
	cfi     *cfiTable
	cfiErr  error
}

// pcScopes is what the unit says about one pc, innermost scope first.
type pcScopes struct {
	scopes []varScope
	err    error
}

// varScope is one function activation at a pc: the subprogram, or a
// function inlined into it.
type varScope struct {
	function string
	inlined  bool
	vars     []varDesc
}

// unitCtx is what evaluating a unit's location lists needs.
type unitCtx struct {
	base    uint64 // DW_AT_low_pc of the unit (link-time)
	vers    uint8
	addrBas uint64 // DW_AT_addr_base, for DW_LLE_*x entries
}

// varDesc is one parameter or local as DWARF declares it.
type varDesc struct {
	name      string
	param     bool
	typ       dwarf.Type
	loc       any // []byte: a location expression; int64: a location list offset; nil: none
	constVal  any // DW_AT_const_value
	frameBase any // the enclosing subprogram's DW_AT_frame_base
	unit      *unitCtx
	dieOff    uint64 // .debug_info offset, for errors
}

// scopesAt returns the variable scopes at link-time address a, innermost
// first, reading the unit once per pc.
func (im *Image) varScopesAt(a uint64) ([]varScope, error) {
	if v, ok := im.frames.scopes.Load(a); ok {
		ps := v.(*pcScopes)
		return ps.scopes, ps.err
	}
	ps := &pcScopes{}
	ps.scopes, ps.err = im.readVarScopes(a)
	im.frames.scopes.Store(a, ps)
	return ps.scopes, ps.err
}

func (im *Image) readVarScopes(a uint64) ([]varScope, error) {
	uoff, ok := im.unitAt(a)
	if !ok {
		return nil, fmt.Errorf("no debug information covers %#x", a+im.kaslr.Load())
	}
	ui, _ := im.unitIndex(uoff)
	c, err := im.dwarfFor(uoff)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &scopeWalk{im: im, c: c, a: a, unit: &unitCtx{vers: im.idx.units[ui].vers}}
	if err := w.run(uoff); err != nil {
		return nil, err
	}
	out := make([]varScope, 0, len(w.open))
	for i := len(w.open) - 1; i >= 0; i-- {
		out = append(out, w.open[i].scope)
	}
	return out, nil
}

// scopeWalk walks one unit's tree, descending only into the scopes whose
// code holds a.
type scopeWalk struct {
	im   *Image
	c    *cuDwarf
	a    uint64
	unit *unitCtx
	open []openScope // subprogram and inlined scopes holding a, outermost first
	live []int       // indexes in open of the scopes the walk is inside
	fb   any
}

type openScope struct {
	scope varScope
	depth int // depth of the scope's children
}

func (w *scopeWalk) run(uoff uint64) error {
	r := w.c.d.Reader()
	r.Seek(dwarf.Offset(uoff - w.c.base))
	cu, err := r.Next()
	if err != nil || cu == nil {
		return fmt.Errorf("dwarfx: unit at .debug_info+%#x: %v", uoff, err)
	}
	w.unit.base, _ = cu.Val(dwarf.AttrLowpc).(uint64)
	if ab, ok := cu.Val(dwarf.AttrAddrBase).(int64); ok {
		w.unit.addrBas = uint64(ab)
	}
	depth := 0
	for steps := 0; steps < 1<<22; steps++ {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("dwarfx: unit at .debug_info+%#x: %w", uoff, err)
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			if depth--; depth < 0 {
				break
			}
			for len(w.live) > 0 && w.open[w.live[len(w.live)-1]].depth > depth {
				w.live = w.live[:len(w.live)-1]
			}
			continue
		}
		if w.visit(r, e, depth) {
			depth++
		}
	}
	return nil
}

// visit handles one entry at depth; true if the walk descends into it.
func (w *scopeWalk) visit(r *dwarf.Reader, e *dwarf.Entry, depth int) bool {
	switch e.Tag {
	case dwarf.TagFormalParameter, dwarf.TagVariable:
		if len(w.live) > 0 {
			top := &w.open[w.live[len(w.live)-1]].scope
			top.vars = append(top.vars, w.varOf(e))
		}
	case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
		if !w.c.holds(e, w.a) {
			break
		}
		if e.Tag == dwarf.TagLexDwarfBlock {
			return e.Children
		}
		if e.Tag == dwarf.TagSubprogram {
			w.fb = locAttr(e, dwarf.AttrFrameBase)
		}
		s := scopeOf(e)
		w.open = append(w.open, openScope{scope: varScope{function: w.c.scopeName(s), inlined: s.inlined}, depth: depth + 1})
		if !e.Children {
			return false
		}
		w.live = append(w.live, len(w.open)-1)
		return true
	}
	if e.Children {
		r.SkipChildren()
	}
	return false
}

// locAttr returns attribute at as a location: an expression or a list offset.
func locAttr(e *dwarf.Entry, at dwarf.Attr) any {
	switch v := e.Val(at).(type) {
	case []byte:
		return v
	case int64:
		return v
	}
	return nil
}

// varOf describes a parameter or variable entry, taking its name and type
// from its abstract origin when it is an inlined or out-of-line instance.
func (w *scopeWalk) varOf(e *dwarf.Entry) varDesc {
	v := varDesc{param: e.Tag == dwarf.TagFormalParameter, frameBase: w.fb, unit: w.unit,
		dieOff: uint64(e.Offset) + w.c.base, loc: locAttr(e, dwarf.AttrLocation), constVal: e.Val(dwarf.AttrConstValue)}
	src := e
	for i := 0; i < 4 && src != nil; i++ {
		if v.name == "" {
			v.name, _ = src.Val(dwarf.AttrName).(string)
		}
		if v.typ == nil {
			if to, ok := src.Val(dwarf.AttrType).(dwarf.Offset); ok {
				v.typ, _ = w.c.d.Type(to)
			}
		}
		if v.constVal == nil {
			v.constVal = src.Val(dwarf.AttrConstValue)
		}
		o, ok := src.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok || (v.name != "" && v.typ != nil) {
			break
		}
		r := w.c.d.Reader()
		r.Seek(o)
		src, _ = r.Next()
	}
	return v
}
