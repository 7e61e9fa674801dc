package kstructs

import "fmt"

// pidnsAdding is PIDNS_ADDING (include/linux/pid_namespace.h): a flag in
// pid_allocated while the namespace still accepts new pids.
const pidnsAdding = 1 << 31

// TaskCountFromPIDs counts the task contexts without walking them: the pids
// allocated in the initial namespace (init_pid_ns.pid_allocated; alloc_pid
// and free_pid in kernel/pid.c keep it) — one per thread, and free_pid runs
// only when no task uses the pid any more — plus one idle task per possible
// CPU, which has no pid. A process group or session whose leader has exited
// keeps its pid allocated, so this can exceed the walk's count (Tasks); it is
// for the start-up summary, where walking 10,000 tasks would cost more than
// everything else together.
func (k *Kernel) TaskCountFromPIDs() (int, error) {
	n, err := k.ReadUint("init_pid_ns.pid_allocated")
	if err != nil {
		return 0, fmt.Errorf("counting tasks: %w", err)
	}
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return 0, fmt.Errorf("counting the idle tasks: %w", err)
	}
	return int(n&^pidnsAdding) + len(cpus), nil
}
