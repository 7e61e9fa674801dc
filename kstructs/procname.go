package kstructs

import (
	"fmt"
	"strings"
)

// PF_WQ_WORKER (include/linux/sched.h): the task is a workqueue worker.
const pfWQWorker = 0x00000020

// ProcName is the name /proc shows for a task (/proc/PID/stat, status,
// comm), which is not always task->comm: fs/proc/array.c proc_task_name()
// gives workqueue workers their current work's description
// (wq_worker_comm: "kworker/1:0H-events_highpri", '+' while a work item
// runs) and other kernel threads their full name (get_kthread_comm:
// kthread->full_name, 5.17+, where comm keeps 15 characters).
//
// Both live in struct kthread, reached from the task as to_kthread()
// does: task_struct.worker_private since 5.17, set_child_tid before. The
// kernel is told apart by DWARF (whether worker_private exists).
func (k *Kernel) ProcName(t *Task) (string, error) {
	if !t.KernelThread || t.Idle {
		return t.Comm, nil
	}
	link := "set_child_tid"
	if _, ok := k.TaskMemberOffset("worker_private"); ok {
		link = "worker_private"
	}
	kthread := fmt.Sprintf("((struct kthread *)((struct task_struct *)%#x)->%s)", t.Addr, link)
	if t.Flags&pfWQWorker != 0 {
		return k.workerName(t, kthread)
	}
	env := k.Env()
	v, err := env.Eval(kthread + "->full_name")
	if err != nil {
		if strings.Contains(err.Error(), "full_name") {
			return t.Comm, nil // no full_name before 5.17
		}
		return "", fmt.Errorf("task %#x: kthread name: %w", t.Addr, err)
	}
	p, err := v.Uint(k.memory())
	if err != nil || p == 0 {
		return t.Comm, err
	}
	// proc_task_name's buffer is 64 bytes (TASK_COMM_LEN * 4 in 6.1).
	name, err := v.CString(k.memory(), 63)
	if err != nil {
		return "", fmt.Errorf("task %#x: kthread full_name at %#x: %w", t.Addr, p, err)
	}
	return name, nil
}

// workerName is wq_worker_comm() (kernel/workqueue.c): the worker's name,
// then "+desc" while it runs a work item or "-desc" after one, when it is
// attached to a pool and has a description. Since 6.9 the name itself is
// rebuilt by format_worker_id() ("kworker/R-<wq>" for a rescuer, whose comm
// is cut to 15 characters); before, it is task->comm. The kernel is told
// apart by DWARF: whether format_worker_id exists.
func (k *Kernel) workerName(t *Task, kthread string) (string, error) {
	env := k.Env()
	worker := "((struct worker *)" + kthread + "->data)"
	read := func(expr string) (uint64, error) {
		v, err := env.Eval(expr)
		if err != nil {
			return 0, fmt.Errorf("task %#x (%s): %s: %w", t.Addr, t.Comm, expr, err)
		}
		return v.Uint(k.memory())
	}
	str := func(expr string, max int) (string, error) {
		v, err := env.Eval(expr)
		if err != nil {
			return "", fmt.Errorf("task %#x (%s): %s: %w", t.Addr, t.Comm, expr, err)
		}
		return v.CString(k.memory(), max)
	}
	pool, err := read(worker + "->pool")
	if err != nil {
		return "", err
	}
	name := t.Comm
	if _, err := k.Image.Function("format_worker_id"); err == nil {
		if name, err = k.formatWorkerID(worker, pool, read, str); err != nil {
			return "", err
		}
	}
	if pool == 0 {
		return name, nil
	}
	desc, err := str(worker+"->desc", 32)
	if err != nil || desc == "" {
		return name, err
	}
	cur, err := read(worker + "->current_work")
	if err != nil {
		return "", err
	}
	sep := "-"
	if cur != 0 {
		sep = "+"
	}
	// The result is cut to proc_task_name's 64-byte buffer.
	name += sep + desc
	if len(name) > 63 {
		name = name[:63]
	}
	return name, nil
}

// formatWorkerID is format_worker_id() (kernel/workqueue.c, 6.9+).
func (k *Kernel) formatWorkerID(worker string, pool uint64, read func(string) (uint64, error),
	str func(string, int) (string, error)) (string, error) {
	rescue, err := read(worker + "->rescue_wq")
	if err != nil {
		return "", err
	}
	if rescue != 0 {
		wq, err := str(worker+"->rescue_wq->name", 64)
		return "kworker/R-" + wq, err
	}
	if pool == 0 {
		return "kworker/dying", nil
	}
	id, err := read(worker + "->id")
	if err != nil {
		return "", err
	}
	cpu, err := read("(long)" + worker + "->pool->cpu")
	if err != nil {
		return "", err
	}
	if int64(int32(cpu)) < 0 {
		pid, err := read(worker + "->pool->id")
		return fmt.Sprintf("kworker/u%d:%d", pid, id), err
	}
	nice, err := read("(long)" + worker + "->pool->attrs->nice")
	if err != nil {
		return "", err
	}
	h := ""
	if int64(int32(nice)) < 0 {
		h = "H"
	}
	return fmt.Sprintf("kworker/%d:%d%s", cpu, id, h), nil
}
