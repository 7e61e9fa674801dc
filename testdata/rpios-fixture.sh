# Sourced by build-fixture.sh: the Raspberry Pi OS-like 32-bit kernel
# (KIND rpios, and KIND live on arm). Uses ARCH, KIND, SUITE, CC, FIXROOT,
# TMP, DIR, HERE, APT_OPTS, T, aptc, candidate, log, die, now, elapsed from
# the caller and sets QEMU_MACHINE, RASPI_DTB, SLEEPERS, RELEASE, IMGPKG,
# IMGVER, DBGPKG, DBGVER, VMLINUX.
#
# Raspberry Pi OS's 32-bit kernels (bcm2709_defconfig: Pi 2/3 in 32-bit
# mode, "6.1.x-v7") differ from Debian's armmp in what kinspect must find
# from memory alone: a 2G/2G split (CONFIG_VMSPLIT_2G, kernel addresses from
# 0x80000000 as in Trace32 listings of a Pi), RAM at physical 0 on the
# BCM2836, and no /proc/kcore (fs/proc/Kconfig gives PROC_KCORE no prompt on
# ARM: a live Pi is read through /dev/mem, which lib/Kconfig.debug leaves
# unfiltered on 32-bit ARM). Debian ships no such kernel, so it is built here
# once from Debian's linux-source package (the suite's kernel source, the
# one Debian's own armmp is built from) with Debian's cross gcc:
# arch/arm/configs/bcm2835_defconfig (mainline's Raspberry Pi config) with
# testdata/rpios.config merged on top (scripts/kconfig/merge_config.sh),
# trimmed of drivers the emulated board's guest never uses, so that the
# build stays within a few minutes of CI's two cores. The result is cached
# in $FIXROOT/.build/rpios-RELEASE-KEY/ (KEY: the source package's version,
# rpios.config, the compiler and the build recipe) and shared by the rpios
# and arm live fixtures; the object tree lives in the builder's $TMP.
#
# KIND rpios boots the standard sysrq guest (testdata/guest/, unchanged) on
# QEMU's raspi2b with the kernel's own bcm2836-rpi-2-b.dtb, like KIND raspi.

RPIOS_CONFIG="$HERE/rpios.config"
RPIOS_DTB=bcm2836-rpi-2-b.dtb
# What the kernel must have for the fixture to mean anything: checked in the
# merged .config (merge_config.sh only warns when Kconfig drops a value).
RPIOS_REQUIRED=(CONFIG_VMSPLIT_2G=y CONFIG_PAGE_OFFSET=0x80000000 CONFIG_ARCH_MULTI_V7=y
  CONFIG_ARCH_BCM2835=y CONFIG_SMP=y CONFIG_HIGHMEM=y CONFIG_DEBUG_INFO_DWARF5=y
  CONFIG_MAGIC_SYSRQ=y CONFIG_DEVMEM=y CONFIG_UNIX=y CONFIG_FUNCTION_TRACER=y
  CONFIG_UNWINDER_ARM=y)

# rpios_uses reports whether this fixture boots the self-built kernel.
rpios_uses() { [ "$KIND" = rpios ] || { [ "$KIND" = live ] && [ "$ARCH" = arm ]; }; }

# rpios_machine sets the board (raspi2b: the BCM2836 of a Pi 2, RAM at 0,
# fixed 1 GiB and 4 cores) and the sysrq guest's sleepers.
rpios_machine() {
  [ "$ARCH" = arm ] || die "KIND rpios: arm only (a 32-bit Raspberry Pi OS kernel), not $ARCH"
  QEMU_MACHINE=(-M raspi2b) RASPI_DTB=$RPIOS_DTB
  # (The live guest has its own few sleepers: no -scaleN name for it.)
  if [ "$KIND" = rpios ]; then SLEEPERS=${KINSPECT_RASPI_SLEEPERS:-100}; fi
}

