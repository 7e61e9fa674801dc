# Sourced by build-fixture.sh after the QEMU dumps exist: makedumpfile-written
# variants (for comparisons with other tools). Uses DIR, TMP, ARCH, HERE, T,
# DUMPS_JSON, MKDF_NOTES, MKDF_VARIANTS, log, now, elapsed from the caller.
#
#  * vmcore.kdump-zlib-rearranged: `makedumpfile -R` turns QEMU's flattened
#    kdump-zlib file into a plain kdump file (any arch: no kernel knowledge).
#  * vmcore.mkdf-{zlib,lzo,elf}-d31: `makedumpfile -c|-l|-E -d 31` from the
#    ELF dump (the caller's MKDF_VARIANTS: scale fixtures make zlib only).
#    makedumpfile only understands dumps of the arch it was built for, so
#    these are made where the host's makedumpfile matches (x86_64 on an
#    x86_64 host) and, unless KINSPECT_MKDF_USER=0, with a target-arch
#    makedumpfile under qemu-user-static (see mkdf_target below). makedumpfile 1.7.2
#    requires the program headers right after the ELF header, so it is fed a
#    temporary copy of vmcore.elf whose phdrs were moved there
#    (elf-phdr-fix.pl).

# mkdf_target: a target-arch makedumpfile run by qemu-user-static from a
# sysroot of Debian packages (cached in $FIXROOT/.build). Sets MKDF.
mkdf_target() {
  local root="$FIXROOT/.build/mkdf-sysroot-$DEBARCH" dl pkgs deb
  local qemu_user
  qemu_user=$(command -v "$QEMU_USER" || true)
  if [ -z "$qemu_user" ]; then
    MKDF_NOTES+=("$QEMU_USER not installed: no target-arch makedumpfile"); return 0
  fi
  if [ ! -x "$root/usr/bin/makedumpfile" ]; then
    dl="$TMP/mkdf-debs"
    mkdir -p "$dl" "$root.tmp"
    pkgs=(makedumpfile libc6 libdw1 libelf1 liblzo2-2 zlib1g libbz2-1.0 liblzma5 libzstd1)
    if ! (cd "$dl" && apt-get "${APT_OPTS[@]}" download -q "${pkgs[@]/%/:$DEBARCH}" >"$TMP/mkdf-apt.log" 2>&1); then
      MKDF_NOTES+=("could not download makedumpfile:$DEBARCH and its libraries")
      rm -rf "$root.tmp"; return 0
    fi
    for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
    rm -rf "$root"; mv "$root.tmp" "$root"
  fi
  MKDF=(env "QEMU_LD_PREFIX=$root" "$qemu_user" -L "$root" "$root/usr/bin/makedumpfile")
  if ! "${MKDF[@]}" -v >/dev/null 2>&1; then
    MKDF_NOTES+=("makedumpfile:$DEBARCH does not run under $QEMU_USER")
    MKDF=()
  else
    MKDF_VERSION="$MKDF_VERSION ($DEBARCH, under $QEMU_USER)"
  fi
}

