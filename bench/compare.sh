#!/usr/bin/env bash
# compare.sh — run kinspect, drgn and crash on the same dumps in one run and
# print the minimum wall time of N interleaved runs, peak RSS and ratios.
#
#   bench/compare.sh [ARCH] [DUMPFILE-NAME] [RUNS]
#     ARCH          arm | arm64 | x86_64 (default x86_64)
#     DUMPFILE-NAME a file in the fixture dir (default vmcore.mkdf-zlib-d31:
#                   drgn opens only makedumpfile-written dumps)
#     RUNS          runs per tool and workload (default 5)
#
#   KINSPECT_BENCH_SCALES="scale10000 scale50000"  the scale fixtures (built
#                 with KINSPECT_SLEEPERS=N testdata/build-fixture.sh ARCH) to
#                 add to the ~300-task one; those present are used (default
#                 both names)
#   KINSPECT_BENCH_CRASH=0  leave crash out (it takes seconds a run)
#   KINSPECT_BENCH_LOCALS=1  also `foreach bt --args --locals` on the
#                 ~300-task dump against drgn's loop over every frame's
#                 locals() of every task, each formatted (issue 15)
#   KINSPECT_BENCH_MEM=1  also `search -p deadbeef` over all physical memory
#                 (kinspect, crash), `kmem -s` (kinspect, crash, and drgn
#                 counting each cache's allocated objects with its slab
#                 helpers), `kmem -n` and `vm -p 1` (kinspect, crash) on
#                 the ~300-task dump (issue 12)
#   KINSPECT_BENCH_TIMEOUT=S  stop a case after S seconds and report it as
#                 timed out, n/a in the tables (default 0: no limit); drgn's
#                 stack_trace loop over 50,000 tasks takes minutes
#   KINSPECT_BENCH_SLOW_RUNS=N  run the slow cases (every crash run, drgn's
#                 foreach bt on the scale dumps: minutes each on a busy
#                 machine) only in the first N runs (default RUNS)
#
# Workloads, each including the open: `open` (p init_task.comm; kinspect
# with its index cache cleared before each run = cold, and kept = warm;
# `answer` is the cold run's time until the answer is printed, in a
# pseudo-terminal; a cold run done before its index hands the index off to
# a detached `kinspect index` and exits: `index` times that process alone,
# and kinspect-wait is a cold run that finishes and saves its own index,
# KINSPECT_CACHE_WAIT=1; every case waits for the indexers of the cases
# before it to end, untimed),
# `first prompt` (interactive start in a pseudo-terminal until the prompt:
# kinspect prints its sys summary first; drgn imports its helpers; crash's
# is its time for `sys`), `ps` (drgn: for_each_task printing pid and comm),
# `foreach bt` (drgn: prog.stack_trace of each task), `log` (drgn:
# get_dmesg), and kinspect's Starlark `for_each_task()` loop against its
# `ps --json` (issue 16). Runs are interleaved (run 1 of every workload and
# tool, then run 2, ...) so that the machine's load hits all alike; the
# minimum is reported. kinspect's cache lives in a private XDG_CACHE_HOME.
#
# crash runs natively only for x86_64 dumps (a crash binary is per target);
# for arm/arm64 the trixie oracle runs under qemu-user (testdata/crash-oracle),
# which is emulation: those times are not a fair comparison and are left out
# unless KINSPECT_BENCH_EMULATED_CRASH=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-x86_64}
DUMP=${2:-vmcore.mkdf-zlib-d31}
RUNS=${3:-5}
FIX=${KINSPECT_FIXTURES:-$HOME/.cache/kinspect/fixtures}
export PATH="$PATH:/usr/local/go/bin"
make -s build
KIN=$PWD/bin/kinspect
PY=/usr/bin/python3
DRGN=(/usr/bin/python3 /usr/bin/drgn -q --no-default-symbols)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/xdg
INDEX=$XDG_CACHE_HOME/kinspect/index

