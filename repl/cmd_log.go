package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/kinspect/kinspect/kstructs"
)

// logResult is the kernel log; --json gives the array of records.
type logResult struct {
	records []kstructs.LogRecord
	format  kstructs.LogFormat
}

func (r logResult) MarshalJSON() ([]byte, error) {
	recs := r.records
	if recs == nil {
		recs = []kstructs.LogRecord{}
	}
	// Log text is full of '<' and '>': keep them readable.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(recs); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (r logResult) Text(w io.Writer, s *Session) error {
	buf := make([]byte, 0, 64*len(r.records))
	for _, rec := range r.records {
		buf = r.format.AppendLogRecord(buf, rec)
	}
	_, err := w.Write(buf)
	return err
}

func logCmd() *Command {
	return &Command{
		Name:     "log",
		Aliases:  []string{"dmesg"},
		Synopsis: "log [-tTmcd]",
		Summary:  "the kernel's printk log buffer",
		Description: "Prints the kernel message buffer from the dump, oldest record first, as crash's log does: " +
			"each record as `[seconds.micros] text`, continuation lines of a multi-line record indented under " +
			"the first. Both the lockless ring buffer of 5.10+ kernels and the log_buf records of 3.5-5.9 " +
			"kernels are read (chosen by what the vmlinux's DWARF defines). Records that fail validation " +
			"are skipped and reported on stderr.",
		Examples: []string{"log", "log -T", "log -m -c", "log -d | grep DEVICE", "log --json"},
		Flags: []Flag{
			{Short: "t", Help: "no timestamps"},
			{Short: "T", Help: "timestamps as wall-clock dates (boot time = crash time - uptime)"},
			{Short: "m", Help: "prefix the message level as <N>"},
			{Short: "c", Help: "show the caller: [T<pid>] for a task, [C<cpu>] for a CPU"},
			{Short: "d", Help: "show the device dictionary (SUBSYSTEM=, DEVICE=) under each record"},
		},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			k := s.K
			f := kstructs.LogFormat{
				NoTime:    inv.Has("t"),
				WallClock: inv.Has("T"),
				Level:     inv.Has("m"),
				Caller:    inv.Has("c"),
				Dict:      inv.Has("d"),
			}
			if f.Caller {
				f.CallerWidth = k.LogCallerWidth()
			}
			if f.WallClock && !f.NoTime {
				boot, err := k.BootTime()
				if err != nil {
					return nil, fmt.Errorf("-T needs the time of boot: %w", err)
				}
				f.Boot = boot
			}
			recs, errs := k.Log()
			if len(recs) == 0 && len(errs) > 0 {
				return nil, errs[0]
			}
			for _, err := range errs {
				fmt.Fprintf(s.Stderr, "log: skipped: %v\n", err)
			}
			return logResult{records: recs, format: f}, nil
		},
	}
}

// fillSysPanic sets sys's PANIC line; a failure to read the log becomes a
// sys warning rather than hiding the other facts.
func (s *Session) fillSysPanic(r *sysResult) {
	msg, err := s.K.PanicMessage()
	if err != nil {
		r.Warnings = append(r.Warnings, "panic message: "+err.Error())
		return
	}
	r.Panic = msg
}
