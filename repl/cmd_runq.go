package repl

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kinspect/kinspect/kstructs"
)

// runqCPU is one CPU's runqueue in runq's JSON output.
type runqCPU struct {
	CPU       int         `json:"cpu"`
	Runqueue  string      `json:"runqueue"`
	Current   *runqTask   `json:"current"`
	NrRunning uint64      `json:"nr_running"`
	Clock     uint64      `json:"clock"`
	RTArray   string      `json:"rt_prio_array"`
	RT        []runqTask  `json:"rt"`
	CFSRoot   string      `json:"cfs_rb_root"`
	CFS       []runqTask  `json:"cfs"`
	DLRoot    string      `json:"dl_rb_root,omitempty"`
	DL        []runqTask  `json:"dl"`
	Groups    []runqGroup `json:"groups,omitempty"`
	Problems  []string    `json:"problems,omitempty"`
}

type runqTask struct {
	PID   int    `json:"pid"`
	Task  string `json:"task"`
	Comm  string `json:"comm"`
	Prio  int    `json:"prio"`
	Key   uint64 `json:"key,omitempty"` // vruntime (CFS), deadline (DL)
	Depth int    `json:"depth,omitempty"`
	CfsRQ string `json:"cfs_rq,omitempty"`
}

type runqGroup struct {
	Entity string `json:"entity"`
	CfsRQ  string `json:"cfs_rq"`
	Depth  int    `json:"depth"`
}

type runqResult struct {
	CPUs []runqCPU `json:"cpus"`
	preformatted
}

func runqCmd() *Command {
	return &Command{
		Name:     "runq",
		Synopsis: "runq [-t] [-m] [-g] [-c cpus]",
		Summary:  "the tasks on each CPU's run queue",
		Description: "For each CPU: the runqueue address, the current task, the RT priority array (tasks by " +
			"queue index), the CFS tree (tasks in vruntime order, task groups flattened) and the deadline tree " +
			"(tasks in deadline order; crash does not show it). -t shows each rq clock and the active task's last " +
			"run, -m how long the active tasks have run, -g the task-group hierarchy, -c restricts the CPUs.",
		Examples: []string{"runq", "runq -c 1,3", "runq -t", "runq -m", "runq --json"},
		Flags: []Flag{
			{Short: "t", Help: "rq clocks and active tasks' last-run timestamps"},
			{Short: "m", Help: "time the active tasks have been running"},
			{Short: "g", Help: "show task groups"},
			{Short: "c", Arg: "CPUS", Help: "only these CPUs (e.g. 1,3-5)"},
		},
		Run: runRunq,
	}
}

func runRunq(s *Session, inv *Invocation) (Result, error) {
	possible, err := s.K.PossibleCPUs()
	if err != nil {
		return nil, err
	}
	cpus := possible
	if inv.Has("c") {
		if cpus, err = parseCPUList(inv.Flag("c"), possible); err != nil {
			return nil, &UsageError{"runq", err.Error()}
		}
	}
	sort.Ints(cpus)
	res := runqResult{}
	var rqs []*kstructs.RunQueue
	for _, c := range cpus {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		rq, err := s.K.RunQueue(c)
		if err != nil {
			return nil, err
		}
		rqs = append(rqs, rq)
		res.CPUs = append(res.CPUs, s.runqJSON(rq))
	}
	var b strings.Builder
	switch {
	case inv.Has("t"):
		for _, rq := range rqs {
			pre := ""
			if rq.CPU < 10 {
				pre = " "
			}
			clock := fmt.Sprint(rq.Clock)
			if s.Vars.Radix == 16 {
				clock = fmt.Sprintf("%x", rq.Clock)
			}
			fmt.Fprintf(&b, "%sCPU %d: %s\n", pre, rq.CPU, clock)
			if rq.Curr != nil {
				indent := 8
				if rq.CPU >= 100 {
					indent = 9
				}
				fmt.Fprintf(&b, "%s%0*d  PID: %-5d  TASK: %x  COMMAND: \"%s\"\n", strings.Repeat(" ", indent),
					len(clock), rq.Curr.LastRun, rq.Curr.PID, rq.Curr.Addr, rq.Curr.Comm)
			}
		}
	case inv.Has("m"):
		maxIndent := 1
		for n := len(possible); n >= 10; n /= 10 {
			maxIndent++
		}
		daysWidth := 0
		if len(rqs) > 0 {
			daysWidth = len(fmt.Sprint(rqs[0].Clock / uint64(24*time.Hour)))
		}
		for _, rq := range rqs {
			indent := maxIndent - (len(fmt.Sprint(rq.CPU)) - 1)
			if rq.Curr == nil {
				fmt.Fprintf(&b, "%sCPU %d: [unknown]\n", strings.Repeat(" ", indent), rq.CPU)
				continue
			}
			var delta uint64
			if rq.Clock > rq.Curr.LastRun {
				delta = rq.Clock - rq.Curr.LastRun
			}
			fmt.Fprintf(&b, "%sCPU %d: [%s]  PID: %-5d  TASK: %x  COMMAND: \"%s\"\n", strings.Repeat(" ", indent),
				rq.CPU, msTime(delta, daysWidth), rq.Curr.PID, rq.Curr.Addr, rq.Curr.Comm)
		}
	default:
		for i, rq := range rqs {
			if i > 0 {
				b.WriteString("\n")
			}
			s.runqText(&b, rq, inv.Has("g"))
		}
	}
	res.text = b.String()
	return res, nil
}

