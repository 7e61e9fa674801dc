package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// sampleELF64 is an x86_64-style vmcore: two RAM segments, a zero-filled
// tail, a kernel-text segment overlapping RAM (as /proc/vmcore has), a
// segment QEMU did not store, and notes.
func sampleELF64(tb testing.TB, bo binary.ByteOrder) ([]byte, [][]byte) {
	ram0 := pattern(0x3000, 1)
	ram1 := pattern(0x2000, 2)
	text := pattern(0x1000, 3) // overlaps ram0 at 0x1000; must lose
	regs := make([]uint64, 27)
	regs[16] = 0xffffffff81000000
	notes := cat(
		buildNote(bo, "CORE", NT_PRSTATUS, makePrstatus(ArchX86_64, bo, 1, regs)),
		buildNote(bo, "CORE", NT_PRSTATUS, makePrstatus(ArchX86_64, bo, 2, regs)),
		buildNote(bo, "QEMU", 0, make([]byte, 0x1b0)),
		buildNote(bo, "VMCOREINFO", 0, []byte("OSRELEASE=6.1.0-test\nPAGESIZE=4096\n")),
	)
	f := buildELF(elfSpec{class: 64, bo: bo, machine: emX86_64, notes: notes, loads: []elfLoadSpec{
		{paddr: 0x100000, data: ram0, memsz: 0x4000},
		{paddr: 0x101000, vaddr: 0xffffffff81000000, data: text},
		{paddr: 0x200000, data: ram1},
		{paddr: 0x300000, memsz: 0x1000, notStored: true},
	}})
	return f, [][]byte{ram0, ram1, text}
}