mkdf_add() { # file format flattened level
  local size
  size=$(stat -c %s "$DIR/$1")
  DUMPS_JSON+="${DUMPS_JSON:+,}
    {\"file\": \"$1\", \"format\": \"$2\", \"size\": $size, \"writer\": \"makedumpfile\", \"flattened\": $3, \"dump_level\": $4}"
}

if ! command -v makedumpfile >/dev/null 2>&1; then
  MKDF_NOTES+=("makedumpfile not installed: no makedumpfile variants")
else
  MKDF_VERSION=$(makedumpfile -v 2>/dev/null | head -1)
  if [ -f "$DIR/vmcore.kdump-zlib" ]; then
    t0=$(now)
    if makedumpfile -R "$DIR/vmcore.kdump-zlib-rearranged" < "$DIR/vmcore.kdump-zlib" >"$TMP/mkdf-R.log" 2>&1; then
      T[mkdf_rearrange]=$(elapsed "$t0")
      mkdf_add vmcore.kdump-zlib-rearranged kdump-zlib false 0
    else
      rm -f "$DIR/vmcore.kdump-zlib-rearranged"
      MKDF_NOTES+=("makedumpfile -R of vmcore.kdump-zlib failed: $(tail -1 "$TMP/mkdf-R.log" | tr -d '"\\')")
    fi
  fi

  HOSTARCH=$(uname -m)
  MKDF=()
  if [ "${MKDF_REARRANGE_ONLY:-0}" = 1 ]; then
    :   # the module fixtures: the -R variant is the one makedumpfile file
  elif [ "$ARCH" = "$HOSTARCH" ]; then
    MKDF=(makedumpfile)
  elif [ "${KINSPECT_MKDF_USER:-1}" = 1 ] && [ -n "${QEMU_USER:-}" ]; then
    mkdf_target   # sets MKDF to a qemu-user command line, or leaves it empty
  fi
  if [ ${#MKDF[@]} -eq 0 ] && [ "${MKDF_REARRANGE_ONLY:-0}" = 1 ]; then
    :
  elif [ ${#MKDF[@]} -eq 0 ]; then
    MKDF_NOTES+=("no makedumpfile -c/-l/-E variants: $MKDF_VERSION on $HOSTARCH only reads $HOSTARCH dumps")
  else
    t0=$(now)
    if perl "$HERE/elf-phdr-fix.pl" "$DIR/vmcore.elf" "$TMP/vmcore.mkdf-in.elf" >&2; then
      T[mkdf_phdr_fix]=$(elapsed "$t0")
    else
      MKDF_NOTES+=("elf-phdr-fix.pl failed: no makedumpfile -c/-l/-E variants")
      MKDF=()
    fi
    MKDF_WARNED=()
    MKDF_INFO=()
    if [ ${#MKDF[@]} -gt 0 ] && [ "$VMCOREINFO" != true ]; then
      # No VMCOREINFO note in the dump (arm: no qemu_fw_cfg): generate one from
      # vmlinux with the host's makedumpfile (DWARF only: any arch; the result
      # is the same as the target-arch makedumpfile's -x, which is far slower
      # under qemu-user).
      t0=$(now)
      if makedumpfile -g "$TMP/vmcoreinfo.txt" -x "$DIR/vmlinux" >"$TMP/mkdf-g.log" 2>&1; then
        T[mkdf_vmcoreinfo_g]=$(elapsed "$t0")
        MKDF_INFO=(-i "$TMP/vmcoreinfo.txt")
        MKDF_NOTES+=("the dump has no VMCOREINFO: makedumpfile variants use one made by 'makedumpfile -g -x vmlinux'")
      else
        MKDF_NOTES+=("makedumpfile -g -x vmlinux failed: no makedumpfile -c/-l/-E variants")
        MKDF=()
      fi
    fi
    for v in "${MKDF_VARIANTS[@]}"; do
      [ ${#MKDF[@]} -gt 0 ] || break
      set -- $v
      out="vmcore.mkdf-$2-d31"
      t0=$(now)
      if "${MKDF[@]}" -"$1" -d 31 "${MKDF_INFO[@]+"${MKDF_INFO[@]}"}" "$TMP/vmcore.mkdf-in.elf" "$DIR/$out" >"$TMP/mkdf-$2.log" 2>&1; then
        T[mkdf_$2_d31]=$(elapsed "$t0")
        mkdf_add "$out" "$3" false 31
        if grep -q 'kernel version is not supported' "$TMP/mkdf-$2.log"; then
          MKDF_WARNED+=("$out")
        fi
        log "makedumpfile -$1 -d 31 -> $out ($(stat -c %s "$DIR/$out") bytes) in ${T[mkdf_$2_d31]}s"
      else
        rm -f "$DIR/$out"
        msg=$(grep -v '^$' "$TMP/mkdf-$2.log" | tail -2 | tr '\n"\\' '  ')
        MKDF_NOTES+=("makedumpfile -$1 -d 31 failed: $msg")
        log "makedumpfile -$1 -d 31 failed: $msg"
      fi
    done
    rm -f "$TMP/vmcore.mkdf-in.elf"
    if [ ${#MKDF_WARNED[@]} -gt 0 ]; then
      MKDF_NOTES+=("$MKDF_VERSION printed 'The kernel version is not supported.' (and completed) for ${MKDF_WARNED[*]}")
    fi
  fi
fi
