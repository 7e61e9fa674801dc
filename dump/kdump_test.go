package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
)

type kdumpCase struct {
	name string
	spec kdumpSpec
}

// samplePages returns dumped pages for pfns 0x10..0x3f and 0x100..0x10f
// with some zero pages, plus excluded pfns 0x40..0x47.
func samplePages(bs int, codec uint32) (map[uint64][]byte, []uint64) {
	pages := map[uint64][]byte{}
	for pfn := uint64(0x10); pfn < 0x40; pfn++ {
		pages[pfn] = testPage(pfn, bs)
	}
	for pfn := uint64(0x100); pfn < 0x110; pfn++ {
		pages[pfn] = make([]byte, bs)
	}
	if codec == dumpCompressedLZO {
		// Pages that have real LZO vectors.
		vec := map[int][]string{4096: {"text4k", "sparse4k", "random4k", "zero4k"}, 65536: {"pattern64k"}}
		for i, name := range vec[bs] {
			raw, err := os.ReadFile("testdata/lzo/" + name + ".raw")
			if err == nil {
				pages[uint64(0x20+i)] = raw
			}
		}
	}
	var excl []uint64
	for pfn := uint64(0x40); pfn < 0x48; pfn++ {
		excl = append(excl, pfn)
	}
	return pages, excl
}

func kdumpCases() []kdumpCase {
	var cs []kdumpCase
	le, be := binary.LittleEndian, binary.BigEndian
	regs := make([]uint64, 34)
	regs[32] = 0xffff800008000000
	for _, codec := range []uint32{0, dumpCompressedZlib, dumpCompressedLZO, dumpCompressedSnappy, dumpCompressedZstd} {
		for _, v := range []struct {
			name    string
			bo      binary.ByteOrder
			ws      int
			layout  *subLayout
			machine string
			arch    Arch
			bs      uint32
			version int32
			time64  bool
		}{
			{"x86_64", le, 8, nil, "X86_64", ArchX86_64, 4096, 6, false},
			{"arm64-64k", le, 8, nil, "aarch64", ArchARM64, 65536, 6, false},
			{"arm-packed", le, 4, &subLayout32Packed, "ARM", ArchARM, 4096, 6, false},
			{"arm-qemu-unknown", le, 4, &subLayout32Packed, "Unknown", ArchARM, 4096, 6, false},
			{"arm-padded-unknown", le, 4, &subLayout32Padded, "Unknown", ArchARM, 4096, 6, false},
			{"arm-time64", le, 4, &subLayout32Padded, "armv7l", ArchARM, 4096, 6, true},
			{"arm-time64-unknown", le, 4, &subLayout32Packed, "Unknown", ArchARM, 4096, 6, true},
			{"arm-padded", le, 4, &subLayout32Padded, "armv7l", ArchARM, 4096, 6, false},
			{"arm-padded-v4", le, 4, &subLayout32Padded, "armv7l", ArchARM, 4096, 4, false},
			{"x86_64-v3", le, 8, nil, "x86_64", ArchX86_64, 4096, 3, false},
			{"x86_64-v1", le, 8, nil, "x86_64", ArchX86_64, 4096, 1, false},
			{"be64-unknown-machine", be, 8, nil, "", ArchARM64, 4096, 6, false},
		} {
			pages, excl := samplePages(int(v.bs), codec)
			var prarch Arch = v.arch
			bo := v.bo
			notes := cat(
				buildNote(bo, "CORE", NT_PRSTATUS, makePrstatus(prarch, bo, 1, regs)),
				buildNote(bo, "CORE", NT_PRSTATUS, makePrstatus(prarch, bo, 2, regs)),
				buildNote(bo, "VMCOREINFO", 0, []byte("OSRELEASE=from-note\n")))
			s := kdumpSpec{bo: bo, wordSize: v.ws, layout: v.layout, version: v.version, blockSize: v.bs,
				machine: v.machine, maxMapnr: 0x200, pages: pages, excluded: excl, codec: codec,
				notes: notes, vmci: "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n", shareZero: true,
				dumpLevel: 31, nrCPUs: 2, timestamp: 1700000000, time64: v.time64}
			if v.version < 4 {
				s.notes = nil
			}
			if v.version < 3 {
				s.vmci = ""
			}
			cs = append(cs, kdumpCase{fmt.Sprintf("%s/%s", v.name, codecName(codec)), s})
		}
	}
	return cs
}

