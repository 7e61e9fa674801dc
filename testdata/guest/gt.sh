#!/bin/sh
# Prints the ground truth, then crashes the kernel from this shell (its $$ is
# crash_pid: the task that writes to /proc/sysrq-trigger).
#
# Two snapshots (internal/fixture parses both):
#   1. GT-BEGIN..GT-END, the full one: every thread's stat and status, the
#      roles, the memory files. The workload is quiescent by then: nothing
#      forks or exits (raspbian_proc sleeps in one long child).
#   2. LATE-BEGIN..LATE-END, just before `echo c`: every thread's stat and
#      schedstat, read with shell builtins only (read, echo, for), so the
#      snapshot itself creates no task and this shell is running in it, as
#      in the dump. A thread whose schedstat run count did not change between
#      this line and the dump has not run since: its state and CPU must match
#      the dump exactly.
sleep 1
echo "==KINSPECT-GT-BEGIN=="
echo "crash_pid $$"
echo "uptime $(cat /proc/uptime)"
echo "version $(cat /proc/version)"
echo "online $(cat /sys/devices/system/cpu/online)"
echo "possible $(cat /sys/devices/system/cpu/possible)"
echo "uname $(uname -m)"
sed 's/^/role /' /tmp/roles
sed 's/^/schedstat /' /proc/schedstat
grep -H '' /proc/[0-9]*/task/[0-9]*/stat 2>/dev/null
# Scale fixtures print only some status fields: the UART is slow under TCG.
STATUS_FIELDS=all
[ -f /etc/kinspect.conf ] && . /etc/kinspect.conf
if [ "$STATUS_FIELDS" = all ]; then
  grep -H '' /proc/[0-9]*/task/[0-9]*/status 2>/dev/null
else
  grep -H -E "^($STATUS_FIELDS):" /proc/[0-9]*/task/[0-9]*/status 2>/dev/null
fi
# The memory and system files, one "procfile PATH LINE" per line.
for f in /proc/meminfo /proc/slabinfo /proc/buddyinfo /proc/zoneinfo /proc/vmallocinfo \
         /proc/mounts /proc/modules /proc/interrupts; do
  [ -r "$f" ] && sed "s|^|procfile $f |" "$f"
done
# The process holding known files and mappings (workload files).
P=$(sed -n 's/^files //p' /tmp/roles)
if [ -n "$P" ]; then
  sed "s|^|procfile /proc/$P/maps |" /proc/$P/maps
  ls -l /proc/$P/fd | sed "s|^|procfile /proc/$P/fd |"
fi
# ftrace (ftrace.sh): the settings, the instance "kt" frozen and printed
# whole per cpu, and the tail of the top-level buffer per cpu (still
# tracing: later events may follow in the dump, none of these is lost).
T=/sys/kernel/tracing
if [ -d $T/instances/kt ]; then
  echo 0 > $T/instances/kt/tracing_on
  for f in $T/current_tracer $T/tracing_on $T/buffer_size_kb $T/set_ftrace_filter $T/trace_clock \
           $T/instances/kt/buffer_size_kb $T/instances/kt/tracing_on $T/per_cpu/cpu*/stats $T/instances/kt/per_cpu/cpu*/stats; do
    [ -r "$f" ] && sed "s|^|procfile $f |" "$f"
  done
  for c in $T/instances/kt/per_cpu/cpu*; do
    grep -v '^#' $c/trace | sed "s|^|ftrace kt ${c##*/} |"
  done
  for c in $T/per_cpu/cpu*; do
    grep -v '^#' $c/trace | tail -n 40 | sed "s|^|ftrace top ${c##*/} |"
  done
fi
echo "uptime_end $(cat /proc/uptime)"
echo "==KINSPECT-GT-END=="
echo 1 > /proc/sys/kernel/sysrq
echo "==KINSPECT-LATE-BEGIN=="
read -r u < /proc/uptime
echo "uptime $u"
for d in /proc/[0-9]*/task/[0-9]*; do
  read -r st 2>/dev/null < "$d/stat" || continue
  sc=""
  read -r sc 2>/dev/null < "$d/schedstat"
  echo "late ${d#/proc/} $sc|$st"
done
echo "==KINSPECT-LATE-END=="
# The shell's output waits in the serial driver's transmit buffer, which a
# panic never flushes (printk writes the console directly): wait until the
# UART's transmit count stops moving, or the snapshot's tail is lost.
i=0
while [ $i -lt 50 ]; do
  a=$(cat /proc/tty/driver/* 2>/dev/null)
  sleep 0.2
  [ "$a" = "$(cat /proc/tty/driver/* 2>/dev/null)" ] && break
  i=$((i+1))
done
echo c > /proc/sysrq-trigger
