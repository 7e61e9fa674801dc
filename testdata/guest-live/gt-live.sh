#!/bin/sh
# Prints the live fixtures' ground truth in the sysrq guest's format
# (testdata/guest/gt.sh: the task files, "procfile PATH LINE"), then runs
# kinspect on this running kernel (/proc/kcore, vmlinux on /dev/vda), one
# command per run, each output between
#   ==KINSPECT-LIVE-BEGIN== NAME
#   ==KINSPECT-LIVE-END== NAME rc=STATUS
# (internal/fixture/live.go), then crashes the guest from this shell (its
# $$ is crash_pid) for the dump the tests compare kinspect's live answers
# with.
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
for f in /proc/meminfo /proc/loadavg /proc/modules; do
  [ -r "$f" ] && sed "s|^|procfile $f |" "$f"
done
# The zones' present pages: their sum is sys's MEMORY (node_present_pages).
grep -E '^Node|^ +present' /proc/zoneinfo | sed 's|^|procfile /proc/zoneinfo |'
echo "uptime_end $(cat /proc/uptime)"
echo "==KINSPECT-GT-END=="
# One sleeper's pid for `bt PID`: the first `sleep` child of init.
SLEEPER=$(for s in /proc/[0-9]*/stat; do read -r l < "$s"; case "$l" in *"(sleep) S 1 "*) echo "${l%% *}"; break ;; esac; done)
live() { # NAME ARGS...: one kinspect run on the running kernel
  name=$1; shift
  echo "==KINSPECT-LIVE-BEGIN== $name"
  /bin/kinspect --no-cache /proc/kcore /dev/vda "$@" 2>&1
  echo "==KINSPECT-LIVE-END== $name rc=$?"
}
echo "live_sleeper $SLEEPER"
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
