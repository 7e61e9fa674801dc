#!/usr/bin/env bash
# Builds a real-kernel crash-dump fixture for kinspect's integration tests.
#
#   testdata/build-fixture.sh ARCH [SUITE [KIND]]
#     ARCH  arm | arm64 | x86_64
#     SUITE bookworm (default) | bullseye | trixie (best effort)
#     KIND  sysrq (default) | oops | hung | raspi | live | lpae | rpios
#
# Downloads Debian's kernel and its exactly matching -dbg package, boots the
# kernel under QEMU (TCG) with a busybox initramfs running a known workload,
# captures the ground truth the guest prints, crashes it with sysrq-c and dumps
# the guest's memory in every format QEMU offers (plus makedumpfile variants
# where possible). Result: $KINSPECT_FIXTURES/<arch>-<suite>-<release>[-scaleN]/
# with vmlinux, vmlinuz, console.log, ground-truth.json, vmcore.* and, written
# last, fixture.json. A directory that has fixture.json is complete and reused.
#
# Environment:
#   KINSPECT_FIXTURES      cache root (default ~/.cache/kinspect/fixtures)
#   KINSPECT_SLEEPERS      extra sleeping processes (default 200; another value
#                          builds a "-scaleN" fixture; above 1000 a scale
#                          fixture, see below)
#   KINSPECT_GUEST_MEM     guest memory (default 1G; scale: 2 GiB + 120 KiB
#                          a sleeper, rounded up to GiB)
#   KINSPECT_KVM           0 to boot a scale fixture under TCG even where KVM
#                          could run it (default 1)
#   KINSPECT_SMP           vCPUs (default 4)
#   KINSPECT_BOOT_TIMEOUT  seconds to wait for the panic (default 600 + sleepers/10)
#   KINSPECT_MAKEDUMPFILE  0 to skip the makedumpfile variants (default 1)
#   KINSPECT_KEEP_TMP      1 to keep the download/staging dir
#   KINSPECT_FIXTURE_REFRESH  1 to resolve the newest kernel with apt even when
#                          a complete fixture of ARCH/SUITE exists (and build
#                          it if it is newer)
#   KINSPECT_KERNEL        an explicit kernel ABI (e.g. 6.1.0-50) instead of the
#                          newest one SUITE's linux-image-FLAVOR serves, where
#                          SUITE still has it (else its current kernel); the
#                          tests then use it too (internal/fixture.Find)
#
# Scale fixtures (KINSPECT_SLEEPERS > 1000, bench data only: the tests never
# pick them) boot under KVM (-accel kvm -cpu host) when the guest arch is the
# host's and /dev/kvm is read-write, raise pid_max and threads-max on the
# kernel command line (sysctl.kernel.*), print only some status fields, and
# keep a single dump: vmcore.mkdf-zlib-d31 (makedumpfile -c -d 31, what drgn
# opens), made from QEMU's ELF dump, which is deleted after.
#
# A fixture records the guest key (a hash of testdata/guest/*): a fixture
# built by another guest (other workload, other ground truth) is not reused.
#
# KIND oops and hung (testdata/module-fixture.sh) build a light guest
# (testdata/guest-module/) that loads a few Debian modules and the test
# module (testdata/module/, built here against Debian's linux-headers), then
# faults inside it: a NULL dereference under panic_on_oops, or a task stuck
# in D until khungtaskd panics. Directory <arch>-<suite>-<release>-<kind>/;
# only the ELF dump and one makedumpfile kdump variant; no tracing ever.
#
# KIND raspi (testdata/raspi-fixture.sh) boots the sysrq guest on QEMU's
# Raspberry Pi boards (arm: raspi2b, arm64: raspi3b) with the board's dtb
# from Debian's kernel package: RAM at physical 0, no fw_cfg (no
# VMCOREINFO). Directory <arch>-<suite>-<release>-raspi/; the ELF dump and
# QEMU's kdump-zlib only; 100 sleepers (KINSPECT_RASPI_SLEEPERS).
#
# KIND lpae (testdata/lpae-fixture.sh, arm only) boots the sysrq guest on
# Debian's armmp-lpae kernel on virt,highmem=on with 4 GiB of RAM from
# 0x40000000: RAM above 4 GiB physical, LPAE page tables. Directory
# <arch>-<suite>-<release>-lpae/; the ELF dump and QEMU's kdump-zlib only;
# 100 sleepers (KINSPECT_LPAE_SLEEPERS).
#
# KIND live (testdata/live-fixture.sh, x86_64 and arm64: Debian's armmp has
# no /proc/kcore) builds a light guest (testdata/guest-live/) that runs the
# static kinspect of this checkout on its own /proc/kcore, with the debug
# vmlinux as a read-only virtio disk, prints its output, then crashes with
# sysrq-c; the fixture records the kinspect commit it ran. On arm (32-bit
# ARM never has /proc/kcore) it boots KIND rpios's kernel on raspi2b and
# reads /dev/mem, the vmlinux a file in the initramfs.
#
# KIND rpios (testdata/rpios-fixture.sh, arm only) builds a Raspberry Pi
# OS-like 32-bit kernel from Debian's linux-source (2G/2G split, BCM2836,
# DWARF 5; cached in $KINSPECT_FIXTURES/.build) and boots the sysrq guest on
# raspi2b with it. Directory <arch>-<suite>-<version>-v7-rpios/; the ELF dump,
# QEMU's kdump-zlib and the raw RAM cut, as raspi.
set -euo pipefail

