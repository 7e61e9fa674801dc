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

// readTaskTable reads the whole task set once.
func (k *Kernel) readTaskTable() (*taskTable, error) {
	l, err := k.schedLayout()
	if err != nil {
		return nil, err
	}
	it, err := k.Image.Variable("init_task")
	if err != nil {
		return nil, fmt.Errorf("the task list starts at init_task: %w", err)
	}
	tt := &taskTable{
		byAddr:  map[uint64]*Task{},
		byPID:   map[int][]*Task{},
		active:  map[int]*Task{},
		idle:    map[int]*Task{},
		mmPages: map[uint64]mmPages{},
	}
	problem := func(format string, args ...any) {
		tt.problems = append(tt.problems, fmt.Sprintf(format, args...))
	}
	// keep records a decoded task once; source says where it was found.
	keep := func(addr uint64, t *Task, err error, source string) *Task {
		if known, ok := tt.byAddr[addr]; ok {
			return known
		}
		if err != nil {
			problem("%s: task %#x: %v", source, addr, err)
			return nil
		}
		tt.byAddr[addr] = t
		return t
	}
	// inLists: the tasks the list walks and runqueues found (steps 1–3),
	// as opposed to the pid namespace (step 0).
	inLists := map[uint64]bool{}
	// add decodes the task at addr once.
	add := func(addr uint64, source string) *Task {
		inLists[addr] = true
		if t, ok := tt.byAddr[addr]; ok {
			return t
		}
		t, err := k.decodeTask(l, addr)
		return keep(addr, t, err, source)
	}
	// collect is add for many tasks: the ones not decoded yet are decoded on
	// all CPUs. It returns the tasks in addrs' order, leaving out failures.
	collect := func(addrs []uint64, source func(i int) string) []*Task {
		var missing []uint64
		for _, a := range addrs {
			if _, ok := tt.byAddr[a]; !ok {
				missing = append(missing, a)
			}
		}
		decoded, derrs := k.decodeTasks(l, missing)
		fresh := make(map[uint64]int, len(missing))
		for i, a := range missing {
			fresh[a] = i
		}
		var out []*Task
		for i, a := range addrs {
			inLists[a] = true
			var t *Task
			if j, ok := fresh[a]; ok {
				t = keep(a, decoded[j], derrs[j], source(i))
			} else {
				t = tt.byAddr[a]
			}
			if t != nil {
				out = append(out, t)
			}
		}
		return out
	}
	tl := &l.task
	tasksOff := uint64(tl.tasks.Off)

	// 0. Every task with a pid, from the pid namespace (a shallow tree, not a
	// pointer chase), decoded on all CPUs. The list walks below then find
	// these tasks' links already read instead of reading one page per task
	// in sequence — what dominates a 10,000-task compressed dump otherwise.
	var inIDR map[uint64]int
	var idrErr error
	idrDecodeErr := map[uint64]error{}
	if l.hasPid {
		inIDR, idrErr = k.pidNamespaceTasks(l)
		addrs := make([]uint64, 0, len(inIDR))
		for addr := range inIDR {
			addrs = append(addrs, addr)
		}
		slices.Sort(addrs)
		decoded, derrs := k.decodeTasks(l, addrs)
		for i, addr := range addrs {
			if derrs[i] == nil {
				tt.byAddr[addr] = decoded[i]
			} else {
				idrDecodeErr[addr] = derrs[i]
			}
		}
	}
	// knownLink answers a list walk from the links decoded with the tasks;
	// head is the list's anchor, never a task's link.
	knownLink := func(head, linkOff uint64, next func(*Task) uint64) func(uint64) (uint64, bool) {
		return func(node uint64) (uint64, bool) {
			if node == head {
				return 0, false
			}
			if t, ok := tt.byAddr[node-linkOff]; ok {
				return next(t), true
			}
			return 0, false
		}
	}

	// 1. Thread-group leaders: init_task.tasks.
	head := it.Addr + tasksOff
	nodes, errs := walkCircular(k, head, maxTasks, knownLink(head, tasksOff, func(t *Task) uint64 { return t.tasksNext }))
	for _, e := range errs {
		problem("task %v", e)
	}
	addrs := make([]uint64, len(nodes))
	for i, n := range nodes {
		addrs[i] = n - tasksOff
	}
	leaders := collect(addrs, func(int) string { return "init_task.tasks" })

	// 2. Their threads: walk the lists, then decode them all at once.
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
		nodes, errs := walkCircular(k, head, maxTasks, knownLink(head, off, func(t *Task) uint64 { return t.threadNext }))
		for _, e := range errs {
			problem("thread list of pid %d (task %#x): %v", ld.PID, ld.Addr, e)
		}
		for _, n := range nodes {
			threadAddrs = append(threadAddrs, n-off)
			threadOf = append(threadOf, ld.PID)
		}
	}
	collect(threadAddrs, func(i int) string { return fmt.Sprintf("threads of pid %d", threadOf[i]) })

	// 3. Per-cpu idle and current tasks from the runqueues.
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return nil, fmt.Errorf("listing the CPUs for their runqueues: %w", err)
	}
	for _, cpu := range cpus {
		rq, err := k.readRQ(l, cpu)
		if err != nil {
			problem("%v", err)
			continue
		}
		if rq.idle != 0 {
			if t := add(rq.idle, fmt.Sprintf("runqueues[%d].idle", cpu)); t != nil {
				t.Idle = true
				tt.idle[cpu] = t
			}
		}
		if rq.curr != 0 {
			known := inLists[rq.curr]
			if t := add(rq.curr, fmt.Sprintf("runqueues[%d].curr", cpu)); t != nil {
				if !known {
					problem("active task %#x (pid %d) on cpu %d is not in the task lists", t.Addr, t.PID, cpu)
				}
				t.Active = true
				tt.active[cpu] = t
			}
		}
	}

	// 4. Cross-check with the pid namespace: every task with a pid is there.
	if l.hasPid {
		err := idrErr
		if err != nil {
			problem("walking init_pid_ns.idr: %v", err)
		}
		for addr, pid := range inIDR {
			if inLists[addr] {
				continue
			}
			if derr, bad := idrDecodeErr[addr]; bad {
				problem("init_pid_ns: pid %d: task %#x: %v", pid, addr, derr)
				continue
			}
			problem("pid %d (task %#x) is in the pid namespace but not in the task lists", pid, addr)
		}
		if err == nil {
			for _, t := range tt.byAddr {
				if _, ok := inIDR[t.Addr]; !ok && !t.Idle && t.PID != 0 {
					problem("pid %d (task %#x) is in the task lists but not in the pid namespace", t.PID, t.Addr)
				}
			}
		}
	}

	// 5. Parents, memory, the panic task, sorting.
	all := make([]*Task, 0, len(tt.byAddr))
	for _, t := range tt.byAddr {
		all = append(all, t)
	}
	for _, t := range all {
		if t.Idle {
			t.PPID = 0
			continue
		}
		if p, ok := tt.byAddr[t.Parent]; ok {
			t.PPID = p.PID
		} else if t.Parent != 0 {
			if p, err := k.decodeTask(l, t.Parent); err == nil {
				t.PPID = p.PID
			} else {
				t.PPID = -1
			}
		}
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
	return tt, nil
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
