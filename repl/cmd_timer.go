package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// timerResult is `timer`: each cpu's timer wheel, as crash prints it.
type timerResult struct {
	w    *kstructs.TimerWheel
	cpus map[int]bool
}

func (r timerResult) bases() []kstructs.TimerBase {
	var out []kstructs.TimerBase
	for _, b := range r.w.Bases {
		if r.cpus == nil || r.cpus[b.CPU] {
			out = append(out, b)
		}
	}
	return out
}

func (r timerResult) MarshalJSON() ([]byte, error) {
	w := *r.w
	w.Bases = r.bases()
	return json.Marshal(w)
}

// funcName is "<symbol>" as crash shows a timer's function.
func funcName(s *Session, addr uint64) string {
	if n, ok := s.symOff(addr); ok {
		return "<" + n + ">"
	}
	return ""
}

func (r timerResult) Text(w io.Writer, s *Session) error {
	var b strings.Builder
	j := strconv.FormatUint(r.w.Jiffies, 10)
	fmt.Fprintf(&b, "%-*s\n%*s\n", len(j), "JIFFIES", len(j), j)
	hw := s.hexWidth()
	for _, base := range r.bases() {
		fmt.Fprintf(&b, "\nTIMER_BASES[%d][%s]: %x\n", base.CPU, base.Name, base.Addr)
		if base.Err != "" {
			fmt.Fprintf(&b, "  (%s)\n", base.Err)
		}
		if len(base.Timers) == 0 {
			b.WriteString("  (none)\n")
			continue
		}
		ew, tw := len("EXPIRES"), len("TTE")
		for _, t := range base.Timers {
			ew = max(ew, len(strconv.FormatUint(t.Expires, 10)))
			tw = max(tw, len(strconv.FormatInt(t.TTE, 10)))
		}
		fmt.Fprintf(&b, "  %-*s  %*s  %-*s  %s\n", ew, "EXPIRES", tw, "TTE", hw, "TIMER_LIST", "FUNCTION")
		for _, t := range base.Timers {
			fmt.Fprintf(&b, "  %*d  %*d  %0*x  %0*x  %s\n", ew, t.Expires, tw, t.TTE, hw, t.Addr, hw, t.Function, funcName(s, t.Function))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// hrtimerResult is `timer -r`: each cpu's hrtimer clock bases.
type hrtimerResult struct {
	bases []kstructs.HRClockBase
}

func (r hrtimerResult) MarshalJSON() ([]byte, error) {
	if r.bases == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(r.bases)
}

func (r hrtimerResult) Text(w io.Writer, s *Session) error {
	var b strings.Builder
	hw := s.hexWidth()
	last := -1
	for _, c := range r.bases {
		if c.CPU != last {
			fmt.Fprintf(&b, "CPU: %d  HRTIMER_CPU_BASE: %x\n", c.CPU, c.CPUBase)
			last = c.CPU
		}
		get := ""
		if c.GetTime != 0 {
			n, _ := s.symOff(c.GetTime)
			get = "  [" + n + "]"
		}
		fmt.Fprintf(&b, "  CLOCK: %d  HRTIMER_CLOCK_BASE: %x%s\n", c.Index, c.Addr, get)
		if c.Err != "" {
			fmt.Fprintf(&b, "  (%s)\n", c.Err)
		}
		if len(c.Timers) == 0 {
			b.WriteString("  (empty)\n\n")
			continue
		}
		fmt.Fprintf(&b, "  %14s\n  %14d\n", "CURRENT", c.Now)
		fmt.Fprintf(&b, "  %14s  %14s  %12s  %-*s  %s\n", "SOFTEXPIRES", "EXPIRES", "TTE", hw, "HRTIMER", "FUNCTION")
		for _, t := range c.Timers {
			fmt.Fprintf(&b, "  %14d  %14d  %12d  %0*x  %0*x  %s\n", t.SoftExpires, t.Expires, t.TTE, hw, t.Addr, hw, t.Function, funcName(s, t.Function))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func timerCmd() *Command {
	return &Command{
		Name:     "timer",
		Synopsis: "timer [-r] [-C CPUS]",
		Summary:  "pending timers: the timer wheel, or hrtimers with -r",
		Description: "Lists each cpu's timer wheel (the per-cpu timer_bases: BASE_STD and BASE_DEF, or BASE_LOCAL, " +
			"BASE_GLOBAL and BASE_DEF on 6.9+) as crash does: jiffies, then per base every pending timer_list, " +
			"soonest first, with its expiry, time to expiry (TTE, in jiffies), address and function. -r lists " +
			"the hrtimers of each cpu's clock bases instead (soft expiry, expiry, TTE in ns against the clock's " +
			"time at the crash, hrtimer, function). -C restricts to some cpus. --json gives the same data.",
		Examples: []string{"timer", "timer -C 0", "timer -r", "timer -r --json"},
		Flags: []Flag{
			{Short: "r", Help: "hrtimers instead of the timer wheel"},
			{Short: "C", Arg: "CPUS", Help: "only these cpus (e.g. 0,2-3)"},
		},
		Run: runTimer,
	}
}

func runTimer(s *Session, inv *Invocation) (Result, error) {
	if len(inv.Args) > 0 {
		return nil, &UsageError{"timer", fmt.Sprintf("unexpected argument %q", inv.Args[0])}
	}
	var cpus map[int]bool
	if inv.Has("C") {
		possible, err := s.K.PossibleCPUs()
		if err != nil {
			return nil, err
		}
		list, err := parseCPUList(inv.Flag("C"), possible)
		if err != nil {
			return nil, &UsageError{"timer", err.Error()}
		}
		cpus = map[int]bool{}
		for _, c := range list {
			cpus[c] = true
		}
	}
	if inv.Has("r") {
		all, err := s.K.HRTimers()
		if err != nil {
			return nil, err
		}
		var r hrtimerResult
		for _, c := range all {
			if cpus == nil || cpus[c.CPU] {
				r.bases = append(r.bases, c)
			}
		}
		sort.SliceStable(r.bases, func(i, j int) bool { return r.bases[i].CPU < r.bases[j].CPU })
		return r, nil
	}
	w, err := s.K.Timers()
	if err != nil {
		return nil, err
	}
	return timerResult{w: w, cpus: cpus}, nil
}
