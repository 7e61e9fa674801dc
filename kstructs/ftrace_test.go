package kstructs_test

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// normTraceLine removes what may differ without being a decoding error:
// the leading padding of the comm column (the guest's line has it; the
// console capture keeps it, but trailing blanks may have been trimmed).
// Nothing else is normalised: timestamp, cpu, comm, pid, flags, event name
// and field text are compared as printed.
func normTraceLine(s string) string { return strings.TrimSpace(s) }

// TestTraceMatchesGroundTruth compares the decoded ring buffers with what
// the guest printed from /sys/kernel/tracing (testdata/guest/ftrace.sh):
// the frozen instance "kt" must be exactly the printed events per cpu, in
// order and complete; for the still-running top-level buffer, every printed
// line (the last 40 a cpu) must appear in order in kinspect's events of
// that cpu, later events may follow.
func TestTraceMatchesGroundTruth(t *testing.T) {
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if len(f.GT.Trace) == 0 {
			t.Fatal("the fixture has no ftrace ground truth: its guest did not trace (rebuild it: make fixtures)")
		}
		for _, inst := range []string{"kt", "top"} {
			ti, err := k.TraceInstance(inst)
			if err != nil {
				t.Fatalf("%s: %v", inst, err)
			}
			var cpus []string
			for c := range f.GT.Trace[inst] {
				cpus = append(cpus, c)
			}
			sort.Strings(cpus)
			for _, c := range cpus {
				want := f.GT.Trace[inst][c]
				var cpu int
				fmt.Sscanf(c, "cpu%d", &cpu)
				evs, errs := k.TraceEvents(ti, cpu)
				for _, err := range errs {
					t.Errorf("%s %s: %v", inst, c, err)
				}
				got := make([]string, len(evs))
				for i, e := range evs {
					got[i] = stableComm(f.GT, normTraceLine(k.TraceLine(ti, e)))
				}
				want = append([]string(nil), want...)
				for i := range want {
					want[i] = stableComm(f.GT, want[i])
				}
				matched := 0
				if inst == "kt" {
					for i := 0; i < len(want) && i < len(got); i++ {
						if normTraceLine(want[i]) != got[i] {
							t.Errorf("%s %s line %d:\n guest:    %s\n kinspect: %s", inst, c, i, normTraceLine(want[i]), got[i])
							break
						}
						matched++
					}
					if len(got) != len(want) {
						t.Errorf("%s %s: %d events, the guest printed %d", inst, c, len(got), len(want))
					}
				} else {
					matched = matchTop(t, c, want, got, evs, ti)
				}
				t.Logf("%s %s %s: printed %d, matched %d (kinspect %d events)", ktest.Name(f), inst, c, len(want), matched, len(got))
			}
		}
	})
}

var reCommPID = regexp.MustCompile(`^\s*(.*)-(\d+)( +\[\d{3}\] .*)$`)

// stableComm masks the comm of the comm-pid column for a pid that is in
// neither ground-truth snapshot: a process of the guest's own printing
// pipeline, born and gone around the print. The column is read from the
// tracer's saved_cmdlines when the trace is printed, and such a pid's name
// changes when it execs (busybox runs its applets as "exe" first); the
// event's own fields (prev_comm=...) are recorded when it happened and are
// compared as printed.
func stableComm(g *fixture.GroundTruth, line string) string {
	m := reCommPID.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	pid, _ := strconv.Atoi(m[2])
	if _, ok := g.Task(pid); ok || pid == 0 {
		return line
	}
	if _, ok := g.Late[pid]; ok {
		return line
	}
	return "*-" + m[2] + m[3]
}

var reTraceTS = regexp.MustCompile(`^(.*\] \S+ +)(\d+)\.(\d{6})(: .*)$`)

// traceTS returns a printed line's timestamp in µs and the line without it.
func traceTS(line string) (uint64, string, bool) {
	m := reTraceTS.FindStringSubmatch(line)
	if m == nil {
		return 0, line, false
	}
	s, _ := strconv.ParseUint(m[2], 10, 64)
	us, _ := strconv.ParseUint(m[3], 10, 64)
	return s*1000000 + us, m[1] + "TS" + m[4], true
}

