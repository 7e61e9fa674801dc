package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// triageResult is a first look at a crash on one page: what kernel, what
// happened (panic message and the log before it), who was running, what
// was stuck, and what the log complained about.
type triageResult struct {
	Release       string          `json:"release"`
	Version       string          `json:"version"`
	Machine       string          `json:"machine"`
	Date          string          `json:"date,omitempty"`
	Uptime        string          `json:"uptime,omitempty"`
	UptimeSeconds int64           `json:"uptime_seconds"`
	Panic         string          `json:"panic"`
	Fault         *kstructs.Fault `json:"fault,omitempty"` // the oops / hung task / lockup report
	PanicLog      []string        `json:"panic_log"`       // the log lines up to the panic message
	Taint         string          `json:"taint"`           // print_tainted(): "Not tainted" / "Tainted: G  W ..."
	TaintMask     uint64          `json:"taint_mask"`
	TaintFlags    string          `json:"taint_flags"` // letters of the set flags only
	PanicTask     *triageTask     `json:"panic_task,omitempty"`
	CPUs          []triageCPU     `json:"cpus"`
	Blocked       []triageTask    `json:"blocked"` // tasks in TASK_UNINTERRUPTIBLE (UN)
	BlockedTotal  int             `json:"blocked_total"`
	LogWarnings   []triageLogHit  `json:"log_warnings"`
	WarningsTotal int             `json:"log_warnings_total"`
	Errors        []string        `json:"errors,omitempty"` // what could not be read
}

type triageTask struct {
	PID       int      `json:"pid"`
	Comm      string   `json:"comm"`
	Task      string   `json:"task"`
	CPU       int      `json:"cpu"`
	State     string   `json:"state"`
	Backtrace []string `json:"backtrace,omitempty"`
	// BacktraceError says why there is no backtrace.
	BacktraceError string `json:"backtrace_error,omitempty"`

	addr uint64
}

type triageCPU struct {
	CPU       int         `json:"cpu"`
	NrRunning uint64      `json:"nr_running"`
	Current   *triageTask `json:"current,omitempty"`
}

type triageLogHit struct {
	Kind string `json:"kind"`
	Seq  uint64 `json:"seq"`
	Line string `json:"line"`
}

// Limits that keep triage to a page.
const (
	triageLogBefore   = 10 // log lines shown before the panic message
	triageMaxBlocked  = 10 // D-state tasks with backtraces
	triageMaxWarnings = 20
	triageMaxFrames   = 16
)

// logPatterns classify log lines worth a look, most specific first.
var logPatterns = []struct{ kind, substr string }{
	{"soft_lockup", "soft lockup"},
	{"hard_lockup", "hard LOCKUP"},
	{"hard_lockup", "Watchdog detected hard LOCKUP"},
	{"rcu_stall", "rcu_sched detected stall"},
	{"rcu_stall", "rcu_preempt detected stall"},
	{"rcu_stall", "detected stalls on CPUs/tasks"},
	{"rcu_stall", "self-detected stall on CPU"},
	{"hung_task", "blocked for more than"},
	{"oom", "invoked oom-killer"},
	{"oom", "Out of memory"},
	{"oom", "oom-kill:"},
	{"oops", "Oops"},
	{"bug", "BUG:"},
	{"bug", "kernel BUG at"},
	{"warning", "WARNING:"},
	{"panic", "Kernel panic"},
}

func triageCmd() *Command {
	return &Command{
		Name:     "triage",
		Synopsis: "triage",
		Summary:  "one-page first look at the crash",
		Description: "Summarises the crash: kernel release and uptime, the panic message with the log lines " +
			"before it, the taint flags, the panic task's backtrace, each CPU's current task (with its " +
			"backtrace) and runqueue length, tasks in uninterruptible sleep (D state) with their " +
			"backtraces, and the log's warnings (lockups, RCU stalls, hung tasks, OOM, BUG, WARNING, Oops).",
		Examples: []string{"triage", "triage --json"},
		Run:      runTriage,
	}
}

