package repl

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kinspect/kinspect/kstructs"
)

// psTask is one task in ps's JSON output.
type psTask struct {
	PID          int     `json:"pid"`
	TGID         int     `json:"tgid"`
	PPID         int     `json:"ppid"`
	CPU          int     `json:"cpu"`
	Task         string  `json:"task"`
	State        string  `json:"state"`
	StateChar    string  `json:"state_char"`
	Comm         string  `json:"comm"`
	Policy       string  `json:"policy"`
	Prio         int     `json:"prio"`
	StaticPrio   int     `json:"static_prio"`
	NormalPrio   int     `json:"normal_prio"`
	RTPriority   int     `json:"rt_priority"`
	Nice         int     `json:"nice"`
	SchedClass   string  `json:"sched_class"`
	LastArrival  uint64  `json:"last_arrival"`
	Utime        uint64  `json:"utime"`
	Stime        uint64  `json:"stime"`
	StartTime    uint64  `json:"start_time"`
	RSS          uint64  `json:"rss"`
	VSZ          uint64  `json:"vsz"`
	MemPct       float64 `json:"mem_pct"`
	Active       bool    `json:"active"`
	KernelThread bool    `json:"kernel_thread"`
	Panic        bool    `json:"panic"`
	Depth        int     `json:"depth,omitempty"` // ps --tree / -p
	// StackDepth is the number of frames bt finds; WChan the wait channel
	// (as /proc/PID/wchan), "" for running tasks.
	StackDepth int    `json:"stack_depth"`
	WChan      string `json:"wchan"`
}

func (s *Session) psTaskOf(t *kstructs.Task, totalPages uint64) psTask {
	return psTask{
		PID: t.PID, TGID: t.TGID, PPID: t.PPID, CPU: t.CPU, Task: s.addr(t.Addr),
		State: t.StateCode, StateChar: string(t.StateChar), Comm: t.Comm,
		Policy: t.PolicyName(), Prio: t.Prio, StaticPrio: t.StaticPrio, NormalPrio: t.NormalPrio,
		RTPriority: t.RTPriority, Nice: t.Nice, SchedClass: t.SchedClassName,
		LastArrival: t.LastArrival, Utime: t.Utime, Stime: t.Stime, StartTime: t.StartTime,
		RSS: t.RSS, VSZ: t.VSZ, MemPct: memPct(t, totalPages, s.K.PageSize()),
		Active: t.Active, KernelThread: t.KernelThread, Panic: t.Panic,
	}
}

// withStack adds the unwinder's facts (stack depth, wait channel) to a
// JSON task; a task whose stack cannot be unwound keeps zero/"".
func (s *Session) withStack(p psTask, t *kstructs.Task) psTask {
	p.WChan, p.StackDepth, _ = s.K.WaitChannel(t)
	return p
}

// memPct is crash's %MEM: rss as a share of physical memory.
func memPct(t *kstructs.Task, totalPages, pageSize uint64) float64 {
	if totalPages == 0 || t.RSS == 0 {
		return 0
	}
	rssPages := t.RSS * 1024 / pageSize
	return float64(rssPages) * 100 / float64(totalPages)
}

// psResult is every ps view: JSON is the task array (or, for -S, the
// state counts); text is rendered when the command runs.
type psResult struct {
	tasks  []psTask
	counts []psCount
	preformatted
}

type psCount struct {
	State string `json:"state"`
	Count int    `json:"count"`
}

func (r psResult) MarshalJSON() ([]byte, error) {
	if r.counts != nil {
		return json.Marshal(r.counts)
	}
	if r.tasks == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(r.tasks)
}

