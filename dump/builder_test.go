package dump

// Builders of synthetic dump files for the tests: ELF vmcores,
// kdump-compressed files and their flattened form, written from the format
// descriptions (not by any dump tool).

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

func put16(bo binary.ByteOrder, b []byte, off int, v uint16) { bo.PutUint16(b[off:], v) }
func put32(bo binary.ByteOrder, b []byte, off int, v uint32) { bo.PutUint32(b[off:], v) }
func put64(bo binary.ByteOrder, b []byte, off int, v uint64) { bo.PutUint64(b[off:], v) }

// buildNote encodes one ELF note with 4-byte alignment.
func buildNote(bo binary.ByteOrder, name string, typ uint32, desc []byte) []byte {
	nb := append([]byte(name), 0)
	b := make([]byte, 12+align4(uint64(len(nb)))+align4(uint64(len(desc))))
	put32(bo, b, 0, uint32(len(nb)))
	put32(bo, b, 4, uint32(len(desc)))
	put32(bo, b, 8, typ)
	copy(b[12:], nb)
	copy(b[12+align4(uint64(len(nb))):], desc)
	return b
}

// makePrstatus builds an elf_prstatus for arch with pr_pid and pr_reg set.
func makePrstatus(arch Arch, bo binary.ByteOrder, pid int, regs []uint64) []byte {
	l := &arch.Spec().prstatus
	b := make([]byte, l.size)
	put32(bo, b, l.pidOff, uint32(pid))
	for i := 0; i < l.nregs && i < len(regs); i++ {
		if l.regSize == 8 {
			put64(bo, b, l.regOff+8*i, regs[i])
		} else {
			put32(bo, b, l.regOff+4*i, uint32(regs[i]))
		}
	}
	return b
}

type elfLoadSpec struct {
	paddr, vaddr uint64
	data         []byte
	memsz        uint64 // 0: len(data)
	notStored    bool   // QEMU's p_offset = -1, p_filesz = 0
}

type elfSpec struct {
	class     int
	bo        binary.ByteOrder
	machine   uint16
	typ       uint16 // 0: ET_CORE
	loads     []elfLoadSpec
	notes     []byte
	pnxnum    bool   // e_phnum = PN_XNUM, count in section 0's sh_info
	phentsize uint16 // 0: the standard size
	phoffGap  int    // bytes between the ELF header and the program headers
}

