package kstructs_test

// Every field of the guest's ground truth against the task table read from
// the dump, on every fixture (bookworm on three arches, 5.10, 6.12).
//
// The guest takes two snapshots (testdata/guest/gt.sh): the full one
// (stat and status of every thread, seconds before the crash) and a late
// one (stat and schedstat, read with shell builtins just before `echo c`).
// The workload is quiescent, so every thread of either snapshot must be in
// the dump: nothing is excused by name or parent. What may legitimately
// change after a snapshot is decided from the kernel's own counters, never
// from who the task is:
//   - a thread whose se.sum_exec_runtime in the dump equals the late
//     snapshot's has not run since it was read: unless the dump shows it
//     woken and waiting on a runqueue (a wake-up changes the state and may
//     choose another CPU without running the task), its state letter and
//     CPU must equal the late snapshot's;
//   - a process none of whose threads has been scheduled out since the full
//     snapshot (same context-switch counts, not running at either end) has
//     the same VmSize and VmRSS.
// The others are compared where the kernel's rules bound the change, and
// the number compared exactly is reported per field.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// nsPerTick converts the kernel's nanoseconds to /proc's clock ticks:
// nsec_to_clock_t() with USER_HZ 100 on every arch (include/asm-generic/param.h).
const nsPerTick = 10_000_000

// gtCounts counts, per field, the tasks compared and matched.
type gtCounts map[string][2]int

func (c gtCounts) add(field string, ok bool) {
	v := c[field]
	v[0]++
	if ok {
		v[1]++
	}
	c[field] = v
}

func (c gtCounts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s %d/%d;", k, c[k][1], c[k][0])
	}
	return b.String()
}

// gtDump is the dump's side of one thread: the decoded task plus the
// counters the comparison reads through kinspect's expression evaluator.
type gtDump struct {
	*kstructs.Task
	procName           string
	nvcsw, nivcsw      uint64
	prevUtime, prevStm uint64 // prev_cputime: what the last /proc read reported
	// PercpuRSS: the kernel counts RSS in percpu_counters (6.2+: no
	// mm_struct.rss_stat.count in DWARF).
	PercpuRSS bool
}

func readGTDump(k *kstructs.Kernel, x *kstructs.Task) (*gtDump, error) {
	d := &gtDump{Task: x}
	_, err := k.MemberOffset("struct mm_struct", "rss_stat.count")
	d.PercpuRSS = err != nil
	if d.procName, err = k.ProcName(x); err != nil {
		return nil, err
	}
	env := k.Env()
	for _, m := range []struct {
		expr string
		dst  *uint64
	}{
		{"nvcsw", &d.nvcsw}, {"nivcsw", &d.nivcsw},
		{"prev_cputime.utime", &d.prevUtime}, {"prev_cputime.stime", &d.prevStm},
	} {
		v, err := env.Eval(fmt.Sprintf("((struct task_struct *)%#x)->%s", x.Addr, m.expr))
		if err != nil {
			return nil, fmt.Errorf("pid %d: %s: %w", x.PID, m.expr, err)
		}
		if *m.dst, err = v.Uint(k.Mem); err != nil {
			return nil, fmt.Errorf("pid %d: %s: %w", x.PID, m.expr, err)
		}
	}
	return d, nil
}

// TestTasksMatchGroundTruth compares every thread the guest listed with
// the task table read from the dump, field by field.
func TestTasksMatchGroundTruth(t *testing.T) {
	ktest.ForEach(t, compareGroundTruth)
	ktest.ForEachExtra(t, compareGroundTruth)
	ktest.ForEachMachine(t, compareGroundTruth)
}