func runTriage(s *Session, inv *Invocation) (Result, error) {
	k := s.K
	if k.Live() {
		// Triage reads a crash: its panic, the CPUs' registers saved
		// when they stopped. A running kernel has neither.
		return nil, fmt.Errorf("triage needs a crash dump: %w has not crashed and no CPU saved its registers (use sys, ps, log, runq, bt PID)", kstructs.ErrLive)
	}
	r := &triageResult{CPUs: []triageCPU{}, Blocked: []triageTask{}, LogWarnings: []triageLogHit{}, PanicLog: []string{}}
	note := func(what string, err error) {
		if err != nil {
			r.Errors = append(r.Errors, what+": "+err.Error())
		}
	}
	si, _ := k.Sys()
	r.Release, r.Version, r.Machine = si.Release, si.Version, si.Machine
	if !si.Date.IsZero() {
		r.Date = si.Date.Format(kstructs.CrashDateLayout)
	}
	if si.Uptime > 0 {
		r.Uptime = formatUptime(si.Uptime)
		r.UptimeSeconds = int64(si.Uptime.Seconds())
	}

	msg, err := k.PanicMessage()
	note("panic message", err)
	r.Panic = msg
	recs, errs := k.Log()
	for _, e := range errs {
		note("log", e)
	}
	r.PanicLog, r.LogWarnings, r.WarningsTotal = triageLog(recs, msg)
	r.Fault = k.Fault(recs)

	if t, err := k.Taint(); err != nil {
		note("taint", err)
	} else {
		r.Taint, r.TaintMask, r.TaintFlags = t.String(), t.Mask, t.Letters()
	}

	if s.Context().Err() != nil {
		return nil, s.Context().Err()
	}
	if pt, err := k.PanicTask(); err != nil {
		note("panic task", err)
	} else {
		r.PanicTask = s.triageTask(pt, true)
	}
	rqs, err := k.RunQueues()
	note("runqueues", err)
	for _, rq := range rqs {
		c := triageCPU{CPU: rq.CPU, NrRunning: rq.NrRunning}
		curr := rq.Curr
		if at, err := k.ActiveTask(rq.CPU); err == nil {
			curr = at
		}
		if curr != nil {
			c.Current = s.triageTask(curr, r.PanicTask == nil || curr.Addr != r.PanicTask.addr)
		}
		r.CPUs = append(r.CPUs, c)
		if s.Context().Err() != nil {
			return nil, s.Context().Err()
		}
	}
	tasks, err := k.Tasks()
	note("tasks", err)
	for _, t := range tasks {
		if t.StateCode != "UN" {
			continue
		}
		r.BlockedTotal++
		if len(r.Blocked) < triageMaxBlocked {
			r.Blocked = append(r.Blocked, *s.triageTask(t, true))
		}
		if s.Context().Err() != nil {
			return nil, s.Context().Err()
		}
	}
	return r, nil
}

// triageTask summarises t, with its backtrace if withBT.
func (s *Session) triageTask(t *kstructs.Task, withBT bool) *triageTask {
	tt := &triageTask{PID: t.PID, Comm: t.Comm, Task: s.addr(t.Addr), CPU: t.CPU, State: t.StateCode, addr: t.Addr}
	if !withBT {
		return tt
	}
	bt, err := s.K.Backtrace(t.Addr)
	if err != nil {
		tt.BacktraceError = err.Error()
		return tt
	}
	for i, f := range bt.Frames {
		if i == triageMaxFrames {
			tt.Backtrace = append(tt.Backtrace, fmt.Sprintf("... %d more frames", len(bt.Frames)-i))
			break
		}
		name := f.Function
		if name == "" {
			name = "(unknown)"
		}
		line := fmt.Sprintf("#%d %s+%#x", f.Level, name, f.Offset)
		if f.Module != "" {
			line += " [" + f.Module + "]"
		}
		if f.Inline {
			line = fmt.Sprintf("#%d %s (inlined)", f.Level, name)
		}
		tt.Backtrace = append(tt.Backtrace, line)
	}
	if len(bt.Frames) == 0 {
		tt.BacktraceError = "the unwinder found no frames"
		if bt.Stopped != "" {
			tt.BacktraceError += ": " + bt.Stopped
		}
		return tt
	}
	if bt.Stopped != "" {
		tt.Backtrace = append(tt.Backtrace, "(stopped: "+bt.Stopped+")")
	}
	return tt
}