func codecName(c uint32) string {
	if c == 0 {
		return "none"
	}
	return compressionNames(c)
}

func TestKdump(t *testing.T) {
	for _, kc := range kdumpCases() {
		t.Run(kc.name, func(t *testing.T) {
			f := buildKdump(t, kc.spec)
			path := writeTemp(t, "vmcore.kdump", f)
			checkKdump(t, path, kc.spec, false)
			rng := rand.New(rand.NewSource(1))
			fpath := writeTemp(t, "vmcore.flat", flatten(f, -1, true, true, rng))
			checkKdump(t, fpath, kc.spec, true)
		})
	}
}

func checkKdump(t *testing.T, path string, s kdumpSpec, flat bool) {
	t.Helper()
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	bs := uint64(s.blockSize)
	wantFormat := "kdump-compressed"
	switch {
	case flat && s.codec != 0:
		wantFormat += " (flattened, " + compressionNames(s.codec) + ")"
	case flat:
		wantFormat += " (flattened)"
	case s.codec != 0:
		wantFormat += " (" + compressionNames(s.codec) + ")"
	}
	if d.Format() != wantFormat {
		t.Errorf("Format = %q, want %q", d.Format(), wantFormat)
	}
	h := d.Header()
	if !h.Valid || h.BlockSize != int(bs) || d.PageSize() != int(bs) || h.DumpLevel != 31 || h.NrCPUs != 2 ||
		h.HeaderVersion != int(s.version) || h.Timestamp.Unix() != 1700000000 || h.MaxMapnr != s.maxMapnr || h.Release != "6.1.0-test" {
		t.Errorf("Header = %+v", h)
	}
	if s.layout != nil && h.SubLayout != s.layout.name {
		t.Errorf("sub-header layout %q, want %q", h.SubLayout, s.layout.name)
	}
	if s.version >= 4 {
		if len(d.CPUs()) != 2 || d.CPUs()[0].PC != 0xffff800008000000 && d.Arch() == ArchARM64 {
			t.Errorf("CPUs = %+v", d.CPUs())
		}
		if d.Arch() == ArchUnknown {
			t.Error("arch unknown")
		}
	}
	switch {
	case s.version >= 3:
		if r, _ := d.VMCoreInfo().Get("OSRELEASE"); r != "6.1.0-test" {
			t.Errorf("OSRELEASE %q", r)
		}
	case d.VMCoreInfo() != nil:
		t.Error("VMCOREINFO in a v1 header")
	}
	want := []PhysRange{{0x10 * bs, 0x30 * bs}, {0x100 * bs, 0x10 * bs}}
	if got := d.Ranges(); !equalRanges(got, want) {
		t.Errorf("Ranges = %x, want %x", got, want)
	}
	// Every page, whole and in pieces.
	buf := make([]byte, bs)
	for pfn, page := range s.pages {
		if err := d.ReadPhys(buf, pfn*bs); err != nil {
			t.Fatalf("pfn %#x: %v", pfn, err)
		}
		if !bytes.Equal(buf, page) {
			t.Fatalf("pfn %#x: content differs", pfn)
		}
		if err := d.ReadPhys(buf[:100], pfn*bs+bs-100); err != nil || !bytes.Equal(buf[:100], page[bs-100:]) {
			t.Fatalf("pfn %#x tail: %v", pfn, err)
		}
	}
	// Crossing pages.
	big := make([]byte, 5*bs)
	if err := d.ReadPhys(big, 0x20*bs+17); err != nil {
		t.Fatal(err)
	}
	var wantBig []byte
	for pfn := uint64(0x20); pfn < 0x26; pfn++ {
		wantBig = append(wantBig, s.pages[pfn]...)
	}
	if !bytes.Equal(big, wantBig[17:17+5*bs]) {
		t.Error("page-crossing read differs")
	}
	// Errors.
	errCases := []struct {
		addr uint64
		n    int
		want error
		at   uint64
	}{
		{0x40 * bs, 8, ErrExcluded, 0x40 * bs},
		{0x3f*bs + bs - 4, 8, ErrExcluded, 0x40 * bs},
		{0x50 * bs, 1, ErrNotInDump, 0x50 * bs},
		{0x0, 1, ErrNotInDump, 0},
		{0x200 * bs, 1, ErrNotInDump, 0x200 * bs},
		{^uint64(0) - 1, 4, ErrNotInDump, ^uint64(0) - 1},
	}
	for _, c := range errCases {
		err := d.ReadPhys(make([]byte, c.n), c.addr)
		var re *ReadError
		if !errors.As(err, &re) || !errors.Is(err, c.want) || re.Addr != c.at || re.Space != "physical" {
			t.Errorf("ReadPhys(%#x) = %v, want %v at %#x", c.addr, err, c.want, c.at)
		}
	}
	if err := d.ReadPhys(buf[:8], 0x40*bs); !strings.Contains(err.Error(), "page excluded") {
		t.Errorf("excluded message: %v", err)
	}
}

