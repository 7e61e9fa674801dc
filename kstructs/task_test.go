package kstructs_test

import (
	"encoding/binary"
	"sort"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

func TestTaskRoles(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		get := func(role string) *kstructs.Task {
			t.Helper()
			pid := f.GT.RolePID(role)
			x, err := k.TaskByPID(pid)
			if err != nil {
				t.Fatalf("role %s pid %d: %v", role, pid, err)
			}
			return x
		}
		if z := get("zombie"); z.StateCode != "ZO" || z.StateChar != 'Z' {
			t.Errorf("zombie pid %d: state %s %c, want ZO Z", z.PID, z.StateCode, z.StateChar)
		}
		for _, role := range []string{"fifo", "rr"} {
			if x := get(role); x.SchedClassName != "rt_sched_class" {
				t.Errorf("%s pid %d: sched_class %q, want rt_sched_class", role, x.PID, x.SchedClassName)
			}
		}
		for _, role := range []string{"nice_p5", "nice_m5", "init", "tree_root"} {
			if x := get(role); x.SchedClassName != "fair_sched_class" {
				t.Errorf("%s pid %d: sched_class %q, want fair_sched_class", role, x.PID, x.SchedClassName)
			}
		}
		// The multi-threaded process shows all its threads.
		leader := get("threads")
		threads, err := k.ThreadsOf(leader)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []int
		for _, x := range threads {
			got = append(got, x.PID)
		}
		for _, g := range f.GT.ThreadsOf(leader.TGID) {
			want = append(want, g.PID)
		}
		sort.Ints(got)
		sort.Ints(want)
		if len(want) < 2 || !equalInts(got, want) {
			t.Errorf("threads of %d: %v, want %v", leader.PID, got, want)
		}
		// The shell that wrote to sysrq-trigger is the panic task, and active.
		p, err := k.PanicTask()
		if err != nil {
			t.Fatal(err)
		}
		if p.PID != f.GT.CrashPID || !p.Active || !p.Panic {
			t.Errorf("panic task pid %d active=%v panic=%v, want pid %d active", p.PID, p.Active, p.Panic, f.GT.CrashPID)
		}
		act, _ := k.ActiveTasks()
		if len(act) != len(f.GT.Role("spin"))+2 && len(act) < 2 {
			t.Errorf("%d active tasks", len(act))
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTaskTree checks the 3-level tree the workload built.
func TestTaskTree(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tree, err := k.TaskTree()
		if err != nil {
			t.Fatal(err)
		}
		var find func(n *kstructs.TaskNode, pid int) *kstructs.TaskNode
		find = func(n *kstructs.TaskNode, pid int) *kstructs.TaskNode {
			if n.Task.PID == pid && !n.Task.Idle {
				return n
			}
			for _, c := range n.Children {
				if r := find(c, pid); r != nil {
					return r
				}
			}
			return nil
		}
		root := find(tree, f.GT.RolePID("tree_root"))
		if root == nil {
			t.Fatalf("tree_root pid %d not in the process tree", f.GT.RolePID("tree_root"))
		}
		var kids, grand []int
		for _, c := range root.Children {
			kids = append(kids, c.Task.PID)
			for _, g := range c.Children {
				grand = append(grand, g.Task.PID)
			}
		}
		sort.Ints(kids)
		sort.Ints(grand)
		want, wantG := append([]int(nil), f.GT.Role("tree_child")...), append([]int(nil), f.GT.Role("tree_grandchild")...)
		sort.Ints(want)
		sort.Ints(wantG)
		if !equalInts(kids, want) || !equalInts(grand, wantG) {
			t.Errorf("tree under %d: children %v grandchildren %v, want %v %v", root.Task.PID, kids, grand, want, wantG)
		}
		if init := find(tree, 1); init == nil || tree.Task.PID != 0 {
			t.Errorf("init is not a child of the idle task")
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

// TestRunQueues: the CPU-bound tasks are running or queued.
func TestRunQueues(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		rqs, err := k.RunQueues()
		if err != nil {
			t.Fatal(err)
		}
		where := map[int]string{}
		for _, rq := range rqs {
			if len(rq.Problems) > 0 {
				t.Errorf("cpu %d: %v", rq.CPU, rq.Problems)
			}
			if rq.Curr == nil {
				t.Errorf("cpu %d: no current task", rq.CPU)
				continue
			}
			where[rq.Curr.PID] = "current"
			for _, q := range append(append(rq.CFS, rq.RT...), rq.DL...) {
				if q.Task == nil {
					t.Errorf("cpu %d: queued %#x is not a task", rq.CPU, q.Addr)
					continue
				}
				where[q.Task.PID] = "queued"
				if q.Task.Idle {
					t.Errorf("cpu %d: idle task queued", rq.CPU)
				}
			}
			// CFS is in vruntime order.
			for i := 1; i < len(rq.CFS); i++ {
				if rq.CFS[i].CfsRQ == rq.CFS[i-1].CfsRQ && int64(rq.CFS[i].Key-rq.CFS[i-1].Key) < 0 {
					t.Errorf("cpu %d: CFS not in vruntime order at %d", rq.CPU, i)
				}
			}
		}
		for _, pid := range f.GT.Role("spin") {
			if where[pid] == "" {
				t.Errorf("CPU-bound pid %d is neither running nor queued", pid)
			}
		}
		if where[f.GT.CrashPID] != "current" {
			t.Errorf("crash pid %d is not current on any cpu", f.GT.CrashPID)
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

// corruptMem rewrites one pointer of the real dump.
type corruptMem struct {
	k    *kstructs.Kernel
	at   uint64
	val  uint64
	size int
}

func (m corruptMem) ReadVirt(p []byte, addr uint64) error {
	if err := m.k.ReadVirt(p, addr); err != nil {
		return err
	}
	if addr <= m.at && m.at+uint64(m.size) <= addr+uint64(len(p)) {
		b := p[m.at-addr:]
		if m.size == 4 {
			binary.LittleEndian.PutUint32(b, uint32(m.val))
		} else {
			binary.LittleEndian.PutUint64(b, m.val)
		}
	}
	return nil
}

// TestCorruptTaskList makes init_task.tasks loop back on itself: the walk
// must report it, terminate, and recover the rest by walking prev.
func TestCorruptTaskList(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		it, _ := k.Image.Lookup("init_task")
		off, ok := k.TaskMemberOffset("tasks")
		if !ok {
			t.Fatal("no task_struct.tasks")
		}
		nodes, err := kstructs.WalkList(k, it.Addr+off, kstructs.ListOptions{Head: true})
		if err != nil || len(nodes) < 10 {
			t.Fatalf("walking init_task.tasks: %d nodes, %v", len(nodes), err)
		}
		// nodes[5].next = nodes[2]: a cycle that never returns to the head.
		bad := kstructs.ListOptions{Head: true}
		mem := corruptMem{k: k, at: nodes[5], val: nodes[2], size: k.PtrSize()}
		ck := k.WithMemory(mem)
		defer ck.ForgetTasks()
		got, err := kstructs.WalkList(ck, it.Addr+off, bad)
		var le *kstructs.ListError
		if err == nil || !asListError(err, &le) || le.Reason != "seen twice" || le.At != nodes[5] || le.Next != nodes[2] {
			t.Fatalf("corrupt walk: err %v, want seen twice at %#x", err, nodes[5])
		}
		if len(got) != 6 {
			t.Errorf("corrupt walk returned %d nodes, want the 6 before the loop", len(got))
		}
		tasks, err := ck.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		probs := strings.Join(ck.TaskListProblems(), "\n")
		if !strings.Contains(probs, "task list corrupt at") || !strings.Contains(probs, "seen twice") {
			t.Errorf("problems %q do not report the loop", probs)
		}
		if len(tasks) != len(want) {
			t.Errorf("with the loop %d tasks, want all %d (recovered through prev and the pid namespace)", len(tasks), len(want))
		}
	})
}

func asListError(err error, le **kstructs.ListError) bool {
	e, ok := err.(*kstructs.ListError)
	if ok {
		*le = e
	}
	return ok
}

func TestWalkRBTreeRunqueue(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		for _, cpu := range []int{0, 1} {
			rq, err := k.RunQueue(cpu)
			if err != nil {
				t.Fatal(err)
			}
			nodes, err := kstructs.WalkRBTree(k, rq.CFSRoot, kstructs.PreOrder)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) > 0 && nodes[0].Position != "root" {
				t.Errorf("first pre-order node at %s", nodes[0].Position)
			}
		}
	})
}

// BenchmarkPs reads the whole task table (as ps does) on each fixture.
func BenchmarkPs(b *testing.B) {
	for _, arch := range ktest.Arches {
		b.Run(arch, func(b *testing.B) {
			k, _ := ktest.Open(b, arch, "vmcore.elf")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k.ForgetTasks()
				ts, err := k.Tasks()
				if err != nil || len(ts) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