func TestELF64(t *testing.T) {
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		f, parts := sampleELF64(t, bo)
		d, err := Open(writeTemp(t, "vmcore", f), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != "ELF64 vmcore" || d.Arch() != ArchX86_64 || d.PageSize() != 0 || d.Header().Valid {
			t.Errorf("format %q arch %q page %d header %+v", d.Format(), d.Arch(), d.PageSize(), d.Header())
		}
		want := []PhysRange{{0x100000, 0x4000}, {0x200000, 0x2000}}
		if got := d.Ranges(); !equalRanges(got, want) {
			t.Errorf("Ranges = %x, want %x", got, want)
		}
		if len(d.CPUs()) != 2 || d.CPUs()[1].PID != 2 || d.CPUs()[0].PC != 0xffffffff81000000 {
			t.Errorf("CPUs = %+v", d.CPUs())
		}
		if len(d.Notes()) != 4 {
			t.Errorf("Notes = %d", len(d.Notes()))
		}
		if v := d.VMCoreInfo(); v == nil {
			t.Error("no VMCOREINFO")
		} else if r, _ := v.Get("OSRELEASE"); r != "6.1.0-test" {
			t.Errorf("OSRELEASE = %q", r)
		}
		buf := make([]byte, 0x4000)
		if err := d.ReadPhys(buf, 0x100000); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:0x3000], parts[0]) || !allZero(buf[0x3000:]) {
			t.Error("ram0 content wrong (overlapping text segment must not win, tail must be zero)")
		}
		buf = make([]byte, 0x10)
		if err := d.ReadPhys(buf, 0x201ff8); err == nil {
			t.Error("read past segment end succeeded")
		} else {
			var re *ReadError
			if !errors.As(err, &re) || !errors.Is(err, ErrNotInDump) || re.Addr != 0x202000 || re.Size != 0x10 {
				t.Errorf("err = %#v", err)
			}
		}
		for _, addr := range []uint64{0, 0xfffff, 0x104000, 0x300000, ^uint64(0)} {
			if err := d.ReadPhys(buf[:1], addr); !errors.Is(err, ErrNotInDump) {
				t.Errorf("ReadPhys(%#x) = %v", addr, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.ReadPhys(buf, 0x100000); err == nil {
			t.Error("read after Close succeeded")
		}
		if err := d.Close(); err != nil {
			t.Error("second Close:", err)
		}
	}
}

func equalRanges(a, b []PhysRange) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestELF32ARM(t *testing.T) {
	le := binary.LittleEndian
	regs := make([]uint64, 18)
	regs[15], regs[13] = 0xc0100000, 0xc1000000
	notes := cat(buildNote(le, "CORE", NT_PRSTATUS, makePrstatus(ArchARM, le, 1, regs)),
		buildNote(le, "CORE", NT_PRSTATUS, makePrstatus(ArchARM, le, 2, regs)))
	ram := pattern(0x2000, 9)
	f := buildELF(elfSpec{class: 32, machine: emARM, notes: notes, loads: []elfLoadSpec{{paddr: 0x40000000, vaddr: 0x40000000, data: ram}}})
	d, err := Open(writeTemp(t, "vmcore", f), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != "ELF32 vmcore" || d.Arch() != ArchARM || d.VMCoreInfo() != nil {
		t.Errorf("format %q arch %q", d.Format(), d.Arch())
	}
	cpus := d.CPUs()
	if len(cpus) != 2 || cpus[0].PC != 0xc0100000 || cpus[0].SP != 0xc1000000 || len(cpus[0].Regs) != 18 {
		t.Errorf("cpus = %+v", cpus)
	}
	buf := make([]byte, 0x2000)
	if err := d.ReadPhys(buf, 0x40000000); err != nil || !bytes.Equal(buf, ram) {
		t.Errorf("read: %v", err)
	}
}

// TestELFQuirks covers QEMU 7.2's headers: PN_XNUM with the count in
// section 0, odd e_phentsize, program headers not right after the header.
func TestELFQuirks(t *testing.T) {
	ram := pattern(0x1000, 4)
	for _, class := range []int{32, 64} {
		for _, s := range []elfSpec{
			{pnxnum: true},
			{phentsize: 0x1234},
			{phoffGap: 100},
			{pnxnum: true, phentsize: 1, phoffGap: 3},
		} {
			s.class, s.machine = class, emAArch64
			s.notes = buildNote(binary.LittleEndian, "CORE", NT_PRSTATUS, makePrstatus(ArchARM64, binary.LittleEndian, 1, nil))
			s.loads = []elfLoadSpec{{paddr: 0x40000000, data: ram}, {paddr: 0x50000000, data: ram}}
			f := buildELF(s)
			d, err := Open(writeTemp(t, "vmcore", f), Options{})
			if err != nil {
				t.Fatalf("%+v: %v", s, err)
			}
			if len(d.Ranges()) != 2 || len(d.CPUs()) != 1 || d.Arch() != ArchARM64 {
				t.Errorf("class %d %+v: ranges %x cpus %d", class, s, d.Ranges(), len(d.CPUs()))
			}
			d.Close()
		}
	}
}

func TestELFErrors(t *testing.T) {
	good, _ := sampleELF64(t, binary.LittleEndian)
	// The PT_NOTE header is first; the notes start right after the phdrs.
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name  string
		file  []byte
		what  string
		trunc bool
	}{
		{"cut ident", good[:10], "ELF identification", true},
		{"cut header", good[:40], "ELF64 header", true},
		{"cut phdrs", good[:64+56*2], "ELF program header table", true},
		{"cut notes", good[:64+56*5+10], "ELF PT_NOTE", true},
		{"bad class", mod(func(b []byte) []byte { b[4] = 9; return b }), "ELF identification", false},
		{"bad data", mod(func(b []byte) []byte { b[5] = 0; return b }), "ELF identification", false},
		{"pnxnum without sections", mod(func(b []byte) []byte { b[56], b[57] = 0xff, 0xff; return b }), "ELF section header 0", true},
		{"bad note", mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[64+56*5+4:], 1<<20); return b }), "ELF note", false},
		{"paddr overflow", mod(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[64+56+24:], ^uint64(0)-10)
			return b
		}), "ELF PT_LOAD", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(writeTemp(t, "vmcore", c.file), Options{})
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.What, c.what) {
				t.Fatalf("err = %v, want FormatError on %q", err, c.what)
			}
			if c.trunc != errors.Is(err, ErrTruncated) {
				t.Errorf("errors.Is(ErrTruncated) = %v: %v", !c.trunc, err)
			}
			if fe.File == "" {
				t.Error("FormatError without file")
			}
		})
	}
	// An ELF executable (vmlinux) is not a dump.
	exe := buildELF(elfSpec{class: 64, machine: emX86_64, typ: 2})
	if _, err := Open(writeTemp(t, "vmlinux", exe), Options{}); !errors.Is(err, errNotCore) {
		t.Errorf("vmlinux: %v", err)
	}
}

// TestELFTruncatedData: headers intact, memory cut short.
func TestELFTruncatedData(t *testing.T) {
	f, parts := sampleELF64(t, binary.LittleEndian)
	cut := len(f) - len(parts[1]) + 0x800 // keep 0x800 bytes of ram1
	d, err := Open(writeTemp(t, "vmcore", f[:cut]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, 0x1000)
	if err := d.ReadPhys(buf[:0x800], 0x200000); err != nil {
		t.Fatal(err)
	}
	err = d.ReadPhys(buf, 0x200400)
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, ErrTruncated) || re.Addr != 0x200800 || re.Offset != int64(cut) {
		t.Fatalf("err = %v", err)
	}
}
