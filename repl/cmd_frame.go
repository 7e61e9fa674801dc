package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
	"github.com/kinspect/kinspect/kstructs"
)

// Frames with their arguments and locals: bt --args / --locals, and the
// frame / args / locals commands on the context task's frames, whose
// variables `p` resolves before globals.

// frameSel is the frame `frame N` selected, for the task it belongs to.
type frameSel struct {
	task  uint64
	level int
}

// frameVarJSON is one argument or local, typed.
type frameVarJSON struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Value  *jsonNode `json:"value,omitempty"`
	Status string    `json:"status,omitempty"`

	text string
}

// frameVarsJSON renders vars (arguments when args, locals otherwise).
func (s *Session) frameVarsJSON(vars []dwarfx.FrameVar, args bool) []frameVarJSON {
	var out []frameVarJSON
	for _, v := range vars {
		if v.Param != args {
			continue
		}
		j := frameVarJSON{Name: v.Name, Type: gdbType(v.Type), Status: v.Status, text: v.Status}
		if v.Value.IsValid() {
			n := s.decoder().decodeValue(v.Value, "")
			p := newGDBPrinter(s, s.Vars.Radix)
			p.top(n)
			j.text = p.String()
			if v.Status != "" {
				j.text += " " + v.Status
			}
			j.Value = s.jsonNode(n, s.Vars.Radix)
		}
		out = append(out, j)
	}
	return out
}

func writeFrameVars(w io.Writer, label string, vars []frameVarJSON) {
	for _, v := range vars {
		fmt.Fprintf(w, "    %s%s %s = %s\n", label, strings.TrimSpace(v.Type), v.Name, strings.ReplaceAll(v.text, "\n", "\n    "))
	}
}

// contextFrames returns the context task's frames with their variables.
func (s *Session) contextFrames() (*kstructs.Task, []kstructs.FrameVars, error) {
	t, err := s.contextTask()
	if err != nil {
		return nil, nil, err
	}
	bt, err := s.K.Backtrace(t.Addr)
	if err != nil {
		return nil, nil, err
	}
	fv, err := s.K.BacktraceVars(bt)
	return t, fv, err
}

// selectedFrame is the frame `frame N` chose, frame 0 otherwise.
func (s *Session) selectedFrame() (kstructs.FrameVars, error) {
	t, fv, err := s.contextFrames()
	if err != nil {
		return kstructs.FrameVars{}, err
	}
	lvl := 0
	if s.frame != nil && s.frame.task == t.Addr {
		lvl = s.frame.level
	}
	if lvl >= len(fv) {
		return kstructs.FrameVars{}, fmt.Errorf("no frame %d (the backtrace has %d)", lvl, len(fv))
	}
	return fv[lvl], nil
}

// frameLookup resolves an identifier in the selected frame's scope.
func (s *Session) frameLookup(name string) (dwarfx.Value, bool) {
	if s.frame == nil {
		return dwarfx.Value{}, false
	}
	f, err := s.selectedFrame()
	if err != nil {
		return dwarfx.Value{}, false
	}
	for _, v := range f.Vars {
		if v.Name == name && v.Value.IsValid() {
			return v.Value.WithName(name), true
		}
	}
	return dwarfx.Value{}, false
}

func frameCmd() *Command {
	return &Command{
		Name:     "frame",
		Synopsis: "frame [N]",
		Summary:  "select a frame of the context task",
		Description: `Selects frame N (as numbered by bt --args, inlined functions included) of the
context task's backtrace; without N shows the selected frame. Then args and
locals print that frame's variables, and p resolves names in its scope before
globals.`,
		Examples: []string{"frame 2", "frame"},
		Run:      runFrame,
	}
}

type frameResult struct {
	Level    int            `json:"level"`
	Function string         `json:"function"`
	PC       string         `json:"pc"`
	File     string         `json:"file,omitempty"`
	Line     int            `json:"line,omitempty"`
	Inline   bool           `json:"inline,omitempty"`
	Args     []frameVarJSON `json:"args,omitempty"`
	Locals   []frameVarJSON `json:"locals,omitempty"`
	Error    string         `json:"error,omitempty"`
	show     string         // "args", "locals" or "" (the frame line only)
}

