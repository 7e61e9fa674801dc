package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// foreachItem is one task's output in foreach's JSON.
type foreachItem struct {
	PID    int             `json:"pid"`
	Task   string          `json:"task"`
	Comm   string          `json:"comm"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type foreachResult struct {
	Command string        `json:"command"`
	Tasks   []foreachItem `json:"tasks"`
	preformatted
}

var foreachStates = map[string]bool{"RU": true, "IN": true, "UN": true, "ST": true, "ZO": true, "TR": true,
	"SW": true, "DE": true, "WA": true, "PA": true, "ID": true, "NE": true}

func foreachCmd() *Command {
	return &Command{
		Name:     "foreach",
		Synopsis: "foreach [pid|taskp|name|'regex'|state|kernel|user|gleader|active ...] command [flags]",
		Summary:  "run a command for each selected task, with that task as the context",
		Description: "Selects tasks (all by default) by pid, task address, command name, 'regex', state " +
			"(RU IN UN ST ZO TR DE WA PA ID NE), kernel, user, gleader or active, and runs the command for " +
			"each one with the task as the context, after the task's header. 'foreach ... ps' prints one ps " +
			"table of the selected tasks; 'foreach task' prints only the struct.",
		Examples: []string{"foreach bt", "foreach UN bt", "foreach kt_spin task -R se", "foreach user ps", "foreach active set",
			`foreach --where 'prio < 100' bt`},
		Flags:     []Flag{whereFlag},
		PassFlags: true, // foreach bt --locals: the command's own flags
		Complete:  ArgCommand,
		Run:       runForeach,
	}
}

func runForeach(s *Session, inv *Invocation) (Result, error) {
	var where *whereFilter
	var err error
	if inv.Has("where") {
		if where, err = compileWhere("foreach", inv.Flag("where")); err != nil {
			return nil, err
		}
	}
	selWords, cmdWords, err := s.foreachSplit(inv)
	if err != nil {
		return nil, err
	}
	tasks, err := s.foreachTasks(inv, selWords)
	if err != nil {
		return nil, err
	}
	if where != nil {
		if tasks, err = where.filter(s, tasks); err != nil {
			return nil, err
		}
	}
	res := foreachResult{Command: strings.Join(cmdWords, " "), Tasks: []foreachItem{}}
	saved := s.Vars.ContextTask
	defer func() { s.Vars.ContextTask = saved }()
	if s.table.lookup(cmdWords[0]).Name == "ps" {
		return s.foreachPs(res, cmdWords, tasks)
	}
	return s.foreachEach(res, cmdWords, tasks)
}

// foreachSplit splits foreach's line into the task selection and the
// command (the first word that names one); --json anywhere applies to
// foreach itself.
func (s *Session) foreachSplit(inv *Invocation) (selWords, cmdWords []string, err error) {
	words, err := tokenize(inv.Line)
	if err != nil {
		return nil, nil, err
	}
	kept := words[:0]
	for _, w := range words {
		if w != "--json" {
			kept = append(kept, w)
		}
	}
	words = kept
	// Drop "--where EXPR" (or --where=EXPR) from the selectors.
	for i, w := range words {
		if w == "--where" && i+1 < len(words) {
			words = append(words[:i:i], words[i+2:]...)
			break
		}
		if strings.HasPrefix(w, "--where=") {
			words = append(words[:i:i], words[i+1:]...)
			break
		}
	}
	for i, w := range words {
		if c := s.table.lookup(w); c != nil && c.Name != "foreach" && !foreachStates[w] {
			return words[:i], words[i:], nil
		}
	}
	return nil, nil, &UsageError{"foreach", "no command given (e.g. foreach bt)"}
}

// foreachTasks selects the tasks: all, or those the selectors (pids,
// addresses, names) or keywords (states, kernel, user, gleader, active)
// match.
func (s *Session) foreachTasks(inv *Invocation, selWords []string) ([]*kstructs.Task, error) {
	all, err := s.K.Tasks()
	if err != nil || len(selWords) == 0 {
		return all, err
	}
	var plain, keys []string
	for _, w := range selWords {
		switch {
		case foreachStates[w], w == "kernel", w == "user", w == "gleader", w == "active":
			keys = append(keys, w)
		default:
			plain = append(plain, w)
		}
	}
	sels, err := s.parseTaskSelectors(inv, plain)
	if err != nil {
		return nil, err
	}
	var tasks []*kstructs.Task
	for _, t := range all {
		if foreachMatches(t, sels, keys) {
			tasks = append(tasks, t)
		}
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("no task matches %s", strings.Join(selWords, " "))
	}
	return tasks, nil
}

// foreachMatches reports whether any selector or keyword matches t.
func foreachMatches(t *kstructs.Task, sels []taskSelector, keys []string) bool {
	ok := false
	for _, sel := range sels {
		if sel.matches(t) {
			ok = true
		}
	}
	for _, k := range keys {
		switch k {
		case "kernel":
			ok = ok || t.KernelThread
		case "user":
			ok = ok || !t.KernelThread
		case "gleader":
			ok = ok || (t.IsLeader() && !t.KernelThread)
		case "active":
			ok = ok || t.Active
		default:
			ok = ok || t.StateCode == k
		}
	}
	return ok
}

// foreachPs runs ps once, as one table of the selected tasks.
func (s *Session) foreachPs(res foreachResult, cmdWords []string, tasks []*kstructs.Task) (Result, error) {
	line := strings.Join(cmdWords, " ")
	for _, t := range tasks {
		line += fmt.Sprintf(" %x", t.Addr)
	}
	if len(tasks) == 0 {
		return res, nil
	}
	r, err := s.runLine(line)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := r.Text(&b, s); err != nil {
		return nil, err
	}
	res.text = b.String()
	raw, _ := json.Marshal(r)
	res.Tasks = append(res.Tasks, foreachItem{Result: raw})
	return res, nil
}

// foreachEach runs the command once per task, in that task's context,
// under one task header each.
func (s *Session) foreachEach(res foreachResult, cmdWords []string, tasks []*kstructs.Task) (Result, error) {
	name := s.table.lookup(cmdWords[0]).Name
	var b strings.Builder
	for i, t := range tasks {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		s.Vars.ContextTask = t.Addr
		item := foreachItem{PID: t.PID, Task: s.addr(t.Addr), Comm: t.Comm}
		b.WriteString(s.taskHeader(t, i > 0))
		line := strings.Join(cmdWords, " ")
		if name == "task" {
			line += fmt.Sprintf(" %x", t.Addr)
		}
		r, err := s.runLine(line)
		if err != nil {
			item.Error = err.Error()
			fmt.Fprintf(&b, "%s: %v\n", cmdWords[0], err)
			res.Tasks = append(res.Tasks, item)
			continue
		}
		var out bytes.Buffer
		if err := r.Text(&out, s); err != nil {
			return nil, err
		}
		// Commands that print the standard task header themselves (bt,
		// task) would repeat the one foreach just wrote: keep one.
		text := strings.TrimPrefix(out.String(), s.taskHeader(t, false))
		b.WriteString(text)
		item.Result, _ = json.Marshal(r)
		res.Tasks = append(res.Tasks, item)
	}
	res.text = b.String()
	return res, nil
}

// runLine parses and runs one command line in this session, returning its
// Result (no output is written).
func (s *Session) runLine(line string) (Result, error) {
	inv, err := s.parse(line)
	if err != nil {
		return nil, err
	}
	if inv == nil {
		return nil, fmt.Errorf("empty command")
	}
	return s.runProtected(inv)
}