func psCmd() *Command {
	return &Command{
		Name:     "ps",
		Synopsis: "ps [-k|-u|-G|-I] [-y policy] [-A] [-l|-m [-C cpus]|-t|-p|-c|-g|-S|-Y|-H|--tree|-ely] [pid|task|command|'regex'] ...",
		Summary:  "process status: the task list as crash shows it",
		Description: "Lists tasks (every thread, plus each CPU's idle task) sorted by pid. '>' marks the task " +
			"active on each CPU. Select tasks by pid, task address, command name or 'regex'. " +
			"-l/-m sort by last run time (absolute / age); -t shows run and CPU times; -p the parent chain; " +
			"-c children; -g thread groups; -S a count per state; --tree the process hierarchy; " +
			"-ely a procps 'ps -ely' view. --json gives one object per task.",
		Examples: []string{"ps", "ps -k", "ps -y FIFO,RR", "ps -l -C 1", "ps -p 123", "ps 'kworker.*'", "ps --tree", "ps -ely", "ps --json",
			`ps --where 'state == "IN" && !kernel_thread'`},
		Flags: []Flag{
			{Short: "k", Help: "kernel threads only"},
			{Short: "u", Help: "user tasks only"},
			{Short: "G", Help: "thread-group leaders only"},
			{Short: "I", Help: "exclude the idle tasks"},
			{Short: "A", Help: "active tasks only"},
			{Short: "y", Arg: "POLICY", Help: "only these scheduling policies (NORMAL,FIFO,RR,BATCH,ISO,IDLE,DEADLINE or 0-6)"},
			{Short: "l", Help: "sorted by last run timestamp"},
			{Short: "m", Help: "sorted by last run, shown as time since then"},
			{Short: "C", Arg: "CPUS", Help: "with -l/-m: per CPU (e.g. 1,3-5 or all)"},
			{Short: "t", Help: "run time, start time, utime and stime"},
			{Short: "p", Help: "parental hierarchy"},
			{Short: "c", Help: "children"},
			{Short: "g", Help: "thread groups"},
			{Short: "S", Help: "number of tasks per state"},
			{Short: "Y", Help: "policy and priority"},
			{Short: "H", Help: "no header line"},
			{Short: "s", Help: "show the kernel stack pointer instead of the task address"},
			{Long: "tree", Help: "process hierarchy from the children/sibling lists"},
			{Short: "ely", Help: "procps 'ps -ely' view"},
			whereFlag,
		},
		Complete: ArgTask,
		Run:      runPs,
	}
}

func runPs(s *Session, inv *Invocation) (Result, error) {
	if err := psExclusive(inv); err != nil {
		return nil, err
	}
	tasks, err := s.psTasks(inv)
	if err != nil {
		return nil, err
	}
	pages, err := s.K.MemPctPages()
	if err != nil {
		pages, _ = s.K.PresentPages()
	}
	res := psResult{tasks: []psTask{}}
	for _, t := range tasks {
		pt := s.psTaskOf(t, pages)
		if inv.JSON {
			// Unwinding every stack costs; only the JSON view carries it.
			pt = s.withStack(pt, t)
		}
		res.tasks = append(res.tasks, pt)
	}
	var b strings.Builder
	if err := s.psRender(&b, inv, tasks, &res, pages); err != nil {
		return nil, err
	}
	if probs := s.K.TaskListProblems(); len(probs) > 0 && !inv.JSON {
		var w strings.Builder
		for _, p := range probs {
			fmt.Fprintf(&w, "WARNING: %s\n", p)
		}
		res.text = w.String() + b.String()
	} else {
		res.text = b.String()
	}
	return res, nil
}

// psExclusive rejects more than one of the flags that choose a view, as
// crash does (-l with -m is one view).
func psExclusive(inv *Invocation) error {
	exclusive := 0
	for _, f := range []string{"t", "c", "p", "g", "l", "m", "S", "A", "Y", "tree", "ely"} {
		if inv.Has(f) {
			exclusive++
		}
	}
	if inv.Has("l") && inv.Has("m") {
		exclusive--
	}
	if exclusive > 1 {
		return &UsageError{"ps", "-a, -t, -c, -p, -g, -l, -m, -S, -r and -A flags are all mutually-exclusive"}
	}
	return nil
}

// psTasks selects the tasks the arguments name, group leaders for -G/-g,
// filtered by -k, -u, -I, -A and -y.
func (s *Session) psTasks(inv *Invocation) ([]*kstructs.Task, error) {
	sels, err := s.parseTaskSelectors(inv, inv.Args)
	if err != nil {
		return nil, err
	}
	tasks, err := s.selectTasks(sels)
	if err != nil {
		return nil, err
	}
	if inv.Has("G") || inv.Has("g") {
		// A specified thread shows its group leader instead.
		var leaders []*kstructs.Task
		for _, t := range tasks {
			if !t.IsLeader() && t.PID != 0 {
				if l, err := s.K.TaskByPID(t.TGID); err == nil {
					t = l
				}
			}
			leaders = append(leaders, t)
		}
		tasks = dedupTasks(leaders)
	}
	var policies map[int]bool
	if inv.Has("y") {
		policies = map[int]bool{}
		for _, p := range strings.Split(inv.Flag("y"), ",") {
			n, ok := kstructs.ParsePolicy(strings.TrimSpace(p))
			if !ok {
				return nil, &UsageError{"ps", fmt.Sprintf("invalid scheduling policy: %s", p)}
			}
			policies[n] = true
		}
	}
	filtered := tasks[:0:0]
	for _, t := range tasks {
		switch {
		case inv.Has("k") && !t.KernelThread:
		case inv.Has("u") && t.KernelThread:
		case inv.Has("I") && t.Idle:
		case inv.Has("A") && !t.Active:
		case policies != nil && !policies[t.Policy]:
		default:
			filtered = append(filtered, t)
		}
	}
	if inv.Has("where") {
		if inv.Has("tree") {
			return nil, &UsageError{"ps", "--where cannot be used with --tree (the tree shows every task)"}
		}
		w, err := compileWhere("ps", inv.Flag("where"))
		if err != nil {
			return nil, err
		}
		return w.filter(s, filtered)
	}
	return filtered, nil
}

