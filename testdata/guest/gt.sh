#!/bin/sh
# Prints the ground truth between markers, then crashes the kernel from this
# shell (its $$ is crash_pid: the task that writes to /proc/sysrq-trigger).
sleep 1
echo "==KINSPECT-GT-BEGIN=="
echo "crash_pid $$"
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
echo "==KINSPECT-GT-END=="
sleep 4
echo 1 > /proc/sys/kernel/sysrq
echo c > /proc/sysrq-trigger
