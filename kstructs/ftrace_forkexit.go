package kstructs

// TraceForkExit is one process creation (sched_process_fork) or exit
// (sched_process_exit) recorded in a ring buffer: the tutorials' question
// "who forked what, and who exited, just before the crash" as one walk.
// Events are described by include/trace/events/sched.h; their fields are
// read by name from the kernel's own event format, so a kernel that
// renamed or re-typed them (fixed char[16] vs __string comm) still works.
type TraceForkExit struct {
	TS         uint64
	CPU        int
	Event      string // "fork" or "exit"
	PID        int64  // the child (fork) or the exiting task
	Comm       string
	ParentPID  int64 // fork only
	ParentComm string
}

// TraceForkExits picks the fork and exit events out of evs (already in
// time order, e.g. from MergeTraceEvents), keeping their order.
func (k *Kernel) TraceForkExits(evs []*TraceEvent) []TraceForkExit {
	var out []TraceForkExit
	for _, e := range evs {
		r := TraceForkExit{TS: e.TS, CPU: e.CPU}
		switch e.Name {
		case "sched_process_fork":
			r.Event = "fork"
			r.ParentComm, r.ParentPID = e.strField(k, "parent_comm"), e.intField(k, "parent_pid")
			r.Comm, r.PID = e.strField(k, "child_comm"), e.intField(k, "child_pid")
		case "sched_process_exit":
			r.Event = "exit"
			r.Comm, r.PID = e.strField(k, "comm"), e.intField(k, "pid")
		default:
			continue
		}
		out = append(out, r)
	}
	return out
}

func (e *TraceEvent) strField(k *Kernel, name string) string {
	if f, ok := e.field(name); ok {
		if s, ok := e.fieldValue(k, f).(string); ok {
			return s
		}
	}
	return ""
}

// intField is a pid-like field, -1 when the event has no such field.
func (e *TraceEvent) intField(k *Kernel, name string) int64 {
	if v, ok := e.uintField(k, name); ok {
		return int64(v)
	}
	return -1
}