// psRender writes the view the flags choose.
func (s *Session) psRender(b *strings.Builder, inv *Invocation, tasks []*kstructs.Task, res *psResult, pages uint64) error {
	switch {
	case inv.Has("S"):
		s.psCounts(b, tasks, res)
	case inv.Has("t"):
		s.psTimes(b, tasks)
	case inv.Has("l") || inv.Has("m"):
		return s.psLastRun(b, inv, tasks)
	case inv.Has("p"):
		s.psParents(b, tasks)
	case inv.Has("c"):
		s.psChildren(b, tasks)
	case inv.Has("g"):
		s.psThreads(b, tasks)
	case inv.Has("tree"):
		return s.psTree(b, res, pages)
	case inv.Has("ely"):
		s.psProcps(b, tasks)
	case inv.Has("Y"):
		s.psPolicies(b, inv, tasks)
	default:
		s.psTable(b, inv, tasks, res)
	}
	return nil
}

// psCounts (-S) counts the tasks in each state.
func (s *Session) psCounts(b *strings.Builder, tasks []*kstructs.Task, res *psResult) {
	res.counts = []psCount{}
	idx := map[string]int{}
	for _, t := range tasks {
		i, ok := idx[t.StateCode]
		if !ok {
			i = len(res.counts)
			idx[t.StateCode] = i
			res.counts = append(res.counts, psCount{State: t.StateCode})
		}
		res.counts[i].Count++
	}
	for _, c := range res.counts {
		fmt.Fprintf(b, "  %s: %d\n", c.State, c.Count)
	}
}

// psParents (-p) shows each task's ancestry, init first.
func (s *Session) psParents(b *strings.Builder, tasks []*kstructs.Task) {
	for _, t := range tasks {
		chain := []*kstructs.Task{t}
		seen := map[uint64]bool{t.Addr: true}
		for cur := t; cur.PID != 0 && cur.Parent != 0; {
			p, err := s.K.TaskByAddr(cur.Parent)
			if err != nil || seen[p.Addr] {
				break
			}
			seen[p.Addr] = true
			chain = append(chain, p)
			cur = p
		}
		for j := len(chain) - 1; j >= 0; j-- {
			b.WriteString(strings.Repeat(" ", len(chain)-1-j) + s.taskHeader(chain[j], false))
		}
		b.WriteString("\n")
	}
}

// psChildren (-c) lists each task's children.
func (s *Session) psChildren(b *strings.Builder, tasks []*kstructs.Task) {
	for _, t := range tasks {
		b.WriteString(s.taskHeader(t, false))
		kids, err := s.K.Children(t)
		if err != nil {
			fmt.Fprintf(b, "  (%v)\n", err)
		}
		if len(kids) == 0 && err == nil {
			b.WriteString("  (no children)\n")
		}
		for _, c := range kids {
			b.WriteString("  " + s.taskHeader(c, false))
		}
		b.WriteString("\n")
	}
}

// psThreads (-g) lists each thread group's other threads.
func (s *Session) psThreads(b *strings.Builder, tasks []*kstructs.Task) {
	for _, t := range tasks {
		b.WriteString(s.taskHeader(t, false))
		threads, _ := s.K.ThreadsOf(t)
		n := 0
		for _, th := range threads {
			if th.Addr != t.Addr {
				b.WriteString("  " + s.taskHeader(th, false))
				n++
			}
		}
		if n == 0 {
			b.WriteString("  (no threads)\n")
		}
		b.WriteString("\n")
	}
}

