package repl

import (
	"fmt"
	"io"
	"strconv"

	"github.com/kinspect/kinspect/kstructs"
)

// contextTask is the session's current task (crash's `set`): the one set by
// the user, else the panic task, else the active task of the lowest CPU.
func (s *Session) contextTask() (*kstructs.Task, error) {
	if a := s.Vars.ContextTask; a != 0 {
		if t, err := s.K.TaskByAddr(a); err == nil {
			return t, nil
		}
		return s.K.ReadTask(a)
	}
	if t, err := s.K.PanicTask(); err == nil {
		s.Vars.ContextTask = t.Addr
		return t, nil
	}
	act, err := s.K.ActiveTasks()
	if err != nil {
		return nil, err
	}
	if len(act) == 0 {
		return nil, fmt.Errorf("no panic task and no active task: use 'set PID' to choose a context")
	}
	s.Vars.ContextTask = act[0].Addr
	return act[0], nil
}

// contextResult is crash's show_context block.
type contextResult struct {
	PID        int    `json:"pid"`
	Comm       string `json:"comm"`
	Task       string `json:"task"`
	ThreadInfo string `json:"thread_info,omitempty"`
	Dup        int    `json:"duplicates,omitempty"` // the pid is shared by that many tasks (pid 0)
	DupIndex   int    `json:"duplicate_index,omitempty"`
	CPU        int    `json:"cpu"`
	State      string `json:"state"`
	Marker     string `json:"marker,omitempty"` // PANIC, ACTIVE
	header     string // foreach set prints the task header first
}

func (r contextResult) Text(w io.Writer, s *Session) error {
	io.WriteString(w, r.header)
	fmt.Fprintf(w, "    PID: %d\n", r.PID)
	fmt.Fprintf(w, "COMMAND: \"%s\"\n", r.Comm)
	fmt.Fprintf(w, "   TASK: %s  ", r.Task)
	if r.Dup > 1 {
		fmt.Fprintf(w, "(%d of %d)  ", r.DupIndex, r.Dup)
	}
	if r.ThreadInfo != "" {
		fmt.Fprintf(w, "[THREAD_INFO: %s]", r.ThreadInfo)
	}
	fmt.Fprintln(w)
	cpu := "(unknown)"
	if r.CPU >= 0 {
		cpu = strconv.Itoa(r.CPU)
	}
	fmt.Fprintf(w, "    CPU: %s\n", cpu)
	fmt.Fprintf(w, "  STATE: %s ", r.State)
	if r.Marker != "" {
		fmt.Fprintf(w, "(%s)", r.Marker)
	}
	fmt.Fprintln(w)
	return nil
}

// contextOf builds the show_context block of t.
func (s *Session) contextOf(t *kstructs.Task) contextResult {
	r := contextResult{PID: t.PID, Comm: t.Comm, Task: fmt.Sprintf("%x", t.Addr), CPU: t.CPU}
	if tiAddr, ok := s.threadInfoAddr(t); ok {
		r.ThreadInfo = fmt.Sprintf("%x", tiAddr)
	}
	if same := s.K.TasksByPID(t.PID); len(same) > 1 {
		r.Dup = len(same)
		for i, x := range same {
			if x.Addr == t.Addr {
				r.DupIndex = i + 1
			}
		}
	}
	r.State = s.K.StateVerbose(t)
	switch {
	case t.Panic:
		r.Marker = "PANIC"
	case t.Active:
		r.Marker = "ACTIVE"
	}
	return r
}

// threadInfoAddr is what crash shows as THREAD_INFO: &task->thread_info
// with THREAD_INFO_IN_TASK, else the base of the kernel stack.
func (s *Session) threadInfoAddr(t *kstructs.Task) (uint64, bool) {
	if _, err := s.K.Image.Type("struct thread_info"); err != nil {
		return 0, false
	}
	if off, ok := s.K.TaskMemberOffset("thread_info"); ok {
		return t.Addr + off, true
	}
	return t.Stack, t.Stack != 0
}

func contextCmd() *Command {
	return &Command{
		Name:     "set",
		Synopsis: "set [pid | taskp | -c cpu | -p] | set radix [10|16] | set scroll [on|off]",
		Summary:  "show or set the current task context; session variables",
		Description: "Without arguments, shows the current context task. With a pid or task address, " +
			"makes that task the context (bt, task, vm... default to it). -c CPU selects the task active on " +
			"that CPU, -p the panic task. 'set radix 16' and 'set scroll off' change session variables " +
			"(without a value they show it, as crash does); " +
			"'set -v' lists them.",
		Examples: []string{"set", "set 1", "set -c 2", "set -p", "set radix 16"},
		Flags: []Flag{
			{Short: "c", Arg: "CPU", Help: "the task active on CPU"},
			{Short: "p", Help: "the panic task"},
			{Short: "v", Help: "show the session variables"},
		},
		Complete: ArgTask,
		Run:      runSet,
	}
}

func runSet(s *Session, inv *Invocation) (Result, error) {
	if ok, err := s.setVariable(inv.Args); ok {
		if err != nil {
			return nil, err
		}
		return setVars{Radix: s.Vars.Radix, Scroll: s.Vars.Scroll, only: inv.Args[0]}, nil
	}
	if inv.Has("v") {
		return setVars{Radix: s.Vars.Radix, Scroll: s.Vars.Scroll}, nil
	}
	var t *kstructs.Task
	var err error
	switch {
	case inv.Has("p"):
		if t, err = s.K.PanicTask(); err != nil {
			return nil, err
		}
	case inv.Has("c"):
		cpu, cerr := strconv.Atoi(inv.Flag("c"))
		if cerr != nil {
			return nil, &UsageError{"set", fmt.Sprintf("invalid cpu %q", inv.Flag("c"))}
		}
		if t, err = s.K.ActiveTask(cpu); err != nil {
			return nil, err
		}
	case len(inv.Args) == 1:
		sels, err := s.parseTaskSelectors(inv, inv.Args)
		if err != nil {
			return nil, err
		}
		ts, err := s.selectTasks(sels)
		if err != nil {
			return nil, err
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("invalid task or pid value: %s", inv.Args[0])
		}
		t = ts[0]
	case len(inv.Args) > 1:
		return nil, &UsageError{"set", "usage: set [pid | taskp | -c cpu | -p]"}
	default:
		if t, err = s.contextTask(); err != nil {
			return nil, err
		}
	}
	s.Vars.ContextTask = t.Addr
	return s.contextOf(t), nil
}