// buildELF lays out: ehdr, gap, phdrs (PT_NOTE, then PT_LOADs), section
// header 0 (if pnxnum), notes, segment data.
func buildELF(s elfSpec) []byte {
	bo := s.bo
	if bo == nil {
		bo = binary.LittleEndian
	}
	ehsize, phsize, shsize := elf64EhdrSize, elf64PhdrSize, elf64ShdrSize
	if s.class == 32 {
		ehsize, phsize, shsize = elf32EhdrSize, elf32PhdrSize, elf32ShdrSize
	}
	nph := len(s.loads)
	if s.notes != nil {
		nph++
	}
	phoff := ehsize + s.phoffGap
	shoff := phoff + nph*phsize
	notesOff := shoff
	if s.pnxnum {
		notesOff += shsize
	}
	dataOff := notesOff + len(s.notes)
	size := dataOff
	for _, l := range s.loads {
		size += len(l.data)
	}
	b := make([]byte, size)
	copy(b, elfMagic)
	b[4] = 2
	if s.class == 32 {
		b[4] = 1
	}
	b[5] = 1
	if bo == binary.BigEndian {
		b[5] = 2
	}
	b[6] = 1
	typ := s.typ
	if typ == 0 {
		typ = etCore
	}
	put16(bo, b, 16, typ)
	put16(bo, b, 18, s.machine)
	put32(bo, b, 20, 1)
	phent := uint16(phsize)
	if s.phentsize != 0 {
		phent = s.phentsize
	}
	phnum := uint16(nph)
	if s.pnxnum {
		phnum = pnXNum
	}
	if s.class == 32 {
		put32(bo, b, 28, uint32(phoff))
		if s.pnxnum {
			put32(bo, b, 32, uint32(shoff))
			put16(bo, b, 46, uint16(shsize))
			put16(bo, b, 48, 1)
			put32(bo, b, shoff+28, uint32(nph))
		}
		put16(bo, b, 40, uint16(ehsize))
		put16(bo, b, 42, phent)
		put16(bo, b, 44, phnum)
	} else {
		put64(bo, b, 32, uint64(phoff))
		if s.pnxnum {
			put64(bo, b, 40, uint64(shoff))
			put16(bo, b, 58, uint16(shsize))
			put16(bo, b, 60, 1)
			put32(bo, b, shoff+44, uint32(nph))
		}
		put16(bo, b, 52, uint16(ehsize))
		put16(bo, b, 54, phent)
		put16(bo, b, 56, phnum)
	}
	ph := phoff
	writePh := func(typ uint32, off, vaddr, paddr, filesz, memsz uint64) {
		if s.class == 32 {
			put32(bo, b, ph, typ)
			put32(bo, b, ph+4, uint32(off))
			put32(bo, b, ph+8, uint32(vaddr))
			put32(bo, b, ph+12, uint32(paddr))
			put32(bo, b, ph+16, uint32(filesz))
			put32(bo, b, ph+20, uint32(memsz))
		} else {
			put32(bo, b, ph, typ)
			put64(bo, b, ph+8, off)
			put64(bo, b, ph+16, vaddr)
			put64(bo, b, ph+24, paddr)
			put64(bo, b, ph+32, filesz)
			put64(bo, b, ph+40, memsz)
		}
		ph += phsize
	}
	if s.notes != nil {
		writePh(ptNote, uint64(notesOff), 0, 0, uint64(len(s.notes)), uint64(len(s.notes)))
		copy(b[notesOff:], s.notes)
	}
	off := dataOff
	for _, l := range s.loads {
		memsz := l.memsz
		if memsz == 0 {
			memsz = uint64(len(l.data))
		}
		if l.notStored {
			writePh(ptLoad, ^uint64(0), l.vaddr, l.paddr, 0, memsz)
			continue
		}
		writePh(ptLoad, uint64(off), l.vaddr, l.paddr, uint64(len(l.data)), memsz)
		copy(b[off:], l.data)
		off += len(l.data)
	}
	return b
}

// lzoLiteral encodes data as a valid LZO1X stream made of one literal run.
func lzoLiteral(data []byte) []byte {
	var out []byte
	l := len(data)
	switch {
	case l >= 4 && l <= 238:
		out = append(out, byte(17+l))
	case l > 238:
		rest := l - 18
		count, nz := rest/255, rest%255
		if nz == 0 {
			count, nz = count-1, 255
		}
		out = append(out, 0)
		out = append(out, make([]byte, count)...)
		out = append(out, byte(nz))
	default:
		panic("lzoLiteral: too short")
	}
	out = append(out, data...)
	return append(out, 0x11, 0, 0)
}

var (
	lzoOnce sync.Once
	lzoVecs map[string][]byte
)

// lzoVectors maps the raw content of each testdata/lzo vector to its
// LZO1X-1 compressed form.
func lzoVectors(tb testing.TB) map[string][]byte {
	lzoOnce.Do(func() {
		lzoVecs = map[string][]byte{}
		raws, _ := filepath.Glob("testdata/lzo/*.raw")
		for _, r := range raws {
			raw, err1 := os.ReadFile(r)
			c, err2 := os.ReadFile(strings.TrimSuffix(r, ".raw") + ".lzo")
			if err1 == nil && err2 == nil {
				lzoVecs[string(raw)] = c
			}
		}
	})
	if len(lzoVecs) == 0 {
		tb.Fatal("no LZO vectors in testdata/lzo")
	}
	return lzoVecs
}

// compressPage compresses a page as makedumpfile would, returning the
// flags to store (0 when compression did not pay).
func compressPage(tb testing.TB, codec uint32, page []byte) ([]byte, uint32) {
	var c []byte
	switch codec {
	case 0:
		return page, 0
	case dumpCompressedZlib:
		var buf bytes.Buffer
		w, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
		w.Write(page)
		w.Close()
		c = buf.Bytes()
	case dumpCompressedLZO:
		// No LZO compressor here: use a stored vector (made with liblzo2's
		// LZO1X-1) when the page is one, else a literal-only stream.
		var ok bool
		if c, ok = lzoVectors(tb)[string(page)]; !ok {
			c = lzoLiteral(page)
		}
	case dumpCompressedSnappy:
		c = snappy.Encode(nil, page)
	case dumpCompressedZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			tb.Fatal(err)
		}
		c = enc.EncodeAll(page, nil)
		enc.Close()
	default:
		tb.Fatalf("bad codec %#x", codec)
	}
	if len(c) >= len(page) {
		return page, 0
	}
	return c, codec
}

