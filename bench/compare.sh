#!/usr/bin/env bash
# compare.sh — run kinspect, drgn and crash on the same dump in one run and
# print the minimum wall time of N runs, peak RSS and ratios.
#
#   bench/compare.sh [ARCH] [DUMPFILE-NAME] [RUNS]
#     ARCH          arm | arm64 | x86_64 (default x86_64)
#     DUMPFILE-NAME a file in the fixture dir (default vmcore.mkdf-zlib-d31:
#                   drgn opens only makedumpfile-written dumps)
#     RUNS          runs per tool (default 5)
#   KINSPECT_BENCH_VARIANT=scale10000  use the scale fixture (~10,000 tasks,
#                   built with KINSPECT_SLEEPERS=10000 testdata/build-fixture.sh ARCH)
#   KINSPECT_BENCH_TASKS=1  also time `ps` (kinspect ps, crash ps, drgn
#                   for_each_task loop); KINSPECT_BENCH_BT=1 `foreach bt`.
#   KINSPECT_BENCH_MEM=1  also time `search -p` over all physical memory
#                   (kinspect, crash) and `kmem -s` (kinspect, crash, and drgn
#                   counting each cache's allocated objects with its slab helpers).
#
# Machines here are shared and noisy: compare ratios, take minimums.
# crash runs natively only for x86_64 dumps (a crash binary is per target);
# for arm/arm64 the trixie oracle runs under qemu-user (testdata/crash-oracle),
# which is emulation: its times are shown but are not a fair comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-x86_64}
DUMP=${2:-vmcore.mkdf-zlib-d31}
RUNS=${3:-5}
FIX=${KINSPECT_FIXTURES:-$HOME/.cache/kinspect/fixtures}
if [ -n "${KINSPECT_BENCH_VARIANT:-}" ]; then
	DIR=$(ls -d "$FIX/$ARCH"-bookworm-*-"$KINSPECT_BENCH_VARIANT"/ 2>/dev/null | head -1)
else
	# The first plain fixture that has the dump (variants such as -hung may lack it).
	DIR=$(for d in $(ls -d "$FIX/$ARCH"-bookworm-*/ 2>/dev/null | grep -v scale); do [ -f "$d$DUMP" ] && echo "$d"; done | head -1)
