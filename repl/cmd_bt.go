package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

func btCmd() *Command {
	return &Command{
		Name:     "bt",
		Synopsis: "bt [-a] [-c cpus] [-p] [-e] [-f] [-l] [-s] [-t] [pid | task | command] ...",
		Summary:  "backtrace of tasks",
		Description: `Shows the kernel call stack of the current context task, or of each task given
by pid, task_struct address or command name. A task that was running when the
dump was taken is unwound from its CPU's registers in the dump; the others from
the context the scheduler saved. x86_64 uses the kernel's ORC tables, arm64 the
frame records (frame pointers), arm the EHABI unwind tables. Where those find no
caller (no table entry, a frame record they cannot follow), the caller comes from
the DWARF call frame information (.debug_frame of the vmlinux, or of a module's
.ko loaded by mod -s or found beside the vmlinux) when it has a row for the
function: that frame is marked "(cfi)" ("unwinder": "cfi" in --json), and a
note says where the primary unwinder stopped.

Exception and syscall entries show the registers they saved; stack changes are
marked "--- <IRQ stack> ---". When an unwind stops before the stack's entry
point, the reason and the address are printed; bt -t then lists the text
addresses found on the stack. bt -e searches the task's stack (and, for a task
running on a CPU, that CPU's IRQ and exception stacks) for every position
holding a plausible struct pt_regs by the architecture's rule (crash's bt -e),
stale frames included.`,
		Examples: []string{"bt", "bt -a", "bt -p", "bt -l 1", "bt -f ffff888100a58000", "bt -c 0,2", "bt -t sh", "bt --args --locals"},
		Flags: []Flag{
			{Short: "a", Help: "the active task of every CPU"},
			{Short: "c", Arg: "cpus", Help: "the active task of the given CPUs (e.g. 0,2-3)"},
			{Short: "p", Help: "the panic task"},
			{Short: "e", Help: "search the stacks for exception frames (pt_regs) and show their registers"},
			{Short: "f", Help: "show the stack words of each frame"},
			{Short: "l", Help: "show file and line numbers, with inlined functions as frames"},
			{Short: "s", Help: "show function+offset"},
			{Short: "t", Help: "list every kernel text address found on the stack"},
			{Long: "args", Help: "show each frame's arguments (name, type, value), inlined functions as frames"},
			{Long: "locals", Help: "show each frame's local variables, inlined functions as frames"},
			{Long: "check", Help: "compare each caller with the one the DWARF call frame information (.debug_frame) gives"},
		},
		Complete: ArgTask,
		Run:      runBt,
	}
}

type btResult struct {
	Tasks []btTask `json:"tasks"`

	style kstructs.CrashStyle
	flags map[string]bool
}

type btTask struct {
	PID       int           `json:"pid"`
	Task      string        `json:"task"`
	CPU       int           `json:"cpu"`
	Comm      string        `json:"comm"`
	Active    bool          `json:"active"`
	Frames    []btFrame     `json:"frames"`
	Stopped   string        `json:"stopped,omitempty"`
	Notes     []string      `json:"notes,omitempty"`
	Error     string        `json:"error,omitempty"`
	TextWords []btStackWord `json:"text_words,omitempty"`
	CFICheck  *cfiCheck     `json:"cfi_check,omitempty"`
	Eframes   []btEframe    `json:"exception_frames,omitempty"`

	task *kstructs.Task
	bt   *kstructs.Backtrace
	// words holds each frame's raw stack words for -f.
	words map[int][]uint64
}

type btFrame struct {
	Level         int            `json:"level"`
	SP            string         `json:"sp"`
	PC            string         `json:"pc"`
	FP            string         `json:"fp"`
	Function      string         `json:"function"`
	Offset        uint64         `json:"offset"`
	Module        string         `json:"module,omitempty"`
	File          string         `json:"file,omitempty"`
	Line          int            `json:"line,omitempty"`
	Inline        bool           `json:"inline,omitempty"`
	Stack         string         `json:"stack"`
	ExceptionRegs *btRegs        `json:"exception_regs,omitempty"`
	Unwinder      string         `json:"unwinder,omitempty"`
	Words         []string       `json:"words,omitempty"`
	Args          []frameVarJSON `json:"args,omitempty"`
	Locals        []frameVarJSON `json:"locals,omitempty"`
	VarsError     string         `json:"vars_error,omitempty"`
	frame         kstructs.Frame
}