die() { echo "build-fixture: ERROR: $*" >&2; exit 1; }
log() { echo "build-fixture: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

[ $# -ge 1 ] || die "usage: $0 ARCH [SUITE]   (ARCH: arm, arm64, x86_64)"
ARCH=$1
SUITE=${2:-bookworm}
KIND=${3:-sysrq}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
# shellcheck source=module-fixture.sh
. "$HERE/module-fixture.sh"
# shellcheck source=raspi-fixture.sh
. "$HERE/raspi-fixture.sh"
# shellcheck source=live-fixture.sh
. "$HERE/live-fixture.sh"
# shellcheck source=lpae-fixture.sh
. "$HERE/lpae-fixture.sh"
# shellcheck source=rpios-fixture.sh
. "$HERE/rpios-fixture.sh"

EXTRA_APPEND=""
case "$ARCH" in
  arm)
    DEBARCH=armhf FLAVOR=armmp QEMU=qemu-system-arm CC=arm-linux-gnueabihf-gcc
    QEMU_MACHINE=(-M virt,highmem=off -cpu cortex-a15) CONSOLE=ttyAMA0
    QEMU_USER=qemu-arm-static ;;
  arm64)
    DEBARCH=arm64 FLAVOR=arm64 QEMU=qemu-system-aarch64 CC=aarch64-linux-gnu-gcc
    QEMU_MACHINE=(-M virt -cpu cortex-a72) CONSOLE=ttyAMA0
    QEMU_USER=qemu-aarch64-static ;;
  x86_64|amd64)
    ARCH=x86_64 DEBARCH=amd64 FLAVOR=amd64 QEMU=qemu-system-x86_64 CC=gcc
    QEMU_MACHINE=(-cpu max) CONSOLE=ttyS0 EXTRA_APPEND="no5lvl"
    QEMU_USER="" ;;
  *) die "unknown ARCH '$ARCH' (want arm, arm64 or x86_64)" ;;
esac
case "$SUITE" in
  bookworm|bullseye|trixie) ;;
  *) die "unknown SUITE '$SUITE' (want bookworm, bullseye or trixie)" ;;
esac
case "$KIND" in
  sysrq) KINDSUFFIX="" ;;
  oops|hung|raspi|live|lpae|rpios) KINDSUFFIX="-$KIND" ;;
  *) die "unknown KIND '$KIND' (want sysrq, oops, hung, raspi, live, lpae or rpios)" ;;
esac

# The guest key: the fixture's ground truth is what these files print. Same
# computation as internal/fixture.GuestKey.
GUEST_DIRS=(guest)
case "$KIND" in
  oops|hung) GUEST_DIRS=(guest guest-module module) ;;
  live) GUEST_DIRS=(guest-live) ;;
esac
GUEST_KEY=$(for g in "${GUEST_DIRS[@]}"; do (cd "$HERE/$g" && LC_ALL=C ls | LC_ALL=C sort | while read -r f; do cat "$f"; done); done | sha256sum | cut -c1-16)
KERNEL=${KINSPECT_KERNEL:-}
[ -z "$KERNEL" ] || [[ "$KERNEL" =~ ^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$ ]] ||
  die "KINSPECT_KERNEL must be a kernel ABI such as 6.1.0-50 (got '$KERNEL')"
