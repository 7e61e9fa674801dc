package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// runCmd runs one command line in a fresh session and returns stdout.
func psRun(t *testing.T, k *kstructs.Kernel, line string) string {
	t.Helper()
	var out, errb bytes.Buffer
	s := NewSession(k, &out, &errb)
	if err := s.Exec(context.Background(), line, false); err != nil {
		t.Fatalf("%s: %v (stderr %s)", line, err, errb.String())
	}
	return out.String()
}

func TestPsCommand(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		out := psRun(t, k, "ps")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		vp := 2 * k.PtrSize()
		wantHdr := "      PID    PPID  CPU " + crashCenter("TASK", vp, false) + "  ST  %MEM      VSZ      RSS  COMM"
		if lines[0] != wantHdr {
			t.Errorf("header %q, want %q", lines[0], wantHdr)
		}
		ts, _ := k.Tasks()
		if len(lines) != len(ts)+1 {
			t.Errorf("%d rows, want %d", len(lines)-1, len(ts))
		}
		row := regexp.MustCompile(fmt.Sprintf(`^[> ] +\d+ +-?\d+ +\d+  [0-9a-f]{%d}  (RU|IN|UN|ZO|ID|ST|TR|DE|PA|WA|NE)  +\d+\.\d +\d+ +\d+  \S`, vp))
		for _, l := range lines[1:] {
			if !row.MatchString(l) {
				t.Errorf("bad ps row %q", l)
				break
			}
		}
		crash := fmt.Sprintf("> %7d ", f.GT.CrashPID)
		if !strings.Contains(out, crash) {
			t.Errorf("crash pid %d not marked active", f.GT.CrashPID)
		}
		if !strings.Contains(out, "[swapper/0]") || !strings.Contains(out, "[kthreadd]") {
			t.Errorf("kernel threads not bracketed")
		}

		// --json: the documented fields.
		js := psRun(t, k, "ps --json")
		var arr []map[string]any
		if err := json.Unmarshal([]byte(js), &arr); err != nil {
			t.Fatalf("ps --json: %v", err)
		}
		if len(arr) != len(ts) {
			t.Errorf("ps --json: %d tasks, want %d", len(arr), len(ts))
		}
		for _, key := range []string{"pid", "tgid", "ppid", "cpu", "task", "state", "state_char", "comm", "policy",
			"prio", "static_prio", "normal_prio", "rt_priority", "nice", "sched_class", "last_arrival", "utime",
			"stime", "start_time", "rss", "vsz", "active", "kernel_thread", "panic"} {
			if _, ok := arr[len(arr)-1][key]; !ok {
				t.Errorf("ps --json lacks %q", key)
			}
		}
		fifo := f.GT.RolePID("fifo")
		for _, m := range arr {
			if int(m["pid"].(float64)) == fifo && (m["policy"] != "FIFO" || m["sched_class"] != "rt_sched_class") {
				t.Errorf("fifo task json: %v", m)
			}
		}

		// Filters and views.
		if out := psRun(t, k, "ps -y FIFO"); !strings.Contains(out, fmt.Sprintf(" %d ", fifo)) || strings.Contains(out, "kt_rr") {
			t.Errorf("ps -y FIFO:\n%s", out)
		}
		if out := psRun(t, k, "ps -u"); strings.Contains(out, "[") {
			t.Errorf("ps -u shows kernel threads")
		}
		if out := psRun(t, k, "ps -S"); !strings.Contains(out, "  ZO: 1\n") {
			t.Errorf("ps -S:\n%s", out)
		}
		thr := f.GT.RolePID("threads")
		g := psRun(t, k, fmt.Sprintf("ps -g %d", thr))
		for _, tid := range f.GT.Role("thread") {
			if !strings.Contains(g, fmt.Sprintf("  PID: %-7d", tid)) {
				t.Errorf("ps -g %d lacks thread %d:\n%s", thr, tid, g)
			}
		}
		if out := psRun(t, k, "ps 'kt_t.*'"); !strings.Contains(out, "kt_tree") || strings.Contains(out, "kt_spin") {
			t.Errorf("ps regex:\n%s", out)
		}
		if out := psRun(t, k, "ps -ely"); !strings.HasPrefix(out, "S   UID     PID    PPID  C PRI  NI   RSS    SZ WCHAN  TTY          TIME CMD\n") {
			t.Errorf("ps -ely header:\n%.200s", out)
		}
		for _, v := range []string{"ps -l", "ps -m -C 0", "ps -t 1", "ps -p 1", "ps -c 1", "ps -A", "ps -k", "ps -G", "ps -Y"} {
			if out := psRun(t, k, v); out == "" {
				t.Errorf("%s printed nothing", v)
			}
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

// TestPsTree: the 3-level tree the workload built, as ps --tree indents it.
func TestPsTree(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		out := psRun(t, k, "ps --tree")
		depth := map[int]int{}
		re := regexp.MustCompile(`^( *)PID: (\d+) `)
		for _, l := range strings.Split(out, "\n") {
			if m := re.FindStringSubmatch(l); m != nil {
				var pid int
				fmt.Sscan(m[2], &pid)
				if _, seen := depth[pid]; !seen {
					depth[pid] = len(m[1]) / 2
				}
			}
		}
		root := depth[f.GT.RolePID("tree_root")]
		if root != 2 { // swapper → init → tree_root
			t.Errorf("tree_root at depth %d, want 2", root)
		}
		for _, p := range f.GT.Role("tree_child") {
			if depth[p] != root+1 {
				t.Errorf("tree child %d at depth %d, want %d", p, depth[p], root+1)
			}
		}
		for _, p := range f.GT.Role("tree_grandchild") {
			if depth[p] != root+2 {
				t.Errorf("tree grandchild %d at depth %d, want %d", p, depth[p], root+2)
			}
		}
	})
}