type btRegs struct {
	Addr    string            `json:"addr,omitempty"`
	User    bool              `json:"user"`
	Partial bool              `json:"partial,omitempty"`
	Regs    map[string]string `json:"regs"`
}

type btStackWord struct {
	Addr     string `json:"addr"`
	Value    string `json:"value"`
	Function string `json:"function"`
	Offset   uint64 `json:"offset"`
}

func runBt(s *Session, inv *Invocation) (Result, error) {
	k := s.K
	var tasks []*kstructs.Task
	switch {
	case inv.Has("a"):
		act, err := k.ActiveTasks()
		if err != nil {
			return nil, err
		}
		tasks = act
	case inv.Has("c"):
		possible, err := k.PossibleCPUs()
		if err != nil {
			return nil, err
		}
		cpus, err := parseCPUList(inv.Flag("c"), possible)
		if err != nil {
			return nil, &UsageError{"bt", err.Error()}
		}
		for _, c := range cpus {
			t, err := k.ActiveTask(c)
			if err != nil {
				return nil, fmt.Errorf("cpu %d: %w", c, err)
			}
			tasks = append(tasks, t)
		}
	case inv.Has("p"):
		t, err := k.PanicTask()
		if err != nil {
			return nil, err
		}
		tasks = []*kstructs.Task{t}
	case len(inv.Args) > 0:
		sels, err := s.parseTaskSelectors(inv, inv.Args)
		if err != nil {
			return nil, err
		}
		if tasks, err = s.selectTasks(sels); err != nil {
			return nil, err
		}
	default:
		t, err := s.contextTask()
		if err != nil {
			return nil, err
		}
		tasks = []*kstructs.Task{t}
	}
	res := &btResult{style: k.CrashStyle(), flags: map[string]bool{}}
	for _, f := range []string{"e", "f", "l", "s", "t", "args", "locals", "check"} {
		res.flags[f] = inv.Has(f)
	}
	for _, t := range tasks {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		if res.flags["e"] {
			res.Tasks = append(res.Tasks, s.btEframes(t))
			continue
		}
		res.Tasks = append(res.Tasks, s.btOne(t, res.flags))
	}
	return res, nil
}

// btOne unwinds one task and prepares what the flags ask for.
func (s *Session) btOne(t *kstructs.Task, flags map[string]bool) btTask {
	k := s.K
	out := btTask{PID: t.PID, Task: s.addr(t.Addr), CPU: t.CPU, Comm: t.Comm, task: t, words: map[int][]uint64{}}
	bt, err := k.Backtrace(t.Addr)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.bt = bt
	out.Active = bt.Active
	out.Stopped = bt.Stopped
	out.Notes = bt.Notes
	frames := bt.Frames
	var vars []kstructs.FrameVars
	switch {
	case flags["args"] || flags["locals"]:
		if vars, err = k.BacktraceVars(bt); err != nil {
			out.Error = err.Error()
		}
		frames = frames[:0:0]
		for _, v := range vars {
			frames = append(frames, v.Frame)
		}
	case flags["l"]:
		frames = k.SymbolizeFrames(frames)
	}
	for i, f := range frames {
		jf := btFrame{Level: f.Level, SP: s.addr(f.SP), PC: s.addr(f.PC), FP: s.addr(f.FP), Function: f.Function,
			Offset: f.Offset, Module: f.Module, File: f.File, Line: f.Line, Inline: f.Inline, Stack: f.Stack, Unwinder: f.Unwinder, frame: f}
		if r := f.ExceptionRegs; r != nil {
			jf.ExceptionRegs = s.jsonRegs(r)
		}
		if flags["f"] && !f.Inline {
			if ws, ok := s.frameWords(bt, frames, i); ok {
				out.words[i] = ws
				for _, w := range ws {
					jf.Words = append(jf.Words, s.addr(w))
				}
			}
		}
		if vars != nil {
			s.addFrameVars(&jf, vars[i], flags)
		}
		out.Frames = append(out.Frames, jf)
	}
	if flags["check"] {
		out.CFICheck = s.checkCFI(bt)
	}
	if flags["t"] {
		sp := uint64(0)
		if len(bt.Frames) > 0 {
			sp = bt.Frames[0].SP
		}
		words, err := k.StackTextWords(t.Addr, sp)
		if err != nil {
			out.Error = err.Error()
		}
		for _, w := range words {
			out.TextWords = append(out.TextWords, btStackWord{Addr: s.addr(w.Addr), Value: s.addr(w.Value), Function: w.Function, Offset: w.Offset})
		}
	}
	return out
}

