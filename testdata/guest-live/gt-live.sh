#!/bin/sh
# Prints the live fixtures' ground truth in the sysrq guest's format
# (testdata/guest/gt.sh: the task files, "procfile PATH LINE", "role NAME
# PID"), then runs kinspect on this running kernel (/proc/kcore, else
# /dev/mem; the vmlinux on /dev/vda, else /vmlinux in the initramfs), one
# command line per run, each output between
#   ==KINSPECT-LIVE-BEGIN== NAME
#   ==KINSPECT-LIVE-END== NAME rc=STATUS
# (internal/fixture/live.go), then crashes the guest from this shell (its
# $$ is crash_pid) for the dump the tests compare kinspect's live answers
# with.
sleep 1
# The memory source and vmlinux of every run (printed after the snapshot).
MEM=/proc/kcore
[ -e "$MEM" ] || MEM=/dev/mem
VMLINUX=/dev/vda
[ -b "$VMLINUX" ] || VMLINUX=/vmlinux
NICE=$(cat /tmp/nice_sleeper 2>/dev/null)
# The tasks whose scheduling class the runs show: the reniced sleeper
# (fair), migration/0 (stop), watchdogd where a watchdog driver runs it
# (SCHED_FIFO: rt); and CPU 0's idle task init_task (idle), through p.
SCPIDS=$NICE
for s in /proc/[0-9]*/stat; do
  read -r l < "$s"
  case "$l" in *" (migration/0) "*|*" (watchdogd) "*) SCPIDS="$SCPIDS ${l%% *}" ;; esac
done
echo "==KINSPECT-GT-BEGIN=="
echo "crash_pid $$"
echo "uptime $(cat /proc/uptime)"
echo "version $(cat /proc/version)"
echo "online $(cat /sys/devices/system/cpu/online)"
echo "possible $(cat /sys/devices/system/cpu/possible)"
echo "uname $(uname -m)"
grep -H '' /proc/[0-9]*/task/[0-9]*/stat 2>/dev/null
grep -H '' /proc/[0-9]*/task/[0-9]*/status 2>/dev/null
for f in /proc/meminfo /proc/loadavg /proc/modules; do
  [ -r "$f" ] && sed "s|^|procfile $f |" "$f"
done
# The zones' present pages: their sum is sys's MEMORY (node_present_pages).
grep -E '^Node|^ +present' /proc/zoneinfo | sed 's|^|procfile /proc/zoneinfo |'
# The live runs' ground truth: the reniced sleeper's scheduler files (its
# counters do not move while it sleeps), the scheduling classes' and
# init_task's addresses (data symbols need CONFIG_KALLSYMS_ALL, which
# Debian's arm64 kernel lacks: _stext gives the KASLR offset to nm's),
# the runqueues' schedstat, System RAM.
[ -n "$NICE" ] && echo "role nice_sleeper $NICE"
for f in /proc/$NICE/sched /proc/$NICE/schedstat /proc/schedstat; do
  [ -r "$f" ] && sed "s|^|procfile $f |" "$f"
done
grep -E ' (fair|rt|idle|stop|dl)_sched_class$| init_task$| _stext$' /proc/kallsyms | sed 's|^|procfile /proc/kallsyms |'
grep -v '^ ' /proc/iomem | sed 's|^|procfile /proc/iomem |'
echo "uptime_end $(cat /proc/uptime)"
echo "==KINSPECT-GT-END=="
# One sleeper's pid for `bt PID`: the first `sleep` child of init.
SLEEPER=$(for s in /proc/[0-9]*/stat; do read -r l < "$s"; case "$l" in *"(sleep) S 1 "*) echo "${l%% *}"; break ;; esac; done)
live() { # NAME ARGS...: one kinspect run on the running kernel
  name=$1; shift
  echo "==KINSPECT-LIVE-BEGIN== $name"
  /bin/kinspect --no-cache "$MEM" "$VMLINUX" "$@" 2>&1
  echo "==KINSPECT-LIVE-END== $name rc=$?"
}
echo "live_sleeper $SLEEPER"
echo "live_source $MEM $VMLINUX"
# One command line for the JSON of the scheduler and memory commands (each
# run costs 10-30 s under TCG; --keep-going: a failing one hides no other): the sleeper's task, the classes, every
# online CPU's runqueue after a ps of the same process (its curr is one of
# the tasks listed), the modules, kmem -i.
TASKR=pid,comm,policy,prio,static_prio,normal_prio,rt_priority,nvcsw,nivcsw,se,sched_class
SCHED="task -R $TASKR $NICE; kmem -i; mod; ps"
for r in $(tr ',' ' ' < /sys/devices/system/cpu/online); do
  for c in $(seq "${r%-*}" "${r#*-}"); do SCHED="$SCHED; rq $c cpu,nr_running,curr"; done
done
for p in $SCPIDS; do SCHED="$SCHED; sched_class $p"; done
SCHED="$SCHED; p init_task.sched_class"
live ps-json --json -c ps
live sys -c sys
live sys-json --json -c sys
live ps -c ps
live log -c 'log | tail'
live runq -c runq
live runq-json --json -c runq
live bt -c "bt $SLEEPER"
live bt-panic -c bt
live triage -c triage
live sched --keep-going -c "task -R $TASKR $NICE; sched_class $NICE; rq 0 cpu,nr_running,curr; kmem -i"
live sched-json --json --keep-going -c "$SCHED"
echo "==KINSPECT-LIVE-DONE=="
# Let the UART drain (see testdata/guest/gt.sh): a panic never flushes it.
i=0
while [ $i -lt 50 ]; do
  a=$(cat /proc/tty/driver/* 2>/dev/null)
  sleep 0.2
  [ "$a" = "$(cat /proc/tty/driver/* 2>/dev/null)" ] && break
  i=$((i+1))
done
echo 7 > /proc/sys/kernel/printk
echo c > /proc/sysrq-trigger
