package dump

import "testing"

// TestUnwrapELF32Loads: QEMU's ELF32 PT_LOADs of 4 GiB or more carry their
// sizes modulo 2^32 (dump/dump.c write_elf32_load); the room up to the next
// segment or the file's end restores them, and nothing else changes.
func TestUnwrapELF32Loads(t *testing.T) {
	const gib = uint64(1) << 30
	cases := []struct {
		name  string
		progs []elfProg
		size  uint64
		want  []uint64 // filesz per prog after unwrapping
	}{
		{"4 GiB at 0x40000000 (armmp-lpae on virt, -m 4G)",
			[]elfProg{{typ: ptNote, off: 0x74, filesz: 0x750}, {typ: ptLoad, off: 0x7c4, paddr: 0x40000000}},
			0x7c4 + 4*gib, []uint64{0x750, 4 * gib}},
		{"with QEMU's trailing .shstrtab (11 bytes)",
			[]elfProg{{typ: ptNote, off: 0xc4, filesz: 0x700}, {typ: ptLoad, off: 0x7c4, paddr: 0x40000000}},
			0x7c4 + 4*gib + 11, []uint64{0x700, 4 * gib}},
		{"5 GiB then 1 GiB",
			[]elfProg{{typ: ptLoad, off: 0x1000, paddr: 0x40000000, filesz: gib, memsz: gib},
				{typ: ptLoad, off: 0x1000 + 5*gib, paddr: 0x180000000 & 0xffffffff, filesz: gib, memsz: gib}},
			0x1000 + 6*gib, []uint64{5 * gib, gib}},
		{"sizes that fit stay",
			[]elfProg{{typ: ptLoad, off: 0x1000, filesz: gib, memsz: gib}, {typ: ptLoad, off: 0x1000 + gib, filesz: 0x1000, memsz: 0x1000}},
			0x2000 + gib, []uint64{gib, 0x1000}},
		{"a gap that is not 4 GiB stays",
			[]elfProg{{typ: ptLoad, off: 0x1000, filesz: 0x1000, memsz: 0x1000}},
			0x1000 + 3*gib, []uint64{0x1000}},
		{"zero fill (p_memsz > p_filesz) stays",
			[]elfProg{{typ: ptLoad, off: 0x1000, filesz: 0, memsz: 0x1000}},
			0x1000 + 4*gib, []uint64{0}},
		{"offset past the file stays",
			[]elfProg{{typ: ptLoad, off: 8 * gib}},
			4 * gib, []uint64{0}},
	}
	for _, c := range cases {
		unwrapELF32Loads(c.progs, c.size)
		for i, p := range c.progs {
			if p.filesz != c.want[i] || p.typ == ptLoad && p.memsz < p.filesz {
				t.Errorf("%s: prog %d filesz %#x memsz %#x, want filesz %#x", c.name, i, p.filesz, p.memsz, c.want[i])
			}
		}
	}
}
