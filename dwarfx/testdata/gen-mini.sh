#!/bin/sh
# Regenerates the small ELF images the dwarfx unit tests read (needs gcc).
set -eu
cd "$(dirname "$0")"
for v in 2 4 5; do
	gcc -g -gdwarf-$v -gstrict-dwarf -O1 -fno-inline -ffreestanding -nostdlib -static -no-pie \
		-Wl,--build-id=sha1 -o mini-dwarf$v.elf mini.c
done
# 64-bit DWARF 5.
gcc -g -gdwarf-5 -gdwarf64 -gstrict-dwarf -O1 -fno-inline -ffreestanding -nostdlib -static -no-pie \
	-Wl,--build-id=sha1 -o mini-dwarf64.elf mini.c
