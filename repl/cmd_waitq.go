package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// waitqResult is `waitq`: the tasks waiting on a wait queue.
type waitqResult struct {
	Head    string                    `json:"wait_queue_head"`
	Name    string                    `json:"name,omitempty"`
	Entries []kstructs.WaitQueueEntry `json:"entries"`
	tasks   []*kstructs.Task
	Error   string `json:"error,omitempty"`
}

func (r waitqResult) Text(w io.Writer, s *Session) error {
	var b strings.Builder
	if len(r.Entries) == 0 && r.Error == "" {
		if r.Name != "" {
			fmt.Fprintf(&b, "wait queue %q (%s) is empty\n", r.Name, strings.TrimLeft(r.Head, "0"))
		} else {
			fmt.Fprintf(&b, "wait queue %s is empty\n", strings.TrimLeft(r.Head, "0"))
		}
	}
	for i, e := range r.Entries {
		if t := r.tasks[i]; t != nil {
			b.WriteString(s.taskHeader(t, false))
		} else {
			fmt.Fprintf(&b, "wait_queue_entry %x: private %x is not a task\n", e.Addr, e.Task)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "waitq: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func waitqCmd() *Command {
	return &Command{
		Name:     "waitq",
		Synopsis: "waitq SYMBOL | STRUCT.MEMBER ADDRESS | ADDRESS",
		Summary:  "tasks waiting on a wait queue",
		Description: "Lists the tasks on a wait queue (struct wait_queue_head: each wait_queue_entry's private task), " +
			"as crash's waitq does. The queue is a variable (waitq log_wait), a member of a structure at an " +
			"address (waitq signal_struct.wait_chldexit ADDR) or the wait_queue_head's address. --json gives " +
			"the entries (wait_queue_entry, task, wake function).",
		Examples: []string{"waitq log_wait", "waitq signal_struct.wait_chldexit ffff8880045e2c40"},
		Run:      runWaitq,
	}
}

func runWaitq(s *Session, inv *Invocation) (Result, error) {
	head, name, err := s.waitqHead(inv.Args)
	if err != nil {
		return nil, err
	}
	r := waitqResult{Head: s.addr(head), Name: name, Entries: []kstructs.WaitQueueEntry{}}
	entries, err := s.K.WaitQueue(head)
	if entries == nil && err != nil {
		return nil, err
	}
	if err != nil {
		r.Error = err.Error()
	}
	tasks, _ := s.K.Tasks()
	byAddr := map[uint64]*kstructs.Task{}
	for _, t := range tasks {
		byAddr[t.Addr] = t
	}
	for _, e := range entries {
		r.Entries = append(r.Entries, e)
		r.tasks = append(r.tasks, byAddr[e.Task])
	}
	return r, nil
}

// waitqHead resolves waitq's arguments to a wait_queue_head address.
func (s *Session) waitqHead(args []string) (uint64, string, error) {
	switch {
	case len(args) == 1 && !strings.Contains(args[0], "."):
		if v, err := s.K.Image.Variable(args[0]); err == nil {
			return v.Addr, args[0], nil
		}
		a, err := s.resolveAddress(args[0])
		return a, "", err
	case len(args) == 2 && strings.Contains(args[0], "."):
		st, member, _ := strings.Cut(args[0], ".")
		t, err := s.K.Image.Type("struct " + st)
		if err != nil {
			return 0, "", err
		}
		f, err := s.K.Image.Member(t, member)
		if err != nil {
			return 0, "", err
		}
		a, err := s.resolveAddress(args[1])
		if err != nil {
			return 0, "", err
		}
		return a + uint64(f.ByteOffset), "", nil
	}
	return 0, "", &UsageError{"waitq", "give a wait queue variable, STRUCT.MEMBER ADDRESS, or an address"}
}
