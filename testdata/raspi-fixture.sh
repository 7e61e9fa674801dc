# Sourced by build-fixture.sh: the Raspberry Pi machines (KIND raspi).
# Uses ARCH, IMGDEB, RELEASE, TMP, DIR, T, log, die, now, elapsed and sets
# QEMU_MACHINE, RASPI_DTB, SLEEPERS, QEMU_CMD from the caller.
#
# The standard sysrq guest (testdata/guest/, unchanged) runs on QEMU's
# raspi2b (arm, Debian's armmp kernel) or raspi3b (arm64, Debian's arm64
# kernel) with the board's device tree from Debian's kernel package. As on a
# real Pi: RAM at physical 0 (1 GiB, fixed by the machine: no -m, and the
# machine's 4 cores: no -smp), the console on the PL011 (ttyAMA0) and no
# fw_cfg, so no VMCOREINFO in the dumps: kinspect finds PHYS_OFFSET, the
# split and (arm64) KASLR from the memory and DWARF. (arm64 gets a fixed
# kaslr-seed in the dtb: its image and linear map are randomised.)
#
# Kept light for CI: the ELF dump and QEMU's kdump-zlib only, no
# makedumpfile variants, no paging ELF (gdb's oracle stays on virt).

# raspi_machine sets the QEMU machine and the dtb's path in the kernel
# package (/usr/lib/linux-image-RELEASE/..., as Debian installs them).
raspi_machine() {
  case "$ARCH" in
    arm) QEMU_MACHINE=(-M raspi2b) RASPI_DTB=bcm2836-rpi-2-b.dtb ;;
    arm64) QEMU_MACHINE=(-M raspi3b) RASPI_DTB=broadcom/bcm2837-rpi-3-b.dtb ;;
    *) die "KIND raspi: no Raspberry Pi machine for ARCH $ARCH (arm: raspi2b, arm64: raspi3b)" ;;
  esac
  # The emulated BCM283x is slower than virt and its UART carries the whole
  # ground truth: fewer sleepers (the guest reads them from kinspect.conf).
  SLEEPERS=${KINSPECT_RASPI_SLEEPERS:-100}
}

# raspi_dtb extracts the board's device tree from the kernel package into
# $DIR/board.dtb (kept: the fixture records how it was booted).
raspi_dtb() {
  local t0 path="usr/lib/linux-image-$RELEASE/$RASPI_DTB"
  t0=$(now)
  mkdir -p "$TMP/dtb"
  dpkg-deb --fsys-tarfile "$IMGDEB" | tar -x -C "$TMP/dtb" "./$path" 2>/dev/null || true
  [ -s "$TMP/dtb/$path" ] || die "no /$path in $IMGDEB"
  cp "$TMP/dtb/$path" "$DIR/board.dtb"
  if [ "$ARCH" = arm64 ]; then
    # A Pi's firmware passes no KASLR seed either, but the tests must find a
    # moved image and linear map from memory alone: give the kernel a fixed
    # /chosen/kaslr-seed ("KINSPECT"), which it reads and clears
    # (arch/arm64/kernel/pi/kaslr_early.c); QEMU adds one only on virt.
    command -v fdtput >/dev/null || die "fdtput not found: run 'make deps' (device-tree-compiler)"
    fdtput -t x "$DIR/board.dtb" /chosen kaslr-seed 0x4b494e53 0x50454354 ||
      die "cannot add /chosen/kaslr-seed to $DIR/board.dtb"
  fi
  T[dtb]=$(elapsed "$t0")
}

# raspi_qemu_cmd builds QEMU_CMD for the board: no -smp/-m (fixed by the
# machine) and no vmcoreinfo device (the board has no fw_cfg).
raspi_qemu_cmd() {
  QEMU_CMD=("$QEMU" "${QEMU_MACHINE[@]}" -dtb "$DIR/board.dtb" -accel tcg,thread=multi
    -kernel "$DIR/vmlinuz" -initrd "$DIR/initramfs.cpio.gz" -append "$APPEND"
    -display none -serial "file:$DIR/console.log"
    -qmp "unix:$QMP_SOCK,server=on,wait=off" -monitor none -no-reboot)
}

# raspi_ram_cut writes $DIR/ram.bin: the ELF dump's RAM as a JTAG probe
# saves it (Trace32 Data.SAVE.Binary), one raw file from physical 0 with no
# notes, no registers and no VMCOREINFO; a hole between PT_LOADs reads as
# zeros (sparse). Opened as `kinspect vmlinux ram.bin@0x0`.
raspi_ram_cut() {
  local t0 off pa sz
  t0=$(now)
  : > "$DIR/ram.bin.tmp"
  while read -r off pa sz; do
    dd if="$DIR/vmcore.elf" of="$DIR/ram.bin.tmp" bs=1M conv=notrunc,sparse status=none \
      iflag=skip_bytes,count_bytes oflag=seek_bytes skip=$((off)) count=$((sz)) seek=$((pa)) ||
      die "cutting PT_LOAD at pa $pa out of vmcore.elf failed"
  done < <(readelf -lW "$DIR/vmcore.elf" | awk '$1=="LOAD" {print $2, $4, $5}')
  [ -s "$DIR/ram.bin.tmp" ] || die "vmcore.elf has no PT_LOAD to cut into ram.bin"
  mv "$DIR/ram.bin.tmp" "$DIR/ram.bin"
  T[raw_cut]=$(elapsed "$t0")
  log "cut ram.bin ($(stat -c %s "$DIR/ram.bin") bytes from physical 0) in ${T[raw_cut]}s"
}