// matchTop checks that the guest's last lines of the running top-level
// buffer appear in order among kinspect's events of that cpu. Two things
// are not decoding errors and are counted, not failed:
//   - lines older than kinspect's oldest event when the buffer has wrapped
//     since (the buffer kept running until the crash: they were overwritten);
//   - printed lines differing in timestamp only, from the first event of
//     the guest's reading pipeline (gt.sh's grep | tail | sed) on: the
//     guest read the buffer live, and the events being written by the cpu
//     as it read got a provisional stamp (on x86_64 the kernel printed a
//     wakeup 30 ms before the sleep it ends; on arm64 6.12 a timer irq
//     taken by tail itself 83 µs early; the dump's stamps are in order).
func matchTop(t *testing.T, c string, want, got []string, evs []*kstructs.TraceEvent, ti *kstructs.TraceInstance) int {
	t.Helper()
	j := 0
	overwritten, live := 0, 0
	wrapped := false
	for _, tc := range ti.CPUs {
		if fmt.Sprintf("cpu%d", tc.CPU) == c {
			wrapped = tc.Overrun > 0
		}
	}
	if len(evs) > 0 && wrapped {
		oldest := (evs[0].TS + 500) / 1000
		for j < len(want) {
			ts, _, ok := traceTS(normTraceLine(want[j]))
			if !ok || ts >= oldest {
				break
			}
			j++
			overwritten++
		}
	}
	// The live window: from the first event of the reading pipeline, or
	// the last 3 lines when none of its events is printed.
	liveFrom := len(want) - 3
	for x, l := range want {
		if readerLine.MatchString(l) {
			liveFrom = min(liveFrom, x)
			break
		}
	}
	i := 0
	for ; j < len(want); j++ {
		w := normTraceLine(want[j])
		found := false
		for k := i; k < len(got); k++ {
			if got[k] == w {
				i, found = k+1, true
				break
			}
		}
		if !found && j >= liveFrom {
			_, wn, _ := traceTS(w)
			for k := i; k < len(got); k++ {
				if _, gn, _ := traceTS(got[k]); gn == wn {
					i, found = k+1, true
					live++
					break
				}
			}
		}
		if !found {
			t.Errorf("top %s: printed line %d not found in order in kinspect's events: %s", c, j, w)
			return j - overwritten - live
		}
	}
	if overwritten > 0 || live > 0 {
		t.Logf("top %s: %d printed lines overwritten before the crash, %d with a live-read timestamp", c, overwritten, live)
	}
	return len(want) - overwritten - live
}

// readerLine is an event of gt.sh's pipeline that prints the trace (its
// processes are in no snapshot: stableComm masked their comm as "*").
var readerLine = regexp.MustCompile(`^\s*(grep|tail|sed|\*)-\d+\s+\[`)