// jsonRegs is a register set for --json.
func (s *Session) jsonRegs(r *kstructs.Regs) *btRegs {
	jr := &btRegs{User: r.User, Partial: r.Partial, Regs: map[string]string{}}
	if r.Addr != 0 {
		jr.Addr = s.addr(r.Addr)
	}
	for j, n := range r.RegNames() {
		jr.Regs[n] = s.addr(r.Values[j])
	}
	for n, v := range r.Extra {
		jr.Regs[n] = s.addr(v)
	}
	return jr
}

// frameWords reads the stack words from frame i's stack address up to the
// next frame's on the same stack (bt -f).
func (s *Session) frameWords(bt *kstructs.Backtrace, frames []kstructs.Frame, i int) ([]uint64, bool) {
	f := frames[i]
	var next uint64
	for j := i + 1; j < len(frames); j++ {
		if !frames[j].Inline {
			next = frames[j].SP
			if frames[j].Stack != f.Stack {
				next = 0
			}
			break
		}
	}
	if next == 0 && f.Stack == "task" {
		next = bt.StackTop
	}
	if next <= f.SP || next-f.SP > 4096 {
		return nil, false
	}
	ws, err := s.K.ReadStackWords(f.SP, next)
	if err != nil {
		return nil, false
	}
	return ws, true
}

func (r *btResult) Text(w io.Writer, s *Session) error {
	for i, t := range r.Tasks {
		if t.task != nil {
			io.WriteString(w, s.taskHeader(t.task, i > 0))
		}
		if t.Error != "" && t.bt == nil {
			fmt.Fprintf(w, "bt: %s\n", t.Error)
			continue
		}
		if r.flags["t"] {
			r.textWords(w, s, t)
			continue
		}
		if r.flags["e"] {
			r.textEframes(w, s, t)
			continue
		}
		r.textFrames(w, s, t)
		for _, n := range t.Notes {
			fmt.Fprintf(w, "bt: note: %s\n", n)
		}
		if t.Stopped != "" {
			fmt.Fprintf(w, "bt: %s\n", t.Stopped)
		}
		writeCFICheck(w, t.CFICheck)
	}
	return nil
}

// textWords is bt -t.
func (r *btResult) textWords(w io.Writer, s *Session, t btTask) {
	start := "(unknown)"
	pc := uint64(0)
	if len(t.bt.Frames) > 0 {
		f := t.bt.Frames[0]
		start, pc = f.Function, f.PC
	}
	fmt.Fprintf(w, "%sSTART: %s at %x\n", strings.Repeat(" ", map[int]int{16: 14, 8: 6}[s.hexWidth()]), start, pc)
	for _, sw := range t.TextWords {
		fmt.Fprintf(w, "  [%*s] %s at %s\n", s.hexWidth(), strings.TrimLeft(sw.Addr, "0"), sw.Function, strings.TrimLeft(sw.Value, "0"))
	}
	if t.Error != "" {
		fmt.Fprintf(w, "bt: %s\n", t.Error)
	}
}

