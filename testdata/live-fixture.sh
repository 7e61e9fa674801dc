# Sourced by build-fixture.sh: the live fixture kind (KIND live). Uses ARCH,
# DEBARCH, IMGDEB, TMP, DIR, HERE, REPO, R, MODULES, T, log, die, now,
# elapsed from the caller.
#
# The guest (testdata/guest-live/) runs the static kinspect, cross-compiled
# here from this checkout, on its own /proc/kcore with the fixture's debug
# vmlinux as a read-only virtio disk (/dev/vda), prints its output, then
# crashes with sysrq-c. 32-bit ARM has no /proc/kcore (fs/proc/Kconfig: no
# prompt on ARM): on arm the guest boots KIND rpios's Raspberry Pi OS-like
# kernel on raspi2b (testdata/rpios-fixture.sh) and kinspect reads /dev/mem;
# the board has no virtio, so the vmlinux is the initramfs's /vmlinux.

# Debian builds the virtio PCI transport and virtio_blk as modules
# (CONFIG_VIRTIO_BLK=m; CONFIG_VIRTIO=m on amd64): these roots and the
# modules their .modinfo "depends=" names are loaded, dependencies first
# (the image has no modules.dep: depmod writes it at install).
LIVE_MODULE_ROOTS=(virtio_pci virtio_blk)

# live_check refuses an arch whose kernel has no /proc/kcore.
live_check() {
  [ -f "$DIR/config" ] && ! grep -q '^CONFIG_PROC_KCORE=y' "$DIR/config" &&
    die "$ARCH's Debian kernel is built without CONFIG_PROC_KCORE: no live fixture (x86_64 and arm64 only)"
  return 0
}

# live_module_add NAME appends NAME's dependencies, then NAME, to
# $TMP/live-modules/order (decompressed beside it), once each.
live_module_add() {
  local m=$1 src f d
  grep -qx "$m.ko" "$TMP/live-modules/order" && return 0
  src=$(find "$TMP/lmods" -name "$m.ko*" | head -1)
  if [ -z "$src" ]; then
    log "note: $m is not a module in $IMGDEB (built in)"; return 0
  fi
  f="$TMP/live-modules/$m.ko"
  case "$src" in
    *.xz) xz -dc "$src" > "$f" ;;
    *.zst) zstd -qdc "$src" > "$f" ;;
    *.gz) gzip -dc "$src" > "$f" ;;
    *) cp "$src" "$f" ;;
  esac
  for d in $(readelf -p .modinfo "$f" | sed -n 's/.*depends=//p' | tr ',' ' '); do
    live_module_add "${d//-/_}"
  done
  grep -qx "$m.ko" "$TMP/live-modules/order" || echo "$m.ko" >> "$TMP/live-modules/order"
}

# live_modules extracts the virtio modules and their dependencies from the
# image into $TMP/live-modules with their load order in "order".
live_modules() {
  local m
  mkdir -p "$TMP/live-modules" "$TMP/lmods"
  : > "$TMP/live-modules/order"
  dpkg-deb --fsys-tarfile "$IMGDEB" | tar -x -C "$TMP/lmods" --wildcards \
    '*/modules/*/kernel/drivers/virtio/*' '*/modules/*/kernel/drivers/block/virtio_blk.ko*' 2>/dev/null || true
  for m in "${LIVE_MODULE_ROOTS[@]}"; do live_module_add "$m"; done
  log "live guest modules: $(tr '\n' ' ' < "$TMP/live-modules/order")"
}

# live_kinspect builds the guest's kinspect with `make release`'s script
# (scripts/release.sh: the static, version-stamped binary a user copies to
# the board) for this arch only, and records its checksum.
live_kinspect() {
  local t0 target name
  t0=$(now)
  case "$ARCH" in
    x86_64) target=linux/amd64 name=kinspect-linux-amd64 ;;
    arm64) target=linux/arm64 name=kinspect-linux-arm64 ;;
    arm) target=linux/arm/7 name=kinspect-linux-armv7 ;;   # the Pi 2/3's Cortex-A7/A53
    *) die "no live fixture for $ARCH" ;;
  esac
  "$REPO/scripts/release.sh" "$TMP/dist" "$target" >/dev/null ||
    die "scripts/release.sh $target failed"
  cp "$TMP/dist/$name" "$TMP/kinspect"
  KINSPECT_RELEASE="$name $(cut -d' ' -f1 "$TMP/dist/SHA256SUMS")"
  KINSPECT_COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
  git -C "$REPO" diff --quiet HEAD 2>/dev/null || KINSPECT_COMMIT+="-dirty"
  T[kinspect_build]=$(elapsed "$t0")
  log "built $KINSPECT_RELEASE ($KINSPECT_COMMIT) in ${T[kinspect_build]}s"
}

# live_guest lays the live guest into the initramfs R.
live_guest() {
  mkdir -p "$R/lib/live-modules"
  if rpios_uses; then
    # The self-built kernel has everything built in; its vmlinux rides in
    # the initramfs (raspi2b has no virtio).
    : > "$R/lib/live-modules/order"
    cp "$DIR/vmlinux" "$R/vmlinux"
  else
    live_modules
    cp "$TMP"/live-modules/* "$R/lib/live-modules/"
  fi
  live_kinspect
  cp "$TMP/kinspect" "$R/bin/kinspect"
  cp "$HERE/guest-live/init" "$R/init"
  cp "$HERE/guest-live/gt-live.sh" "$R/gt-live.sh"
  chmod 755 "$R/init" "$R/gt-live.sh" "$R/bin/kinspect"
}

# live_qemu_args are the QEMU options that give the guest its vmlinux as a
# read-only virtio disk.
live_qemu_args() {
  if rpios_uses; then return 0; fi
  LIVE_QEMU=(-drive "file=$DIR/vmlinux,format=raw,if=none,id=vmlinux,readonly=on"
             -device virtio-blk-pci,drive=vmlinux)
}