func compareGroundTruth(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if p := k.TaskListProblems(); len(p) > 0 {
		t.Errorf("task list problems on an intact dump: %v", p)
	}
	g := f.GT
	if len(g.Late) == 0 {
		t.Fatalf("%s: the fixture has no late snapshot: rebuild it (make fixtures)", ktest.Name(f))
	}
	byPID := map[int]*gtDump{}
	threads := map[int][]int{} // tgid → tids in the dump
	idle := 0
	for _, x := range tasks {
		if x.PID == 0 {
			idle++
			if !x.Idle || !x.KernelThread || !strings.HasPrefix(x.Comm, "swapper/") {
				t.Errorf("pid 0 task %#x: idle=%v kthread=%v comm=%q", x.Addr, x.Idle, x.KernelThread, x.Comm)
			}
			continue
		}
		d, err := readGTDump(k, x)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		byPID[x.PID] = d
		threads[x.TGID] = append(threads[x.TGID], x.PID)
	}
	if cpus, _ := k.PossibleCPUs(); idle != len(cpus) {
		t.Errorf("%d idle tasks, want one per possible cpu (%d)", idle, len(cpus))
	}
	// quietSinceFull: the thread has not been scheduled out since the full
	// snapshot (its context-switch counts are the same).
	// A thread running or runnable at either end may have changed without
	// a switch (a kworker picks its next work item while it runs).
	quietSinceFull := func(tid int) bool {
		gt, ok1 := g.Task(tid)
		d, ok2 := byPID[tid]
		return ok1 && ok2 && gt.HasStatus && d.nvcsw == gt.VolCtxt && d.nivcsw == gt.NonvolCtxt &&
			gt.State != "R" && d.StateChar != 'R'
	}
	c := gtCounts{}
	for i := range g.Tasks {
		gt := &g.Tasks[i]
		d, ok := byPID[gt.PID]
		c.add("present", ok)
		if !ok {
			t.Errorf("pid %d (%s) from the ground truth is missing from the dump", gt.PID, gt.Comm)
			continue
		}
		compareTask(t, c, k, f, gt, d, threads, quietSinceFull)
	}
	// Every thread of the late snapshot is in the dump too; only tasks born
	// after it (none in a quiescent guest but what the crash itself starts)
	// may be extra.
	for pid, lt := range g.Late {
		if _, ok := byPID[pid]; !ok && pid != 0 {
			t.Errorf("pid %d (%s) of the late snapshot is missing from the dump", pid, lt.Comm)
		}
	}
	var extras []string
	for pid, d := range byPID {
		if _, ok := g.Late[pid]; !ok {
			extras = append(extras, fmt.Sprintf("%d %s", pid, d.Comm))
		}
	}
	for field, v := range c {
		if v[0] == 0 {
			t.Errorf("field %s: nothing compared", field)
		}
	}
	t.Logf("%s: %d ground-truth threads, %d late, %d idle, extras %v; per field matched/compared:%s",
		ktest.Name(f), len(g.Tasks), len(g.Late), idle, extras, c)
}

func compareTask(t *testing.T, c gtCounts, k *kstructs.Kernel, f *fixture.Fixture, gt *fixture.GTTask, d *gtDump,
	threads map[int][]int, quietSinceFull func(int) bool) {
	t.Helper()
	g := f.GT
	check := func(field string, ok bool, format string, args ...any) {
		c.add(field, ok)
		if !ok {
			t.Errorf("pid %d (%s) %s: %s", gt.PID, gt.Comm, field, fmt.Sprintf(format, args...))
		}
	}
	check("tgid", d.TGID == gt.TGID, "%d, want %d", d.TGID, gt.TGID)
	// /proc's ppid is the real parent's tgid (crash's PPID is ->parent's pid).
	if rp, err := k.TaskByAddr(d.RealParent); err != nil {
		check("ppid", false, "real parent %#x: %v", d.RealParent, err)
	} else {
		check("ppid", rp.TGID == gt.PPID, "real parent tgid %d, want %d", rp.TGID, gt.PPID)
	}
	check("policy", d.Policy == gt.Policy, "%d, want %d", d.Policy, gt.Policy)
	check("rt_priority", d.RTPriority == gt.RTPriority, "%d, want %d", d.RTPriority, gt.RTPriority)
	check("nice", d.Nice == gt.Nice, "%d, want %d", d.Nice, gt.Nice)
	// stat field 18 is task_prio() = prio - MAX_RT_PRIO for every policy.
	check("prio", d.Prio-100 == gt.Priority, "priority %d, want %d", d.Prio-100, gt.Priority)
	check("kthread", d.KernelThread == gt.Kthread, "%v, want %v", d.KernelThread, gt.Kthread)
	// start_time: nsec_to_clock_t(task->start_boottime) (fs/proc/array.c).
	check("start_time", d.StartBoottime/nsPerTick == gt.StartTime, "%d ticks, want %d", d.StartBoottime/nsPerTick, gt.StartTime)

	// comm: exactly what /proc showed in the late snapshot, when the thread
	// has not run since (a kworker's work description changes as it runs,
	// even without a context switch); otherwise task->comm must be what
	// /proc's name starts with.
	lt, inLate := g.Late[gt.PID]
	quietSinceLate := inLate && lt.HasSched && d.SumExecRuntime == lt.RunNS && !(d.StateChar == 'R' && !d.Active && lt.State != "R")
	if quietSinceLate {
		check("comm", d.procName == lt.Comm, "/proc name %q, want %q (late snapshot, not run since)", d.procName, lt.Comm)
	} else {
		check("comm-prefix", d.Comm == gt.Comm || strings.HasPrefix(gt.Comm, d.Comm) && len(d.Comm) >= 15 ||
			strings.HasPrefix(gt.Comm, d.Comm+"-") || strings.HasPrefix(gt.Comm, d.Comm+"+"),
			"comm %q, /proc showed %q", d.Comm, gt.Comm)
	}

	if inLate {
		compareLate(check, f, lt, d, quietSinceLate)
	}

	// The thread set of a process: exactly the guest's.
	if gt.PID == gt.TGID {
		want := []int{}
		for _, th := range g.ThreadsOf(gt.TGID) {
			want = append(want, th.PID)
		}
		got := append([]int(nil), threads[gt.TGID]...)
		sort.Ints(want)
		sort.Ints(got)
		check("threads", fmt.Sprint(got) == fmt.Sprint(want), "%v, want %v", got, want)
		check("num_threads", len(got) == gt.NumThreads, "%d, want %d", len(got), gt.NumThreads)
		compareMem(check, g, gt, d, quietSinceFull)
	}
}

