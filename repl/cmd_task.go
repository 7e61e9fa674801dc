package repl

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// taskHeader is crash's print_task_header line (with its "\n" prefix when
// it is not the first header of a multi-task command).
func (s *Session) taskHeader(t *kstructs.Task, notFirst bool) string {
	prefix := ""
	if notFirst {
		prefix = "\n"
	}
	return fmt.Sprintf("%sPID: %-7d  TASK: %-*x  CPU: %-3s  COMMAND: \"%s\"\n",
		prefix, t.PID, s.hexWidth(), t.Addr, taskCPU(s, t), t.Comm)
}

// taskCPU is the processor as crash prints it: the number, or "?" when it
// is out of range.
func taskCPU(s *Session, t *kstructs.Task) string {
	if t.CPU < 0 || (s.K != nil && t.CPU >= 4096) {
		return "?"
	}
	return strconv.Itoa(t.CPU)
}

// taskSelector is one ps/foreach/task argument: a pid, a task address, a
// command name or a 'regex'.
type taskSelector struct {
	arg   string
	pid   int
	isPID bool
	addr  uint64
	isHex bool
	name  string
	re    *regexp.Regexp
}

// parseTaskSelectors interprets arguments the way crash does: a decimal
// number is a pid (if such a pid exists, else it is tried as an address), a
// hex number a task address, 'quoted' text a regular expression on the
// command name, anything else (a leading \ escapes) an exact command name.
func (s *Session) parseTaskSelectors(inv *Invocation, args []string) ([]taskSelector, error) {
	var out []taskSelector
	for _, a := range args {
		sel := taskSelector{arg: a}
		quoted := strings.Contains(inv.Line, "'"+a+"'")
		switch {
		case quoted:
			re, err := regexp.Compile(a)
			if err != nil {
				return nil, &UsageError{inv.Cmd.Name, fmt.Sprintf("invalid regular expression '%s': %v", a, err)}
			}
			sel.re = re
		case strings.HasPrefix(a, `\`):
			sel.name = a[1:]
		default:
			if n, err := strconv.Atoi(a); err == nil && n >= 0 {
				if len(s.K.TasksByPID(n)) > 0 {
					sel.pid, sel.isPID = n, true
					break
				}
			}
			h := strings.TrimPrefix(strings.ToLower(a), "0x")
			if v, err := strconv.ParseUint(h, 16, 64); err == nil && (len(h) >= 4 || strings.HasPrefix(strings.ToLower(a), "0x")) {
				sel.addr, sel.isHex = v, true
				break
			}
			if n, err := strconv.Atoi(a); err == nil {
				return nil, fmt.Errorf("invalid task or pid value: %d", n)
			}
			sel.name = a
		}
		out = append(out, sel)
	}
	return out, nil
}

// matches reports whether t is selected.
func (sel taskSelector) matches(t *kstructs.Task) bool {
	switch {
	case sel.re != nil:
		return sel.re.MatchString(t.Comm)
	case sel.isPID:
		return t.PID == sel.pid
	case sel.isHex:
		return t.Addr == sel.addr
	}
	return t.Comm == sel.name
}

// selectTasks returns the tasks matching any selector (all tasks if none),
// in crash's order; an address or pid that matches nothing is an error.
func (s *Session) selectTasks(sels []taskSelector) ([]*kstructs.Task, error) {
	all, err := s.K.Tasks()
	if err != nil {
		return nil, err
	}
	if len(sels) == 0 {
		return all, nil
	}
	var out []*kstructs.Task
	for _, sel := range sels {
		n := 0
		for _, t := range all {
			if sel.matches(t) {
				out = append(out, t)
				n++
			}
		}
		if n == 0 && sel.isHex {
			// Not in the task list: read it as a task_struct anyway (a task
			// lost from corrupt lists is still worth showing).
			t, err := s.K.ReadTask(sel.addr)
			if err != nil || t.Comm == "" {
				return nil, fmt.Errorf("invalid task or pid value: %s", sel.arg)
			}
			out = append(out, t)
			n++
		}
		if n == 0 && (sel.isPID || sel.isHex) {
			return nil, fmt.Errorf("invalid task or pid value: %s", sel.arg)
		}
	}
	return dedupTasks(out), nil
}

func dedupTasks(ts []*kstructs.Task) []*kstructs.Task {
	seen := map[uint64]bool{}
	out := ts[:0:0]
	for _, t := range ts {
		if !seen[t.Addr] {
			seen[t.Addr] = true
			out = append(out, t)
		}
	}
	return out
}

// taskResult is `task`: per task the header and the task_struct in gdb's
// format (whole, or only the -R members).
type taskResult struct {
	Tasks []taskDump `json:"tasks"`
}

type taskDump struct {
	PID     int               `json:"pid"`
	Task    string            `json:"task"`
	CPU     int               `json:"cpu"`
	Comm    string            `json:"comm"`
	Members map[string]string `json:"members,omitempty"` // -R: member → gdb text
	Struct  string            `json:"struct,omitempty"`  // the gdb text of the whole struct
	header  string
	body    string
}

func (r taskResult) Text(w io.Writer, s *Session) error {
	for _, t := range r.Tasks {
		io.WriteString(w, t.header)
		io.WriteString(w, t.body)
	}
	return nil
}

func taskCmd() *Command {
	return &Command{
		Name:     "task",
		Synopsis: "task [-R member[,member]] [-x|-d] [-t] [pid|taskp ...]",
		Summary:  "task_struct contents of the context task or of the given tasks",
		Description: "Prints the task header and the task_struct of each task (the context task by default) " +
			"in gdb's format. -R shows only the named top-level members. -t shows the task in " +
			"Trace32's Var.View layout instead (as v.v %l %t %h %s).",
		Examples: []string{"task", "task -R pid,comm,se 1", "task -x ffff888100a58000", "task -t 1"},
		Flags: []Flag{
			{Short: "R", Arg: "MEMBERS", Help: "only these members (comma-separated; may repeat)"},
			{Short: "x", Help: "hexadecimal output"},
			{Short: "d", Help: "decimal output"},
			{Short: "t", Help: "Trace32 Var.View layout (v.v %l %t %h %s of the task)"},
		},
		Complete: ArgTask,
		Run:      runTask,
	}
}

func runTask(s *Session, inv *Invocation) (Result, error) {
	var tasks []*kstructs.Task
	if len(inv.Args) == 0 {
		t, err := s.contextTask()
		if err != nil {
			return nil, err
		}
		tasks = []*kstructs.Task{t}
	} else {
		sels, err := s.parseTaskSelectors(inv, inv.Args)
		if err != nil {
			return nil, err
		}
		if tasks, err = s.selectTasks(sels); err != nil {
			return nil, err
		}
	}
	if inv.Has("t") {
		if len(tasks) != 1 {
			return nil, &UsageError{"task", "-t shows one task at a time"}
		}
		return s.vviewTask(tasks[0].Addr, nil)
	}
	radix := flagRadix(inv)
	var members []string
	if inv.Has("R") {
		for _, m := range strings.Split(inv.Flag("R"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
	}
	tt, err := s.K.Image.Type("struct task_struct")
	if err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	res := taskResult{}
	for _, t := range tasks {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		n := s.decoder().decodeAt("", tt, t.Addr)
		if n.Err != nil {
			return nil, fmt.Errorf("reading task_struct at %s: %w", s.addr(t.Addr), n.Err)
		}
		d := taskDump{PID: t.PID, Task: s.addr(t.Addr), CPU: t.CPU, Comm: t.Comm}
		d.header = s.taskHeader(t, false)
		var body strings.Builder
		if len(members) == 0 {
			p := newGDBPrinter(s, radix)
			p.value(n, 0)
			d.Struct = p.String()
			body.WriteString("struct task_struct " + d.Struct + "\n")
			if ti := s.threadInfoText(t, radix); ti != "" {
				body.WriteString("\nstruct thread_info " + ti + "\n")
			}
			body.WriteString("\n")
		} else {
			d.Members = map[string]string{}
			for _, m := range members {
				k, _ := findKid(n, m)
				if k == nil {
					return nil, fmt.Errorf("invalid task_struct member: %s", m)
				}
				p := newGDBPrinter(s, radix)
				p.value(k, 1)
				d.Members[m] = p.String()
			}
			body.WriteString(s.memberBlocks(n, members, radix))
			body.WriteString("\n")
		}
		d.body = body.String()
		res.Tasks = append(res.Tasks, d)
	}
	return res, nil
}

// parseCPUList parses crash's cpu lists: "1,3-5", "all".
func parseCPUList(spec string, possible []int) ([]int, error) {
	if spec == "" || spec == "all" || spec == "a" {
		return append([]int(nil), possible...), nil
	}
	set := map[int]bool{}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("invalid cpu specification: %q", spec)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("invalid cpu specification: %q", spec)
			}
		}
		for c := a; c <= b; c++ {
			set[c] = true
		}
	}
	var out []int
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	valid := map[int]bool{}
	for _, c := range possible {
		valid[c] = true
	}
	for _, c := range out {
		if !valid[c] {
			return nil, fmt.Errorf("invalid cpu: %d (the kernel has cpus %v)", c, possible)
		}
	}
	return out, nil
}

// threadInfoText prints the task's struct thread_info as crash's task does
// ("" if the kernel has none or it cannot be read).
func (s *Session) threadInfoText(t *kstructs.Task, radix int) string {
	ti, err := s.K.Image.Type("struct thread_info")
	if err != nil || ti.Size() <= 0 {
		return ""
	}
	addr, ok := s.threadInfoAddr(t)
	if !ok {
		return ""
	}
	n := s.decoder().decodeAt("", ti, addr)
	if n.Err != nil {
		return ""
	}
	p := newGDBPrinter(s, radix)
	p.value(n, 0)
	return p.String()
}