// triageLog picks the log lines that lead up to the panic message (the
// first line containing it, as crash finds it) and the lines matching
// logPatterns.
func triageLog(recs []kstructs.LogRecord, panicMsg string) (before []string, hits []triageLogHit, total int) {
	type line struct {
		seq  uint64
		text string
	}
	var lines []line
	f := kstructs.LogFormat{}
	for _, rec := range recs {
		for _, l := range strings.Split(strings.TrimRight(string(f.AppendLogRecord(nil, rec)), "\n"), "\n") {
			lines = append(lines, line{rec.Seq, l})
		}
	}
	at := len(lines) - 1
	if panicMsg != "" {
		for i, l := range lines {
			if strings.Contains(l.text, panicMsg) {
				at = i
				break
			}
		}
	}
	for i := max(0, at-triageLogBefore); i <= at && i >= 0; i++ {
		before = append(before, lines[i].text)
	}
	for _, l := range lines {
		for _, p := range logPatterns {
			if strings.Contains(l.text, p.substr) {
				total++
				if len(hits) < triageMaxWarnings {
					hits = append(hits, triageLogHit{Kind: p.kind, Seq: l.seq, Line: l.text})
				}
				break
			}
		}
	}
	if before == nil {
		before = []string{}
	}
	if hits == nil {
		hits = []triageLogHit{}
	}
	return before, hits, total
}

func (r *triageResult) Text(w io.Writer, s *Session) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("     RELEASE: %s  %s\n", r.Release, r.Machine)
	p("     VERSION: %s\n", r.Version)
	if r.Date != "" {
		p("        DATE: %s\n", r.Date)
	}
	if r.Uptime != "" {
		p("      UPTIME: %s\n", r.Uptime)
	}
	p("       PANIC: %q\n", r.Panic)
	if f := r.Fault; f != nil {
		p("       FAULT: %s\n", f.Reason)
		if f.Function != "" {
			mod := ""
			if f.Module != "" {
				mod = " [" + f.Module + "]"
			}
			p("          IN: %s+%#x%s\n", f.Function, f.Offset, mod)
		}
		if f.PID != 0 {
			p("        TASK: %d (%s)\n", f.PID, f.Comm)
		}
	}
	if r.Taint != "" {
		p("       TAINT: %s", r.Taint)
		if r.TaintMask != 0 {
			p("  (mask %#x: %s)", r.TaintMask, r.TaintFlags)
		}
		p("\n")
	}
	task := func(indent string, t *triageTask) {
		p("%sPID: %-7d TASK: %s  CPU: %d  STATE: %s  COMMAND: %q\n", indent, t.PID, t.Task, t.CPU, t.State, t.Comm)
		for _, f := range t.Backtrace {
			p("%s  %s\n", indent, f)
		}
		if t.BacktraceError != "" {
			p("%s  (no backtrace: %s)\n", indent, t.BacktraceError)
		}
	}
	if r.PanicTask != nil {
		p("\nPANIC TASK:\n")
		task("  ", r.PanicTask)
	}
	if len(r.PanicLog) > 0 {
		p("\nLOG UP TO THE PANIC:\n")
		for _, l := range r.PanicLog {
			p("  %s\n", l)
		}
	}
	if len(r.CPUs) > 0 {
		p("\nCPUS:\n")
		for _, c := range r.CPUs {
			p("  CPU %d  NR_RUNNING: %d\n", c.CPU, c.NrRunning)
			if c.Current != nil {
				task("    ", c.Current)
			}
		}
	}
	p("\nTASKS IN UNINTERRUPTIBLE SLEEP (UN): %d\n", r.BlockedTotal)
	for i := range r.Blocked {
		task("  ", &r.Blocked[i])
	}
	if r.BlockedTotal > len(r.Blocked) {
		p("  ... %d more\n", r.BlockedTotal-len(r.Blocked))
	}
	p("\nLOG WARNINGS: %d\n", r.WarningsTotal)
	for _, h := range r.LogWarnings {
		p("  %-12s %s\n", h.Kind, h.Line)
	}
	if r.WarningsTotal > len(r.LogWarnings) {
		p("  ... %d more\n", r.WarningsTotal-len(r.LogWarnings))
	}
	if len(r.Errors) > 0 {
		p("\nNOT AVAILABLE:\n")
		for _, e := range r.Errors {
			p("  %s\n", e)
		}
	}
	return nil
}
