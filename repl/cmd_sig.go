package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// sigTask is one task of `sig`.
type sigTask struct {
	PID     int               `json:"pid"`
	Task    string            `json:"task"`
	Comm    string            `json:"comm"`
	Signals *kstructs.Signals `json:"signals"`
	Error   string            `json:"error,omitempty"`
	text    string
}

type sigResult struct {
	Tasks []sigTask `json:"tasks"`
}

func (r sigResult) Text(w io.Writer, s *Session) error {
	for _, t := range r.Tasks {
		if _, err := io.WriteString(w, t.text); err != nil {
			return err
		}
	}
	return nil
}

// saFlagNames are the SA_* bits crash names, in crash's order
// (include/uapi/asm-generic/signal-defs.h; SA_RESTORER from the
// architectures that have it, arch/*/include/uapi/asm/signal.h).
var saFlagNames = []struct {
	bit  uint64
	name string
}{{1, "SA_NOCLDSTOP"}, {0x04000000, "SA_RESTORER"}, {2, "SA_NOCLDWAIT"}, {4, "SA_SIGINFO"},
	{0x08000000, "SA_ONSTACK"}, {0x10000000, "SA_RESTART"}, {0x40000000, "SA_NODEFER"}, {0x80000000, "SA_RESETHAND"}}

func saFlags(f uint64) string {
	var names []string
	for _, n := range saFlagNames {
		if f&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "(" + strings.Join(names, "|") + ")"
}

func sigHandler(h uint64, ptr int) string {
	switch {
	case h == 0:
		return "SIG_DFL"
	case h == 1:
		return "SIG_IGN"
	case ptr == 4 && h == 0xffffffff, h == ^uint64(0):
		return "SIG_ERR"
	}
	return fmt.Sprintf("%x", h)
}

func (s *Session) sigText(t *kstructs.Task, sg *kstructs.Signals) string {
	var b strings.Builder
	b.WriteString(s.taskHeader(t, false))
	hw := s.hexWidth()
	uw := 10 // crash's UVADDR_PRLEN
	if hw == 8 {
		uw = 8
	}
	fmt.Fprintf(&b, "SIGNAL_STRUCT: %x  NR_THREADS: %d\n", sg.SignalStruct, sg.NrThreads)
	fmt.Fprintf(&b, " SIG %s %*s %s %s\n", crashCenter("SIGACTION", max(9, hw), false), uw, "HANDLER", crashCenter("MASK", 16, false), "FLAGS")
	for _, a := range sg.Actions {
		fmt.Fprintf(&b, "%4s %-*x %*s %016x %x %s\n", fmt.Sprintf("[%d]", a.Sig), hw, a.Addr, uw,
			sigHandler(a.Handler, s.K.PtrSize()), a.Mask, a.Flags, saFlags(a.Flags))
	}
	fmt.Fprintf(&b, "SIGPENDING: %s\n", map[bool]string{true: "yes", false: "no"}[sg.SigPending])
	fmt.Fprintf(&b, "   BLOCKED: %016x\n", sg.Blocked)
	queue := func(q []uint64) {
		if len(q) == 0 {
			b.WriteString("  SIGQUEUE: (empty)\n")
			return
		}
		b.WriteString("  SIGQUEUE: ")
		for i, e := range q {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%x", e)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "PRIVATE_PENDING\n    SIGNAL: %016x\n", sg.Pending)
	queue(sg.PendingQueue)
	fmt.Fprintf(&b, "SHARED_PENDING\n    SIGNAL: %016x\n", sg.Shared)
	queue(sg.SharedQueue)
	return b.String()
}

func sigCmd() *Command {
	return &Command{
		Name:     "sig",
		Synopsis: "sig [pid | task] ...",
		Summary:  "signal handlers, blocked and pending signals of tasks",
		Description: "Shows each task's thread group signal state as crash's sig does: the signal_struct and its " +
			"thread count, every signal's k_sigaction in sighand->action[] (handler: SIG_DFL, SIG_IGN or the " +
			"user address; blocked mask; SA_ flags by name), whether TIF_SIGPENDING is set, the blocked set, " +
			"and the task's private and the group's shared pending sets and queues. Without arguments, the " +
			"current context's task. --json gives the same per task.",
		Examples: []string{"sig", "sig 1", "sig 1 --json"},
		Run:      runSig,
	}
}

func runSig(s *Session, inv *Invocation) (Result, error) {
	tasks, err := s.argTasks(inv)
	if err != nil {
		return nil, err
	}
	r := sigResult{Tasks: []sigTask{}}
	for _, t := range tasks {
		st := sigTask{PID: t.PID, Task: s.addr(t.Addr), Comm: t.Comm}
		sg, err := s.K.Signals(t.Addr)
		st.Signals = sg
		if sg != nil {
			st.text = s.sigText(t, sg)
		}
		if err != nil {
			st.Error = err.Error()
			st.text += fmt.Sprintf("sig: %v\n", err)
		}
		r.Tasks = append(r.Tasks, st)
	}
	return r, nil
}
