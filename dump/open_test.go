package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestRaw(t *testing.T) {
	dir := t.TempDir()
	a, b := pattern(0x3000, 1), pattern(0x1000, 2)
	pa, pb := filepath.Join(dir, "DDR0.bin"), filepath.Join(dir, "DDR@1.bin")
	os.WriteFile(pa, a, 0o644)
	os.WriteFile(pb, b, 0o644)
	spec := fmt.Sprintf("%s@0x40000000,%s@0x80000000", pb, pa)
	d, err := Open(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != "raw" || d.Arch() != ArchUnknown || d.Path() != spec || d.VMCoreInfo() != nil || d.CPUs() != nil || d.Notes() != nil {
		t.Errorf("raw dump: %q %q", d.Format(), d.Arch())
	}
	want := []PhysRange{{0x40000000, 0x1000}, {0x80000000, 0x3000}}
	if !equalRanges(d.Ranges(), want) {
		t.Errorf("ranges %x", d.Ranges())
	}
	buf := make([]byte, 0x3000)
	if err := d.ReadPhys(buf, 0x80000000); err != nil || !bytes.Equal(buf, a) {
		t.Errorf("read a: %v", err)
	}
	if err := d.ReadPhys(buf[:0x1000], 0x40000000); err != nil || !bytes.Equal(buf[:0x1000], b) {
		t.Errorf("read b: %v", err)
	}
	var re *ReadError
	if err := d.ReadPhys(buf[:0x10], 0x40000ff8); !errors.As(err, &re) || re.Addr != 0x40001000 || !errors.Is(err, ErrNotInDump) {
		t.Errorf("gap: %v", err)
	}

	// Adjacent images merge into one range.
	d2, err := Open(fmt.Sprintf("%s@0,%s@0x3000", pa, pb), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !equalRanges(d2.Ranges(), []PhysRange{{0, 0x4000}}) {
		t.Errorf("ranges %x", d2.Ranges())
	}
	if err := d2.ReadPhys(buf[:0x20], 0x2ff0); err != nil || !bytes.Equal(buf[:0x10], a[0x2ff0:]) || !bytes.Equal(buf[0x10:0x20], b[:0x10]) {
		t.Errorf("cross-image read: %v", err)
	}
	d2.Close()

	for _, bad := range []string{
		fmt.Sprintf("%s@0,%s@0x1000", pa, pb), // overlap
		pa + "@zz",
		pa + "@0,",
		"@0x1000",
		filepath.Join(dir, "missing.bin") + "@0",
		filepath.Join(dir, "missing.bin"),
		"",
	} {
		if d, err := Open(bad, Options{}); err == nil {
			d.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	// A single file whose content is no dump: an error, unless Raw.
	if _, err := Open(pa, Options{}); err == nil {
		t.Error("unknown content opened without Raw")
	} else {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("unknown content: %v", err)
		}
	}
	d3, err := Open(pa, Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	if !equalRanges(d3.Ranges(), []PhysRange{{0, 0x3000}}) {
		t.Errorf("ranges %x", d3.Ranges())
	}
	d3.Close()
	empty := filepath.Join(dir, "empty.bin")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty+"@0", Options{}); err == nil {
		t.Error("empty raw image opened")
	}
	if _, err := Open(pa+"@0xfffffffffffff000", Options{}); err == nil {
		t.Error("image overflowing the address space opened")
	}
}

func TestIsDumpFile(t *testing.T) {
	elfCore, _ := sampleELF64(t, binary.LittleEndian)
	pages, _ := samplePages(4096, 0)
	kd := buildKdump(t, kdumpSpec{blockSize: 4096, machine: "x86_64", maxMapnr: 0x200, pages: pages})
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"elf core", elfCore, true},
		{"elf32 core", buildELF(elfSpec{class: 32, machine: emARM, bo: binary.BigEndian}), true},
		{"vmlinux", buildELF(elfSpec{class: 64, machine: emX86_64, typ: 2}), false},
		{"kdump", kd, true},
		{"flattened", flatten(kd, 4096, false, false, nil), true},
		{"text", []byte("hello"), false},
		{"empty", nil, false},
		{"elf magic only", []byte("\x7fELF"), false},
	} {
		got, err := IsDumpFile(writeTemp(t, "f", c.b))
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v", c.name, got, err)
		}
	}
	if _, err := IsDumpFile(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestPaint(t *testing.T) {
	ls := []layer{
		{0, 10, 100, 1},
		{5, 15, 200, 2},
		{12, 20, -1, 3},
		{30, 40, 300, 0},
		{35, 36, 400, 9},
		{50, 50, 0, 0}, // empty
	}
	got := paint(ls)
	want := []extent{{0, 5, 100}, {5, 12, 200}, {12, 20, -1}, {30, 35, 300}, {35, 36, 400}, {36, 40, 306}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Contiguous pieces merge.
	got = paint([]layer{{0, 10, 0, 0}, {10, 20, 10, 0}, {20, 30, -1, 0}, {30, 40, -1, 0}})
	if len(got) != 2 || got[0] != (extent{0, 20, 0}) || got[1] != (extent{20, 40, -1}) {
		t.Errorf("merge: %v", got)
	}
}

func TestPageCache(t *testing.T) {
	c := newPageCache(3 * 100)
	for i := 0; i < 5; i++ {
		c.put(pageKey{off: int64(i)}, make([]byte, 100))
	}
	if c.bytes != 300 || c.ll.Len() != 3 {
		t.Fatalf("bytes %d len %d", c.bytes, c.ll.Len())
	}
	if c.get(pageKey{off: 0}) != nil || c.get(pageKey{off: 4}) == nil {
		t.Error("LRU order wrong")
	}
	c.get(pageKey{off: 2})
	c.put(pageKey{off: 9}, make([]byte, 100))
	if c.get(pageKey{off: 3}) != nil || c.get(pageKey{off: 2}) == nil {
		t.Error("recently used entry evicted")
	}
	c.put(pageKey{off: 10}, make([]byte, 1000)) // larger than the cache: ignored
	if c.get(pageKey{off: 10}) != nil {
		t.Error("oversized entry cached")
	}
	z := newPageCache(0)
	z.put(pageKey{}, make([]byte, 1))
	if z.get(pageKey{}) != nil {
		t.Error("zero-size cache caches")
	}
}