type kdumpSpec struct {
	bo        binary.ByteOrder
	wordSize  int        // 8 or 4
	layout    *subLayout // for wordSize 4: packed or padded
	version   int32
	blockSize uint32
	machine   string
	maxMapnr  uint64
	pages     map[uint64][]byte // dumped pages
	excluded  []uint64          // in memory, not dumped
	codec     uint32
	notes     []byte
	vmci      string
	shareZero bool // zero pages share one uncompressed data block (QEMU)
	status    uint32
	dumpLevel int32
	nrCPUs    int32
	forceData map[uint64][]byte // pfn -> raw stored bytes with codec flags (corrupt data tests)
	zeroDesc  map[uint64]bool   // pfn whose descriptor is left all-zero (incomplete dump)
	timestamp int64
	time64    bool   // 32-bit machine with a 64-bit time_t: 64-bit header layout
	physBase  uint64 // sub-header phys_base (default 0x1000)
}

// buildKdump writes a kdump-compressed file.
func buildKdump(tb testing.TB, s kdumpSpec) []byte {
	bo := s.bo
	if bo == nil {
		bo = binary.LittleEndian
	}
	ws := s.wordSize
	if ws == 0 {
		ws = 8
	}
	l := s.layout
	if l == nil {
		l = &subLayout64
		if ws == 4 {
			l = &subLayout32Packed
		}
	}
	bs := uint64(s.blockSize)
	ver := s.version
	if ver == 0 {
		ver = 6
	}
	// Sub-header blocks: struct, then VMCOREINFO, then notes.
	sub := make([]byte, l.total)
	vmciOff := bs + uint64(l.total)
	notesOff := vmciOff + uint64(len(s.vmci))
	subLen := uint64(l.total) + uint64(len(s.vmci)) + uint64(len(s.notes))
	subBlocks := (subLen + bs - 1) / bs
	putLong := func(off int, v uint64) {
		if l.long == 8 {
			put64(bo, sub, off, v)
		} else {
			put32(bo, sub, off, uint32(v))
		}
	}
	physBase := s.physBase
	if physBase == 0 {
		physBase = 0x1000
	}
	putLong(l.physBase, physBase)
	put32(bo, sub, l.dumpLevel, uint32(s.dumpLevel))
	if s.vmci != "" {
		put64(bo, sub, l.offVMCI, vmciOff)
		putLong(l.sizeVMCI, uint64(len(s.vmci)))
	}
	if s.notes != nil {
		put64(bo, sub, l.offNote, notesOff)
		putLong(l.sizeNote, uint64(len(s.notes)))
	}
	put64(bo, sub, l.endPfn64, s.maxMapnr)
	put64(bo, sub, l.maxMapnr64, s.maxMapnr)
	putLong(l.endPfn, s.maxMapnr)

	one := ((s.maxMapnr+7)/8 + bs - 1) / bs * bs
	bmOff := (1 + subBlocks) * bs
	bm := make([]byte, 2*one)
	set := func(half int, pfn uint64) { bm[uint64(half)*one+pfn/8] |= 1 << (pfn % 8) }
	var dumped []uint64
	for pfn := range s.pages {
		dumped = append(dumped, pfn)
	}
	sort.Slice(dumped, func(i, j int) bool { return dumped[i] < dumped[j] })
	for _, pfn := range dumped {
		set(0, pfn)
		set(1, pfn)
	}
	for _, pfn := range s.excluded {
		set(0, pfn)
	}
	descOff := bmOff + 2*one
	dataOff := descOff + uint64(len(dumped))*pageDescSize
	descs := make([]byte, len(dumped)*pageDescSize)
	var data []byte
	zeroAt := int64(-1)
	for i, pfn := range dumped {
		page := s.pages[pfn]
		var stored []byte
		var flags uint32
		off := int64(dataOff) + int64(len(data))
		if raw, ok := s.forceData[pfn]; ok {
			stored, flags = raw, s.codec
		} else if s.shareZero && allZero(page) {
			if zeroAt < 0 {
				zeroAt = off
				data = append(data, page...)
			}
			off, stored, flags = zeroAt, nil, 0
			d := descs[i*pageDescSize:]
			put64(bo, d, 0, uint64(off))
			put32(bo, d, 8, uint32(bs))
			continue
		} else {
			stored, flags = compressPage(tb, s.codec, page)
		}
		if s.zeroDesc[pfn] {
			data = append(data, stored...)
			continue
		}
		d := descs[i*pageDescSize:]
		put64(bo, d, 0, uint64(off))
		put32(bo, d, 8, uint32(len(stored)))
		put32(bo, d, 12, flags)
		data = append(data, stored...)
	}

	hsize := 464
	c := 424
	if ws == 4 && !s.time64 {
		hsize, c = 452, 412
	}
	out := make([]byte, int(bmOff)+len(bm)+len(descs)+len(data))
	_ = hsize
	copy(out, kdumpSignature)
	put32(bo, out, 8, uint32(ver))
	copy(out[12+65*0:], "Linux")
	copy(out[12+65*1:], "testhost")
	copy(out[12+65*2:], "6.1.0-test")
	copy(out[12+65*4:], s.machine)
	if c == 424 {
		put64(bo, out, 408, uint64(s.timestamp))
	} else {
		put32(bo, out, 404, uint32(s.timestamp))
	}
	status := s.status | s.codec
	put32(bo, out, c, status)
	put32(bo, out, c+4, uint32(bs))
	put32(bo, out, c+8, uint32(subBlocks))
	put32(bo, out, c+12, uint32(2*one/bs))
	put32(bo, out, c+16, uint32(min(s.maxMapnr, 0xffffffff)))
	put32(bo, out, c+36, uint32(s.nrCPUs))
	copy(out[bs:], sub)
	copy(out[vmciOff:], s.vmci)
	copy(out[notesOff:], s.notes)
	copy(out[bmOff:], bm)
	copy(out[descOff:], descs)
	copy(out[dataOff:], data)
	return out
}

