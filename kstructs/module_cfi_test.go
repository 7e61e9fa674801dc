package kstructs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// kocfiObjects are testdata/kocfi/tiny.c built with each arch's GCC
// (-g -O1 -fno-asynchronous-unwind-tables -fno-unwind-tables -c, as the
// kernel builds: .debug_frame, no .eh_frame), and where `nm` puts their
// functions f and g in .text (arm's Thumb symbols have bit 0 set; the
// FDEs start at the even address).
var kocfiObjects = []struct {
	file  string
	ops   *archOps
	order binary.ByteOrder
	ptr   int
	fdes  []uint64
}{
	{"tiny-x86_64.o", &x86_64Ops, binary.LittleEndian, 8, []uint64{0, 4}},
	{"tiny-arm64.o", &arm64Ops, binary.LittleEndian, 8, []uint64{0, 8}},
	{"tiny-arm.o", &armOps, binary.LittleEndian, 4, []uint64{0, 4}},
}

// TestModuleCFIRelocated relocates each object's .debug_frame to a .text
// at a run-time address: delve's parser must find one FDE per function,
// starting where nm says plus that address.
func TestModuleCFIRelocated(t *testing.T) {
	const base = 0x7f0000
	for _, o := range kocfiObjects {
		raw, err := os.ReadFile(filepath.Join("testdata", "kocfi", o.file))
		if err != nil {
			t.Fatal(err)
		}
		data, err := moduleCFI(raw, map[string]uint64{".text": base}, o.ops)
		if err != nil || data == nil {
			t.Fatalf("%s: %v (data %v)", o.file, err, data != nil)
		}
		fdes, err := frame.Parse(data, o.order, 0, o.ptr, 0)
		if err != nil {
			t.Fatalf("%s: %v", o.file, err)
		}
		var got []uint64
		for _, f := range fdes {
			got = append(got, f.Begin()-base)
		}
		slices.Sort(got)
		if !slices.Equal(got, o.fdes) {
			t.Errorf("%s: FDEs at .text+%#x, nm says %#x", o.file, got, o.fdes)
		}
		if _, err := moduleCFI(raw, nil, &armOps); o.ops != &armOps && err == nil {
			t.Errorf("%s: relocated for the wrong architecture", o.file)
		}
	}
}

// FuzzModuleCFI: a malformed .ko gives an error, never a panic.
func FuzzModuleCFI(f *testing.F) {
	for _, o := range kocfiObjects {
		if raw, err := os.ReadFile(filepath.Join("testdata", "kocfi", o.file)); err == nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, ops := range []*archOps{&x86_64Ops, &arm64Ops, &armOps} {
			_, _ = moduleCFI(raw, map[string]uint64{".text": 0x1000}, ops)
		}
	})
}
