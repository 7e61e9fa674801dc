# Sourced by build-fixture.sh: 32-bit arm with LPAE and RAM above 4 GiB
# (KIND lpae). Uses ARCH, MEM and die from the caller and sets FLAVOR,
# QEMU, QEMU_MACHINE, MEM and SLEEPERS.
#
# The standard sysrq guest (testdata/guest/, unchanged) runs Debian's
# armmp-lpae kernel (CONFIG_ARM_LPAE: 3-level long-descriptor page tables,
# 40-bit physical addresses, arch/arm/include/asm/pgtable-3level.h) on
# virt with highmem=on. virt's RAM starts at 0x40000000 (hw/arm/virt.c), so
# 4 GiB of it ends at 0x140000000: the top GiB is physical memory a 32-bit
# address cannot name, reached only through LPAE (the kernel's highmem).
#
# QEMU is qemu-system-aarch64 running the 32-bit cortex-a15: QEMU 7.2's
# qemu-system-arm walks page tables through a TLB keyed by its 32-bit
# target address, so a table above 4 GiB (CONFIG_HIGHPTE puts user PTE
# tables in highmem) reads as the address modulo 4 GiB and init dies at its
# first exec ("synchronous abort (translation table walk)"); the aarch64
# binary emulates the same CPU with 64-bit addresses.
#
# Kept light for CI like raspi: the ELF dump and QEMU's kdump-zlib only, no
# makedumpfile variants, no paging ELF; 100 sleepers (KINSPECT_LPAE_SLEEPERS).

# lpae_machine sets the kernel flavour, the machine and the memory.
lpae_machine() {
  [ "$ARCH" = arm ] || die "KIND lpae: arm only (Debian's armmp-lpae flavour), not $ARCH"
  FLAVOR=armmp-lpae QEMU=qemu-system-aarch64
  QEMU_MACHINE=(-M virt,highmem=on -cpu cortex-a15)
  MEM=${KINSPECT_GUEST_MEM:-4G}
  SLEEPERS=${KINSPECT_LPAE_SLEEPERS:-100}
}
