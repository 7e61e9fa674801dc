package oracle_test

// timer and timer -r compared with crash 8.0.6 on the same dump: every
// pending timer of every base crash lists (expiry, time to expiry,
// timer_list, function), and every hrtimer of every clock base (soft
// expiry, expiry, TTE, hrtimer, function) with the clock's current time.

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var timerCommands = []string{"timer", "timer -r"}

// moduleSysCommands are the system views crash also runs on the module
// fixtures (module_test.go's target).
var moduleSysCommands = []string{"irq", "irq -s", "timer", "timer -r", "dev"}

var (
	timerBaseRE = regexp.MustCompile(`^TIMER_BASES\[(\d+)\]\[(\w+)\]: ([0-9a-f]+)`)
	timerRowRE  = regexp.MustCompile(`^\s+(\d+)\s+(-?\d+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+<(.*)>`)
	hrCPURE     = regexp.MustCompile(`^CPU: (\d+)\s+HRTIMER_CPU_BASE: ([0-9a-f]+)`)
	hrClockRE   = regexp.MustCompile(`^\s+CLOCK: (\d+)\s+HRTIMER_CLOCK_BASE: ([0-9a-f]+)(?:\s+\[(\w+)\])?`)
	hrRowRE     = regexp.MustCompile(`^\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+<(.*)>`)
	hrNowRE     = regexp.MustCompile(`^\s+(-?\d+)\s*$`)
)

// timerTables groups a `timer` or `timer -r` output's rows under their
// base's header line, each group's rows sorted (crash's order of equal
// expiries is qsort's).
func timerTables(s string, header, row *regexp.Regexp, extra ...*regexp.Regexp) map[string][]string {
	out := map[string][]string{}
	cpu, key := "", ""
	for _, l := range strings.Split(s, "\n") {
		if m := hrCPURE.FindStringSubmatch(l); m != nil {
			cpu = m[0]
			continue
		}
		if m := header.FindStringSubmatch(l); m != nil {
			key = cpu + " " + strings.Join(m[1:], " ")
			out[key] = []string{}
			continue
		}
		if key == "" {
			continue
		}
		if m := row.FindStringSubmatch(l); m != nil {
			out[key] = append(out[key], strings.Join(m[1:], " "))
			continue
		}
		for _, re := range extra {
			if m := re.FindStringSubmatch(l); m != nil {
				out[key] = append(out[key], "now "+m[1])
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func TestTimerMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) { timerMatchesCrash(t, open(t, fx.Arch, fx.Suite)) })
	}
	forKinds(t, timerMatchesCrash)
}

func timerMatchesCrash(t *testing.T, tg *target) {
	for _, c := range []struct {
		cmd         string
		header, row *regexp.Regexp
		extra       []*regexp.Regexp
	}{
		{"timer", timerBaseRE, timerRowRE, nil},
		{"timer -r", hrClockRE, hrRowRE, []*regexp.Regexp{hrNowRE}},
	} {
		co, ko := tg.both(t, c.cmd)
		want, got := timerTables(co, c.header, c.row, c.extra...), timerTables(ko, c.header, c.row, c.extra...)
		if c.cmd == "timer -r" && tg.k.PtrSize() == 4 {
			truncateTTE(got) // crash limitation: see truncateTTE
		}
		if len(want) == 0 {
			t.Fatalf("%s: no base in crash's output:\n%s", c.cmd, co)
		}
		rows := 0
		for base, w := range want {
			g, ok := got[base]
			if !ok {
				t.Errorf("%s: crash's %s is not in kinspect's output", c.cmd, base)
				continue
			}
			if strings.Join(w, "\n") != strings.Join(g, "\n") {
				t.Errorf("%s %s:\n crash    %q\n kinspect %q", c.cmd, base, w, g)
			}
			rows += len(w)
		}
		t.Logf("%s: %d bases, %d rows as crash", c.cmd, len(want), rows)
	}
}

// truncateTTE cuts each hrtimer row's TTE (its third field) to 32 bits:
// crash computes an hrtimer's time to expiry in a C long (kernel.c
// print_timer), so on 32-bit targets a timer more than 2.1 s away shows a
// wrapped value; kinspect prints the real 64-bit difference.
func truncateTTE(tables map[string][]string) {
	for k, rows := range tables {
		for i, r := range rows {
			f := strings.Fields(r)
			if len(f) == 6 {
				if v, err := strconv.ParseInt(f[2], 10, 64); err == nil {
					f[2] = strconv.FormatInt(int64(int32(v)), 10)
					rows[i] = strings.Join(f, " ")
				}
			}
		}
		sort.Strings(rows)
		tables[k] = rows
	}
}