func runFrame(s *Session, inv *Invocation) (Result, error) {
	t, err := s.contextTask()
	if err != nil {
		return nil, err
	}
	if len(inv.Args) > 0 {
		n, err := strconv.Atoi(inv.Args[0])
		if err != nil || n < 0 {
			return nil, &UsageError{"frame", fmt.Sprintf("bad frame number %q", inv.Args[0])}
		}
		prev := s.frame
		s.frame = &frameSel{task: t.Addr, level: n}
		if _, err := s.selectedFrame(); err != nil {
			s.frame = prev
			return nil, err
		}
	}
	return s.frameResult("")
}

func (s *Session) frameResult(show string) (Result, error) {
	f, err := s.selectedFrame()
	if err != nil {
		return nil, err
	}
	r := frameResult{Level: f.Frame.Level, Function: f.Frame.Function, PC: s.addr(f.Frame.PC), File: f.Frame.File,
		Line: f.Frame.Line, Inline: f.Frame.Inline, Error: f.Err, show: show}
	if show == "args" {
		r.Args = s.frameVarsJSON(f.Vars, true)
	}
	if show == "locals" {
		r.Locals = s.frameVarsJSON(f.Vars, false)
	}
	return r, nil
}

func (r frameResult) Text(w io.Writer, s *Session) error {
	if r.show == "" {
		fmt.Fprintf(w, "#%d  %s at %s", r.Level, r.Function, r.PC)
		if r.File != "" {
			fmt.Fprintf(w, " %s:%d", r.File, r.Line)
		}
		fmt.Fprintln(w)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%s: %s\n", r.Function, r.Error)
	}
	vars := append(r.Args, r.Locals...)
	if r.show != "" && len(vars) == 0 {
		fmt.Fprintf(w, "No %s.\n", r.show)
	}
	writeFrameVars(w, "", vars)
	return nil
}

func argsCmd() *Command {
	return &Command{
		Name:     "args",
		Synopsis: "args",
		Summary:  "arguments of the selected frame",
		Description: `Prints the arguments of the frame selected with frame (frame 0 of the context
task by default): name, type and value, <optimized out> where the location list
does not cover the pc, <unavailable> where a register it needs was not saved.`,
		Examples: []string{"args"},
		Run:      func(s *Session, _ *Invocation) (Result, error) { return s.frameResult("args") },
	}
}

func localsCmd() *Command {
	return &Command{
		Name:        "locals",
		Synopsis:    "locals",
		Summary:     "local variables of the selected frame",
		Description: `Prints the local variables of the frame selected with frame, like args.`,
		Examples:    []string{"locals"},
		Run:         func(s *Session, _ *Invocation) (Result, error) { return s.frameResult("locals") },
	}
}

// addFrameVars fills a bt frame's variables as --args / --locals ask.
func (s *Session) addFrameVars(jf *btFrame, fv kstructs.FrameVars, flags map[string]bool) {
	jf.VarsError = fv.Err
	if flags["args"] {
		jf.Args = s.frameVarsJSON(fv.Vars, true)
	}
	if flags["locals"] {
		jf.Locals = s.frameVarsJSON(fv.Vars, false)
	}
}

// cfiCheck is bt --check: the frames whose caller CFI confirms, and those
// where it differs or has no answer.
type cfiCheck struct {
	Agree    int                    `json:"agree"`
	Mismatch []kstructs.CFIMismatch `json:"mismatch,omitempty"`
	Error    string                 `json:"error,omitempty"`
}

func (s *Session) checkCFI(bt *kstructs.Backtrace) *cfiCheck {
	n, bad, err := s.K.CheckCFI(bt)
	c := &cfiCheck{Agree: n, Mismatch: bad}
	if err != nil {
		c.Error = err.Error()
	}
	return c
}

func writeCFICheck(w io.Writer, c *cfiCheck) {
	if c == nil {
		return
	}
	if c.Error != "" {
		fmt.Fprintf(w, "bt: check: %s\n", c.Error)
		return
	}
	fmt.Fprintf(w, "bt: check: CFI gives the same caller for %d frames, not for %d\n", c.Agree, len(c.Mismatch))
	for _, m := range c.Mismatch {
		fmt.Fprintf(w, "bt: check: #%d %s: unwinder %x, CFI %x: %s\n", m.Level, m.Function, m.UnwinderPC, m.CFIPC, m.Reason)
	}
}