SLEEPERS=${KINSPECT_SLEEPERS:-200}
# scale_mem N: the guest memory of a scale fixture. Each sleeper is a process
# of its own: task_struct, a 16 KiB vmap'ed kernel stack, mm_struct, page
# tables, VMAs, signal and files structures, its stack and data pages. The
# scale10000 guest's /proc/meminfo measured 97 KiB a sleeper (MemTotal -
# MemFree 1011 MB, against 84 MB for the 300-task guest): 120 KiB a sleeper
# and 2 GiB more, rounded up to GiB (10,000: 4G, 50,000: 8G).
scale_mem() {
  local mib=$(( 2048 + $1 * 120 / 1024 ))
  echo "$(( (mib + 1023) / 1024 ))G"
}
# The board fixes its machine and sleepers (SCALE applies to virt only).
[ "$KIND" != raspi ] || raspi_machine
! rpios_uses || rpios_machine
[[ "$SLEEPERS" =~ ^[0-9]+$ ]] || die "KINSPECT_SLEEPERS must be a number"
SCALE=0
[ "$SLEEPERS" -le 1000 ] || SCALE=1
if [ -n "${KINSPECT_GUEST_MEM:-}" ]; then MEM=$KINSPECT_GUEST_MEM
elif [ "$SCALE" = 1 ]; then MEM=$(scale_mem "$SLEEPERS")
else MEM=1G; fi
# The live guest holds kinspect and its reading of a 600 MB vmlinux.
if [ "$KIND" = live ] && [ -z "${KINSPECT_GUEST_MEM:-}" ]; then MEM=2G; fi
if [ "$ARCH" = arm ] && [ "$MEM" != 1G ] && [ -z "${KINSPECT_GUEST_MEM:-}" ]; then
  MEM=2G   # highmem=off: 32-bit virt has at most ~3 GiB of RAM below the devices
