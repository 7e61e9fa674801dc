package kstructs

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/kinspect/kinspect/dwarfx"
)

func (k *Kernel) taskTable() (*taskTable, error) {
	c := k.cache()
	c.tasksOnce.Do(func() { c.tasks, c.tasksErr = k.readTaskTable() })
	return c.tasks, c.tasksErr
}

// maxTasks bounds every task walk: PID_MAX_LIMIT is 4M.
const maxTasks = 1 << 22

// readTaskTable reads the whole task set once, in named steps (taskWalk):
// the pid namespace, the thread-group leaders, their threads, the
// runqueues' idle and current tasks, a cross-check, then parents, memory,
// order and the panic task.
func (k *Kernel) readTaskTable() (*taskTable, error) {
	l, err := k.schedLayout()
	if err != nil {
		return nil, err
	}
	it, err := k.Image.Variable("init_task")
	if err != nil {
		return nil, fmt.Errorf("the task list starts at init_task: %w", err)
	}
	w := &taskWalk{k: k, l: l, inLists: map[uint64]bool{}, idrDecodeErr: map[uint64]error{},
		tt: &taskTable{
			byAddr:  map[uint64]*Task{},
			byPID:   map[int][]*Task{},
			active:  map[int]*Task{},
			idle:    map[int]*Task{},
			mmPages: map[uint64]mmPages{},
		}}
	w.fromPidNamespace()
	leaders := w.leaders(it.Addr)
	w.threads(leaders)
	if err := w.runqueueTasks(); err != nil {
		return nil, err
	}
	w.crossCheckPidNamespace()
	w.finish()
	return w.tt, nil
}

// taskWalk is one reading of the task set: the table being filled and
// what the steps tell each other.
type taskWalk struct {
	k  *Kernel
	l  *schedLayout
	tt *taskTable
	// inLists: the tasks the list walks and runqueues found (steps 1–3),
	// as opposed to the pid namespace (step 0).
	inLists map[uint64]bool
	// The pid namespace's tasks (step 0): address → pid, the walk's
	// error, and the tasks that failed to decode.
	inIDR        map[uint64]int
	idrErr       error
	idrDecodeErr map[uint64]error
}

func (w *taskWalk) problem(format string, args ...any) {
	w.tt.problems = append(w.tt.problems, fmt.Sprintf(format, args...))
}

// keep records a decoded task once; source says where it was found.
func (w *taskWalk) keep(addr uint64, t *Task, err error, source string) *Task {
	if known, ok := w.tt.byAddr[addr]; ok {
		return known
	}
	if err != nil {
		w.problem("%s: task %#x: %v", source, addr, err)
		return nil
	}
	w.tt.byAddr[addr] = t
	return t
}

// add decodes the task at addr once.
func (w *taskWalk) add(addr uint64, source string) *Task {
	w.inLists[addr] = true
	if t, ok := w.tt.byAddr[addr]; ok {
		return t
	}
	t, err := w.k.decodeTask(w.l, addr)
	return w.keep(addr, t, err, source)
}

