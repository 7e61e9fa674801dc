# Sourced by build-fixture.sh: the module fixture kinds (KIND oops | hung).
# Uses ARCH, DEBARCH, CC, RELEASE, IMGDEB, TMP, DIR, HERE, R, KIND, MODULES,
# T, APT_OPTS, aptc, candidate, log, die, now, elapsed from the caller.

# Debian's own modules the guest loads besides qemu_fw_cfg, so that `mod`
# has several entries (none of them depends on another module in Debian's
# 6.1 kernels: insmod in any order works).
MODULE_DEBIAN=(loop fuse)

# module_download fetches what building the test module against Debian's
# kernel needs: linux-headers-RELEASE (the flavour's .config, Module.symvers,
# generated headers), its -common package (the kernel's headers and
# Makefiles) and linux-kbuild-X for the HOST arch (fixdep, modpost: host
# binaries, the same source version).
module_download() {
  local hpkg="linux-headers-$RELEASE" hver common kbuild
  hver=$(candidate "$hpkg:$DEBARCH")
  [ -n "$hver" ] || die "$hpkg:$DEBARCH not found (the module fixtures build against it)"
  common=$(aptc depends "$hpkg:$DEBARCH" 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^<?linux-headers-.*-common/ {gsub(/[<>]|:.*/, "", $2); print $2; exit}')
  kbuild=$(aptc depends "$hpkg:$DEBARCH" 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-kbuild-/ {sub(/:.*/, "", $2); print $2; exit}')
  [ -n "$common" ] && [ -n "$kbuild" ] || die "cannot resolve the -common and linux-kbuild packages of $hpkg"
  mkdir -p "$TMP/hdr"
  (cd "$TMP/hdr" && apt-get "${APT_OPTS[@]}" download -q "$hpkg:$DEBARCH=$hver" \
     "$common=$hver" "$kbuild:amd64=$hver" >&2) || die "downloading $hpkg, $common, $kbuild:amd64 failed"
}

# module_build builds testdata/module/ against the downloaded headers with the
# fixture's (cross) gcc, keeps the .ko (with DWARF) as $DIR/kinspect_test.ko,
# and extracts Debian's MODULE_DEBIAN modules from the image into MODULES.
module_build() {
  local t0 root hdir deb m ko
  t0=$(now)
  root="$TMP/hdr/root"
  mkdir -p "$root"
  for deb in "$TMP"/hdr/*.deb; do dpkg-deb -x "$deb" "$root"; done
  hdir="$root/usr/src/linux-headers-$RELEASE"
  [ -f "$hdir/Makefile" ] || die "no $hdir/Makefile in the headers package"
  # Debian's flavour Makefile includes the -common one by absolute path.
  sed -i "s|/usr/src/|$root/usr/src/|g" "$hdir/Makefile"
  cp -r "$HERE/module" "$TMP/module"
  make -C "$hdir" M="$TMP/module" CROSS_COMPILE="${CC%gcc}" modules >"$TMP/module-build.log" 2>&1 ||
    { tail -n 30 "$TMP/module-build.log" >&2; die "building the test module against $hdir failed"; }
  cp "$TMP/module/kinspect_test.ko" "$DIR/kinspect_test.ko"
  mkdir -p "$TMP/kmods"
  # One pass over the image (~70 MB) for all of them.
  local pats=()
  for m in "${MODULE_DEBIAN[@]}"; do pats+=("*/modules/*/$m.ko*"); done
  dpkg-deb --fsys-tarfile "$IMGDEB" | tar -x -C "$TMP/kmods" --wildcards "${pats[@]}" 2>/dev/null || true
  for m in "${MODULE_DEBIAN[@]}"; do
    ko=$(find "$TMP/kmods" -name "$m.ko*" | head -1)
    case "$ko" in
      "") die "no $m.ko in $IMGDEB" ;;
      *.ko.xz) xz -dc "$ko" > "$TMP/kmods/$m.ko"; ko="$TMP/kmods/$m.ko" ;;
      *.ko.zst) zstd -qdc "$ko" > "$TMP/kmods/$m.ko"; ko="$TMP/kmods/$m.ko" ;;
    esac
    MODULES+=("$ko")
  done
  T[module_build]=$(elapsed "$t0")
  log "built the test module and extracted ${MODULE_DEBIAN[*]} in ${T[module_build]}s"
}

# module_guest lays the module guest into the initramfs R (Debian's modules
# are already in R/lib/modules).
module_guest() {
  cp "$HERE/guest-module/init" "$R/init"
  cp "$HERE/guest-module/gt-module.sh" "$R/gt-module.sh"
  cp "$DIR/kinspect_test.ko" "$R/lib/kinspect_test.ko"
  chmod 755 "$R/init" "$R/gt-module.sh"
  printf 'KIND=%s\n' "$KIND" > "$R/etc/kinspect.conf"
}