// TestTraceStatus checks the instance list and the per-cpu counters
// against the guest's current_tracer and the frozen instance's size.
func TestTraceStatus(t *testing.T) {
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if len(f.GT.Trace) == 0 {
			t.Fatal("the fixture has no ftrace ground truth: its guest did not trace (rebuild it: make fixtures)")
		}
		all, err := k.TraceInstances()
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].Name != "" || all[1].Name != "kt" {
			t.Fatalf("instances %+v", all)
		}
		if ct := f.GT.Files["/sys/kernel/tracing/current_tracer"]; len(ct) > 0 && all[0].Tracer != ct[0] {
			t.Errorf("current tracer %q, guest %q", all[0].Tracer, ct[0])
		}
		if tc := f.GT.Files["/sys/kernel/tracing/trace_clock"]; len(tc) > 0 && !strings.Contains(tc[0], "["+all[0].Clock+"]") {
			t.Errorf("trace clock %q, guest %q", all[0].Clock, tc[0])
		}
		if !all[0].TracingOn || all[1].TracingOn {
			t.Errorf("tracing_on: top %v kt %v, want true false", all[0].TracingOn, all[1].TracingOn)
		}
		for _, tc := range all[1].CPUs {
			if kb := f.GT.Files["/sys/kernel/tracing/instances/kt/buffer_size_kb"]; len(kb) > 0 && fmt.Sprint(tc.SizeKB) != kb[0] {
				t.Errorf("kt cpu%d: %d KiB, guest %s", tc.CPU, tc.SizeKB, kb[0])
			}
			evs, _ := k.TraceEvents(all[1], tc.CPU)
			if uint64(len(evs)) != tc.Entries {
				t.Errorf("kt cpu%d: %d events decoded, entries counter %d", tc.CPU, len(evs), tc.Entries)
			}
		}
		// The top-level buffer ran on after the guest printed its stats:
		// what was written (entries + overrun) can only have grown.
		for _, tc := range all[0].CPUs {
			var entries, overrun uint64
			for _, l := range f.GT.Files[fmt.Sprintf("/sys/kernel/tracing/per_cpu/cpu%d/stats", tc.CPU)] {
				fmt.Sscanf(l, "entries: %d", &entries)
				fmt.Sscanf(l, "overrun: %d", &overrun)
			}
			if entries+overrun == 0 || tc.Entries+tc.Overrun < entries+overrun {
				t.Errorf("top cpu%d: entries %d + overrun %d in the dump, the guest printed %d + %d earlier", tc.CPU, tc.Entries, tc.Overrun, entries, overrun)
			}
		}
		for _, tc := range all[0].CPUs {
			if kb := f.GT.Files["/sys/kernel/tracing/buffer_size_kb"]; len(kb) > 0 && fmt.Sprint(tc.SizeKB) != kb[0] {
				t.Errorf("top cpu%d: %d KiB, guest %s", tc.CPU, tc.SizeKB, kb[0])
			}
		}
	})
}

// BenchmarkTraceDecodeAll decodes every buffer of every instance (the
// instance list, pages and events: /decode), and also formats every event
// as a trace line (/format).
func BenchmarkTraceDecodeAll(b *testing.B) {
	for _, arch := range ktest.Arches {
		for _, format := range []bool{false, true} {
			name := arch + "/decode"
			if format {
				name = arch + "/format"
			}
			b.Run(name, func(b *testing.B) {
				k, _ := ktest.Open(b, arch, "vmcore.elf")
				if _, err := k.TraceInstances(); err != nil {
					b.Skip(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					n := 0
					all, _ := k.TraceInstances()
					for _, ti := range all {
						for _, tc := range ti.CPUs {
							evs, _ := k.TraceEvents(ti, tc.CPU)
							if format {
								for _, e := range evs {
									_ = k.TraceLine(ti, e)
								}
							}
							n += len(evs)
						}
					}
					b.ReportMetric(float64(n), "events")
				}
			})
		}
	}
}

// TestTraceSameAcrossDumpFormats: the ring buffer pages survive
// makedumpfile's filtering (-d 31) and compression: every format of a
// fixture decodes to the same events as its ELF dump.
func TestTraceSameAcrossDumpFormats(t *testing.T) {
	k0, f := ktest.Open(t, "x86_64", "vmcore.elf")
	if len(f.GT.Trace) == 0 {
		t.Fatal("the fixture has no ftrace ground truth: its guest did not trace (rebuild it: make fixtures)")
	}
	lines := func(k *kstructs.Kernel) []string {
		var out []string
		all, err := k.TraceInstances()
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range all {
			for _, c := range ti.CPUs {
				evs, errs := k.TraceEvents(ti, c.CPU)
				if len(errs) > 0 {
					t.Errorf("%s cpu %d: %v", ti.Name, c.CPU, errs)
				}
				for _, e := range evs {
					out = append(out, k.TraceLine(ti, e))
				}
			}
		}
		return out
	}
	want := lines(k0)
	for _, d := range []string{"vmcore.kdump-zlib", "vmcore.mkdf-zlib-d31"} {
		if _, err := os.Stat(f.Path(d)); err != nil {
			continue
		}
		k, _ := ktest.Open(t, "x86_64", d)
		if got := lines(k); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %d events differ from the ELF dump's %d", d, len(got), len(want))
		} else {
			t.Logf("%s: the same %d events", d, len(got))
		}
	}
}