fi
# LPAE: its flavour, highmem=on and RAM across 4 GiB (after the MEM default).
[ "$KIND" != lpae ] || lpae_machine
SMP=${KINSPECT_SMP:-4}
# Scale fixtures boot under KVM where the guest is the host's arch: under TCG
# the ground truth goes through the emulated UART at ~50 KB/s (50,000 tasks:
# 61 MB, 24 minutes from boot to panic on a shared 2-core machine).
ACCEL=(-accel tcg,thread=multi)
if [ "$SCALE" = 1 ] && [ "${KINSPECT_KVM:-1}" != 0 ] && [ "$ARCH" = "$(uname -m | sed s/aarch64/arm64/)" ] &&
   [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  if [ -d /sys/module/kvm_pvm ]; then
    # PVM (a software nested hypervisor behind /dev/kvm) boots only kernels
    # built as PVM guests: Debian's stops after the real-mode setup.
    log "note: /dev/kvm is PVM (kvm_pvm), which cannot run Debian's kernel: booting under TCG"
  else
    ACCEL=(-accel kvm)
  fi
fi
if [ "${ACCEL[1]}" = kvm ]; then   # dump-guest-memory and sysrq-c work alike under KVM
  for i in "${!QEMU_MACHINE[@]}"; do
    [ "${QEMU_MACHINE[$i]}" != -cpu ] || QEMU_MACHINE[$((i + 1))]=host
  done
fi
# pid_max defaults to 32768 with up to 32 possible CPUs (kernel/pid.c
# pid_idr_init) and threads-max to RAM / (8 * THREAD_SIZE) (kernel/fork.c
# set_max_threads): both too small for 50,000 sleepers. The kernel applies
# sysctl.* boot parameters before it starts init (init/main.c kernel_init,
# do_sysctl_args, since 5.8).
SCALE_APPEND=""
if [ "$SCALE" = 1 ]; then
  PID_MAX=$(( 2 * SLEEPERS + 32768 ))
  SCALE_APPEND="sysctl.kernel.pid_max=$PID_MAX sysctl.kernel.threads-max=$PID_MAX"
fi
# The ground truth of N sleepers takes a while to go through the emulated UART.
BOOT_TIMEOUT=${KINSPECT_BOOT_TIMEOUT:-$((600 + SLEEPERS / 10))}
# The live guest runs kinspect nine times under TCG first.
[ "$KIND" = live ] && BOOT_TIMEOUT=${KINSPECT_BOOT_TIMEOUT:-1500}
STATUS_FIELDS=all
if [ "$SLEEPERS" -gt 1000 ]; then
  STATUS_FIELDS="Name|State|Tgid|Pid|PPid|Threads|VmSize|VmRSS|voluntary_ctxt_switches|nonvoluntary_ctxt_switches"
fi
FIXROOT=${KINSPECT_FIXTURES:-$HOME/.cache/kinspect/fixtures}

# ---------------------------------------------------------------- preflight
for tool in "$QEMU" apt-get apt-cache dpkg-deb cpio gzip readelf socat "$CC" go; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found: run 'make deps' (testdata/install-deps.sh) first"
done

# ------------------------------------------------------------ apt for SUITE
HOST_SUITE=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
SLEEPSUFFIX=""
[ "$SLEEPERS" = 200 ] || [ "$KIND" = raspi ] || [ "$KIND" = lpae ] || [ "$KIND" = rpios ] || SLEEPSUFFIX="-scale$SLEEPERS"
# Fast path: a complete fixture of this arch/suite is reused without asking
# apt (set KINSPECT_FIXTURE_REFRESH=1 to look for a newer kernel first).
if [ "${KINSPECT_FIXTURE_REFRESH:-0}" != 1 ]; then
  # The newest kernel first, as the tests choose (internal/fixture.Find).
  for f in $(ls "$FIXROOT/$ARCH-$SUITE-${KERNEL:+$KERNEL-}"*"$SLEEPSUFFIX$KINDSUFFIX/fixture.json" 2>/dev/null | sort -rV); do
    d=$(dirname "$f")
    if [ -z "$SLEEPSUFFIX" ] && [[ "$d" == *-scale* ]]; then continue; fi
    # The raspi boards, lpae and rpios run the sysrq guest (same key): not the
    # plain virt fixture.
    if [ -z "$KINDSUFFIX" ] && [[ "$d" == *-raspi || "$d" == *-lpae || "$d" == *-rpios ]]; then continue; fi
    grep -q "\"guest_key\": \"$GUEST_KEY\"" "$f" || continue
    log "fixture complete, reusing: $d (KINSPECT_FIXTURE_REFRESH=1 to check for a newer kernel)"
    echo "$d"
    exit 0
  done
fi
# Debian's docker-style images disable apt's binary cache, which makes every
# apt-cache call re-parse all lists: keep one of our own.
mkdir -p "$FIXROOT/.apt-cache"
APT_OPTS=(-o APT::Sandbox::User=root
  -o Dir::Cache::pkgcache="$FIXROOT/.apt-cache/pkgcache-$SUITE.bin"
  -o Dir::Cache::srcpkgcache="$FIXROOT/.apt-cache/srcpkgcache-$SUITE.bin")
if [ "$SUITE" != "$HOST_SUITE" ]; then
  # A private apt configuration and state for the other suite: the system's
  # sources and lists are left alone.
  APTDIR="$FIXROOT/.apt-$SUITE"
  mkdir -p "$APTDIR"/{lists/partial,archives/partial,parts,prefs}
  MIRROR=$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null |
           awk '{print $2}' | grep -v security | head -1 || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  SECMIRROR=${MIRROR%/debian}/debian-security
  {
    echo "deb [arch=amd64,arm64,armhf] $MIRROR $SUITE main"
    echo "deb [arch=amd64,arm64,armhf] $MIRROR $SUITE-updates main"
    echo "deb [arch=amd64,arm64,armhf] $SECMIRROR $SUITE-security main"
  } > "$APTDIR/sources.list"
  APT_OPTS+=(
    -o Dir::Etc::SourceList="$APTDIR/sources.list"
    -o Dir::Etc::SourceParts="$APTDIR/parts"
    -o Dir::Etc::PreferencesParts="$APTDIR/prefs"
    -o Dir::State::Lists="$APTDIR/lists"
    -o Dir::State::Status=/dev/null
    -o Dir::Cache::archives="$APTDIR/archives"
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o APT::Architectures::=armhf
  )
  stamp="$APTDIR/updated"
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    log "apt-get update for $SUITE (private config in $APTDIR)"
    apt-get "${APT_OPTS[@]}" update >&2 || log "WARNING: apt-get update for $SUITE reported errors"
    touch "$stamp"
  fi
fi
aptc() { apt-cache "${APT_OPTS[@]}" "$@"; }

# ------------------------------------------------------- resolve the kernel
candidate() { aptc show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ && !v {v=$2} END {print v}'; }
# debian_resolve picks Debian's kernel image and its matching -dbg package.
debian_resolve() {
  if [ -n "$KERNEL" ] && ! aptc show "linux-image-$KERNEL-$FLAVOR:$DEBARCH" >/dev/null 2>&1; then
    log "KINSPECT_KERNEL=$KERNEL: $SUITE has no linux-image-$KERNEL-$FLAVOR:$DEBARCH; using its current kernel"
    KERNEL=""
  fi
  if [ -n "$KERNEL" ]; then
    IMGPKG="linux-image-$KERNEL-$FLAVOR"
  else
    META="linux-image-$FLAVOR:$DEBARCH"
    IMGPKG=$(aptc depends "$META" 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-/ && !p {p=$2} END {print p}')
    IMGPKG=${IMGPKG%%:*}
    [ -n "$IMGPKG" ] || die "cannot resolve the kernel for $SUITE/$DEBARCH: package $META not found (apt-get update? for bookworm: make deps)"
  fi
  RELEASE=${IMGPKG#linux-image-}
  IMGVER=$(candidate "$IMGPKG:$DEBARCH")
  DBGPKG="$IMGPKG-dbg"
  DBGVER=$(candidate "$DBGPKG:$DEBARCH")
  [ -n "$IMGVER" ] || die "package $IMGPKG:$DEBARCH not found"
  [ -n "$DBGVER" ] || die "debug package $DBGPKG:$DEBARCH not found"
  if [ "$IMGVER" != "$DBGVER" ]; then
    # Signed images can lag behind; the -unsigned image always matches -dbg.
    if [ -n "$(candidate "$IMGPKG-unsigned:$DEBARCH")" ] &&
       [ "$(candidate "$IMGPKG-unsigned:$DEBARCH")" = "$DBGVER" ]; then
      IMGPKG="$IMGPKG-unsigned"; IMGVER=$DBGVER
    else
      die "$IMGPKG $IMGVER does not match $DBGPKG $DBGVER"
    fi
  fi
}
if rpios_uses; then rpios_resolve; else debian_resolve; fi
BBVER=$(candidate "busybox-static:$DEBARCH")
[ -n "$BBVER" ] || die "busybox-static:$DEBARCH not found"

NAME="$ARCH-$SUITE-$RELEASE$SLEEPSUFFIX$KINDSUFFIX"
DIR="$FIXROOT/$NAME"
# One builder per fixture at a time (make -j, several sessions): wait for the
# other one, which may well have completed it.
mkdir -p "$FIXROOT"
exec 9>"$FIXROOT/.$NAME.lock"
if ! flock -n 9; then
  log "another build of $NAME is running: waiting for it"
  flock 9
fi
if [ -f "$DIR/fixture.json" ] && grep -q "\"guest_key\": \"$GUEST_KEY\"" "$DIR/fixture.json"; then
  log "fixture complete, reusing: $DIR"
  echo "$DIR"
  exit 0
fi
log "building $DIR ($IMGPKG $IMGVER, sleepers=$SLEEPERS, -smp $SMP -m $MEM)"
rm -rf "$DIR"
mkdir -p "$DIR"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kinspect-fixture-$ARCH.XXXXXX")
QPID=""
SOCAT_PID=""
cleanup() {
  if [ -n "$SOCAT_PID" ]; then kill "$SOCAT_PID" 2>/dev/null || true; fi
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || true; fi
  if [ "${KINSPECT_KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
declare -A T

# ---------------------------------------------------------------- download
t0=$(now)
PKGS=("busybox-static:$DEBARCH=$BBVER")
rpios_uses || PKGS+=("$IMGPKG:$DEBARCH=$IMGVER" "$DBGPKG:$DEBARCH=$DBGVER")
(cd "$TMP" && apt-get "${APT_OPTS[@]}" download -q "${PKGS[@]}" >&2) ||
  die "apt-get download failed"
T[download]=$(elapsed "$t0")
if ! rpios_uses; then
  IMGDEB=$(ls "$TMP"/linux-image-*"$DEBARCH".deb | grep -v -- -dbg_ | head -1)
  DBGDEB=$(ls "$TMP"/linux-image-*-dbg_*.deb | head -1)
fi
case "$KIND" in oops|hung) module_download ;; raspi) raspi_dtb ;; esac
BBDEB=$(ls "$TMP"/busybox-static_*.deb | head -1)
log "downloaded in ${T[download]}s: $(du -sh "$TMP" | cut -f1)"

# ----------------------------------------------------------------- extract
# debian_extract takes the kernel, its config, qemu_fw_cfg (MODULES) and the
# debug vmlinux (VMLINUX) out of Debian's packages.
debian_extract() {
  mkdir -p "$TMP/img" "$TMP/dbg"
  dpkg-deb --fsys-tarfile "$IMGDEB" |
    tar -x -C "$TMP/img" --wildcards './boot/vmlinuz-*' './boot/config-*' \
        '*/modules/*/qemu_fw_cfg.ko*' 2>/dev/null || true
  VMLINUZ=$(ls "$TMP"/img/boot/vmlinuz-* 2>/dev/null | head -1)
  [ -n "$VMLINUZ" ] || die "no boot/vmlinuz-* in $IMGDEB"
  cp "$VMLINUZ" "$DIR/vmlinuz"
  cp "$TMP"/img/boot/config-* "$DIR/config" 2>/dev/null || true
  while IFS= read -r ko; do
    case "$ko" in
      *.ko.xz) xz -dc "$ko" > "${ko%.xz}"; ko=${ko%.xz} ;;
      *.ko.zst) zstd -qdc "$ko" > "${ko%.zst}"; ko=${ko%.zst} ;;
      *.ko.gz) gzip -dc "$ko" > "${ko%.gz}"; ko=${ko%.gz} ;;
    esac
    MODULES+=("$ko")
  done < <(find "$TMP/img" -name 'qemu_fw_cfg.ko*')
  [ ${#MODULES[@]} -gt 0 ] || log "note: $IMGPKG has no qemu_fw_cfg module: the dumps will have no VMCOREINFO"
  case "$KIND" in oops|hung) module_build ;; esac   # adds Debian's modules to MODULES
  [ "$KIND" = live ] && live_check
  # Only the debug vmlinux from the -dbg package (it is ~5 GB unpacked). tar
  # stops reading once it has the member (--occurrence), which ends dpkg-deb with
  # SIGPIPE: the pipeline's status is not meaningful, the extracted file is
  # checked instead.
  VMLINUX="$TMP/dbg/usr/lib/debug/boot/vmlinux-$RELEASE"
  set +o pipefail
  dpkg-deb --fsys-tarfile "$DBGDEB" 2>/dev/null |
    tar -x -C "$TMP/dbg" --occurrence=1 "./usr/lib/debug/boot/vmlinux-$RELEASE" 2>"$TMP/tar-dbg.err"
  set -o pipefail
  if [ ! -s "$VMLINUX" ]; then
    # Not under the expected name: scan the whole archive.
    dpkg-deb --fsys-tarfile "$DBGDEB" |
      tar -x -C "$TMP/dbg" --wildcards './usr/lib/debug/boot/vmlinux-*' ||
      die "extracting usr/lib/debug/boot/vmlinux-* from $DBGDEB failed: $(cat "$TMP/tar-dbg.err")"
    VMLINUX=$(ls "$TMP"/dbg/usr/lib/debug/boot/vmlinux-* 2>/dev/null | head -1)
  fi
  [ -n "$VMLINUX" ] && readelf -h "$VMLINUX" >/dev/null 2>&1 || die "no valid usr/lib/debug/boot/vmlinux-* in $DBGDEB"
  mv "$VMLINUX" "$TMP/vmlinux"
  VMLINUX="$TMP/vmlinux"
  rm -f "$DBGDEB"
  rm -rf "$TMP/dbg"
}
t0=$(now)
MODULES=()
if rpios_uses; then rpios_kernel; else debian_extract; fi
mv "$VMLINUX" "$DIR/vmlinux"
mkdir -p "$TMP/bb"
dpkg-deb --fsys-tarfile "$BBDEB" | tar -x -C "$TMP/bb" --wildcards '*bin/busybox' 2>/dev/null || true
BUSYBOX=$(find "$TMP/bb" -name busybox -type f | head -1)
[ -n "$BUSYBOX" ] || die "no busybox binary in $BBDEB"
T[extract]=$(elapsed "$t0")
BUILD_ID=$(readelf -n "$DIR/vmlinux" | awk '/Build ID:/ && !b {b=$3} END {print b}')
log "extracted in ${T[extract]}s: vmlinux $(du -h "$DIR/vmlinux" | cut -f1), build-id $BUILD_ID"

# --------------------------------------------------------------- initramfs
t0=$(now)
SRC="$HERE/guest/workload.c"
WKEY=$( (sha256sum "$SRC" | cut -c1-16; "$CC" --version | head -1) | sha256sum | cut -c1-16)
WBIN="$FIXROOT/.build/workload-$ARCH-$WKEY"
if [ ! -x "$WBIN" ]; then
  mkdir -p "$FIXROOT/.build"
  "$CC" -static -O2 -Wall -pthread -o "$WBIN.tmp" "$SRC" || die "building $SRC with $CC failed"
  mv "$WBIN.tmp" "$WBIN"
fi
R="$TMP/initramfs"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,lib/modules,usr/bin,usr/sbin}
cp "$BUSYBOX" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
for ko in "${MODULES[@]}"; do cp "$ko" "$R/lib/modules/"; done
if [ "$KIND" = sysrq ] || [ "$KIND" = raspi ] || [ "$KIND" = lpae ] || [ "$KIND" = rpios ]; then
  cp "$WBIN" "$R/bin/workload"
  cp "$HERE/guest/raspbian_proc" "$R/bin/raspbian_proc"
  cp "$HERE/guest/init" "$R/init"
  cp "$HERE/guest/gt.sh" "$R/gt.sh"
  cp "$HERE/guest/ftrace.sh" "$R/ftrace.sh"
  chmod 755 "$R/init" "$R/gt.sh" "$R/ftrace.sh" "$R/bin/raspbian_proc" "$R/bin/workload"
  printf 'SLEEPERS=%s\nSTATUS_FIELDS="%s"\n' "$SLEEPERS" "$STATUS_FIELDS" > "$R/etc/kinspect.conf"
elif [ "$KIND" = live ]; then
  live_guest
else
  module_guest
fi
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$DIR/initramfs.cpio.gz"
T[initramfs]=$(elapsed "$t0")

# ------------------------------------------------------------ boot & crash
APPEND="console=$CONSOLE panic=0 $EXTRA_APPEND${SCALE_APPEND:+ $SCALE_APPEND}"
QMP_SOCK="$TMP/qmp.sock"
LIVE_QEMU=()
[ "$KIND" = live ] && live_qemu_args
QEMU_CMD=("$QEMU" "${QEMU_MACHINE[@]}" -smp "$SMP" -m "$MEM" "${ACCEL[@]}" ${LIVE_QEMU[@]+"${LIVE_QEMU[@]}"}
  -kernel "$DIR/vmlinuz" -initrd "$DIR/initramfs.cpio.gz" -append "$APPEND"
  -device vmcoreinfo -display none -serial "file:$DIR/console.log"
  -qmp "unix:$QMP_SOCK,server=on,wait=off" -monitor none -no-reboot)
if [ "$KIND" = raspi ] || rpios_uses; then raspi_qemu_cmd; fi
log "booting: ${QEMU_CMD[*]}"
t0=$(now)
"${QEMU_CMD[@]}" </dev/null >"$TMP/qemu.out" 2>&1 &
QPID=$!
deadline=$(( $(date +%s) + BOOT_TIMEOUT ))
while ! grep -qa 'Kernel panic - not syncing' "$DIR/console.log" 2>/dev/null; do
  if ! kill -0 "$QPID" 2>/dev/null; then
    cat "$TMP/qemu.out" >&2
    tail -n 40 "$DIR/console.log" >&2 2>/dev/null || true
    die "QEMU exited before the guest panicked (console above)"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -n 40 "$DIR/console.log" >&2 || true
    die "no 'Kernel panic' on the console within ${BOOT_TIMEOUT}s (console tail above)"
  fi
  sleep 1
done
T[boot_to_panic]=$(elapsed "$t0")
# Let the panic finish printing.
for _ in $(seq 30); do
  grep -qa 'end Kernel panic' "$DIR/console.log" && break
  sleep 1
done
sleep 1
log "panicked after ${T[boot_to_panic]}s"

# QMP session on a socat coprocess.
coproc QMP { exec socat - "UNIX-CONNECT:$QMP_SOCK"; }
SOCAT_PID=$QMP_PID   # bash unsets QMP_PID when the coprocess ends
QMP_IN=${QMP[1]}
QMP_OUT=${QMP[0]}
QMP_REPLY=""
qmp() { # qmp JSON [timeout] -> sets QMP_REPLY to the "return"/"error" line
  local line
  echo "$1" >&"$QMP_IN"
  while IFS= read -r -t "${2:-60}" line <&"$QMP_OUT"; do
    case "$line" in
      *'"return"'*|*'"error"'*) QMP_REPLY=$line; return 0 ;;
    esac
  done
  die "no QMP reply to $1"
}
IFS= read -r -t 30 greeting <&"$QMP_OUT" || die "no QMP greeting from QEMU"
qmp '{"execute":"qmp_capabilities"}'
qmp '{"execute":"stop"}'
qmp '{"execute":"query-dump-guest-memory-capability"}'
CAPS=$QMP_REPLY
DUMPS_JSON=""
UNSUPPORTED=()
# The paging ELF (-p: virtual addresses, one thread per CPU) is what gdb
# reads as an independent oracle of the active CPUs' frames and variables.
DUMP_SPECS=(elf:vmcore.elf kdump-zlib:vmcore.kdump-zlib kdump-lzo:vmcore.kdump-lzo kdump-snappy:vmcore.kdump-snappy
            elf-paging:vmcore.paging.elf)