func TestRunqSetTaskForeach(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		out := psRun(t, k, "runq")
		if !strings.Contains(out, "CPU 0 RUNQUEUE: ") || !strings.Contains(out, "  CFS RB_ROOT: ") || !strings.Contains(out, "  RT PRIO_ARRAY: ") {
			t.Errorf("runq:\n%s", out)
		}
		for _, pid := range f.GT.Role("spin") {
			if !strings.Contains(out, fmt.Sprintf("PID: %-5d ", pid)) {
				t.Errorf("runq lacks CPU-bound pid %d", pid)
			}
		}
		var rq struct {
			CPUs []runqCPU `json:"cpus"`
		}
		if err := json.Unmarshal([]byte(psRun(t, k, "runq --json")), &rq); err != nil || len(rq.CPUs) == 0 {
			t.Errorf("runq --json: %v", err)
		}
		for _, v := range []string{"runq -t", "runq -m", "runq -g", "runq -c 0"} {
			if psRun(t, k, v) == "" {
				t.Errorf("%s printed nothing", v)
			}
		}

		set := psRun(t, k, "set")
		want := fmt.Sprintf("    PID: %d\n", f.GT.CrashPID)
		if !strings.HasPrefix(set, want) || !strings.Contains(set, "  STATE: TASK_RUNNING (PANIC)\n") {
			t.Errorf("set:\n%s", set)
		}
		set1 := psRun(t, k, "set 1")
		if !strings.HasPrefix(set1, "    PID: 1\n") || !strings.Contains(set1, "  STATE: TASK_INTERRUPTIBLE \n") {
			t.Errorf("set 1:\n%s", set1)
		}
		// The context persists in a session.
		var o, e bytes.Buffer
		s := NewSession(k, &o, &e)
		if err := s.Exec(context.Background(), "set 1; task -R pid,comm", false); err != nil {
			t.Fatal(err, e.String())
		}
		if !strings.Contains(o.String(), "PID: 1        TASK: ") || !strings.Contains(o.String(), "  pid = 1,\n") {
			t.Errorf("set 1; task -R pid,comm:\n%s", o.String())
		}

		fe := psRun(t, k, "foreach kt_tchild task -R pid")
		if n := strings.Count(fe, "COMMAND: \"kt_tchild\""); n != len(f.GT.Role("tree_child")) {
			t.Errorf("foreach kt_tchild: %d headers, want %d:\n%s", n, len(f.GT.Role("tree_child")), fe)
		}
		if fe := psRun(t, k, "foreach ZO ps"); !strings.Contains(fe, "kt_zombie") || strings.Count(fe, "\n") != 2 {
			t.Errorf("foreach ZO ps:\n%s", fe)
		}

		// list: init_task's list has every leader; tree walks a runqueue.
		l := psRun(t, k, "list task_struct.tasks -H init_task.tasks -s task_struct.pid")
		if !strings.Contains(l, "  pid = 1,\n") {
			t.Errorf("list -s:\n%.300s", l)
		}
		rq0, err := k.RunQueue(0)
		if err != nil {
			t.Fatal(err)
		}
		if tr := psRun(t, k, fmt.Sprintf("tree -t rbtree -o sched_entity.run_node -p %x", rq0.CFSRoot)); strings.Contains(tr, "tree:") {
			t.Errorf("tree:\n%s", tr)
		}
		if sys := psRun(t, k, "sys"); !strings.Contains(sys, "       TASKS: ") {
			t.Errorf("sys lacks TASKS:\n%s", sys)
		}
	})
}
