package dwarfx

import (
	"debug/dwarf"
	"errors"
	"fmt"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/dwarf/loclist"
)

// Location expressions and lists are evaluated by delve's pkg/dwarf (op,
// loclist): DW_OP_breg*, fbreg, call_frame_cfa, piece, stack_value,
// implicit_value and the arithmetic ops. kinspect supplies the frame's
// registers (recovered by the kernel unwinders and CFI) and memory.

// Variable states that have no value (gdb's spelling).
const (
	OptimizedOut = "<optimized out>"
	Unavailable  = "<unavailable>"
)

// FrameRegs are one frame's registers by DWARF register number.
type FrameRegs struct {
	Vals  []uint64
	Known []bool
	// CFA is the frame's canonical frame address (the caller's stack
	// pointer before the call), 0 when unknown.
	CFA uint64
	// ReturnAddr is the return address CFI recovered for this frame (the
	// frame's pc when it is a caller), 0 when unknown.
	ReturnAddr uint64
}

// NewFrameRegs returns n registers, none known.
func NewFrameRegs(n int) *FrameRegs {
	return &FrameRegs{Vals: make([]uint64, n), Known: make([]bool, n)}
}

// Get returns register n and whether it is known.
func (r *FrameRegs) Get(n uint64) (uint64, bool) {
	if r == nil || n >= uint64(len(r.Vals)) || !r.Known[n] {
		return 0, false
	}
	return r.Vals[n], true
}

// Set records register n.
func (r *FrameRegs) Set(n uint64, v uint64) {
	if n < uint64(len(r.Vals)) {
		r.Vals[n], r.Known[n] = v, true
	}
}

// FrameVar is one parameter or local variable of a frame.
type FrameVar struct {
	Name  string
	Param bool
	Type  dwarf.Type
	// Value is the variable's value when its location gave one.
	Value Value
	// Status says why there is no Value, or which part of it is missing
	// ("<optimized out: bytes 8-15>" beside a Value): OptimizedOut (the pc is outside
	// every range of the location list, or there is no location),
	// Unavailable (a register the location needs was not recovered), or
	// what went wrong evaluating the location.
	Status string
}

// FrameScope is one function activation at a pc: the function owning the
// code, or one inlined into it.
type FrameScope struct {
	Function string
	Inlined  bool
	Vars     []FrameVar
}

// FrameVars returns the parameters and locals of the scopes holding pc (a
// run-time address; callers pass return address - 1 for frames that made
// a call), innermost first, with values located through regs and mem.
// entry, if not nil, gives the values registers had on entry (for
// DW_OP_entry_value), from the caller's call site.
func (im *Image) FrameVars(pc uint64, regs *FrameRegs, mem Memory, entry EntryValues) ([]FrameScope, error) {
	a := pc - im.kaslr.Load()
	scopes, err := im.varScopesAt(a)
	if err != nil {
		return nil, err
	}
	ev := &locEval{im: im, a: a, regs: regs, mem: mem, entry: entry}
	if len(scopes) > 0 {
		ev.callee = scopes[len(scopes)-1].function
	}
	out := make([]FrameScope, len(scopes))
	for i, s := range scopes {
		out[i] = FrameScope{Function: s.function, Inlined: s.inlined, Vars: make([]FrameVar, len(s.vars))}
		for j := range s.vars {
			out[i].Vars[j] = ev.variable(&s.vars[j])
		}
	}
	return out, nil
}

// locEval evaluates locations at one pc.
type locEval struct {
	im    *Image
	a     uint64 // link-time pc
	regs  *FrameRegs
	mem   Memory
	entry EntryValues
	// callee is the function the frame's caller called: the outermost
	// scope, whose entry values the call site gives.
	callee string
}

// errUnavailable marks a location needing a register that was not recovered.
var errUnavailable = errors.New(Unavailable)

func (ev *locEval) variable(d *varDesc) FrameVar {
	fv := FrameVar{Name: d.name, Param: d.param, Type: d.typ}
	if d.typ == nil {
		fv.Status = fmt.Sprintf("<no type at .debug_info+%#x>", d.dieOff)
		return fv
	}
	if d.loc == nil && d.constVal != nil {
		fv.Value = ev.constant(d.typ, d.constVal)
		return fv
	}
	expr, err := ev.expression(d.loc, d.unit)
	if err == nil && len(expr) == 0 {
		fv.Status = OptimizedOut
		return fv
	}
	if err == nil {
		fv.Value, err = ev.locate(d, expr)
	}
	var partial *PartialError
	switch {
	case errors.As(err, &partial):
		fv.Status = partial.Error()
	case errors.Is(err, errUnavailable):
		fv.Status = Unavailable
	case errors.Is(err, errEntryValue):
		fv.Status = OptimizedOut
	case errors.Is(err, errSynthetic):
		fv.Status = errSynthetic.Error()
	case err != nil:
		fv.Status = fmt.Sprintf("<error: %s at .debug_info+%#x>", err, d.dieOff)
	}
	return fv
}

func (ev *locEval) constant(t dwarf.Type, c any) Value {
	switch v := c.(type) {
	case int64:
		return ev.im.NewConst(t, uint64(v))
	case []byte:
		return NewConstBytes(t, v).WithImage(ev.im)
	}
	return Value{}
}

// expression returns the location expression in force at the pc: loc
// itself, or the entry of its location list covering the pc (nil: none).
func (ev *locEval) expression(loc any, u *unitCtx) (instr []byte, err error) {
	switch l := loc.(type) {
	case nil:
		return nil, nil
	case []byte:
		return l, nil
	case int64:
		defer func() {
			if r := recover(); r != nil {
				instr, err = nil, fmt.Errorf("location list at %#x: %v", l, r)
			}
		}()
		var e *loclist.Entry
		if u.vers >= 5 {
			rd := loclist.NewDwarf5Reader(ev.im.sects[".debug_loclists"])
			if rd == nil {
				return nil, errors.New("no .debug_loclists section")
			}
			e, err = rd.Find(int(l), 0, u.base, ev.a, ev.debugAddr(u))
		} else {
			data := ev.im.sects[".debug_loc"]
			if len(data) == 0 {
				return nil, errors.New("no .debug_loc section")
			}
			e, err = loclist.NewDwarf2Reader(data, ev.im.ptr).Find(int(l), 0, u.base, ev.a, nil)
		}
		if err != nil || e == nil {
			return nil, err
		}
		return e.Instr, nil
	}
	return nil, fmt.Errorf("unexpected location form %T", loc)
}

func (ev *locEval) debugAddr(u *unitCtx) *godwarf.DebugAddr {
	b := ev.im.sects[".debug_addr"]
	if len(b) == 0 {
		return nil
	}
	return godwarf.ParseAddr(b).GetSubsection(u.addrBas)
}