# The module kinds stay light: the ELF dump, and QEMU's kdump-zlib only to be
# rearranged by makedumpfile -R into the one makedumpfile kdump variant (raspi:
# the two QEMU dumps, no makedumpfile).
[ "$KIND" = sysrq ] || DUMP_SPECS=(elf:vmcore.elf kdump-zlib:vmcore.kdump-zlib)
# A scale guest's dumps are GBs each: the ELF only, makedumpfile's input for
# the one variant the bench reads (vmcore.mkdf-zlib-d31); deleted after it.
[ "$SCALE" = 0 ] || DUMP_SPECS=(elf:vmcore.elf)
for spec in "${DUMP_SPECS[@]}"; do
  fmt=${spec%%:*} file=${spec#*:}
  paging=false
  if [ "$fmt" = elf-paging ]; then fmt=elf paging=true; fi
  if ! grep -q "\"$fmt\"" <<<"$CAPS"; then
    UNSUPPORTED+=("$fmt"); log "QEMU does not support dump format $fmt"; continue
  fi
  t0=$(now)
  qmp "{\"execute\":\"dump-guest-memory\",\"arguments\":{\"paging\":$paging,\"protocol\":\"file:$DIR/$file\",\"format\":\"$fmt\"}}" 1800
  if grep -q '"error"' <<<"$QMP_REPLY"; then
    UNSUPPORTED+=("$fmt"); log "dump $fmt failed: $QMP_REPLY"; rm -f "$DIR/$file"; continue
  fi
  key=$fmt
  [ "$paging" = true ] && key=elf_paging
  T[dump_$key]=$(elapsed "$t0")
  size=$(stat -c %s "$DIR/$file")
  log "dumped $file ($fmt, paging $paging, $size bytes) in ${T[dump_$key]}s"
  DUMPS_JSON+="${DUMPS_JSON:+,}
    {\"file\": \"$file\", \"format\": \"$fmt\", \"size\": $size, \"writer\": \"qemu\", \"paging\": $paging}"
done
echo '{"execute":"quit"}' >&"$QMP_IN" || true
for _ in $(seq 20); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
kill "$QPID" 2>/dev/null || true
wait "$QPID" 2>/dev/null || true
QPID=""
kill "$SOCAT_PID" 2>/dev/null || true
SOCAT_PID=""
[ -f "$DIR/vmcore.elf" ] || die "QEMU wrote no ELF dump"
chmod 0644 "$DIR"/vmcore.*   # QEMU creates them 0400

[ "$KIND" != raspi ] && [ "$KIND" != rpios ] || raspi_ram_cut
VMCOREINFO=false
# (not grep -q: under pipefail, readelf's SIGPIPE would make the test fail)
if readelf -n "$DIR/vmcore.elf" 2>/dev/null | grep VMCOREINFO >/dev/null; then VMCOREINFO=true; fi

# ------------------------------------------------------------ ground truth
t0=$(now)
(cd "$REPO" && go run ./internal/fixture/cmd/gtparse -arch "$ARCH" -suite "$SUITE" "$DIR/console.log") \
  > "$DIR/ground-truth.json.tmp" || die "gtparse could not parse $DIR/console.log"
mv "$DIR/ground-truth.json.tmp" "$DIR/ground-truth.json"
T[ground_truth]=$(elapsed "$t0")

# --------------------------------------------------- makedumpfile variants
MKDF_NOTES=()
MKDF_REARRANGE_ONLY=0
MKDF_VARIANTS=("c zlib kdump-zlib" "l lzo kdump-lzo" "E elf elf")
[ "$SCALE" = 0 ] || MKDF_VARIANTS=("c zlib kdump-zlib")
[ "$KIND" = sysrq ] || MKDF_REARRANGE_ONLY=1
if [ "${KINSPECT_MAKEDUMPFILE:-1}" != 0 ] && [ "$KIND" != raspi ] && [ "$KIND" != lpae ] && [ "$KIND" != rpios ]; then
  # shellcheck source=/dev/null
  . "$HERE/makedumpfile-variants.sh"
fi

if [ "$SCALE" = 1 ] && [ -s "$DIR/vmcore.mkdf-zlib-d31" ]; then
  rm -f "$DIR/vmcore.elf"
  DUMPS_JSON=$(grep -v '"file": "vmcore.elf"' <<<"$DUMPS_JSON")
fi
chmod 0644 "$DIR"/vmcore.*
# ------------------------------------------------------------ fixture.json
json_list() { local out="" x; for x in "$@"; do out+="${out:+, }\"$x\""; done; echo "[$out]"; }
TIMINGS=""
for k in download extract kernel_build module_build dtb kinspect_build initramfs boot_to_panic ground_truth $(printf '%s\n' "${!T[@]}" | grep -E '^(dump_|mkdf_|raw_)' | sort); do
  [ -n "${T[$k]:-}" ] || continue
  TIMINGS+="${TIMINGS:+, }\"$k\": ${T[$k]}"
done
QEMU_VERSION=$("$QEMU" --version | head -1)
cat > "$DIR/fixture.json.tmp" <<JSON
{
  "arch": "$ARCH",
  "suite": "$SUITE",
  "kind": "$KIND",
  "release": "$RELEASE",
  "kernel_package": "$IMGPKG",
  "kernel_version": "$IMGVER",
  "dbg_package": "$DBGPKG",
  "busybox_version": "$BBVER",
  "build_id": "$BUILD_ID",
  "vmcoreinfo": $VMCOREINFO,
  "sleepers": $SLEEPERS,
  "guest_key": "$GUEST_KEY",
  "kinspect_commit": "${KINSPECT_COMMIT:-}",
  "kinspect_release": "${KINSPECT_RELEASE:-}",
  "status_fields": "$STATUS_FIELDS",
  "qemu": "$QEMU_VERSION",
  "qemu_cmdline": "$(echo "${QEMU_CMD[*]}" | sed "s|$DIR/||g; s|$TMP/||g; s|\"|'|g")",
  "dumps": [$DUMPS_JSON
  ],$([ -f "$DIR/ram.bin" ] && printf '\n  "raw_ram": "ram.bin",' || true)
  "unsupported_formats": $(json_list "${UNSUPPORTED[@]+"${UNSUPPORTED[@]}"}"),
  "notes": $(json_list "${MKDF_NOTES[@]+"${MKDF_NOTES[@]}"}"),
  "timings": {$TIMINGS}
}
JSON
mv "$DIR/fixture.json.tmp" "$DIR/fixture.json"
log "fixture complete: $DIR"
echo "$DIR"