// psTree (--tree) shows the process tree; the JSON view lists it in the
// same order with depths.
func (s *Session) psTree(b *strings.Builder, res *psResult, pages uint64) error {
	tree, terr := s.K.TaskTree()
	if tree == nil {
		return terr
	}
	res.tasks = res.tasks[:0]
	var walk func(n *kstructs.TaskNode, depth int)
	walk = func(n *kstructs.TaskNode, depth int) {
		pt := s.psTaskOf(n.Task, pages)
		pt.Depth = depth
		res.tasks = append(res.tasks, pt)
		b.WriteString(strings.Repeat("  ", depth) + s.taskHeader(n.Task, false))
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(tree, 0)
	if terr != nil {
		fmt.Fprintf(b, "WARNING: %v\n", terr)
	}
	return nil
}

// psPolicies (-Y) shows scheduling policies and priorities.
func (s *Session) psPolicies(b *strings.Builder, inv *Invocation, tasks []*kstructs.Task) {
	if !inv.Has("H") {
		fmt.Fprintf(b, "      PID    PPID  CPU %s  POLICY       PRIO  COMM\n", crashCenter("TASK", s.hexWidth(), false))
	}
	for _, t := range tasks {
		fmt.Fprintf(b, "%s%7d %7d %3s  %s  %-12s %4d  %s\n", psMarker(t), t.PID, t.PPID, taskCPU(s, t),
			crashCenter(fmt.Sprintf("%x", t.Addr), s.hexWidth(), true), t.PolicyName(), t.Prio, psComm(t))
	}
}

// psTable is crash's default ps table (-s: kernel stack pointers).
func (s *Session) psTable(b *strings.Builder, inv *Invocation, tasks []*kstructs.Task, res *psResult) {
	if !inv.Has("H") {
		col := crashCenter("TASK", s.hexWidth(), false)
		if inv.Has("s") {
			col = crashCenter("KSTACKP", s.hexWidth(), true)
		}
		fmt.Fprintf(b, "      PID    PPID  CPU %s  ST  %%MEM      VSZ      RSS  COMM\n", col)
	}
	for i, t := range tasks {
		addr := fmt.Sprintf("%x", t.Addr)
		if inv.Has("s") {
			addr = fmt.Sprintf("%x", t.Stack)
			if t.Active {
				addr = "--"
			}
		}
		pad := " "
		if len(t.StateCode) <= 3 {
			pad = "  "
		}
		pct := fmt.Sprintf("%.1f", res.tasks[i].MemPct)
		if len(pct) == 3 {
			pct = " " + pct
		}
		fmt.Fprintf(b, "%s%7d %7d %3s  %s %3s%s%s %8d %8d  %s\n", psMarker(t), t.PID, t.PPID, taskCPU(s, t),
			crashCenter(addr, s.hexWidth(), true), t.StateCode, pad, pct, t.VSZ, t.RSS, psComm(t))
	}
}

func psMarker(t *kstructs.Task) string {
	if t.Active {
		return "> "
	}
	return "  "
}

func psComm(t *kstructs.Task) string {
	if t.KernelThread {
		return "[" + t.Comm + "]"
	}
	return t.Comm
}

// psTimes is ps -t: tasks by start time with run time, start, utime, stime.
func (s *Session) psTimes(b *strings.Builder, tasks []*kstructs.Task) {
	sorted := append([]*kstructs.Task(nil), tasks...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].StartTime < sorted[j].StartTime })
	up, _ := s.K.Uptime()
	for _, t := range sorted {
		b.WriteString(s.taskHeader(t, false))
		// crash's convert_start_time() truncates a nanosecond start_time
		// to whole seconds before subtracting it from the uptime.
		run := up - time.Duration(t.StartTime/uint64(time.Second))*time.Second
		if run < 0 {
			run = 0
		}
		fmt.Fprintf(b, "    RUN TIME: %s\n", convertTime(run))
		fmt.Fprintf(b, "  START TIME: %d\n", t.StartTime)
		fmt.Fprintf(b, "       UTIME: %d\n", t.Utime)
		fmt.Fprintf(b, "       STIME: %d\n\n", t.Stime)
	}
}

// convertTime is crash's convert_time: [N days, ]HH:MM:SS.
func convertTime(d time.Duration) string {
	sec := int64(d / time.Second)
	days := sec / 86400
	h, m, sc := sec%86400/3600, sec%3600/60, sec%60
	if days > 0 {
		return fmt.Sprintf("%d days, %02d:%02d:%02d", days, h, m, sc)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, sc)
}

