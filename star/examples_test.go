package star

// The examples/ scripts, checked against the guest's ground truth.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// runExample runs examples/NAME.star's main(args) and returns its value.
func runExample(t *testing.T, k *kstructs.Kernel, name string, args ...string) any {
	t.Helper()
	s, _, _ := newSession(k)
	res, err := RunFile(context.Background(), s, "../examples/"+name+".star", args, true)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return roundTrip(t, res.Value)
}

func TestExamplePstree(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tree := runExample(t, k, "pstree").([]any)
		byPID := map[int]map[string]any{}
		for _, p := range tree {
			p := p.(map[string]any)
			byPID[int(num(t, p["pid"]))] = p
		}
		// Depth-first order: each process comes after its parent.
		seen := map[uint64]bool{0: true}
		for _, p := range tree {
			p := p.(map[string]any)
			if !seen[num(t, p["ppid"])] {
				t.Errorf("pid %v comes before its parent %v", p["pid"], p["ppid"])
			}
			seen[num(t, p["pid"])] = true
		}
		g := f.GT
		matched, threads := 0, 0
		for _, gp := range g.Processes() {
			p, ok := byPID[gp.PID]
			if !ok {
				t.Errorf("pid %d (%s) of the guest is not in the tree", gp.PID, gp.Comm)
				continue
			}
			var tids []int
			for _, th := range g.ThreadsOf(gp.PID) {
				tids = append(tids, th.PID)
			}
			sort.Ints(tids)
			var got []int
			for _, x := range nums(t, p["tids"]) {
				got = append(got, int(x))
			}
			sort.Ints(got)
			// comm is at most 15 characters; /proc adds a kworker's workqueue.
			comm := p["comm"].(string)
			commOK := comm == gp.Comm || strings.HasPrefix(gp.Comm, comm) && len(comm) >= 15 ||
				strings.HasPrefix(gp.Comm, comm+"-") || strings.HasPrefix(gp.Comm, comm+"+")
			if num(t, p["ppid"]) != uint64(gp.PPID) || !commOK || int(num(t, p["threads"])) != len(tids) ||
				fmt.Sprint(got) != fmt.Sprint(tids) || p["kernel_thread"] != gp.Kthread {
				t.Errorf("pid %d: tree ppid=%v comm=%v threads=%v tids=%v kthread=%v; guest ppid=%d comm=%s threads=%d tids=%v kthread=%v",
					gp.PID, p["ppid"], p["comm"], p["threads"], got, p["kernel_thread"], gp.PPID, gp.Comm, len(tids), tids, gp.Kthread)
			}
			// CPU time only grows: each thread's runtime in the dump is at
			// least what the guest's late snapshot read from schedstat.
			for i, tid := range nums(t, p["tids"]) {
				if lt, ok := g.Late[int(tid)]; ok && lt.HasSched {
					if rt := num(t, p["thread_cpu_ns"].([]any)[i]); rt < lt.RunNS {
						t.Errorf("tid %d: sum_exec_runtime %d < the guest's %d", tid, rt, lt.RunNS)
					}
				}
			}
			matched++
			threads += len(tids)
		}
		// Processes the guest did not list were born after its snapshot.
		extra := 0
		for pid := range byPID {
			if _, ok := g.Task(pid); !ok {
				extra++
			}
		}
		if extra > 3 {
			t.Errorf("%d processes in the tree that the guest never saw", extra)
		}
		t.Logf("%s: %d processes (%d threads) match the guest's pid/ppid/comm/threads; %d born after its snapshot",
			ktest.Name(f), matched, threads, extra)
	})
}

