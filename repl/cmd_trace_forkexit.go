package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// traceForkExit is `trace fork-exit`: every fork and exit the ring buffer
// recorded, oldest first, as the tutorials list them from
// sched_process_fork and sched_process_exit.
type traceForkExit struct {
	ti   *kstructs.TraceInstance
	rows []kstructs.TraceForkExit
}

// traceForkExitJSON is one row of `trace fork-exit --json`.
type traceForkExitJSON struct {
	Timestamp  string `json:"timestamp"`
	TS         uint64 `json:"ts"`
	CPU        int    `json:"cpu"`
	Event      string `json:"event"`
	PID        int64  `json:"pid"`
	Comm       string `json:"comm"`
	ParentPID  int64  `json:"parent_pid,omitempty"`
	ParentComm string `json:"parent_comm,omitempty"`
}

func (r traceForkExit) MarshalJSON() ([]byte, error) {
	out := make([]traceForkExitJSON, len(r.rows))
	for i, x := range r.rows {
		out[i] = traceForkExitJSON{Timestamp: strings.TrimSpace(kstructs.TraceTime(x.TS, r.ti.ClockInNS)), TS: x.TS,
			CPU: x.CPU, Event: x.Event, PID: x.PID, Comm: x.Comm, ParentPID: x.ParentPID, ParentComm: x.ParentComm}
	}
	return json.Marshal(out)
}

func (r traceForkExit) Text(w io.Writer, s *Session) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%16s %4s  %-5s %-24s %s\n", "TIMESTAMP", "CPU", "EVENT", "PARENT", "TASK")
	for _, x := range r.rows {
		parent := ""
		if x.Event == "fork" {
			parent = fmt.Sprintf("%s-%d", x.ParentComm, x.ParentPID)
		}
		fmt.Fprintf(&b, "%16s %4d  %-5s %-24s %s-%d\n", strings.TrimSpace(kstructs.TraceTime(x.TS, r.ti.ClockInNS)),
			x.CPU, x.Event, parent, x.Comm, x.PID)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func runTraceForkExit(s *Session, inv *Invocation, rest []string) (Result, error) {
	if len(rest) > 0 || inv.Has("e") {
		return nil, &UsageError{"trace", "trace fork-exit takes no events: it picks sched_process_fork and sched_process_exit"}
	}
	ti, _, evs, _, err := traceEvents(s, inv, nil)
	if err != nil {
		return nil, err
	}
	return traceForkExit{ti: ti, rows: s.K.TraceForkExits(evs)}, nil
}