# rpios_resolve picks the suite's kernel source package (the linux-source
# metapackage's dependency) and names the release as the kernel will:
# upstream version + CONFIG_LOCALVERSION "-v7" (Raspberry Pi OS's suffix).
rpios_resolve() {
  SRCPKG=$(aptc depends linux-source 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-source-/ {sub(/:.*/, "", $2); print $2; exit}')
  [ -n "$SRCPKG" ] || die "cannot resolve $SUITE's kernel source: package linux-source not found"
  SRCVER=$(candidate "$SRCPKG")
  [ -n "$SRCVER" ] || die "package $SRCPKG not found"
  RELEASE="${SRCVER%%-*}-v7"
  IMGPKG=$SRCPKG IMGVER=$SRCVER DBGPKG="$SRCPKG (self-built vmlinux)" DBGVER=$SRCVER
}

# rpios_key is the cache key of a kernel build.
rpios_key() {
  { echo "$SRCPKG $SRCVER"; cat "$RPIOS_CONFIG"; "$CC" --version | head -1
    declare -f rpios_compile rpios_configure; } | sha256sum | cut -c1-16
}

# rpios_kernel makes sure the kernel is built (waiting for another
# builder of the same key), then copies it into the fixture: vmlinuz,
# config, board.dtb and the debug vmlinux (VMLINUX).
rpios_kernel() {
  local key
  key=$(rpios_key)
  KDIR="$FIXROOT/.build/rpios-$RELEASE-$key"
  mkdir -p "$FIXROOT/.build"
  exec 8>"$FIXROOT/.build/.rpios-$key.lock"
  if ! flock -n 8; then
    log "another build of the $RELEASE kernel is running: waiting for it"
    flock 8
  fi
  if [ -f "$KDIR/build.json" ]; then
    log "reusing the $RELEASE kernel built in $KDIR"
  else
    rpios_compile
  fi
  flock -u 8
  cp "$KDIR/zImage" "$DIR/vmlinuz"
  cp "$KDIR/config" "$DIR/config"
  cp "$KDIR/$RPIOS_DTB" "$DIR/board.dtb"
  cp "$KDIR/build.json" "$DIR/kernel-build.json"
  VMLINUX="$TMP/vmlinux"
  cp "$KDIR/vmlinux" "$VMLINUX"
}

# rpios_configure writes the merged .config in the source tree $1 and
# checks RPIOS_REQUIRED.
rpios_configure() {
  local src=$1 want
  (cd "$src" && ARCH=arm scripts/kconfig/merge_config.sh -m arch/arm/configs/bcm2835_defconfig "$RPIOS_CONFIG" >/dev/null &&
    make -s ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- olddefconfig) ||
    die "configuring $SRCPKG (bcm2835_defconfig + $RPIOS_CONFIG) failed"
  for want in "${RPIOS_REQUIRED[@]}"; do
    grep -qx "$want" "$src/.config" || die "$SRCPKG's Kconfig did not keep $want from $RPIOS_CONFIG"
  done
}

# rpios_compile downloads the source package, builds zImage and the board's
# dtb with DWARF into $KDIR (renamed into place when complete) and removes
# the object tree.
rpios_compile() {
  local t0 t1 tc src deb rel jobs
  t0=$(now)
  src="$TMP/linux"   # the object tree (~1.5 GB) goes with $TMP
  rm -rf "$src" "$KDIR.tmp"
  mkdir -p "$src" "$KDIR.tmp" "$TMP/src"
  (cd "$TMP/src" && apt-get "${APT_OPTS[@]}" download -q "$SRCPKG=$SRCVER" >&2) ||
    die "downloading $SRCPKG $SRCVER failed"
  deb=$(ls "$TMP"/src/"$SRCPKG"_*.deb | head -1)
  dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
    tar -xJ -C "$src" --strip-components=1 || die "unpacking the kernel source from $deb failed"
  rm -f "$deb"
  rpios_configure "$src"
  tc=$(elapsed "$t0")
  t1=$(now)
  jobs=$(nproc)
  log "building the $RELEASE kernel (make -j$jobs zImage $RPIOS_DTB; a few minutes)"
  make -C "$src" -s -j"$jobs" ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- zImage "$RPIOS_DTB" \
    > "$TMP/kernel-build.log" 2>&1 || { tail -n 30 "$TMP/kernel-build.log" >&2; die "building the $RELEASE kernel failed (log tail above)"; }
  rel=$(make -C "$src" -s ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- kernelrelease)
  [ "$rel" = "$RELEASE" ] || die "the kernel built as release '$rel', expected '$RELEASE'"
  cp "$src/arch/arm/boot/zImage" "$src/vmlinux" "$src/System.map" "$src/arch/arm/boot/dts/$RPIOS_DTB" "$KDIR.tmp/"
  cp "$src/.config" "$KDIR.tmp/config"
  printf '{"source": "%s %s", "release": "%s", "compiler": "%s", "jobs": %s, "unpack_configure": %s, "compile": %s}\n' \
    "$SRCPKG" "$SRCVER" "$rel" "$("$CC" --version | head -1)" "$jobs" "$tc" "$(elapsed "$t1")" > "$KDIR.tmp/build.json"
  rm -rf "$src" "$KDIR"
  mv "$KDIR.tmp" "$KDIR"
  T[kernel_build]=$(elapsed "$t0")
  log "built the $RELEASE kernel in ${T[kernel_build]}s: $KDIR"
}