func TestKdumpCorrupt(t *testing.T) {
	for _, codec := range []uint32{dumpCompressedZlib, dumpCompressedLZO, dumpCompressedSnappy, dumpCompressedZstd} {
		pages, _ := samplePages(4096, 0)
		s := kdumpSpec{blockSize: 4096, machine: "x86_64", maxMapnr: 0x200, pages: pages, codec: codec,
			forceData: map[uint64][]byte{0x11: []byte("this is not compressed data at all")}}
		d, err := Open(writeTemp(t, "vmcore", buildKdump(t, s)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = d.ReadPhys(make([]byte, 8), 0x11*4096+8)
		var re *ReadError
		if !errors.As(err, &re) || !errors.Is(err, ErrCorrupt) || re.Offset <= 0 || re.Addr != 0x11*4096+8 ||
			!strings.Contains(err.Error(), "pfn 0x11") || !strings.Contains(err.Error(), "file offset") {
			t.Errorf("%s: %v", compressionNames(codec), err)
		}
		if err := d.ReadPhys(make([]byte, 8), 0x12*4096); err != nil {
			t.Errorf("%s: next page: %v", compressionNames(codec), err)
		}
		d.Close()
	}
}

func TestKdumpTruncated(t *testing.T) {
	pages, _ := samplePages(4096, 0)
	s := kdumpSpec{blockSize: 4096, machine: "x86_64", maxMapnr: 0x200, pages: pages, codec: dumpCompressedZlib,
		zeroDesc: map[uint64]bool{0x30: true}}
	f := buildKdump(t, s)
	// Incomplete: a descriptor never written.
	d, err := Open(writeTemp(t, "vmcore", f), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ReadPhys(make([]byte, 8), 0x30*4096); !errors.Is(err, ErrTruncated) {
		t.Errorf("zero descriptor: %v", err)
	}
	d.Close()
	// Cut in the page data: early pages read, late ones are truncated.
	for _, cut := range []int{len(f) - 1, len(f) - 5000, len(f) / 2} {
		for _, flat := range []bool{false, true} {
			b := f[:cut]
			if flat {
				full := flatten(f, 1000, false, false, nil)
				b = full[:len(full)*cut/len(f)]
			}
			d, err := Open(writeTemp(t, "vmcore", b), Options{})
			if err != nil {
				t.Fatalf("cut %d flat %v: %v", cut, flat, err)
			}
			var ok, trunc int
			for pfn := range s.pages {
				err := d.ReadPhys(make([]byte, 4096), pfn*4096)
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrTruncated):
					trunc++
				default:
					t.Errorf("cut %d flat %v pfn %#x: %v", cut, flat, pfn, err)
				}
			}
			if ok == 0 || trunc == 0 {
				t.Errorf("cut %d flat %v: %d ok, %d truncated", cut, flat, ok, trunc)
			}
			d.Close()
		}
	}
	// Headers cut: FormatError.
	for _, cut := range []int{100, 460, 4096 + 10, 3 * 4096} {
		_, err := Open(writeTemp(t, "vmcore", f[:cut]), Options{})
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
}

func TestKdumpHeaderErrors(t *testing.T) {
	pages, _ := samplePages(4096, 0)
	f := buildKdump(t, kdumpSpec{blockSize: 4096, machine: "x86_64", maxMapnr: 0x200, pages: pages, vmci: "OSRELEASE=x\n"})
	mod := func(off int, v uint32) []byte {
		b := append([]byte(nil), f...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"version 0", mod(8, 0)},
		{"version huge", mod(8, 1000)},
		{"block size 3000", mod(428, 3000)},
		{"block size 0", mod(428, 0)},
		{"bitmap blocks huge", mod(436, 0xffffffff)},
		{"sub_hdr_size huge", mod(432, 0xfffffff0)},
		{"vmcoreinfo offset huge", func() []byte { b := mod(4096+32, 0xffffff00); return b }()},
	} {
		_, err := Open(writeTemp(t, "vmcore", c.b), Options{})
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestKdumpConcurrent(t *testing.T) {
	pages, _ := samplePages(4096, 0)
	s := kdumpSpec{blockSize: 4096, machine: "x86_64", maxMapnr: 0x200, pages: pages, codec: dumpCompressedZlib}
	f := buildKdump(t, s)
	for _, cache := range []int{0, -1, 3 * 4096} {
		d, err := Open(writeTemp(t, "vmcore", f), Options{CacheBytes: cache})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				buf := make([]byte, 4096)
				for i := 0; i < 300; i++ {
					pfn := uint64(0x10 + (i*7+g)%0x30)
					if err := d.ReadPhys(buf, pfn*4096); err != nil {
						t.Error(err)
						return
					}
					if !bytes.Equal(buf, pages[pfn]) {
						t.Errorf("pfn %#x differs", pfn)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		d.Close()
	}
}

// TestKdumpARMPFNOffset: makedumpfile on 32-bit ARM numbers pfns from
// phys_base; QEMU from 0 (while writing phys_base too).
func TestKdumpARMPFNOffset(t *testing.T) {
	le := binary.LittleEndian
	notes := buildNote(le, "CORE", NT_PRSTATUS, makePrstatus(ArchARM, le, 1, nil))
	rel := map[uint64][]byte{0: testPage(0, 4096), 1: testPage(1, 4096), 0x20: testPage(0x20, 4096)}
	abs := map[uint64][]byte{}
	for pfn, p := range rel {
		abs[pfn+0x40000] = p
	}
	for _, c := range []struct {
		name    string
		machine string
		pages   map[uint64][]byte
		mapnr   uint64
	}{
		{"makedumpfile", "armv7l", rel, 0x40000},
		{"qemu", "Unknown", abs, 0x80000},
	} {
		s := kdumpSpec{wordSize: 4, layout: &subLayout32Padded, blockSize: 4096, machine: c.machine, maxMapnr: c.mapnr,
			pages: c.pages, notes: notes, physBase: 0x40000000, codec: dumpCompressedZlib}
		if c.name == "qemu" {
			s.layout = &subLayout32Packed
		}
		d, err := Open(writeTemp(t, "vmcore", buildKdump(t, s)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		for pfn, p := range rel {
			if err := d.ReadPhys(buf, 0x40000000+pfn*4096); err != nil || !bytes.Equal(buf, p) {
				t.Errorf("%s: pfn %#x: %v", c.name, pfn, err)
			}
		}
		if err := d.ReadPhys(buf[:8], 0x1000); !errors.Is(err, ErrNotInDump) {
			t.Errorf("%s: below RAM: %v", c.name, err)
		}
		want := []PhysRange{{0x40000000, 0x2000}, {0x40020000, 0x1000}}
		if !equalRanges(d.Ranges(), want) {
			t.Errorf("%s: ranges %x", c.name, d.Ranges())
		}
		if d.Arch() != ArchARM || (c.name == "makedumpfile") != (d.Header().PFNOffset == 0x40000) {
			t.Errorf("%s: arch %q pfn offset %#x", c.name, d.Arch(), d.Header().PFNOffset)
		}
		d.Close()
	}
}
