#!/bin/sh
# Prints the module fixtures' ground truth in the sysrq guest's format
# (testdata/guest/gt.sh: "procfile PATH LINE" and the task files, which
# internal/fixture parses), then faults inside the test module from this
# shell (its $$ is crash_pid):
#   oops  panic_on_oops=1, then a NULL-pointer write in kt_do_oops()
#   hung  hung_task_panic=1 and a 5 s timeout, then an uninterruptible sleep
#         in kt_do_hang() that khungtaskd reports and panics on
KIND=$1
sleep 1
echo "==KINSPECT-GT-BEGIN=="
echo "crash_pid $$"
echo "uptime $(cat /proc/uptime)"
echo "version $(cat /proc/version)"
echo "online $(cat /sys/devices/system/cpu/online)"
echo "possible $(cat /sys/devices/system/cpu/possible)"
echo "uname $(uname -m)"
grep -H '' /proc/[0-9]*/task/[0-9]*/stat 2>/dev/null
grep -H '' /proc/[0-9]*/task/[0-9]*/status 2>/dev/null
for f in /proc/modules /proc/interrupts /proc/kinspect_test /proc/misc /proc/devices; do
  [ -r "$f" ] && sed "s|^|procfile $f |" "$f"
done
head -n 40 /proc/timer_list | sed 's|^|procfile /proc/timer_list |'
# Every module's section addresses and the modules' lines of /proc/kallsyms
# (the module symbol tables, read by the kernel from each module's kallsyms).
for s in /sys/module/*/sections/.* /sys/module/*/sections/*; do
  [ -f "$s" ] && echo "procfile $s $(cat "$s")"
done
grep '\[' /proc/kallsyms | sed 's|^|procfile /proc/kallsyms |'
echo "uptime_end $(cat /proc/uptime)"
echo "==KINSPECT-GT-END=="
# Let the UART drain (see testdata/guest/gt.sh): a panic never flushes it.
i=0
while [ $i -lt 50 ]; do
  a=$(cat /proc/tty/driver/* 2>/dev/null)
  sleep 0.2
  [ "$a" = "$(cat /proc/tty/driver/* 2>/dev/null)" ] && break
  i=$((i+1))
done
echo 7 > /proc/sys/kernel/printk
case "$KIND" in
  oops)
    echo 1 > /proc/sys/kernel/panic_on_oops
    echo oops > /proc/kinspect_test ;;
  hung)
    echo 1 > /proc/sys/kernel/hung_task_panic
    echo 5 > /proc/sys/kernel/hung_task_timeout_secs
    echo hang > /proc/kinspect_test ;;
esac