func TestExampleDState(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		pidsOf := func(rows any) []int {
			var out []int
			for _, r := range rows.([]any) {
				out = append(out, int(num(t, r.(map[string]any)["pid"])))
			}
			sort.Ints(out)
			return out
		}
		// The guest's D tasks (none on these dumps) are the report.
		var wantD []int
		for _, gt := range f.GT.Tasks {
			if gt.State == "D" {
				wantD = append(wantD, gt.PID)
			}
		}
		if got := pidsOf(runExample(t, k, "dstate")); fmt.Sprint(got) != fmt.Sprint(wantD) {
			t.Errorf("D-state report %v, guest's D tasks %v", got, wantD)
		}
		// The same report on sleeping tasks (IN, the guest's S) shows that
		// it filters: the guest's late snapshot, just before the crash.
		got := pidsOf(runExample(t, k, "dstate", "IN"))
		inGot := map[int]bool{}
		for _, p := range got {
			inGot[p] = true
		}
		var wantS []int
		for pid, lt := range f.GT.Late {
			if lt.State == "S" {
				wantS = append(wantS, pid)
			}
		}
		sort.Ints(wantS)
		// A task that ran after the snapshot (its sched_info.pcount, the
		// schedstat timeslice count, moved on) may have changed state:
		// only the others must agree.
		s, _, _ := newSession(k)
		pcount := eval(t, s, `{str(t.pid): t.sched_info.pcount for t in for_each_task() if t.pid}`).(map[string]any)
		ranSince := func(pid int) bool {
			lt, ok := f.GT.Late[pid]
			pc, ok2 := pcount[fmt.Sprint(pid)]
			return !ok || !ok2 || !lt.HasSched || num(t, pc) != lt.Timeslices
		}
		var missing, extra, moved []int
		inWant := map[int]bool{}
		for _, p := range wantS {
			inWant[p] = true
			if !inGot[p] {
				if ranSince(p) {
					moved = append(moved, p)
				} else {
					missing = append(missing, p)
				}
			}
		}
		for _, p := range got {
			if !inWant[p] {
				if ranSince(p) {
					moved = append(moved, p)
				} else {
					extra = append(extra, p)
				}
			}
		}
		if len(missing)+len(extra) > 0 {
			t.Errorf("IN report vs the guest's S tasks: missing %v, extra %v (not run since the snapshot)", missing, extra)
		}
		// and those that left S were woken: runnable in the dump, or still
		// being woken (TASK_WAKING, crash's WA, between try_to_wake_up's
		// two steps when the CPUs stopped).
		for _, p := range moved {
			if !inGot[p] {
				if st := eval(t, s, fmt.Sprintf("task_state(find_task(%d))", p)); st != "RU" && st != "WA" {
					t.Errorf("pid %d: S in the guest, ran since, now %v (want RU or WA)", p, st)
				}
			}
		}
		if len(got) == 0 {
			t.Error("no IN task")
		}
		t.Logf("%s: D report %v = guest's D tasks; IN report: %d tasks, guest's S tasks %d (%v ran after the snapshot)",
			ktest.Name(f), wantD, len(got), len(wantS), moved)
	})
}

func TestExampleRunqLatency(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		cpus := runExample(t, k, "runq_latency").([]any)
		runq := command(t, s, "runq").(map[string]any)["cpus"].([]any)
		if len(cpus) != len(runq) {
			t.Fatalf("%d cpus, runq shows %d", len(cpus), len(runq))
		}
		running := map[uint64]bool{} // current or queued
		queued := 0
		for i, c := range cpus {
			c := c.(map[string]any)
			r := runq[i].(map[string]any)
			if num(t, c["cpu"]) != num(t, r["cpu"]) || num(t, c["current"]) != num(t, r["current"].(map[string]any)["pid"]) {
				t.Errorf("cpu %v: current %v, runq %v", c["cpu"], c["current"], r["current"])
			}
			running[num(t, c["current"])] = true
			for _, q := range c["queued"].([]any) {
				q := q.(map[string]any)
				running[num(t, q["pid"])] = true
				if w := q["wait_ns"]; w != nil && int64(num(t, w)) < 0 {
					t.Errorf("cpu %v pid %v: negative wait %v", c["cpu"], q["pid"], w)
				}
				queued++
			}
		}
		// The guest's runnable tasks: the spinners and the shell that
		// crashed it are running or queued somewhere.
		want := append([]int{f.GT.CrashPID}, f.GT.Role("spin")...)
		for _, pid := range want {
			if !running[uint64(pid)] {
				t.Errorf("pid %d (runnable in the guest) is neither current nor queued", pid)
			}
		}
		t.Logf("%s: %d cpus, %d queued; guest's runnable %v all on a runqueue", ktest.Name(f), len(cpus), queued, want)
	})
}

// TestExampleDstateOnHungTask: on the hung-task fixtures, examples/dstate
// lists exactly the task khungtaskd reported on the guest's console
// ("INFO: task C:P blocked for more than N seconds") and no other.
func TestExampleDstateOnHungTask(t *testing.T) {
	ktest.ForEachKind(t, []string{fixture.KindHung}, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		o := f.GT.Oops()
		if o == nil || o.PID == 0 || !strings.HasPrefix(o.Reason, "INFO: task ") {
			t.Fatalf("the guest's console has no hung-task report: %+v", o)
		}
		rows := runExample(t, k, "dstate").([]any)
		var got []string
		for _, r := range rows {
			r := r.(map[string]any)
			got = append(got, fmt.Sprintf("%d %s", num(t, r["pid"]), r["comm"]))
		}
		if want := fmt.Sprintf("%d %s", o.PID, o.Comm); len(got) != 1 || got[0] != want {
			t.Errorf("dstate lists %q; the console reported %q blocked", got, want)
		}
	})
}
