package dump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Fuzz targets for every parser that reads untrusted headers. Seeds come
// from the builders (f.Add) and from testdata/fuzz/<Target>/, which
// TestWriteFuzzSeeds regenerates when KINSPECT_WRITE_FUZZ_SEEDS=1.
//
//	go test ./dump -run '^$' -fuzz FuzzKdump -fuzztime 60s

func fuzzSeedsNotes() [][]byte {
	le, be := binary.LittleEndian, binary.BigEndian
	return [][]byte{
		cat(buildNote(le, "CORE", NT_PRSTATUS, makePrstatus(ArchARM64, le, 1, nil)),
			buildNote(le, "VMCOREINFO", 0, []byte("OSRELEASE=6.1\n"))),
		cat(buildNote(be, "CORE", NT_PRSTATUS, makePrstatus(ArchARM, be, 1, nil)), make([]byte, 16)),
		buildNote(le, "QEMU", 0, make([]byte, 30)),
	}
}

func fuzzSeedsELF(tb testing.TB) [][]byte {
	le := binary.LittleEndian
	small := pattern(64, 1)
	notes := buildNote(le, "CORE", NT_PRSTATUS, makePrstatus(ArchX86_64, le, 1, nil))
	return [][]byte{
		buildELF(elfSpec{class: 64, machine: emX86_64, notes: notes, loads: []elfLoadSpec{
			{paddr: 0x1000, data: small, memsz: 0x80}, {paddr: 0x1020, data: small}, {paddr: 0x9000, notStored: true, memsz: 16}}}),
		buildELF(elfSpec{class: 32, machine: emARM, pnxnum: true, phoffGap: 5, phentsize: 1,
			notes: buildNote(le, "CORE", NT_PRSTATUS, makePrstatus(ArchARM, le, 1, nil)),
			loads: []elfLoadSpec{{paddr: 0x40000000, data: small}}}),
		buildELF(elfSpec{class: 64, bo: binary.BigEndian, machine: emAArch64, pnxnum: true,
			loads: []elfLoadSpec{{paddr: 0x40000000, data: small}}}),
		// /proc/kcore: segments without a physical address, kcore's notes.
		buildELF(elfSpec{class: 64, machine: emAArch64, notes: kcoreNotes(le), loads: []elfLoadSpec{
			{paddr: math.MaxUint64, vaddr: 0xffff800000000000, data: small}, {paddr: 0x40000000, data: small}}}),
	}
}

func fuzzSeedsKdump(tb testing.TB) [][]byte {
	var out [][]byte
	for i, codec := range []uint32{0, dumpCompressedZlib, dumpCompressedSnappy, dumpCompressedZstd, dumpCompressedLZO} {
		pages := map[uint64][]byte{}
		for pfn := uint64(3); pfn < 6; pfn++ {
			pages[pfn] = testPage(pfn, 512)
		}
		pages[9] = make([]byte, 512)
		s := kdumpSpec{blockSize: 512, machine: "x86_64", maxMapnr: 40, pages: pages, excluded: []uint64{7},
			codec: codec, vmci: "OSRELEASE=x\n", shareZero: true,
			notes: buildNote(binary.LittleEndian, "CORE", NT_PRSTATUS, makePrstatus(ArchX86_64, binary.LittleEndian, 1, nil))}
		if i == 4 {
			s.wordSize, s.layout, s.machine = 4, &subLayout32Padded, "armv7l"
			s.notes = nil
		}
		if i == 3 {
			s.wordSize, s.machine = 4, "ARM"
		}
		out = append(out, buildKdump(tb, s))
	}
	return out
}

func fuzzSeedsFlat(tb testing.TB) [][]byte {
	rng := rand.New(rand.NewSource(1))
	k := fuzzSeedsKdump(tb)
	return [][]byte{
		flatRecords(0, []byte("abc"), 2, []byte("XY"), -1, -1),
		flatten(k[1], 300, true, false, rng),
		flatten(k[0], 1000, false, false, nil)[:3000],
	}
}

