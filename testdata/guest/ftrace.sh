#!/bin/sh
# Turns ftrace on in the fixture guest, as the tutorials do on a Pi:
#   - the top-level buffer (2 MiB a cpu: what gt.sh prints of it must still
#     be there at the crash, tens of seconds later under TCG; 256 KiB had
#     wrapped past it on a third of the cpus): the sched events fork,
#     exit, switch and wakeup, irq_handler_entry, and the function tracer
#     on kernel_clone (_do_fork before 5.10), do_exit and
#     wake_up_new_task; it stays on until the crash;
#   - an instance "kt" with a small buffer (4 KiB a cpu, so it wraps) on
#     sched_switch and sched_process_exit, switched off by gt.sh just before
#     it prints the instance's buffer, so that what the guest printed is
#     exactly what the dump holds.
# Best effort: a kernel without a tracer or event still boots the workload.
T=/sys/kernel/tracing
mount -t tracefs nodev $T 2>/dev/null
[ -d $T/events ] || { echo "kinspect-guest: no tracefs"; exit 0; }
echo 0 > $T/tracing_on
echo 2048 > $T/buffer_size_kb
for e in sched/sched_process_fork sched/sched_process_exit sched/sched_switch sched/sched_wakeup irq/irq_handler_entry; do
  echo 1 > $T/events/$e/enable 2>/dev/null || echo "kinspect-guest: no event $e"
done
: > $T/set_ftrace_filter 2>/dev/null
for f in kernel_clone _do_fork do_exit wake_up_new_task; do
  echo $f >> $T/set_ftrace_filter 2>/dev/null
done
echo function > $T/current_tracer 2>/dev/null || echo "kinspect-guest: no function tracer"
mkdir -p $T/instances/kt
echo 4 > $T/instances/kt/buffer_size_kb
echo 1 > $T/instances/kt/events/sched/sched_switch/enable
echo 1 > $T/instances/kt/events/sched/sched_process_exit/enable
echo 1 > $T/instances/kt/tracing_on
echo 1 > $T/tracing_on
echo "kinspect-guest: tracing on: $(cat $T/current_tracer), filter $(cat $T/set_ftrace_filter | tr '\n' ' ')"