# The dumps: the ~300-task fixture first, then the scale fixtures present.
LABELS=() DIRS=()
add_dump() {
	local d
	d=$(ls -d "$FIX/$ARCH"-bookworm-*"$1"/ 2>/dev/null | grep -E -- "$2" | head -1 || true)
	[ -n "$d" ] && [ -f "$d/fixture.json" ] && [ -f "$d$DUMP" ] || return 0
	LABELS+=("$3") DIRS+=("$d")
}
add_dump "" '-[0-9.]+-[a-z0-9]+/$' base
for s in ${KINSPECT_BENCH_SCALES:-scale10000 scale50000}; do add_dump "-$s" . "$s"; done
[ ${#DIRS[@]} -gt 0 ] || { echo "no $ARCH fixture with $DUMP in $FIX (make fixture-$ARCH)" >&2; exit 1; }

ORACLE_ROOT=${KINSPECT_ORACLE:-$HOME/.cache/kinspect/oracle}
have_crash() {
	[ "${KINSPECT_BENCH_CRASH:-1}" = 1 ] || return 1
	ls -d "$ORACLE_ROOT"/trixie-* >/dev/null 2>&1 || return 1
	[ "$ARCH" = x86_64 ] || [ "${KINSPECT_BENCH_EMULATED_CRASH:-0}" = 1 ]
}
have_drgn() { [ -x /usr/bin/drgn ]; }

cat >"$TMP/open.py" <<'PY'
print(prog["init_task"].comm)
PY
cat >"$TMP/ps.py" <<'PY'
from drgn.helpers.linux.pid import for_each_task
for t in for_each_task(prog):
    print(t.pid.value_(), t.comm.string_().decode())
PY
cat >"$TMP/bt.py" <<'PY'
from drgn.helpers.linux.pid import for_each_task
n = 0
for t in for_each_task(prog):
    try:
        n += len(prog.stack_trace(t))
    except Exception:
        pass
print(n)
PY
cat >"$TMP/locals.py" <<'PY'
from drgn.helpers.linux.pid import for_each_task
n = 0
for t in for_each_task(prog):
    try:
        trace = prog.stack_trace(t)
    except Exception:
        continue
    for f in trace:
        for name in f.locals():
            try:
                s = f"{name} = {f[name]}"
            except Exception as e:
                s = f"{name} = <{e}>"
            n += 1
print(n)
PY
cat >"$TMP/kmem.py" <<'PY'
from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_for_each_allocated_object
for s in for_each_slab_cache(prog):
    n = 0
    try:
        for _ in slab_cache_for_each_allocated_object(s, "void"):
            n += 1
    except Exception:
        n = -1
    print(s.name.string_().decode(), s.object_size.value_(), n)
PY
cat >"$TMP/log.py" <<'PY'
import sys
from drgn.helpers.linux.printk import get_dmesg
sys.stdout.buffer.write(get_dmesg(prog))
PY

# Cases: "label|workload|tool|runs|command line" (a shell command).
CASES=()
SLOW=${KINSPECT_BENCH_SLOW_RUNS:-$RUNS}
case_add() { CASES+=("$1|$2|$3|$RUNS|$4"); }
slow_add() { CASES+=("$1|$2|$3|$SLOW|$4"); }
q() { printf '%q ' "$@"; }
for i in "${!DIRS[@]}"; do
	L=${LABELS[$i]} D=${DIRS[$i]}
	V=$D$DUMP VL=${D}vmlinux
	K="$(q "$KIN" "$V" "$VL")"
	R="$(q "${DRGN[@]}" -c "$V" -s "$VL")"
	# Killed once the answer is out: before the cold run, which writes the
	# cache the warm run reads.
	case_add "$L" answer kinspect-cold "rm -rf $(q "$INDEX"); bench/firstprompt.py '\$1 = ' $K -c 'p init_task.comm'"
	case_add "$L" open kinspect-cold "rm -rf $(q "$INDEX"); $K -c 'p init_task.comm'"
	# The cold run hands its index off to `kinspect index` (cmd/kinspect/
	# indexer.go): that process alone, and a cold run that waits for its
	# own index and saves it (as every cold run did before the hand-off).
	case_add "$L" index kinspect-cold "rm -rf $(q "$INDEX"); $(q "$KIN") index $(q "$VL")"
	case_add "$L" open kinspect-wait "rm -rf $(q "$INDEX"); KINSPECT_CACHE_WAIT=1 $K -c 'p init_task.comm'"
	case_add "$L" open kinspect "$K -c 'p init_task.comm'"
	case_add "$L" "first prompt" kinspect "bench/firstprompt.py 'kinspect> ' $K"
	case_add "$L" ps kinspect "$K -c ps"
	case_add "$L" "foreach bt" kinspect "$K -c 'foreach bt'"
	case_add "$L" log kinspect "$K -c log"
	case_add "$L" "ps --json" kinspect "$K --json -c ps"
	case_add "$L" "for_each_task()" kinspect "$K -c 'star len([(t.pid, t.tgid, str(t.comm)) for t in for_each_task()])'"
	if have_drgn; then
		case_add "$L" open drgn "$R $TMP/open.py"
		case_add "$L" "first prompt" drgn "bench/firstprompt.py '>>> ' $R"
		case_add "$L" ps drgn "$R $TMP/ps.py"
		if [ "$L" = base ]; then case_add "$L" "foreach bt" drgn "$R $TMP/bt.py"; else slow_add "$L" "foreach bt" drgn "$R $TMP/bt.py"; fi
		case_add "$L" log drgn "$R $TMP/log.py"
	fi
	if [ "${KINSPECT_BENCH_LOCALS:-0}" = 1 ] && [ "$L" = base ]; then
		case_add "$L" "bt --locals" kinspect "$K -c 'foreach bt --args --locals'"
		have_drgn && slow_add "$L" "bt --locals" drgn "$R $TMP/locals.py"
	fi
	if [ "${KINSPECT_BENCH_MEM:-0}" = 1 ] && [ "$L" = base ]; then
		case_add "$L" "search -p" kinspect "$K -c 'search -p deadbeef'"
		case_add "$L" "kmem -s" kinspect "$K -c 'kmem -s'"
		have_drgn && slow_add "$L" "kmem -s" drgn "$R $TMP/kmem.py"
		# kmem -n and vm -p (every page of init's VMAs): kinspect and crash only.
		case_add "$L" "kmem -n" kinspect "$K -c 'kmem -n'"
		case_add "$L" "vm -p 1" kinspect "$K -c 'vm -p 1'"
		if have_crash; then
			slow_add "$L" "search -p" crash "echo 'search -p deadbeef' | testdata/crash-oracle $ARCH $(q "$VL" "$V")"
			slow_add "$L" "kmem -s" crash "echo 'kmem -s' | testdata/crash-oracle $ARCH $(q "$VL" "$V")"
			slow_add "$L" "kmem -n" crash "echo 'kmem -n' | testdata/crash-oracle $ARCH $(q "$VL" "$V")"
			slow_add "$L" "vm -p 1" crash "echo 'vm -p 1' | testdata/crash-oracle $ARCH $(q "$VL" "$V")"
		fi
	fi
	if have_crash; then
		C="testdata/crash-oracle $ARCH $(q "$VL" "$V")"
		slow_add "$L" open crash "echo 'p init_task.comm' | $C"
		slow_add "$L" "first prompt" crash "echo sys | $C"
		slow_add "$L" ps crash "echo ps | $C"
		slow_add "$L" "foreach bt" crash "echo 'foreach bt' | $C"
		slow_add "$L" log crash "echo log | $C"
	fi
	NTASKS[$i]=$("$KIN" "$V" "$VL" -c sys 2>/dev/null | awk '$1 == "TASKS:" {print $2}')
done

# Warm kinspect's cache once per vmlinux; then the interleaved runs.
for i in "${!DIRS[@]}"; do "$KIN" "${DIRS[$i]}$DUMP" "${DIRS[$i]}vmlinux" -c 'p 1' >/dev/null; done
declare -A T M C
TIMEOUT=${KINSPECT_BENCH_TIMEOUT:-0}
for r in $(seq "$RUNS"); do
	echo "run $r/$RUNS" >&2
	for c in "${CASES[@]}"; do
		IFS='|' read -r L W TOOL N CMD <<<"$c"
		k="$L|$W|$TOOL"
		[ "${T[$k]:-}" = NA ] || [ "$r" -gt "$N" ] && continue
		# A cold kinspect run's background indexer must not run into the
		# next case: wait for it (it holds a lock on the vmlinux).
		for i in "${!DIRS[@]}"; do flock "${DIRS[$i]}vmlinux" true; done
		RUN=(bash -c "$CMD")
		[ "$TIMEOUT" = 0 ] || RUN=(timeout -k 10 "$TIMEOUT" "${RUN[@]}")
		rc=0
		/usr/bin/time -f '%e %M %U %S' -o "$TMP/t" "${RUN[@]}" >"$TMP/out" 2>"$TMP/err" || rc=$?
		if [ "$rc" = 124 ] && [ "$TIMEOUT" != 0 ]; then
			echo "  $L $W $TOOL timed out after ${TIMEOUT}s (KINSPECT_BENCH_TIMEOUT)" >&2
			T[$k]=NA M[$k]=NA
			continue
		elif [ "$rc" != 0 ]; then
			echo "  $L $W $TOOL failed: $(tail -2 "$TMP/err" | tr '\n' ' ')" >&2
			T[$k]=NA M[$k]=NA
			continue
		fi
		read -r e m u s <"$TMP/t"
		T[$k]=$(awk -v a="${T[$k]:-}" -v b="$e" 'BEGIN{print (a==""||b<a)?b:a}')
		C[$k]=$(awk -v a="${C[$k]:-}" -v b="$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" 'BEGIN{print (a==""||b<a)?b:a}')
		[ "$m" -gt "${M[$k]:-0}" ] && M[$k]=$m
	done
done

get() { echo "${T[$1]:-NA}"; }
cpu() { echo "${C[$1]:-NA}"; }
ratio() { awk -v a="$(get "$1")" -v b="$(get "$2")" 'BEGIN{ if (a=="NA"||b=="NA"||b==0) print "n/a"; else printf "%.2f", a/b }'; }
rss() { awk -v m="${M[$1]:-NA}" 'BEGIN{ if (m=="NA") print "n/a"; else printf "%d MB", m/1024 }'; }
verdict() { awk -v r="$1" -v lim="$2" -v op="$3" 'BEGIN{ if (r=="n/a") print "n/a"; else if ((op=="le" && r<=lim) || (op=="ge" && r>=lim)) print "met"; else print "NOT met" }'; }
ratiox() { awk -v a="$(get "$1")" -v b="$(get "$2")" 'BEGIN{ if (a=="NA"||b=="NA"||a==0) print "n/a"; else printf "%.1f", b/a }'; }

B=${LABELS[0]}
S=""
for i in "${!LABELS[@]}"; do [ "${LABELS[$i]}" = scale10000 ] && S=scale10000; done
echo
echo "== $ARCH $DUMP, min of $RUNS interleaved runs (slow cases: $SLOW) (wall s), ratios kinspect/other; $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg)"
echo "| target | measured | ratio | goal | |"
echo "|---|---|---|---|---|"
r=$(ratio "$B|open|kinspect-cold" "$B|open|drgn")
echo "| cold open (cache cleared) vs drgn, ${NTASKS[0]} tasks | $(get "$B|open|kinspect-cold") s vs $(get "$B|open|drgn") s | $r | ≤ 0.5 | $(verdict "$r" 0.5 le) |"
r=$(ratio "$B|answer|kinspect-cold" "$B|open|drgn")
echo "| same, until the answer is printed | $(get "$B|answer|kinspect-cold") s vs $(get "$B|open|drgn") s | $r | | |"
r=$(ratio "$B|open|kinspect-wait" "$B|open|drgn")
echo "| cold open that indexes and saves the cache itself (KINSPECT_CACHE_WAIT=1) vs drgn | $(get "$B|open|kinspect-wait") s [CPU $(cpu "$B|open|kinspect-wait") s], $(rss "$B|open|kinspect-wait") vs $(get "$B|open|drgn") s [CPU $(cpu "$B|open|drgn") s] | $r | | |"
echo "| the background indexer a cold open starts (kinspect index, nice 10) | $(get "$B|index|kinspect-cold") s [CPU $(cpu "$B|index|kinspect-cold") s], $(rss "$B|index|kinspect-cold") | | | |"
r=$(ratio "$B|open|kinspect" "$B|open|drgn")
echo "| warm open vs drgn | $(get "$B|open|kinspect") s vs $(get "$B|open|drgn") s | $r | ≤ 0.25 | $(verdict "$r" 0.25 le) |"
r=$(awk -v a="${M[$B|open|kinspect-cold]:-NA}" -v b="${M[$B|open|drgn]:-NA}" 'BEGIN{ if (a=="NA"||b=="NA") print "n/a"; else printf "%.2f", a/b }')
echo "| peak RSS, cold open vs drgn | $(rss "$B|open|kinspect-cold") vs $(rss "$B|open|drgn") | $r | ≤ 0.5 | $(verdict "$r" 0.5 le) |"
r=$(ratiox "$B|foreach bt|kinspect" "$B|foreach bt|drgn")
echo "| foreach bt vs drgn's stack_trace loop, ${NTASKS[0]} tasks | $(get "$B|foreach bt|kinspect") s vs $(get "$B|foreach bt|drgn") s | ${r}× faster | ≥ 10× | $(verdict "$r" 10 ge) |"
if [ "${KINSPECT_BENCH_MEM:-0}" = 1 ]; then
	for W in "search -p" "kmem -s" "kmem -n" "vm -p 1"; do
		echo "| $W, ${NTASKS[0]} tasks: kinspect vs drgn, vs crash | $(get "$B|$W|kinspect") s vs $(get "$B|$W|drgn") s, $(get "$B|$W|crash") s | $(ratiox "$B|$W|kinspect" "$B|$W|drgn")×, $(ratiox "$B|$W|kinspect" "$B|$W|crash")× faster | | |"
	done
fi
if [ "${KINSPECT_BENCH_LOCALS:-0}" = 1 ]; then
	r=$(ratiox "$B|bt --locals|kinspect" "$B|bt --locals|drgn")
	echo "| foreach bt --args --locals vs drgn's locals() loop, ${NTASKS[0]} tasks | $(get "$B|bt --locals|kinspect") s vs $(get "$B|bt --locals|drgn") s | ${r}× faster | | |"
fi
if [ -n "$S" ]; then
	j=0; for i in "${!LABELS[@]}"; do [ "${LABELS[$i]}" = "$S" ] && j=$i; done
	r=$(ratio "$S|ps|kinspect" "$S|ps|drgn")
	echo "| ps vs drgn's for_each_task loop, ${NTASKS[$j]} tasks | $(get "$S|ps|kinspect") s vs $(get "$S|ps|drgn") s | $r | ≤ 0.1 | $(verdict "$r" 0.1 le) |"
	r=$(ratio "$S|first prompt|kinspect" "$B|first prompt|kinspect")
	echo "| first prompt, ${NTASKS[$j]} vs ${NTASKS[0]} tasks | $(get "$S|first prompt|kinspect") s vs $(get "$B|first prompt|kinspect") s | $r | ≤ 1.10 | $(verdict "$r" 1.10 le) |"
	r=$(awk -v a="$(cpu "$S|first prompt|kinspect")" -v b="$(cpu "$B|first prompt|kinspect")" 'BEGIN{ if (a=="NA"||b=="NA"||b==0) print "n/a"; else printf "%.2f", a/b }')
	echo "| same, CPU time (user+sys) | $(cpu "$S|first prompt|kinspect") s vs $(cpu "$B|first prompt|kinspect") s | $r | ≤ 1.10 | $(verdict "$r" 1.10 le) |"
	r=$(ratio "$S|for_each_task()|kinspect" "$S|ps --json|kinspect")
	echo "| Starlark for_each_task() vs ps --json, ${NTASKS[$j]} tasks | $(get "$S|for_each_task()|kinspect") s vs $(get "$S|ps --json|kinspect") s | $r | < 2 | $(verdict "$r" 1.999 le) |"
fi

echo
echo "Growth (min wall s [min CPU s]; peak RSS for open and ps; slope = wall s per 10,000 tasks, first to last dump):"
hdr="| work | tool |"; sep="|---|---|"
for i in "${!LABELS[@]}"; do hdr+=" ${NTASKS[$i]} tasks |"; sep+="---|"; done
echo "$hdr slope /10k |"; echo "$sep---|"
last=$((${#LABELS[@]} - 1))
for W in open "first prompt" ps "foreach bt" log; do
	for TOOL in kinspect-cold kinspect-wait kinspect drgn crash; do
		[ -n "${T[$B|$W|$TOOL]:-}" ] || continue
		row="| $W | $TOOL |"
		for i in "${!LABELS[@]}"; do
			k="${LABELS[$i]}|$W|$TOOL" v=$(get "${LABELS[$i]}|$W|$TOOL")
			[ "$v" != NA ] && v+=" [$(cpu "$k")]"
			case $W in open | ps) [ "$v" != NA ] && v+=", $(rss "$k")" ;; esac
			row+=" $v |"
		done
		slope=$(awk -v a="$(get "$B|$W|$TOOL")" -v b="$(get "${LABELS[$last]}|$W|$TOOL")" -v n0="${NTASKS[0]:-0}" -v n1="${NTASKS[$last]:-0}" \
			'BEGIN{ if (a=="NA"||b=="NA"||n1<=n0) print "n/a"; else printf "%+.2f s", (b-a)*10000/(n1-n0) }')
		echo "$row $slope |"
	done
done