func (s *Session) runqJSON(rq *kstructs.RunQueue) runqCPU {
	conv := func(qs []kstructs.QueuedTask) []runqTask {
		out := []runqTask{}
		for _, q := range qs {
			rt := runqTask{Task: s.addr(q.Addr), Prio: q.Prio, Key: q.Key, Depth: q.Depth}
			if q.Task != nil {
				rt.PID, rt.Comm = q.Task.PID, q.Task.Comm
			}
			if q.CfsRQ != 0 {
				rt.CfsRQ = s.addr(q.CfsRQ)
			}
			out = append(out, rt)
		}
		return out
	}
	c := runqCPU{CPU: rq.CPU, Runqueue: s.addr(rq.Addr), NrRunning: rq.NrRunning, Clock: rq.Clock,
		RTArray: s.addr(rq.RTArray), RT: conv(rq.RT), CFSRoot: s.addr(rq.CFSRoot), CFS: conv(rq.CFS),
		DL: conv(rq.DL), Problems: rq.Problems}
	if rq.DLRoot != 0 {
		c.DLRoot = s.addr(rq.DLRoot)
	}
	if rq.Curr != nil {
		c.Current = &runqTask{PID: rq.Curr.PID, Task: s.addr(rq.Curr.Addr), Comm: rq.Curr.Comm, Prio: rq.Curr.Prio}
	}
	for _, g := range rq.Groups {
		c.Groups = append(c.Groups, runqGroup{Entity: s.addr(g.Entity), CfsRQ: s.addr(g.CfsRQ), Depth: g.Depth})
	}
	return c
}

// runqText is crash's dump_CFS_runqueues block for one CPU, plus the
// deadline queue.
func (s *Session) runqText(b *strings.Builder, rq *kstructs.RunQueue, groups bool) {
	fmt.Fprintf(b, "CPU %d RUNQUEUE: %x\n", rq.CPU, rq.Addr)
	if rq.Curr != nil {
		fmt.Fprintf(b, "  CURRENT: PID: %-5d  TASK: %x  COMMAND: \"%s\"\n", rq.Curr.PID, rq.Curr.Addr, rq.Curr.Comm)
	} else {
		fmt.Fprintf(b, "  CURRENT: %x\n", rq.CurrAddr)
	}
	line := func(idx int, q kstructs.QueuedTask, indent int) {
		pid, comm := -1, "?"
		if q.Task != nil {
			pid, comm = q.Task.PID, q.Task.Comm
		}
		fmt.Fprintf(b, "%s[%3d] PID: %-5d  TASK: %x  COMMAND: \"%s\"\n", strings.Repeat(" ", indent), idx, pid, q.Addr, comm)
	}
	fmt.Fprintf(b, "  RT PRIO_ARRAY: %x\n", rq.RTArray)
	if len(rq.RT) == 0 {
		b.WriteString("     [no tasks queued]\n")
	}
	for _, q := range rq.RT {
		ind := 5
		if groups {
			ind += 6 * q.Depth
		}
		line(q.Prio, q, ind)
	}
	fmt.Fprintf(b, "  CFS RB_ROOT: %x\n", rq.CFSRoot)
	if len(rq.CFS) == 0 {
		b.WriteString("     [no tasks queued]\n")
	}
	lastRQ := uint64(0)
	for _, q := range rq.CFS {
		ind := 5
		if groups {
			ind += 3 * q.Depth
			if q.Depth > 0 && q.CfsRQ != lastRQ {
				fmt.Fprintf(b, "%sCFS_RQ: %x\n", strings.Repeat(" ", 5+3*(q.Depth-1)), q.CfsRQ)
			}
			lastRQ = q.CfsRQ
		}
		line(q.Prio, q, ind)
	}
	if rq.DLRoot != 0 {
		fmt.Fprintf(b, "  DL RB_ROOT: %x\n", rq.DLRoot)
		if len(rq.DL) == 0 {
			b.WriteString("     [no tasks queued]\n")
		}
		for _, q := range rq.DL {
			line(q.Prio, q, 5)
		}
	}
	for _, p := range rq.Problems {
		fmt.Fprintf(b, "  WARNING: %s\n", p)
	}
}