// psLastRun is ps -l / -m, optionally per CPU (-C).
func (s *Session) psLastRun(b *strings.Builder, inv *Invocation, tasks []*kstructs.Task) error {
	sorted := append([]*kstructs.Task(nil), tasks...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].LastRun > sorted[j].LastRun })
	clocks := map[int]uint64{}
	clockOf := func(cpu int) uint64 {
		if c, ok := clocks[cpu]; ok {
			return c
		}
		var c uint64
		if rq, err := s.K.RunQueue(cpu); err == nil {
			c = rq.Clock
		}
		clocks[cpu] = c
		return c
	}
	width := 0
	if len(sorted) > 0 {
		if s.Vars.Radix == 16 {
			width = len(fmt.Sprintf("%x", sorted[0].LastRun))
		} else {
			width = len(fmt.Sprint(sorted[0].LastRun))
		}
	}
	padDays := inv.Has("C") || len(inv.Args) == 1
	daysWidth := 0
	if padDays {
		if cpus, err := s.K.PossibleCPUs(); err == nil && len(cpus) > 0 {
			daysWidth = len(fmt.Sprint(clockOf(cpus[0]) / uint64(24*time.Hour)))
		}
	}
	line := func(t *kstructs.Task) {
		if inv.Has("m") {
			var delta uint64
			if c := clockOf(t.CPU); c > t.LastRun {
				delta = c - t.LastRun
			}
			fmt.Fprintf(b, "[%s] ", msTime(delta, daysWidth))
		} else if s.Vars.Radix == 16 {
			fmt.Fprintf(b, "[%*x] ", width, t.LastRun)
		} else {
			fmt.Fprintf(b, "[%*d] ", width, t.LastRun)
		}
		fmt.Fprintf(b, "[%s]  %s", t.StateCode, s.taskHeader(t, false))
	}
	if !inv.Has("C") {
		for _, t := range sorted {
			line(t)
		}
		return nil
	}
	possible, err := s.K.PossibleCPUs()
	if err != nil {
		return err
	}
	cpus, err := parseCPUList(inv.Flag("C"), possible)
	if err != nil {
		return &UsageError{"ps", err.Error()}
	}
	for i, c := range cpus {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "CPU: %d\n", c)
		for _, t := range sorted {
			if t.CPU == c {
				line(t)
			}
		}
	}
	return nil
}

// msTime is crash's translate_nanoseconds: "D HH:MM:SS.mmm".
func msTime(ns uint64, daysWidth int) string {
	ms := ns / 1e6
	days := ms / 86400000
	h := ms % 86400000 / 3600000
	m := ms % 3600000 / 60000
	sec := ms % 60000 / 1000
	return fmt.Sprintf("%*d %02d:%02d:%02d.%03d", daysWidth, days, h, m, sec, ms%1000)
}

// psProcps is procps' `ps -ely`: S UID PID PPID C PRI NI RSS SZ WCHAN TTY TIME CMD.
func (s *Session) psProcps(b *strings.Builder, tasks []*kstructs.Task) {
	fmt.Fprintf(b, "S   UID     PID    PPID  C PRI  NI   RSS    SZ WCHAN  TTY          TIME CMD\n")
	up, _ := s.K.Uptime()
	page := s.K.PageSize() / 1024
	if page == 0 {
		page = 4
	}
	for _, t := range tasks {
		if t.Idle {
			continue // procps never sees the idle tasks
		}
		uid, _ := s.K.TaskUID(t)
		cpuNs := t.Utime + t.Stime
		c := 0
		if elapsed := uint64(up) - t.StartTime; uint64(up) > t.StartTime && elapsed > 0 {
			c = int(cpuNs * 100 / elapsed)
			if c > 99 {
				c = 99
			}
		}
		ni := fmt.Sprint(t.Nice)
		if t.Policy != kstructs.SchedNormal && t.Policy != kstructs.SchedBatch && t.Policy != kstructs.SchedIdle {
			ni = "-"
		}
		secs := cpuNs / 1e9
		tm := fmt.Sprintf("%02d:%02d:%02d", secs/3600%24, secs/60%60, secs%60)
		if d := secs / 86400; d > 0 {
			tm = fmt.Sprintf("%d-%s", d, tm)
		}
		// procps prints the wait channel cut to the column's 6 characters.
		wchan, _, _ := s.K.WaitChannel(t)
		if wchan == "" {
			wchan = "-"
		}
		fmt.Fprintf(b, "%c %5d %7d %7d %2d %3d %3s %5d %5d %-6.6s %-8s %8s %s\n",
			t.StateChar, uid, t.PID, psPPID(t), c, t.Prio-40, ni, t.RSS, t.VSZ/page, wchan, "?", tm, t.Comm)
	}
}

// psPPID is procps' PPID: the real parent's thread-group id.
func psPPID(t *kstructs.Task) int { return t.PPID }