func stackMarker(kind string) string {
	switch kind {
	case "irq":
		return "--- <IRQ stack> ---"
	case "overflow":
		return "--- <Overflow stack> ---"
	case "task", "unknown", "":
		return ""
	}
	return "--- <" + kind + " stack> ---"
}

func (r *btResult) funcName(s *Session, f kstructs.Frame) string {
	name := f.Function
	if name == "" {
		return "(unknown)"
	}
	if r.flags["s"] {
		if s.Vars.Radix == 16 {
			name += fmt.Sprintf("+0x%x", f.Offset)
		} else {
			name += fmt.Sprintf("+%d", f.Offset)
		}
	}
	return name
}

func (r *btResult) textFrames(w io.Writer, s *Session, t btTask) {
	for i, jf := range t.Frames {
		f := jf.frame
		prefix := ""
		if f.Level < 10 {
			prefix = " "
		}
		if r.style.FromLines {
			from := uint64(0)
			for j := i + 1; j < len(t.Frames); j++ {
				if !t.Frames[j].frame.Inline {
					from = t.Frames[j].frame.PC
					break
				}
			}
			if f.ExceptionRegs != nil {
				from = f.ExceptionRegs.PC()
			}
			fn := r.funcName(s, f)
			if f.Module != "" {
				fn += " [" + f.Module + "]" // crash: "(kt_do_oops [kinspect_test]) from"
			}
			fmt.Fprintf(w, "%s#%d [<%08x>] (%s) from [<%08x>]%s\n", prefix, f.Level, f.PC, fn, from, unwinderMark(f))
		} else {
			pc := f.PC
			if f.IsReturn {
				pc -= r.style.CallSiteBack // crash shows the branch, not the return address
			}
			fn := r.funcName(s, f)
			if f.Inline {
				fn += " (inlined)"
			}
			mod := ""
			if f.Module != "" {
				mod = " [" + f.Module + "]"
			}
			fmt.Fprintf(w, "%s#%d [%x] %s at %x%s%s\n", prefix, f.Level, f.SP, fn, pc, mod, unwinderMark(f))
		}
		if r.flags["l"] && f.File != "" {
			fmt.Fprintf(w, "    %s: %d\n", f.File, f.Line)
		}
		if jf.VarsError != "" {
			fmt.Fprintf(w, "    (no variables: %s)\n", jf.VarsError)
		}
		writeFrameVars(w, "", jf.Args)
		writeFrameVars(w, "", jf.Locals)
		if ws := t.words[i]; len(ws) > 0 {
			writeFrameWords(w, s, f.SP, ws)
		}
		if f.ExceptionRegs != nil {
			writeExceptionRegs(w, s, r.style, f.ExceptionRegs)
		}
		if i+1 < len(t.Frames) && t.Frames[i+1].frame.Stack != f.Stack {
			if m := stackMarker(f.Stack); m != "" {
				fmt.Fprintln(w, m)
			}
		}
	}
}

// unwinderMark flags a frame the primary unwinder did not find: "(cfi)",
// a caller recovered from the callee's DWARF call frame information.
func unwinderMark(f kstructs.Frame) string {
	if f.Unwinder == "" {
		return ""
	}
	return " (" + f.Unwinder + ")"
}

func writeFrameWords(w io.Writer, s *Session, sp uint64, ws []uint64) {
	per := 2
	if s.hexWidth() == 8 {
		per = 4
	}
	ps := uint64(s.K.PtrSize())
	for i := 0; i < len(ws); i += per {
		fmt.Fprintf(w, "    %x:", sp+uint64(i)*ps)
		for j := i; j < i+per && j < len(ws); j++ {
			fmt.Fprintf(w, " %s", s.addr(ws[j]))
		}
		fmt.Fprintln(w)
	}
}

// writeExceptionRegs prints a pt_regs the way crash does for the arch.
func writeExceptionRegs(w io.Writer, s *Session, style kstructs.CrashStyle, r *kstructs.Regs) {
	style.WriteRegs(w, r, func(pc uint64) string {
		if n, ok := s.symOff(pc); ok {
			return n // crash leaves "+0" out
		}
		return "unknown"
	})
}