type flatChunk struct {
	off  int64
	data []byte
}

// flatten writes content as a flattened stream: records of at most chunk
// bytes (random sizes when chunk < 0), shuffled if shuffle, optionally
// preceded by garbage records later overridden, ending with the end
// marker unless cut.
func flatten(content []byte, chunk int, shuffle, overrides bool, rng *rand.Rand) []byte {
	var recs []flatChunk
	for off := 0; off < len(content); {
		n := chunk
		if chunk <= 0 {
			n = 1 + rng.Intn(5000)
		}
		n = min(n, len(content)-off)
		recs = append(recs, flatChunk{int64(off), content[off : off+n]})
		off += n
	}
	if shuffle {
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	}
	if overrides {
		// Garbage first: the real records written later must win.
		var garbage []flatChunk
		for i := 0; i < 20; i++ {
			off := rng.Int63n(int64(len(content)))
			n := min(int64(1+rng.Intn(3000)), int64(len(content))-off)
			g := make([]byte, n)
			rng.Read(g)
			garbage = append(garbage, flatChunk{off, g})
		}
		recs = append(garbage, recs...)
	}
	out := make([]byte, flatHeaderSize)
	copy(out, flatSignature)
	binary.BigEndian.PutUint64(out[16:], flatTypeHeader)
	binary.BigEndian.PutUint64(out[24:], 1)
	var h [16]byte
	for _, r := range recs {
		binary.BigEndian.PutUint64(h[0:], uint64(r.off))
		binary.BigEndian.PutUint64(h[8:], uint64(len(r.data)))
		out = append(out, h[:]...)
		out = append(out, r.data...)
	}
	binary.BigEndian.PutUint64(h[0:], ^uint64(0))
	binary.BigEndian.PutUint64(h[8:], ^uint64(0))
	return append(out, h[:]...)
}

// writeTemp writes b to a file in a test temp dir.
func writeTemp(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// testPage returns a deterministic, partly compressible page for pfn.
func testPage(pfn uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewSource(int64(pfn)*7919 + 1))
	for i := 0; i < size; i += 8 {
		var v uint64
		switch (i / 8) % 4 {
		case 0:
			v = 0xffff800000000000 | pfn<<12 | uint64(i)
		case 1:
			v = r.Uint64()
		default:
			v = uint64(i)
		}
		binary.LittleEndian.PutUint64(b[i:], v)
	}
	return b
}
