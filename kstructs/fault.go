package kstructs

import (
	"regexp"
	"strconv"
	"strings"
)

// Fault is what killed the kernel, as its own report in the log says
// (the oops of arch/*/mm/fault.c and kernel/panic.c, the hung-task report
// of kernel/hung_task.c, the soft-lockup report of kernel/watchdog.c),
// with the faulting function located in the dump: the pc of the report's
// exception frame, named by the symbol tables (modules included).
type Fault struct {
	Kind   string `json:"kind"`   // "oops", "hung_task", "soft_lockup"
	Reason string `json:"reason"` // the report's first line
	PID    int    `json:"pid,omitempty"`
	Comm   string `json:"comm,omitempty"`
	// The faulting function of an oops: from the exception frame of the
	// faulting task's stack when the unwind finds it (PC set), else from
	// the report's pc line.
	Function string `json:"function,omitempty"`
	Offset   uint64 `json:"offset,omitempty"`
	Module   string `json:"module,omitempty"`
	PC       uint64 `json:"pc,omitempty"`
}

var (
	faultOops = []string{"BUG: kernel NULL pointer dereference", "BUG: unable to handle page fault",
		"Unable to handle kernel ", "Unhandled fault:", "kernel BUG at ", "Internal error: "}
	faultHung      = regexp.MustCompile(`INFO: task (.+):(\d+) blocked for more than \d+ seconds`)
	faultLockup    = regexp.MustCompile(`watchdog: BUG: soft lockup - CPU#\d+ stuck for .*\[(.+):(\d+)\]`)
	faultCPULine   = regexp.MustCompile(`CPU: \d+ PID: (\d+) Comm: (\S+)`)
	faultPCLine    = regexp.MustCompile(`(?:RIP: [0-9a-f]{4}:|^pc : |^PC is at )([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x[0-9a-f]+(?: \[([A-Za-z0-9_]+)\])?`)
	faultReportEnd = "---[ end trace"
)

// Fault finds the first fault report in the log records (nil when the
// log holds none: a panic() called directly, a sysrq-c crash has one).
func (k *Kernel) Fault(recs []LogRecord) *Fault {
	var f *Fault
	for _, rec := range recs {
		for _, l := range strings.Split(rec.Text, "\n") {
			l = strings.TrimSpace(l)
			if f == nil {
				f = faultStart(l)
				continue
			}
			if strings.HasPrefix(l, faultReportEnd) {
				k.locateFault(f)
				return f
			}
			f.addLine(l)
		}
	}
	if f != nil {
		k.locateFault(f)
	}
	return f
}

// faultStart recognises a report's first line.
func faultStart(l string) *Fault {
	for _, p := range faultOops {
		if strings.HasPrefix(l, p) {
			return &Fault{Kind: "oops", Reason: l}
		}
	}
	if m := faultHung.FindStringSubmatch(l); m != nil {
		pid, _ := strconv.Atoi(m[2])
		return &Fault{Kind: "hung_task", Reason: l, PID: pid, Comm: m[1]}
	}
	if m := faultLockup.FindStringSubmatch(l); m != nil {
		pid, _ := strconv.Atoi(m[2])
		return &Fault{Kind: "soft_lockup", Reason: l, PID: pid, Comm: m[1]}
	}
	return nil
}

// addLine takes the task and the pc from the report's lines.
func (f *Fault) addLine(l string) {
	if m := faultCPULine.FindStringSubmatch(l); m != nil && f.PID == 0 {
		f.PID, _ = strconv.Atoi(m[1])
		f.Comm = m[2]
	}
	if m := faultPCLine.FindStringSubmatch(l); m != nil && f.Function == "" {
		f.Function, f.Module = m[1], m[3]
		f.Offset, _ = strconv.ParseUint(m[2], 16, 64)
	}
}

// locateFault replaces the report's pc by the faulting task's exception
// frame in the dump: the kernel-mode registers its unwind crosses whose pc
// the report named (or the first such frame when the report named none).
// For a hung or locked-up task, the function is the first module frame of
// its stack (the driver it is stuck in), if any.
func (k *Kernel) locateFault(f *Fault) {
	if f.PID == 0 {
		return
	}
	t, err := k.TaskByPID(f.PID)
	if err != nil {
		return
	}
	bt, err := k.Backtrace(t.Addr)
	if err != nil {
		return
	}
	if f.Kind != "oops" {
		for _, fr := range bt.Frames {
			if fr.Module != "" && !fr.Inline {
				f.Function, f.Offset, f.Module, f.PC = fr.Function, fr.Offset, fr.Module, fr.PC
				return
			}
		}
		return
	}
	for _, fr := range bt.Frames {
		r := fr.ExceptionRegs
		if r == nil || r.User {
			continue
		}
		s, off, ok := k.Image.SymbolAt(r.PC())
		if !ok || f.Function != "" && s.Name != f.Function {
			continue
		}
		f.Function, f.Offset, f.Module, f.PC = s.Name, off, s.Module, r.PC()
		return
	}
}
