package kstructs

import (
	"errors"
	"fmt"
)

// A live kernel (/proc/kcore, dump.Dump.Live) has not crashed: no CPU
// stopped and saved its registers, so there is no panic task, and a task
// running on a CPU has its registers in that CPU, not in memory. A
// sleeping task's context is where the scheduler saved it at its last
// switch (thread.sp / cpu_context), so its backtrace is as good as in a
// dump. Values change while they are read: list walks stop with a note
// when they see a cycle or a node that no longer links back
// (list.go), and each kinspect command reads what it shows once.

// ErrLive is wrapped by errors about what a live kernel cannot give.
var ErrLive = errors.New("live kernel")

// Live reports whether the Kernel reads the running kernel.
func (k *Kernel) Live() bool { return k.Dump != nil && k.Dump.Live() }

// liveRunningError says why a running task has no backtrace live.
func liveRunningError(taskAddr uint64, cpu int) error {
	return fmt.Errorf("%w: task %#x is running on cpu %d: its registers are in the CPU, not in memory (/proc/kcore has no CPU notes); bt works for tasks that are not running", ErrLive, taskAddr, cpu)
}

// errLiveNoPanic is PanicTask's answer on a live kernel.
var errLiveNoPanic = fmt.Errorf("%w: nothing has crashed, there is no panic task (give a pid: bt PID)", ErrLive)

// Banner is linux_banner as the target's memory holds it.
func (k *Kernel) Banner() (string, error) {
	sym, ok := k.Image.Lookup("linux_banner")
	if !ok {
		return "", errors.New("the vmlinux has no linux_banner symbol")
	}
	size := sym.Size
	if size == 0 || size > 512 {
		size = 512
	}
	b := make([]byte, size)
	if err := k.ReadVirt(b, sym.Addr); err != nil {
		return "", fmt.Errorf("reading linux_banner at %#x: %w", sym.Addr, err)
	}
	return string(cString(b)), nil
}

// liveRunning tells whether the task at taskAddr is running now and on
// which CPU, from its task_struct read at this moment: on_cpu (set from
// the context switch's prepare_task until finish_task, kernel/sched/core.c)
// and cpu. The runqueues' curr pointers the unwinder read at the start
// of the command may be stale by then. Without on_cpu (UP kernels) it
// says not running, and the caller falls back to those pointers.
func (k *Kernel) liveRunning(taskAddr uint64) (int, bool) {
	l, err := k.schedLayout()
	if err != nil || !l.task.onCPU.ok() || !l.task.cpu.ok() {
		return -1, false
	}
	var on, cpu [4]byte
	if k.ReadVirt(on[:], taskAddr+uint64(l.task.onCPU.Off)) != nil ||
		k.ReadVirt(cpu[:], taskAddr+uint64(l.task.cpu.Off)) != nil {
		return -1, false
	}
	bo := k.Image.ByteOrder()
	return int(int32(bo.Uint32(cpu[:]))), bo.Uint32(on[:]) != 0
}

// liveBacktrace unwinds a task of the running kernel from its saved
// context, unless it is running now (its saved context is then that of
// its last switch-out: stale). c is the CPU the runqueues showed it on.
func (k *Kernel) liveBacktrace(u *unwinder, t *taskCtx, taskAddr uint64, c int) (*Backtrace, error) {
	if cpu, running := k.liveRunning(taskAddr); running {
		return nil, liveRunningError(taskAddr, cpu)
	} else if cpu < 0 && c >= 0 {
		return nil, liveRunningError(taskAddr, c)
	}
	return u.unwindSaved(t)
}