func FuzzNotes(f *testing.F) {
	for _, s := range fuzzSeedsNotes() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			notes, err := parseNotes(b, 10, bo)
			var ne *noteError
			if err != nil && !errors.As(err, &ne) {
				t.Fatalf("error type %T", err)
			}
			for _, n := range notes {
				if n.Offset < 10 || n.Offset >= 10+int64(len(b)) || len(n.Desc) > len(b) {
					t.Fatalf("bad note %+v", n)
				}
			}
			cpuStates(notes, ArchUnknown, bo)
			cpuStates(notes, ArchARM, bo)
			archFromPrstatus(notes)
			if vi := vmcoreinfoFromNotes(notes); vi != nil {
				ParseVMCoreInfo(vi)
			}
		}
	})
}

func FuzzELF(f *testing.F) {
	for _, s := range fuzzSeedsELF(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseELF(bytesStore(b), "fuzz")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FormatError: %v", err)
			}
			return
		}
		rs := e.mem.ranges()
		for i := 1; i < len(rs); i++ {
			if rs[i].Start <= rs[i-1].End() {
				t.Fatalf("ranges not sorted/merged: %x", rs)
			}
		}
		buf := make([]byte, 100)
		for _, r := range rs {
			for _, a := range []uint64{r.Start, r.End() - 1, r.Start + r.Size/2} {
				if err := e.mem.readPhys(buf, a); err != nil {
					var re *ReadError
					if !errors.As(err, &re) {
						t.Fatalf("not a ReadError: %v", err)
					}
				}
			}
		}
		cpuStates(e.notes, archFromMachine(e.hdr.machine), e.hdr.bo)
		if isKcore(e.notes) {
			liveMem{seg: e.mem, mu: new(sync.Mutex)}.readPhys(buf, 0)
		}
	})
}

func FuzzKdump(f *testing.F) {
	for _, s := range fuzzSeedsKdump(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkKdumpFuzz(t, bytesStore(b))
	})
}

func checkKdumpFuzz(t *testing.T, s store) {
	k, err := parseKdump(s, "fuzz", 1<<16)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("not a FormatError: %v", err)
		}
		return
	}
	defer k.mem.dec.Close()
	k.hdr.info()
	bs := k.mem.blockSize
	buf := make([]byte, bs+10)
	try := func(addr uint64) {
		if err := k.mem.readPhys(buf, addr); err != nil {
			var re *ReadError
			if !errors.As(err, &re) {
				t.Fatalf("not a ReadError: %v", err)
			}
			if !errors.Is(err, ErrNotInDump) && !errors.Is(err, ErrExcluded) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error: %v", err)
			}
		}
	}
	for i, r := range k.mem.ranges() {
		if i > 16 {
			break
		}
		try(r.Start)
		try(r.End() - 1)
	}
	for pfn := uint64(0); pfn < 16; pfn++ {
		try(pfn * bs)
	}
	try(^uint64(0) - 5)
}

func FuzzFlattened(f *testing.F) {
	for _, s := range fuzzSeedsFlat(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := parseFlattened(bytesStore(b), "fuzz")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FormatError: %v", err)
			}
			return
		}
		for i := 1; i < len(fs.exts); i++ {
			if fs.exts[i].start < fs.exts[i-1].end {
				t.Fatal("extents overlap")
			}
		}
		buf := make([]byte, 300)
		for _, off := range []int64{0, 1, fs.Size() / 2, fs.Size() - 1, fs.Size(), fs.Size() + 5} {
			n, err := fs.ReadAt(buf, off)
			if n < 0 || n > len(buf) || (n < len(buf) && err == nil) {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
			fs.missing(off, len(buf))
			fs.slice(off, len(buf))
		}
		if sniffStore(fs) == kindKdump {
			checkKdumpFuzz(t, fs)
		}
	})
}

// FuzzLZO cross-checks lzo1xDecompress against an independent decoder.
func FuzzLZO(f *testing.F) {
	raws, _ := filepath.Glob("testdata/lzo/*.lzo")
	for _, r := range raws {
		if c, err := os.ReadFile(r); err == nil && len(c) < 2000 {
			f.Add(c, uint16(4096))
		}
	}
	f.Add([]byte{18, 'q', 0x20, 4, 0, 0, 0x11, 0, 0}, uint16(64))
	f.Fuzz(func(t *testing.T, src []byte, n uint16) {
		checkLZODiff(t, src, int(n))
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/*/seed-* from the builders.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("KINSPECT_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set KINSPECT_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpora")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzNotes":     fuzzSeedsNotes(),
		"FuzzELF":       fuzzSeedsELF(t),
		"FuzzKdump":     fuzzSeedsKdump(t),
		"FuzzFlattened": fuzzSeedsFlat(t),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