fi
[ -n "$DIR" ] && [ -f "$DIR/fixture.json" ] || { echo "no $ARCH fixture in $FIX (make fixture-$ARCH)" >&2; exit 1; }
VMCORE=$DIR$DUMP
VMLINUX=${DIR}vmlinux
[ -f "$VMCORE" ] || { echo "no $VMCORE" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"
make -s build
KIN=$PWD/bin/kinspect
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# measure NAME CMD... : min wall seconds and max RSS (KB) over RUNS runs.
declare -A T M
measure() {
	local name=$1; shift
	local best="" rss=0
	for _ in $(seq "$RUNS"); do
		if ! /usr/bin/time -f '%e %M' -o "$TMP/t" "$@" >"$TMP/out" 2>"$TMP/err"; then
			echo "  $name failed: $(tail -2 "$TMP/err" | tr '\n' ' ')" >&2
			T[$name]=NA; M[$name]=NA; return
		fi
		read -r e m <"$TMP/t"
		best=$(awk -v a="$best" -v b="$e" 'BEGIN{print (a==""||b<a)?b:a}')
		[ "$m" -gt "$rss" ] && rss=$m
	done
	T[$name]=$best; M[$name]=$rss
	printf '  %-22s min %6.2f s  peak RSS %7d KB   (%s)\n' "$name" "$best" "$rss" "$(head -c 60 "$TMP/out" | tr '\n' ' ')"
}

# crashcmd CMD: a shell command line running crash on the dump.
# Prefers trixie's crash 8.0.6 (make oracle): bookworm's 8.0.2 misses most
# tasks on these kernels, which would flatter its ps and foreach bt times.
ORACLE_ROOT=${KINSPECT_ORACLE:-$HOME/.cache/kinspect/oracle}
crashcmd() {
	if ls -d "$ORACLE_ROOT"/trixie-* >/dev/null 2>&1; then
		echo "echo '$1' | testdata/crash-oracle $ARCH '$VMLINUX' '$VMCORE'"
	else
		echo "printf '$1\\nq\\n' | crash -s '$VMLINUX' '$VMCORE'"
	fi
}
have_crash() { { [ "$ARCH" = x86_64 ] && { command -v crash >/dev/null || [ -x testdata/crash-oracle ]; }; } || { [ "$ARCH" != x86_64 ] && [ -x testdata/crash-oracle ] && [ "${KINSPECT_BENCH_EMULATED_CRASH:-0}" = 1 ]; }; }

ratio() { awk -v a="${T[$1]:-NA}" -v b="${T[$2]:-NA}" 'BEGIN{ if (a=="NA"||b=="NA"||a==0) print "n/a"; else printf "%.1fx", b/a }'; }

echo "== $ARCH ${KINSPECT_BENCH_VARIANT:-} $DUMP ($RUNS runs each; cold page cache is not forced)"
echo "-- open + p init_task.comm"
measure kinspect "$KIN" "$VMCORE" "$VMLINUX" -c 'p init_task.comm'
if [ -x /usr/bin/drgn ]; then
	echo 'print(prog["init_task"].comm)' >"$TMP/comm.py"
	measure drgn $PY /usr/bin/drgn -q -c "$VMCORE" -s "$VMLINUX" --no-default-symbols "$TMP/comm.py"
fi
if have_crash; then
	measure crash sh -c "$(crashcmd 'p init_task.comm')"
fi
echo "   kinspect vs drgn: $(ratio kinspect drgn) faster;  vs crash: $(ratio kinspect crash) faster"

if [ "${KINSPECT_BENCH_TASKS:-0}" = 1 ]; then
	echo "-- ps (open included)"
	measure kinspect-ps "$KIN" "$VMCORE" "$VMLINUX" -c 'ps'
	cat >"$TMP/ps.py" <<'PY'
from drgn.helpers.linux.pid import for_each_task
for t in for_each_task(prog):
    print(t.pid.value_(), t.comm.string_().decode(), t.__state.value_())
PY
	[ -x /usr/bin/drgn ] && measure drgn-ps $PY /usr/bin/drgn -q -c "$VMCORE" -s "$VMLINUX" --no-default-symbols "$TMP/ps.py"
	if have_crash; then
		measure crash-ps sh -c "$(crashcmd ps)"
	fi
	echo "   ps: kinspect vs drgn $(ratio kinspect-ps drgn-ps), vs crash $(ratio kinspect-ps crash-ps)"
fi

if [ "${KINSPECT_BENCH_BT:-0}" = 1 ]; then
	echo "-- foreach bt (open included)"
	measure kinspect-bt "$KIN" "$VMCORE" "$VMLINUX" -c 'foreach bt'
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
	[ -x /usr/bin/drgn ] && measure drgn-bt $PY /usr/bin/drgn -q -c "$VMCORE" -s "$VMLINUX" --no-default-symbols "$TMP/bt.py"
	if have_crash; then
		measure crash-bt sh -c "$(crashcmd 'foreach bt')"
	fi
	echo "   foreach bt: kinspect vs drgn $(ratio kinspect-bt drgn-bt), vs crash $(ratio kinspect-bt crash-bt)"
fi

if [ "${KINSPECT_BENCH_MEM:-0}" = 1 ]; then
	echo "-- search -p deadbeef over all physical memory (open included)"
	measure kinspect-search "$KIN" "$VMCORE" "$VMLINUX" -c 'search -p deadbeef'
	if have_crash; then
		measure crash-search sh -c "$(crashcmd 'search -p deadbeef')"
	fi
	echo "   search -p: kinspect vs crash $(ratio kinspect-search crash-search)"
	echo "-- kmem -s (open included)"
	measure kinspect-kmem "$KIN" "$VMCORE" "$VMLINUX" -c 'kmem -s'
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
	[ -x /usr/bin/drgn ] && measure drgn-kmem $PY /usr/bin/drgn -q -c "$VMCORE" -s "$VMLINUX" --no-default-symbols "$TMP/kmem.py"
	if have_crash; then
		measure crash-kmem sh -c "$(crashcmd 'kmem -s')"
	fi
	echo "   kmem -s: kinspect vs drgn $(ratio kinspect-kmem drgn-kmem), vs crash $(ratio kinspect-kmem crash-kmem)"
fi
