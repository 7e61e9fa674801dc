package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// traceStatus is `trace`: the trace arrays and their per-cpu buffers.
type traceStatus struct {
	Instances []*kstructs.TraceInstance `json:"instances"`
	Problems  []string                  `json:"problems,omitempty"`
}

func (r traceStatus) Text(w io.Writer, s *Session) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-16s  %-10s %-7s %-8s %s\n", "INSTANCE", "TRACE_ARRAY", "TRACER", "TRACING", "CLOCK", "BUFFER")
	for _, ti := range r.Instances {
		on := "off"
		if ti.TracingOn {
			on = "on"
		}
		tracer := ti.Tracer
		if tracer == "" {
			tracer = "-"
		}
		fmt.Fprintf(&b, "%-12s %-16x  %-10s %-7s %-8s %x\n", traceInstName(ti), ti.Addr, tracer, on, ti.Clock, ti.Buffer)
	}
	for _, ti := range r.Instances {
		fmt.Fprintf(&b, "\n%s:", traceInstName(ti))
		if ti.Buffer == 0 {
			b.WriteString(" no ring buffer\n")
			continue
		}
		if !ti.Expanded {
			b.WriteString(" (tracing never enabled since boot: buffers at their boot size)")
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "%5s  %-16s %8s %6s %9s %9s %9s %10s %8s %6s\n", "CPU", "PER_CPU_BUFFER", "SIZE_KB", "PAGES",
			"ENTRIES", "OVERRUN", "COMMIT_OV", "BYTES", "DROPPED", "READ")
		for _, c := range ti.CPUs {
			fmt.Fprintf(&b, "%5d  %-16x %8d %6d %9d %9d %9d %10d %8d %6d\n", c.CPU, c.Addr, c.SizeKB, c.Pages,
				c.Entries, c.Overrun, c.CommitOverrun, c.Bytes, c.Dropped, c.Read)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "trace: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func traceInstName(ti *kstructs.TraceInstance) string {
	if ti.Name == "" {
		return "(top)"
	}
	return ti.Name
}

// traceEvent is one event of `trace show --json`.
type traceEvent struct {
	CPU          int            `json:"cpu"`
	Timestamp    string         `json:"timestamp"`
	TS           uint64         `json:"ts"`
	Comm         string         `json:"comm"`
	PID          int32          `json:"pid"`
	Flags        string         `json:"flags"`
	IRQFlags     uint8          `json:"irq_flags"`
	PreemptCount uint8          `json:"preempt_count"`
	Event        string         `json:"event"`
	System       string         `json:"system"`
	Type         int            `json:"type"`
	Fields       map[string]any `json:"fields"`
	Text         string         `json:"text"`
}

// traceShow is `trace show`: the events merged across cpus, oldest first.
type traceShow struct {
	k      *kstructs.Kernel
	ti     *kstructs.TraceInstance
	events []*kstructs.TraceEvent
	header []string
}

func (r traceShow) MarshalJSON() ([]byte, error) {
	out := make([]traceEvent, 0, len(r.events))
	for _, e := range r.events {
		te := traceEvent{CPU: e.CPU, Timestamp: strings.TrimSpace(kstructs.TraceTime(e.TS, r.ti.ClockInNS)), TS: e.TS,
			Comm: r.k.TraceComm(e.PID), PID: e.PID, Flags: r.k.TraceFlags(e), IRQFlags: e.Flags,
			PreemptCount: e.PreemptCount, Event: e.Name, System: e.System, Type: e.Type,
			Fields: map[string]any{}, Text: e.Text(r.k)}
		for _, f := range e.Fields(r.k) {
			v := f.Value
			if b, ok := v.([]byte); ok {
				v = fmt.Sprintf("%x", b)
			}
			te.Fields[f.Name] = v
		}
		out = append(out, te)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (r traceShow) Text(w io.Writer, s *Session) error {
	var b bytes.Buffer
	for _, h := range r.header {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	for i, e := range r.events {
		if i%256 == 0 {
			if err := s.Context().Err(); err != nil {
				return err
			}
		}
		b.WriteString(r.k.TraceLine(r.ti, e))
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

func traceCmd() *Command {
	return &Command{
		Name:     "trace",
		Synopsis: "trace [show|fork-exit [-c CPUS] [-i INSTANCE] [--since TIME] [--last N] [-e EVENT...]] | trace dump [-i INSTANCE] -t FILE.dat|DIR",
		Summary:  "the ftrace ring buffers: status, and the last events before the crash",
		Description: "`trace` lists the trace arrays (the top-level buffer and each instance): current tracer, " +
			"whether tracing was on, the trace clock, and per cpu the buffer size and the counters of " +
			"per_cpu/cpuN/stats (entries, overrun, commit overrun, bytes, dropped, read). `trace show` prints " +
			"the events as /sys/kernel/tracing/trace does (`comm-pid [cpu] flags timestamp: event: fields`), " +
			"merged across cpus in time order, newest last. The ring buffers are read from the dump as the " +
			"kernel's trace iterator reads them (reader page, then head page around to the commit page), " +
			"with layouts from DWARF; events are named and formatted from the kernel's own event list " +
			"(ftrace_events: fields and print_fmt), comms from the tracer's saved_cmdlines (then the dump's " +
			"tasks). -i picks an instance (default the top-level buffer), -c cpus, -e events (name or " +
			"system:name; several as -e a,b or -e a b), --since the events at or after a timestamp as the trace prints it, " +
			"--last the newest N. A page that cannot be decoded is reported and the other pages still print. " +
			"`trace fork-exit` lists every sched_process_fork (parent and child) and sched_process_exit, oldest " +
			"first. `trace dump -t FILE.dat` writes a trace-cmd trace.dat (trace-cmd report, KernelShark); " +
			"`trace dump DIR` writes DIR/cpuN.raw, each cpu's data pages in reading order as trace_pipe_raw gives them. " +
			"A kernel whose tracing was never enabled says so.",
		Examples: []string{"trace", "trace show --last 50", "trace show -i kt -c 0", "trace show -e sched_switch,sched_wakeup",
			"trace show --json --last 5", "trace show --since 123.456789", "trace fork-exit",
			"trace dump -t /tmp/trace.dat", "trace dump -i kt /tmp/kt-raw"},
		Flags: []Flag{
			{Short: "c", Arg: "CPUS", Help: "only these cpus (e.g. 0,2-3)"},
			{Short: "i", Arg: "INSTANCE", Help: "the trace instance (default: the top-level buffer)"},
			{Short: "e", Arg: "EVENT", Help: "only these events (comma-separated; more may follow as arguments)"},
			{Long: "since", Arg: "TIME", Help: "only events at or after this timestamp (seconds, as the trace prints them)"},
			{Long: "last", Arg: "N", Help: "only the newest N events"},
			{Short: "t", Arg: "FILE", Help: "trace dump: the trace.dat file to write"},
		},
		Run: runTrace,
	}
}

func runTrace(s *Session, inv *Invocation) (Result, error) {
	k := s.K
	sub := ""
	args := inv.Args
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "", "status":
		all, err := k.TraceInstances()
		if err != nil {
			return nil, err
		}
		return traceStatus{Instances: all}, nil
	case "show":
		return runTraceShow(s, inv, args)
	case "dump":
		return runTraceDump(s, inv, args)
	case "fork-exit":
		return runTraceForkExit(s, inv, args)
	}
	return nil, &UsageError{"trace", fmt.Sprintf("unknown subcommand %q (status, show, fork-exit, dump)", sub)}
}

// traceSelect resolves -i and -c.
func traceSelect(s *Session, inv *Invocation) (*kstructs.TraceInstance, []int, error) {
	ti, err := s.K.TraceInstance(inv.Flag("i"))
	if err != nil {
		return nil, nil, err
	}
	if ti.Buffer == 0 {
		return nil, nil, kstructs.ErrTracingNeverEnabled
	}
	var possible []int
	for _, c := range ti.CPUs {
		possible = append(possible, c.CPU)
	}
	cpus := possible
	if inv.Has("c") {
		if cpus, err = parseCPUList(inv.Flag("c"), possible); err != nil {
			return nil, nil, &UsageError{"trace", err.Error()}
		}
	}
	sort.Ints(cpus)
	return ti, cpus, nil
}

// traceCollect decodes the selected cpus' buffers and merges them.
func traceCollect(s *Session, ti *kstructs.TraceInstance, cpus []int) ([]*kstructs.TraceEvent, []error, error) {
	var per [][]*kstructs.TraceEvent
	var problems []error
	for _, c := range cpus {
		if err := s.Context().Err(); err != nil {
			return nil, nil, err
		}
		evs, errs := s.K.TraceEvents(ti, c)
		problems = append(problems, errs...)
		per = append(per, evs)
	}
	return kstructs.MergeTraceEvents(per), problems, nil
}

// traceFilter is what -e, --since and --last keep of the merged events.
type traceFilter struct {
	want  map[string]bool // nil: every event
	since uint64
	last  int // -1: no limit
}

// parseTraceFilter reads -e EVENT... (the rest of the arguments are more
// events), --since TIME and --last N.
func parseTraceFilter(ti *kstructs.TraceInstance, inv *Invocation, rest []string) (traceFilter, error) {
	f := traceFilter{last: -1}
	if inv.Has("e") || len(rest) > 0 {
		if !inv.Has("e") {
			return f, &UsageError{"trace", fmt.Sprintf("unexpected argument %q (events go after -e)", rest[0])}
		}
		f.want = map[string]bool{}
		for _, a := range append([]string{inv.Flag("e")}, rest...) {
			for _, n := range strings.Split(a, ",") {
				if n = strings.TrimSpace(n); n != "" {
					f.want[n] = true
				}
			}
		}
	}
	if inv.Has("last") {
		n, err := strconv.Atoi(inv.Flag("last"))
		if err != nil || n < 0 {
			return f, &UsageError{"trace", fmt.Sprintf("--last needs a count, not %q", inv.Flag("last"))}
		}
		f.last = n
	}
	if inv.Has("since") {
		ts, err := parseTraceTime(inv.Flag("since"), ti.ClockInNS)
		if err != nil {
			return f, &UsageError{"trace", err.Error()}
		}
		f.since = ts
	}
	return f, nil
}

// parseTraceTime reads a timestamp as the trace prints it: seconds with up
// to nine decimals for the nanosecond clocks, a raw count for the others;
// the events printed with that stamp are at or after the time returned.
func parseTraceTime(s string, inNS bool) (uint64, error) {
	sec, frac, dot := strings.Cut(strings.TrimSpace(s), ".")
	bad := fmt.Errorf("--since needs a trace timestamp such as 123.456789, not %q", s)
	n, err := strconv.ParseUint(sec, 10, 64)
	if err != nil {
		return 0, bad
	}
	if !inNS {
		if dot {
			return 0, fmt.Errorf("--since: this trace clock counts, it has no seconds: give a whole number, not %q", s)
		}
		return n, nil
	}
	if len(frac) > 9 {
		return 0, bad
	}
	f := uint64(0)
	if frac != "" {
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil {
			return 0, bad
		}
	}
	ts := n*1e9 + f
	if len(frac) <= 6 && ts >= 500 {
		// The trace prints microseconds rounded to nearest (ns2usecs in
		// kernel/trace/trace.h): an event printed at this stamp may lie
		// up to 500 ns before it.
		ts -= 500
	}
	return ts, nil
}

func (f traceFilter) apply(evs []*kstructs.TraceEvent) []*kstructs.TraceEvent {
	kept := evs[:0:0]
	for _, e := range evs {
		if e.TS >= f.since && (f.want == nil || f.want[e.Name] || f.want[e.System+":"+e.Name]) {
			kept = append(kept, e)
		}
	}
	if f.last >= 0 && len(kept) > f.last {
		kept = kept[len(kept)-f.last:]
	}
	return kept
}

// traceEvents selects (-i, -c), decodes, reports the pages that failed on
// stderr and filters: what `trace show` and `trace fork-exit` print, with
// the count decoded before filtering.
func traceEvents(s *Session, inv *Invocation, rest []string) (*kstructs.TraceInstance, []int, []*kstructs.TraceEvent, int, error) {
	ti, cpus, err := traceSelect(s, inv)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	filter, err := parseTraceFilter(ti, inv, rest)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	evs, problems, err := traceCollect(s, ti, cpus)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	for _, p := range problems {
		fmt.Fprintf(s.Stderr, "trace: %v\n", p)
	}
	if len(evs) == 0 && !ti.Expanded && len(problems) == 0 {
		return nil, nil, nil, 0, fmt.Errorf("%w: the ring buffers are empty and at their boot size", kstructs.ErrTracingNeverEnabled)
	}
	return ti, cpus, filter.apply(evs), len(evs), nil
}

func runTraceShow(s *Session, inv *Invocation, rest []string) (Result, error) {
	k := s.K
	ti, cpus, evs, total, err := traceEvents(s, inv, rest)
	if err != nil {
		return nil, err
	}
	r := traceShow{k: k, ti: ti, events: evs}
	tracer := ti.Tracer
	if tracer == "" {
		tracer = "nop"
	}
	r.header = append(r.header, "# tracer: "+tracer)
	if ti.Name != "" {
		r.header = append(r.header, "# instance: "+ti.Name)
	}
	var entries, written uint64
	sel := map[int]bool{}
	for _, c := range cpus {
		sel[c] = true
	}
	for _, c := range ti.CPUs {
		if sel[c.CPU] {
			entries += c.Entries
			written += c.Entries + c.Overrun
		}
	}
	r.header = append(r.header, fmt.Sprintf("# entries-in-buffer/entries-written: %d/%d   #P:%d   decoded: %d   shown: %d",
		entries, written, len(cpus), total, len(evs)))
	r.header = append(r.header, "#")
	return r, nil
}