// compareLate compares with the late snapshot: state and CPU when the
// thread has not run since it was read; CPU time always, within what the
// time between the late snapshot and the panic allows.
func compareLate(check func(string, bool, string, ...any), f *fixture.Fixture, lt *fixture.LateTask, d *gtDump, quiet bool) {
	if quiet {
		check("state", string(d.StateChar) == lt.State, "%c, want %s (late snapshot, not run since)", d.StateChar, lt.State)
		check("processor", d.CPU == lt.Processor, "%d, want %d (late snapshot, not run since)", d.CPU, lt.Processor)
	}
	// prev_cputime holds what cputime_adjust() reported at the last /proc
	// read of this thread, which is the late snapshot's stat: exact.
	check("utime", d.prevUtime/nsPerTick == lt.UTime, "prev_cputime.utime %d ticks, want %d", d.prevUtime/nsPerTick, lt.UTime)
	check("stime", d.prevStm/nsPerTick == lt.STime, "prev_cputime.stime %d ticks, want %d", d.prevStm/nsPerTick, lt.STime)
	if lt.HasSched {
		// se.sum_exec_runtime only grows, and a thread cannot run longer
		// than the wall time between the late read and the panic (plus one
		// tick of accounting granularity).
		// The crashing shell is the exception: panic() re-enables
		// interrupts before its final mdelay loop (kernel/panic.c), so the
		// tick charges it until QEMU stops the guest, after the console's
		// last line: only a lower bound holds for it.
		bound := uint64((f.GT.PanicUptime-f.GT.LateUptime)*1e9) + nsPerTick
		if lt.PID == f.GT.CrashPID {
			bound = math.MaxUint64
		}
		grew := d.SumExecRuntime - lt.RunNS
		check("sum_exec_runtime", d.SumExecRuntime >= lt.RunNS && grew <= bound,
			"%d ns, late snapshot %d ns (may grow by at most %d ns)", d.SumExecRuntime, lt.RunNS, bound)
	}
}

// compareMem compares VSZ/RSS with VmSize/VmRSS (kB) for a process none of
// whose threads has been scheduled out since the full snapshot (the others
// may have faulted pages in or out since).
func compareMem(check func(string, bool, string, ...any), g *fixture.GroundTruth, gt *fixture.GTTask, d *gtDump, quietSinceFull func(tid int) bool) {
	if gt.VmSizeKB == nil || gt.VmRSSKB == nil {
		return // kernel threads have no mm
	}
	for _, th := range g.ThreadsOf(gt.TGID) {
		if !quietSinceFull(th.PID) {
			return
		}
	}
	check("vsz", int64(d.VSZ) == *gt.VmSizeKB, "%d kB, want VmSize %d kB", d.VSZ, *gt.VmSizeKB)
	// VmRSS is get_mm_counter()'s shared counts, or since the 2025 fix
	// "mm: fix the inaccurate memory statistics issue for users" (in 6.16,
	// backported to 6.12 stable) get_mm_counter_sum()'s per-cpu sums; the
	// change is inline code that DWARF cannot tell apart, so either is right.
	// Before 6.2 (atomic counters) both are the same number.
	check("rss", int64(d.MMRSS) == *gt.VmRSSKB || d.PercpuRSS && int64(d.RSS) == *gt.VmRSSKB,
		"mm counters %d kB (with per-cpu deltas %d kB), want VmRSS %d kB", d.MMRSS, d.RSS, *gt.VmRSSKB)
}
