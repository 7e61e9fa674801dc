#!/usr/bin/env bash
# Installs the host packages that testdata/build-fixture.sh, the tests and
# `make bench` (drgn, compared side by side in bench/compare.sh) need; the
# kernel build tools are for the rpios fixture's kernel (testdata/rpios-fixture.sh).
# Idempotent: when everything is already present it does nothing (no apt-get update).
set -euo pipefail

PKGS=(
  qemu-system-arm qemu-system-x86 qemu-user-static
  cpio zstd xz-utils gzip binutils socat
  gcc libc6-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  makedumpfile
  gdb-multiarch
  trace-cmd
  python3-drgn
  device-tree-compiler
  make bc bison flex libssl-dev
)
ARCHS=(arm64 armhf)

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$p")
done
need_update=0
for a in "${ARCHS[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -x "$a" >/dev/null; then
    $SUDO dpkg --add-architecture "$a"
    need_update=1
  fi
done
# The fixture builder downloads foreign-arch kernels: their package lists must be present.
# (apt-cache is slow where apt's binary cache is disabled: look at the lists.)
for a in amd64 "${ARCHS[@]}"; do
  if ! ls /var/lib/apt/lists/*_main_binary-"${a}"_Packages* >/dev/null 2>&1; then
    need_update=1
  fi
done

if [ ${#missing[@]} -eq 0 ] && [ $need_update -eq 0 ]; then
  echo "install-deps: all host dependencies present"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# A transient mirror error (e.g. "Mirror sync in progress?") makes apt-get update
# exit non-zero while the other lists are fine: retry, then go on with what we have.
if ! $SUDO apt-get update; then
  sleep 3
  $SUDO apt-get update || echo "install-deps: WARNING: apt-get update reported errors; continuing with the lists present" >&2
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "install-deps: done"
