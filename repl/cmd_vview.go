package repl

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// vviewResult is one Trace32 Var.View.
type vviewResult struct {
	Expr  string    `json:"expr"`
	Value *jsonNode `json:"value"`
	lines []string
}

func (r vviewResult) Text(w io.Writer, s *Session) error {
	for _, l := range r.lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

const vviewHelp = "Prints an expression in Trace32's Var.View layout: '(type) [D:address] name = value', " +
	"structs as ( ... ) with one member per line, pointers to structs followed ('-> ( ... )'). " +
	"Format flags, combinable, before the expression: %t type prefix; %l location prefix [D:0x...] " +
	"([-] for a value without an address); %h hexadecimal; %d decimal (default); %s symbols: a pointer " +
	"into the kernel is followed by '= symbol+0xoff', char arrays and char * show their string, and a " +
	"struct list_head * leading into a task's list member names it: '= &task_struct(0x... \"comm\").sibling'; " +
	"%i array indices; %e[N] expand nested pointers N levels (default 1; the top-level pointer is always " +
	"followed); %m one member per line (default); %c compact, on one line. Function pointers always show " +
	"the function. Hex is upper case, addresses as wide as the target's pointers.\n\n" +
	"To keep large structures readable, name a member path in the expression (v.v init_task.se.avg) or " +
	"add a member filter as the last word: a comma-separated list of member paths relative to the " +
	"(dereferenced) value, each shown as one item named by its path: 'v.v %l init_task pid,comm,se.vruntime'."

func vviewCmd() *Command {
	return &Command{
		Name:        "v.v",
		Aliases:     []string{"var.view", "vv"},
		Synopsis:    "v.v [%t] [%l] [%h|%d] [%s] [%i] [%e[N]] [%m|%c] EXPR [MEMBER[,MEMBER...]]",
		Summary:     "view a variable or expression in Trace32's Var.View format",
		Description: vviewHelp,
		Examples: []string{"v.v %l %t %h %s (struct task_struct *)0xffff888100a58000",
			"v.v %l %t init_task.tasks", "v.v %l init_task pid,comm,se.vruntime", "v.v %t %s %e2 init_task.children"},
		Complete: ArgExpression,
		Run: func(s *Session, inv *Invocation) (Result, error) {
			o, rest, err := parseT32Args(inv.Args)
			if err != nil {
				return nil, err
			}
			if len(rest) == 0 {
				return nil, &UsageError{"v.v", "usage: v.v [%FLAGS] EXPR [MEMBER[,MEMBER...]]"}
			}
			var members []string
			if len(rest) > 1 && memberListRE.MatchString(rest[len(rest)-1]) {
				members = strings.Split(rest[len(rest)-1], ",")
				rest = rest[:len(rest)-1]
			}
			return s.vview(strings.Join(rest, " "), o, members)
		},
	}
}

var memberListRE = regexp.MustCompile(`^[A-Za-z_][\w.\[\]]*(,[A-Za-z_][\w.\[\]]*)*$`)

func parseT32Args(args []string) (t32Opts, []string, error) {
	var o t32Opts
	rest, err := o.parseArgs(args)
	return o, rest, err
}

// parseArgs applies the %FLAGS among args to o and returns the others.
func (o *t32Opts) parseArgs(args []string) ([]string, error) {
	var rest []string
	for _, a := range args {
		ok, err := o.parse(a)
		if err != nil {
			return nil, err
		}
		if !ok {
			rest = append(rest, a)
		}
	}
	return rest, nil
}

// vview evaluates expr and renders it with o.
func (s *Session) vview(expr string, o t32Opts, members []string) (Result, error) {
	v, err := s.env().Eval(expr)
	if err != nil {
		return nil, err
	}
	static := false
	if identRE.MatchString(expr) {
		if vr, err := s.K.Image.Variable(expr); err == nil {
			static = vr.Decl == "static"
			v = s.K.Image.NewValueAt(s.varType(vr), vr.Addr)
		}
	}
	return s.vviewValue(expr, v, o, members, static)
}

func (s *Session) vviewValue(label string, v dwarfx.Value, o t32Opts, members []string, static bool) (Result, error) {
	p := newT32Printer(s, o)
	n := p.d.decodeValue(v, "")
	lines, err := p.view(n, label, static, members)
	if err != nil {
		return nil, err
	}
	jn := n
	if len(members) > 0 {
		jn = nil
		if n.Kind == vkStruct {
			jn = selectMembers(n, members)
		}
	}
	return vviewResult{Expr: label, Value: s.jsonNode(jn, 10), lines: lines}, nil
}

// vviewTask is `task -t`: the task_struct at addr in the Var.View layout
// (%l %t %h %s unless flags says otherwise).
func (s *Session) vviewTask(addr uint64, o *t32Opts) (Result, error) {
	if o == nil {
		o = &t32Opts{Location: true, Type: true, Hex: true, Symbols: true}
	}
	t, err := s.K.Image.Type("struct task_struct")
	if err != nil {
		return nil, err
	}
	label := fmt.Sprintf("(struct task_struct *)0x%X", addr)
	return s.vviewValue(label, s.K.Image.NewConst(s.K.Image.PointerTo(t), addr), *o, nil, false)
}

// ---- rq ----

func rqCmd() *Command {
	return &Command{
		Name:     "rq",
		Synopsis: "rq [%FLAGS] CPU [MEMBER[,MEMBER...]]",
		Summary:  "view a cpu's runqueue (struct rq) in Trace32's Var.View format",
		Description: "Shorthand for 'v.v %l %t %h %s runqueues:CPU'. Further %flags and a member " +
			"filter work as in v.v (e.g. 'rq 0 curr,nr_running,cfs.nr_running').",
		Examples: []string{"rq 0", "rq 1 curr,nr_running", "rq %c 2 clock,clock_task"},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			o := t32Opts{Location: true, Type: true, Hex: true, Symbols: true}
			rest, err := o.parseArgs(inv.Args)
			if err != nil {
				return nil, err
			}
			if len(rest) == 0 || len(rest) > 2 {
				return nil, &UsageError{"rq", "usage: rq [%FLAGS] CPU [MEMBER[,MEMBER...]]"}
			}
			cpu, err := strconv.Atoi(rest[0])
			if err != nil || cpu < 0 {
				return nil, &UsageError{"rq", fmt.Sprintf("cpu %q is not a number", rest[0])}
			}
			var members []string
			if len(rest) == 2 {
				members = strings.Split(rest[1], ",")
			}
			base, err := s.perCPUVar("runqueues")
			if err != nil {
				return nil, err
			}
			v, err := s.K.PerCPU(base, cpu)
			if err != nil {
				return nil, fmt.Errorf("runqueue of cpu %d: %w", cpu, err)
			}
			return s.vviewValue(fmt.Sprintf("runqueues:%d", cpu), v, o, members, false)
		},
	}
}