// collect is add for many tasks: the ones not decoded yet are decoded on
// all CPUs. It returns the tasks in addrs' order, leaving out failures.
func (w *taskWalk) collect(addrs []uint64, source func(i int) string) []*Task {
	var missing []uint64
	for _, a := range addrs {
		if _, ok := w.tt.byAddr[a]; !ok {
			missing = append(missing, a)
		}
	}
	decoded, derrs := w.k.decodeTasks(w.l, missing)
	fresh := make(map[uint64]int, len(missing))
	for i, a := range missing {
		fresh[a] = i
	}
	var out []*Task
	for i, a := range addrs {
		w.inLists[a] = true
		var t *Task
		if j, ok := fresh[a]; ok {
			t = w.keep(a, decoded[j], derrs[j], source(i))
		} else {
			t = w.tt.byAddr[a]
		}
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// knownLink answers a list walk from the links decoded with the tasks;
// head is the list's anchor, never a task's link.
func (w *taskWalk) knownLink(head, linkOff uint64, next func(*Task) uint64) func(uint64) (uint64, bool) {
	return func(node uint64) (uint64, bool) {
		if node == head {
			return 0, false
		}
		if t, ok := w.tt.byAddr[node-linkOff]; ok {
			return next(t), true
		}
		return 0, false
	}
}

// fromPidNamespace (step 0) decodes every task with a pid, from the pid
// namespace (a shallow tree, not a pointer chase), on all CPUs. The list
// walks then find these tasks' links already read instead of reading one
// page per task in sequence — what dominates a 10,000-task compressed
// dump otherwise.
func (w *taskWalk) fromPidNamespace() {
	if !w.l.hasPid {
		return
	}
	w.inIDR, w.idrErr = w.k.pidNamespaceTasks(w.l)
	addrs := make([]uint64, 0, len(w.inIDR))
	for addr := range w.inIDR {
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs)
	decoded, derrs := w.k.decodeTasks(w.l, addrs)
	for i, addr := range addrs {
		if derrs[i] == nil {
			w.tt.byAddr[addr] = decoded[i]
		} else {
			w.idrDecodeErr[addr] = derrs[i]
		}
	}
}

// leaders (step 1) walks the thread-group leaders: init_task.tasks.
func (w *taskWalk) leaders(initTask uint64) []*Task {
	tasksOff := uint64(w.l.task.tasks.Off)
	head := initTask + tasksOff
	nodes, errs := walkCircular(w.k, head, maxTasks, w.knownLink(head, tasksOff, func(t *Task) uint64 { return t.tasksNext }))
	for _, e := range errs {
		w.problem("task %v", e)
	}
	addrs := make([]uint64, len(nodes))
	for i, n := range nodes {
		addrs[i] = n - tasksOff
	}
	return w.collect(addrs, func(int) string { return "init_task.tasks" })
}

// threads (step 2) walks the leaders' thread lists (signal->thread_head,
// or task->thread_group before 6.7), then decodes them all at once.
func (w *taskWalk) threads(leaders []*Task) {
	l, tl := w.l, &w.l.task
	var threadAddrs []uint64
	var threadOf []int
	for _, ld := range leaders {
		var head, off uint64
		switch {
		case l.signal.threadHead.ok():
			if ld.Signal == 0 {
				continue
			}
			head, off = ld.Signal+uint64(l.signal.threadHead.Off), uint64(tl.threadNode.Off)
		default:
			head, off = ld.Addr+uint64(tl.threadGroup.Off), uint64(tl.threadGroup.Off)
		}
		nodes, errs := walkCircular(w.k, head, maxTasks, w.knownLink(head, off, func(t *Task) uint64 { return t.threadNext }))
		for _, e := range errs {
			w.problem("thread list of pid %d (task %#x): %v", ld.PID, ld.Addr, e)
		}
		for _, n := range nodes {
			threadAddrs = append(threadAddrs, n-off)
			threadOf = append(threadOf, ld.PID)
		}
	}
	w.collect(threadAddrs, func(i int) string { return fmt.Sprintf("threads of pid %d", threadOf[i]) })
}

// runqueueTasks (step 3) adds each CPU's idle and current task from its
// runqueue.
func (w *taskWalk) runqueueTasks() error {
	cpus, err := w.k.PossibleCPUs()
	if err != nil {
		return fmt.Errorf("listing the CPUs for their runqueues: %w", err)
	}
	for _, cpu := range cpus {
		rq, err := w.k.readRQ(w.l, cpu)
		if err != nil {
			w.problem("%v", err)
			continue
		}
		if rq.idle != 0 {
			if t := w.add(rq.idle, fmt.Sprintf("runqueues[%d].idle", cpu)); t != nil {
				t.Idle = true
				w.tt.idle[cpu] = t
			}
		}
		if rq.curr != 0 {
			known := w.inLists[rq.curr]
			if t := w.add(rq.curr, fmt.Sprintf("runqueues[%d].curr", cpu)); t != nil {
				if !known {
					w.problem("active task %#x (pid %d) on cpu %d is not in the task lists", t.Addr, t.PID, cpu)
				}
				t.Active = true
				w.tt.active[cpu] = t
			}
		}
	}
	return nil
}

// crossCheckPidNamespace (step 4): every task with a pid is in the pid
// namespace, and every pid's task is in the lists.
func (w *taskWalk) crossCheckPidNamespace() {
	if !w.l.hasPid {
		return
	}
	err := w.idrErr
	if err != nil {
		w.problem("walking init_pid_ns.idr: %v", err)
	}
	for addr, pid := range w.inIDR {
		if w.inLists[addr] {
			continue
		}
		if derr, bad := w.idrDecodeErr[addr]; bad {
			w.problem("init_pid_ns: pid %d: task %#x: %v", pid, addr, derr)
			continue
		}
		w.problem("pid %d (task %#x) is in the pid namespace but not in the task lists", pid, addr)
	}
	if err == nil {
		for _, t := range w.tt.byAddr {
			if _, ok := w.inIDR[t.Addr]; !ok && !t.Idle && t.PID != 0 {
				w.problem("pid %d (task %#x) is in the task lists but not in the pid namespace", t.PID, t.Addr)
			}
		}
	}
}

// finish (step 5) fills parents and memory, sorts by pid, indexes by pid
// and marks the panic task.
func (w *taskWalk) finish() {
	k, l, tt := w.k, w.l, w.tt
	all := make([]*Task, 0, len(tt.byAddr))
	for _, t := range tt.byAddr {
		all = append(all, t)
	}
	for _, t := range all {
		w.setPPID(t)
	}
	split := threadRSSCounts(all)
	for _, t := range all {
		k.taskMem(l, tt, t, split)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.PID != b.PID {
			return a.PID < b.PID
		}
		if a.CPU != b.CPU {
			return a.CPU < b.CPU
		}
		return a.Addr < b.Addr
	})
	tt.sorted = all
	for _, t := range all {
		tt.byPID[t.PID] = append(tt.byPID[t.PID], t)
	}
	if cpu, ok := k.panicCPU(tt); ok {
		if t := tt.active[cpu]; t != nil {
			t.Panic = true
			tt.panic = t
		}
	}
}

// setPPID gives t its parent's pid: 0 for idle tasks, -1 when the parent
// cannot be read.
func (w *taskWalk) setPPID(t *Task) {
	if t.Idle {
		t.PPID = 0
		return
	}
	if p, ok := w.tt.byAddr[t.Parent]; ok {
		t.PPID = p.PID
	} else if t.Parent != 0 {
		if p, err := w.k.decodeTask(w.l, t.Parent); err == nil {
			t.PPID = p.PID
		} else {
			t.PPID = -1
		}
	}
}

// pidNamespaceTasks walks init_pid_ns.idr and returns task address → pid
// for every pid with a task attached as PIDTYPE_PID.
func (k *Kernel) pidNamespaceTasks(l *schedLayout) (map[uint64]int, error) {
	head, err := k.readPointer(l.pid.nsAddr + uint64(l.pid.nsIDR.Off))
	if err != nil {
		return nil, fmt.Errorf("reading init_pid_ns.idr at %#x: %w", l.pid.nsAddr, err)
	}
	var base uint64
	if l.pid.idrBase.ok() {
		if b, err := k.readBytes(l.pid.nsAddr+uint64(l.pid.idrBase.Off), l.pid.idrBase.Size, "idr_base"); err == nil {
			base = dwarfx.DecodeUint(k.Image.ByteOrder(), b)
		}
	}
	entries, werr := walkXArray(k, head, l.pid.xaNode)
	out := make(map[uint64]int, len(entries))
	for idx, pidp := range entries {
		first, err := k.readPointer(pidp + uint64(l.pid.tasks0.Off))
		if err != nil || first == 0 {
			continue // a pid being allocated, or one whose task has gone
		}
		out[first-uint64(l.task.pidLink.Off)] = int(idx + base)
	}
	return out, werr
}

// panicCPU finds the crashing CPU: panic_cpu (set by panic() and by
// crash_kexec paths), else x86's crashing_cpu, else a CPU note whose pr_pid
// is the pid of that CPU's current task (kdump writes real pids; QEMU's
// notes carry cpu+1 and never match a task by themselves).
func (k *Kernel) panicCPU(tt *taskTable) (int, bool) {
	for _, name := range []string{"panic_cpu", "crashing_cpu"} {
		v, err := k.Image.Variable(name)
		if err != nil {
			continue
		}
		b, err := k.readBytes(v.Addr, 4, name)
		if err != nil {
			continue
		}
		cpu := int(int32(k.Image.ByteOrder().Uint32(b)))
		if _, ok := tt.active[cpu]; ok && cpu >= 0 {
			return cpu, true
		}
	}
	for _, c := range k.Dump.CPUs() {
		if t, ok := tt.active[c.CPU]; ok && c.PID != 0 && t.PID == c.PID && !t.Idle {
			return c.CPU, true
		}
	}
	return 0, false
}

// decodeTasks decodes the task_structs at addrs using every CPU: in a
// compressed dump each costs page decompression, which is where a
// 10,000-task ps spends its time. Results are in addrs' order.
func (k *Kernel) decodeTasks(l *schedLayout, addrs []uint64) ([]*Task, []error) {
	out := make([]*Task, len(addrs))
	errs := make([]error, len(addrs))
	k.stateBits() // shared tables, built once before the workers start
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(addrs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(addrs) {
					return
				}
				out[i], errs[i] = k.decodeTask(l, addrs[i])
			}
		}()
	}
	wg.Wait()
	return out, errs
}
