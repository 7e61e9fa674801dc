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
	sources sync.Map // uint64 -> cachedSource (lines.go)
	cfiOnce sync.Once
	cfi     *cfiTable
	cfiErr  error
	// modCFI are the modules' .debug_frame tables (AddModuleCFI), at
	// run-time addresses.
	modMu  sync.Mutex
	modCFI []*cfiTable
}

// pcScopes is what the unit says about one pc, innermost scope first, and,
// when the pc is a call's last byte (a return address - 1), the values the
// call site says the caller passed in registers.
type pcScopes struct {
	scopes []varScope
	params []callParam
	err    error
}

// callParam is a DW_TAG_call_site_parameter: the callee's register reg
// held the value of expression value (in the caller's frame) at the call.
type callParam struct {
	callee    string // the function called (DW_AT_call_origin), "" for an indirect call
	reg       uint64
	value     []byte
	frameBase any
	unit      *unitCtx
}

// varScope is one function activation at a pc: the subprogram, or a
// function inlined into it.
type varScope struct {
	function string
	inlined  bool
	noReturn bool // DW_AT_noreturn: the function saves no callee-saved register it will not restore
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
	ps := im.readVarScopes(a)
	im.frames.scopes.Store(a, ps)
	return ps.scopes, ps.err
}

// callParamsAt returns the call-site parameters of the call ending at
// link-time address a.
func (im *Image) callParamsAt(a uint64) []callParam {
	if _, err := im.varScopesAt(a); err != nil {
		return nil
	}
	v, _ := im.frames.scopes.Load(a)
	return v.(*pcScopes).params
}

func (im *Image) readVarScopes(a uint64) *pcScopes {
	uoff, ok := im.unitAt(a)
	if !ok {
		return &pcScopes{err: fmt.Errorf("no debug information covers %#x", a+im.kaslr.Load())}
	}
	ui, _ := im.unitIndex(uoff)
	c, err := im.dwarfFor(uoff)
	if err != nil {
		return &pcScopes{err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &scopeWalk{im: im, c: c, a: a, unit: &unitCtx{vers: im.units[ui].vers}}
	if err := w.run(uoff); err != nil {
		return &pcScopes{err: err}
	}
	out := &pcScopes{scopes: make([]varScope, 0, len(w.open)), params: w.params}
	for i := len(w.open) - 1; i >= 0; i-- {
		out.scopes = append(out.scopes, w.open[i].scope)
	}
	return out
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
	// params are the parameters of the call site returning to a+1.
	params []callParam
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
	case dwarf.TagCallSite, tagGNUCallSite:
		if e.Children && len(w.live) > 0 && w.returnsTo(e) {
			w.readCallParams(r, w.calleeOf(e))
			return false
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
		nr, _ := e.Val(dwarf.AttrNoreturn).(bool)
		w.open = append(w.open, openScope{scope: varScope{function: w.c.scopeName(s), inlined: s.inlined, noReturn: nr}, depth: depth + 1})
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

// GCC's DWARF 4 call-site extension (DW_TAG_GNU_call_site and friends),
// which DWARF 5 standardised.
const (
	tagGNUCallSite          dwarf.Tag  = 0x4109
	tagGNUCallSiteParameter dwarf.Tag  = 0x410a
	attrGNUCallSiteValue    dwarf.Attr = 0x2111
)

// returnsTo reports whether call site e returns to a+1 (DWARF 5's
// DW_AT_call_return_pc; GCC's DWARF 4 extension puts it in DW_AT_low_pc).
func (w *scopeWalk) returnsTo(e *dwarf.Entry) bool {
	ret, ok := e.Val(dwarf.AttrCallReturnPC).(uint64)
	if !ok {
		ret, ok = e.Val(dwarf.AttrLowpc).(uint64)
	}
	return ok && ret == w.a+1
}

// calleeOf names the function call site e calls (DW_AT_call_origin; GCC's
// DWARF 4 extension uses DW_AT_abstract_origin).
func (w *scopeWalk) calleeOf(e *dwarf.Entry) string {
	o, ok := e.Val(dwarf.AttrCallOrigin).(dwarf.Offset)
	if !ok {
		o, ok = e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	}
	if !ok {
		return ""
	}
	return w.c.scopeName(scope{origin: o})
}

// readCallParams reads a call site's children: the parameters whose
// location is a register and whose value the caller knows.
func (w *scopeWalk) readCallParams(r *dwarf.Reader, callee string) {
	for {
		e, err := r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			return
		}
		if e.Children {
			r.SkipChildren()
		}
		if e.Tag != dwarf.TagCallSiteParameter && e.Tag != tagGNUCallSiteParameter {
			continue
		}
		loc, _ := e.Val(dwarf.AttrLocation).([]byte)
		val, ok := e.Val(dwarf.AttrCallValue).([]byte)
		if !ok {
			val, ok = e.Val(attrGNUCallSiteValue).([]byte)
		}
		if reg, isReg := singleRegister(loc); isReg && ok {
			w.params = append(w.params, callParam{callee: callee, reg: reg, value: val, frameBase: w.fb, unit: w.unit})
		}
	}
}

// singleRegister decodes a location that is one register (DW_OP_regN or
// DW_OP_regx N).
func singleRegister(loc []byte) (uint64, bool) {
	switch {
	case len(loc) == 1 && loc[0] >= opReg0 && loc[0] <= opReg31:
		return uint64(loc[0] - opReg0), true
	case len(loc) > 1 && loc[0] == opRegx:
		n, p := uleb(loc, 1)
		return n, p == len(loc)
	}
	return 0, false
}

// noReturnAt reports whether the function owning the code at link-time
// address a is declared noreturn (DW_AT_noreturn): GCC saves no
// callee-saved register in one, since it never returns to restore it, so
// in its caller those registers hold whatever it left there.
func (im *Image) noReturnAt(a uint64) bool {
	scopes, err := im.varScopesAt(a)
	return err == nil && len(scopes) > 0 && scopes[len(scopes)-1].noReturn
}
