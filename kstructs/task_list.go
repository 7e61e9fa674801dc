package kstructs

import (
	"fmt"
	"sort"

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
		mmPages: map[uint64]int64{},
	}
	problem := func(format string, args ...any) {
		tt.problems = append(tt.problems, fmt.Sprintf(format, args...))
	}
	// add decodes the task at addr once; source says where it was found.
	add := func(addr uint64, source string) *Task {
		if t, ok := tt.byAddr[addr]; ok {
			return t
		}
		t, err := k.decodeTask(l, addr)
		if err != nil {
			problem("%s: task %#x: %v", source, addr, err)
			return nil
		}
		tt.byAddr[addr] = t
		return t
	}
	tl := &l.task
	tasksOff := uint64(tl.tasks.Off)

	// 1. Thread-group leaders: init_task.tasks.
	nodes, errs := walkCircular(k, it.Addr+tasksOff, maxTasks)
	for _, e := range errs {
		problem("task %v", e)
	}
	var leaders []*Task
	for _, n := range nodes {
		if t := add(n-tasksOff, "init_task.tasks"); t != nil {
			leaders = append(leaders, t)
		}
	}

	// 2. Their threads.
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
		nodes, errs := walkCircular(k, head, maxTasks)
		for _, e := range errs {
			problem("thread list of pid %d (task %#x): %v", ld.PID, ld.Addr, e)
		}
		for _, n := range nodes {
			add(n-off, fmt.Sprintf("threads of pid %d", ld.PID))
		}
	}

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
			_, known := tt.byAddr[rq.curr]
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
		inIDR, err := k.pidNamespaceTasks(l)
		if err != nil {
			problem("walking init_pid_ns.idr: %v", err)
		}
		for addr, pid := range inIDR {
			if _, ok := tt.byAddr[addr]; !ok {
				if t := add(addr, "init_pid_ns"); t != nil {
					problem("pid %d (task %#x) is in the pid namespace but not in the task lists", pid, addr)
				}
			}
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