// ---- sched_class ----

func schedClassCmd() *Command {
	return &Command{
		Name:     "sched_class",
		Synopsis: "sched_class [%FLAGS] PID|TASK",
		Summary:  "view a task's scheduling class (struct sched_class) with its functions",
		Description: "Shows task->sched_class in Trace32's Var.View format (%t %h %s by default), " +
			"expanded one level: the class symbol (fair_sched_class, rt_sched_class...) and each " +
			"method's function. TASK is a task_struct address in hex.",
		Examples: []string{"sched_class 1", "sched_class %l ffff888100a58000"},
		Complete: ArgTask,
		Run: func(s *Session, inv *Invocation) (Result, error) {
			o := t32Opts{Type: true, Hex: true, Symbols: true}
			rest, err := o.parseArgs(inv.Args)
			if err != nil {
				return nil, err
			}
			if len(rest) != 1 {
				return nil, &UsageError{"sched_class", "usage: sched_class [%FLAGS] PID|TASK"}
			}
			addr, err := s.taskAddrArg(rest[0])
			if err != nil {
				return nil, err
			}
			v, err := s.env().Eval(fmt.Sprintf("((struct task_struct *)%#x)->sched_class", addr))
			if err != nil {
				return nil, err
			}
			return s.vviewValue("sched_class", v, o, nil, false)
		},
	}
}

// taskAddrArg resolves a pid (decimal) or a task_struct address (hex, as
// crash takes them).
func (s *Session) taskAddrArg(arg string) (uint64, error) {
	if pid, err := strconv.Atoi(arg); err == nil && !strings.HasPrefix(arg, "0x") {
		t, err := s.K.TaskByPID(pid)
		if err != nil {
			return 0, err
		}
		return t.Addr, nil
	}
	a, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(arg), "0x"), 16, 64)
	if err != nil {
		return 0, &UsageError{"", fmt.Sprintf("%q is neither a pid nor a task address", arg)}
	}
	if _, err := s.K.TaskByAddr(a); err != nil {
		return 0, err
	}
	return a, nil
}
