package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"
)

// The kdump-compressed format (makedumpfile's "diskdump" successor), as
// written by makedumpfile -c/-l/-p/-z and by QEMU's dump-guest-memory
// -z/-l/-s:
//
//	block 0                      disk_dump_header
//	block 1 .. sub_hdr_size      kdump_sub_header, then VMCOREINFO and notes
//	next bitmap_blocks blocks    1st bitmap (pages in memory), 2nd (pages dumped)
//	then                         page_desc[one per set bit of the 2nd bitmap]
//	then                         page data
//
// All integers are in the dumped machine's byte order and word size.

var kdumpSignature = []byte("KDUMP   ")

const (
	pageDescSize = 24 // off_t offset; u32 size; u32 flags; u64 page_flags

	maxBlockSize = 1 << 24
	minBlockSize = 512
)

// HeaderInfo is what the kdump-compressed header says. Valid is false for
// dumps without one (ELF, raw).
type HeaderInfo struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string    // utsname (QEMU fills only Machine)
	Timestamp                                                time.Time // zero if the header has none
	NrCPUs                                                   int
	Status                                                   uint32 // DUMP_DH_* flags
	HeaderVersion                                            int
	BlockSize                                                int
	DumpLevel                                                int // makedumpfile -d
	Valid                                                    bool

	// Details beyond the common ones.
	MaxMapnr   uint64 // number of pfns the bitmaps cover
	PhysBase   uint64 // sub-header phys_base
	Split      bool   // one part of a makedumpfile --split dump
	StartPFN   uint64 // first pfn of a split part
	EndPFN     uint64 // end pfn of a split part
	SubLayout  string // "64-bit", "32-bit packed" (QEMU, i386), "32-bit padded" (ARM makedumpfile)
	Incomplete bool   // status has DUMP_DH_COMPRESSED_INCOMPLETE: the dump was cut short when written
	// PFNOffset is the physical page number of the bitmaps' bit 0: 0,
	// except for makedumpfile's 32-bit ARM dumps (phys_base >> shift).
	PFNOffset uint64
}

// kdumpHeader is the parsed disk_dump_header and kdump_sub_header.
type kdumpHeader struct {
	bo       binary.ByteOrder
	wordSize int

	version                               int32
	uts                                   [6]string
	tvSec, tvUsec                         int64
	status                                uint32
	blockSize, subHdrSize, bitmapBlocks   uint32
	maxMapnr32                            uint32
	totalRAMBlocks, deviceBlocks, written uint32
	currentCPU                            uint32
	nrCPUs                                int32

	physBase                      uint64
	dumpLevel, split              int32
	startPfn, endPfn              uint64
	offVMCoreInfo, sizeVMCoreInfo uint64
	offNote, sizeNote             uint64
	offErase, sizeErase           uint64
	startPfn64, endPfn64          uint64
	maxMapnr64                    uint64
	subLayout                     string
}

// subLayout gives the offsets of the kdump_sub_header fields; a negative
// offset means the field is 4 bytes (unsigned long on a 32-bit machine).
type subLayout struct {
	name                                    string
	physBase, dumpLevel, split              int
	startPfn, endPfn                        int
	offVMCI, sizeVMCI, offNote, sizeNote    int
	offErase, sizeErase                     int
	startPfn64, endPfn64, maxMapnr64, total int
	long                                    int // size of unsigned long
}

var (
	subLayout64 = subLayout{name: "64-bit", physBase: 0, dumpLevel: 8, split: 12, startPfn: 16, endPfn: 24,
		offVMCI: 32, sizeVMCI: 40, offNote: 48, sizeNote: 56, offErase: 64, sizeErase: 72,
		startPfn64: 80, endPfn64: 88, maxMapnr64: 96, total: 104, long: 8}
	// QEMU's KdumpSubHeader32 is packed; so is i386 makedumpfile's.
	subLayout32Packed = subLayout{name: "32-bit packed", physBase: 0, dumpLevel: 4, split: 8, startPfn: 12, endPfn: 16,
		offVMCI: 20, sizeVMCI: 28, offNote: 32, sizeNote: 40, offErase: 44, sizeErase: 52,
		startPfn64: 56, endPfn64: 64, maxMapnr64: 72, total: 80, long: 4}
	// ARM EABI aligns the 64-bit off_t and long long fields to 8 bytes.
	subLayout32Padded = subLayout{name: "32-bit padded", physBase: 0, dumpLevel: 4, split: 8, startPfn: 12, endPfn: 16,
		offVMCI: 24, sizeVMCI: 32, offNote: 40, sizeNote: 48, offErase: 56, sizeErase: 64,
		startPfn64: 72, endPfn64: 80, maxMapnr64: 88, total: 96, long: 4}
)

// subBytes is how many bytes of the sub-header header version v uses.
func (l *subLayout) subBytes(v int32) int {
	switch {
	case v <= 1:
		return l.split
	case v == 2:
		return l.endPfn + l.long
	case v == 3:
		return l.sizeVMCI + l.long
	case v == 4:
		return l.sizeNote + l.long
	case v == 5:
		return l.sizeErase + l.long
	}
	return l.total
}

// machineWordSize gives the word size of a utsname machine, 0 if unknown.
func machineWordSize(m string) int {
	m = strings.ToLower(m)
	switch {
	case m == "x86_64", m == "aarch64", m == "arm64", m == "s390x", m == "ia64",
		strings.HasPrefix(m, "ppc64"), m == "riscv64", m == "mips64", m == "loongarch64", m == "sparc64":
		return 8
	case strings.HasPrefix(m, "arm"), m == "i386", m == "i486", m == "i586", m == "i686", m == "x86",
		m == "ppc", m == "mips", m == "riscv32":
		return 4
	}
	return 0
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func validBlockSize(bs uint32) bool {
	return bs >= minBlockSize && bs <= maxBlockSize && bs&(bs-1) == 0
}

// parseKdumpHeader reads the disk_dump_header and kdump_sub_header of s.
func parseKdumpHeader(s store, name string) (*kdumpHeader, error) {
	ferr := formatErrors(name)
	const maxHdr = 464
	var b [maxHdr]byte
	n, err := s.ReadAt(b[:], 0)
	if n < 12 {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: file has %d bytes", ErrTruncated, s.Size())
		}
		return nil, ferr(0, "kdump header", err)
	}
	if !bytes.Equal(b[:8], kdumpSignature) {
		return nil, ferr(0, "kdump header", errors.New("bad signature"))
	}
	h := &kdumpHeader{}
	// Byte order: the one that makes header_version small.
	le, be := binary.LittleEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[8:])
	switch {
	case le >= 1 && le <= 64:
		h.bo = binary.LittleEndian
	case be >= 1 && be <= 64:
		h.bo = binary.BigEndian
	default:
		return nil, ferr(8, "kdump header", fmt.Errorf("%w: unsupported header_version %d", ErrCorrupt, le))
	}
	bo := h.bo
	h.version = int32(bo.Uint32(b[8:]))
	for i := range h.uts {
		h.uts[i] = cstring(b[12+65*i : 12+65*(i+1)])
	}
	// The header's layout after utsname depends on struct timeval: 8-byte
	// fields on 64-bit machines (and 32-bit ones with a 64-bit time_t),
	// 4-byte ones otherwise. The machine name gives the word size when
	// known (QEMU writes "Unknown" for 32-bit ARM); the field values
	// decide.
	ws := machineWordSize(h.uts[4])
	if n < 452 || (n < 464 && ws == 8) {
		return nil, ferr(0, "kdump header", fmt.Errorf("%w: header cut at %d bytes", ErrTruncated, n))
	}
	c, best := 424, math.MinInt
	for _, cand := range []int{424, 412} {
		sc := headerScore(b[:n], cand, bo, s.Size())
		if (cand == 424) == (ws == 8) && ws != 0 {
			sc++
		}
		if sc > best {
			c, best = cand, sc
		}
	}
	if n < c+40 {
		return nil, ferr(0, "kdump header", fmt.Errorf("%w: header needs %d bytes, file has %d", ErrTruncated, c+40, s.Size()))
	}
	if ws == 0 {
		ws = 4
		if c == 424 {
			ws = 8
		}
	}
	h.wordSize = ws
	h.readFields(b[:], c)
	if !validBlockSize(h.blockSize) {
		return nil, ferr(int64(c+4), "kdump header", fmt.Errorf("%w: bad block_size %d", ErrCorrupt, h.blockSize))
	}
	return h.pickSubHeader(s, name)
}

// readFields decodes disk_dump_header's timestamp and the fields from
// status (at c: 424 with 8-byte timeval fields, 412 with 4-byte ones).
func (h *kdumpHeader) readFields(b []byte, c int) {
	bo := h.bo
	if c == 424 {
		h.tvSec, h.tvUsec = int64(bo.Uint64(b[408:])), int64(bo.Uint64(b[416:]))
	} else {
		h.tvSec, h.tvUsec = int64(int32(bo.Uint32(b[404:]))), int64(int32(bo.Uint32(b[408:])))
	}
	h.status = bo.Uint32(b[c:])
	h.blockSize = bo.Uint32(b[c+4:])
	h.subHdrSize = bo.Uint32(b[c+8:])
	h.bitmapBlocks = bo.Uint32(b[c+12:])
	h.maxMapnr32 = bo.Uint32(b[c+16:])
	h.totalRAMBlocks = bo.Uint32(b[c+20:])
	h.deviceBlocks = bo.Uint32(b[c+24:])
	h.written = bo.Uint32(b[c+28:])
	h.currentCPU = bo.Uint32(b[c+32:])
	h.nrCPUs = int32(bo.Uint32(b[c+36:]))
}

// pickSubHeader reads kdump_sub_header (at block 1) in each layout
// makedumpfile and QEMU have written and keeps the most plausible, the
// header's word size breaking ties.
func (h *kdumpHeader) pickSubHeader(s store, name string) (*kdumpHeader, error) {
	subOff := int64(h.blockSize)
	var pick *kdumpHeader
	var readErr error
	bestScore := math.MinInt
	for _, l := range []*subLayout{&subLayout64, &subLayout32Packed, &subLayout32Padded} {
		need := l.subBytes(h.version)
		sb := make([]byte, need)
		if err := readFull(s, sb, subOff); err != nil {
			readErr = &FormatError{File: name, Offset: subOff, What: "kdump sub-header", Err: truncErr(err, uint64(need), s.Size())}
			continue
		}
		cand := *h
		cand.readSub(sb, l)
		sc := cand.score(s.Size())
		if l.long == h.wordSize {
			sc += 2
		}
		if sc > bestScore {
			c2 := cand
			pick, bestScore = &c2, sc
		}
	}
	if pick == nil {
		return nil, readErr
	}
	pick.wordSize = 8
	if pick.subLayout != subLayout64.name {
		pick.wordSize = 4
	}
	return pick, nil
}

// headerScore rates the disk_dump_header fields that start at c (status)
// for plausibility, to tell the 32-bit layout from the 64-bit one.
func headerScore(b []byte, c int, bo binary.ByteOrder, size int64) int {
	if len(b) < c+40 {
		return math.MinInt + 1
	}
	status, bs := bo.Uint32(b[c:]), bo.Uint32(b[c+4:])
	sub, bm := uint64(bo.Uint32(b[c+8:])), uint64(bo.Uint32(b[c+12:]))
	maxMapnr, nrCPUs := uint64(bo.Uint32(b[c+16:])), int32(bo.Uint32(b[c+36:]))
	sc := 0
	if !validBlockSize(bs) {
		return -100
	}
	if status&^0x3f == 0 {
		sc++
	}
	if end := (1 + sub + bm) * uint64(bs); end <= uint64(size) {
		sc += 2
	}
	if bm > 0 && bm*uint64(bs)*8 >= maxMapnr { // bitmaps cover max_mapnr
		sc++
	}
	if nrCPUs > 0 && nrCPUs <= 1<<16 {
		sc++
	}
	return sc
}

// readSub decodes the sub-header fields present in sb with layout l.
func (h *kdumpHeader) readSub(sb []byte, l *subLayout) {
	bo := h.bo
	long := func(off int) uint64 {
		if off+l.long > len(sb) {
			return 0
		}
		if l.long == 8 {
			return bo.Uint64(sb[off:])
		}
		return uint64(bo.Uint32(sb[off:]))
	}
	u64 := func(off int) uint64 {
		if off+8 > len(sb) {
			return 0
		}
		return bo.Uint64(sb[off:])
	}
	i32 := func(off int) int32 {
		if off+4 > len(sb) {
			return 0
		}
		return int32(bo.Uint32(sb[off:]))
	}
	h.subLayout = l.name
	h.physBase = long(l.physBase)
	h.dumpLevel = i32(l.dumpLevel)
	h.split = i32(l.split)
	h.startPfn = long(l.startPfn)
	h.endPfn = long(l.endPfn)
	h.offVMCoreInfo = u64(l.offVMCI)
	h.sizeVMCoreInfo = long(l.sizeVMCI)
	h.offNote = u64(l.offNote)
	h.sizeNote = long(l.sizeNote)
	h.offErase = u64(l.offErase)
	h.sizeErase = long(l.sizeErase)
	h.startPfn64 = u64(l.startPfn64)
	h.endPfn64 = u64(l.endPfn64)
	h.maxMapnr64 = u64(l.maxMapnr64)
}

// score rates how consistent the sub-header looks: VMCOREINFO and notes
// inside the sub-header blocks (where makedumpfile and QEMU put them), areas
// inside the file, 64-bit pfn fields agreeing with the 32-bit ones.
func (h *kdumpHeader) score(size int64) int {
	sc := 0
	subStart := uint64(h.blockSize)
	subEnd := (1 + uint64(h.subHdrSize)) * uint64(h.blockSize)
	area := func(off, n uint64, inSub bool) {
		switch {
		case off == 0 && n == 0:
		case off == 0 || n == 0:
			sc -= 5
		case off > math.MaxInt64 || !within(int64(off), n, size):
			sc -= 10
		case inSub && off >= subStart && n <= subEnd-subStart && off-subStart <= subEnd-subStart-n:
			sc += 3
		default:
			sc++
		}
	}
	if h.version >= 3 {
		area(h.offVMCoreInfo, h.sizeVMCoreInfo, true)
	}
	if h.version >= 4 {
		area(h.offNote, h.sizeNote, true)
	}
	if h.version >= 5 {
		area(h.offErase, h.sizeErase, false)
	}
	if h.version >= 6 {
		switch {
		case h.maxMapnr32 < math.MaxUint32 && h.maxMapnr64 == uint64(h.maxMapnr32):
			sc += 3
		case h.maxMapnr32 == math.MaxUint32 && h.maxMapnr64 >= math.MaxUint32:
			sc++
		default:
			sc -= 5
		}
		if h.startPfn64 <= h.endPfn64 && h.endPfn64 <= max(h.maxMapnr64, uint64(h.maxMapnr32)) {
			sc++
		} else {
			sc -= 2
		}
	}
	return sc
}

func (h *kdumpHeader) maxMapnr() uint64 {
	if h.version >= 6 && h.maxMapnr64 != 0 {
		return h.maxMapnr64
	}
	return uint64(h.maxMapnr32)
}

func (h *kdumpHeader) info() HeaderInfo {
	hi := HeaderInfo{
		Sysname: h.uts[0], Nodename: h.uts[1], Release: h.uts[2], Version: h.uts[3], Machine: h.uts[4], Domainname: h.uts[5],
		NrCPUs: int(h.nrCPUs), Status: h.status, HeaderVersion: int(h.version), BlockSize: int(h.blockSize),
		DumpLevel: int(h.dumpLevel), Valid: true,
		MaxMapnr: h.maxMapnr(), PhysBase: h.physBase, Split: h.version >= 2 && h.split != 0,
		SubLayout: h.subLayout, Incomplete: h.status&dumpCompressedIncomplete != 0,
	}
	if h.tvSec != 0 || h.tvUsec != 0 {
		hi.Timestamp = time.Unix(h.tvSec, h.tvUsec*1000).UTC()
	}
	if hi.Split {
		hi.StartPFN, hi.EndPFN = h.startPfn, h.endPfn
		if h.version >= 6 {
			hi.StartPFN, hi.EndPFN = h.startPfn64, h.endPfn64
		}
	}
	return hi
}

// kdumpMem reads physical memory from a kdump-compressed file.
type kdumpMem struct {
	st        store
	blockSize uint64
	shift     uint
	maxMapnr  uint64 // pfns covered by both bitmaps
	pfnBase   uint64 // physical pfn of bitmap bit 0 (makedumpfile ARM: phys_base's)
	bitmap1   []byte // pages in memory
	bitmap2   []byte // pages dumped
	rank      []uint64
	ndesc     uint64 // set bits in bitmap2
	descOff   int64
	bo        binary.ByteOrder
	dec       *decoder
	cache     *pageCache
	srcBufs   sync.Pool // *[]byte of blockSize: compressed page data (readUnmapped)
}

// kdumpDump is what a kdump-compressed file yields.
type kdumpDump struct {
	arch       Arch
	hdr        *kdumpHeader
	mem        *kdumpMem
	notes      []Note
	vmcoreinfo []byte
}

// parseKdump parses the kdump-compressed file held in s.
func parseKdump(s store, name string, cacheBytes int) (*kdumpDump, error) {
	h, err := parseKdumpHeader(s, name)
	if err != nil {
		return nil, err
	}
	ferr := formatErrors(name)
	d := &kdumpDump{hdr: h}
	if err := d.readNotes(s, ferr); err != nil {
		return nil, err
	}
	m, err := readKdumpBitmaps(s, h, ferr, cacheBytes)
	if err != nil {
		return nil, err
	}
	d.mem = m
	d.arch = archFromUname(h.uts[4])
	if d.arch == ArchUnknown {
		d.arch = archFromPrstatus(d.notes)
	}
	// makedumpfile on 32-bit ARM numbers pfns from phys_base (its
	// ARCH_PFN_OFFSET); QEMU numbers them from 0 and still writes
	// phys_base. Plain numbering would put memory below phys_base, where
	// ARM has none: a set bit there means the pfns are relative.
	if d.arch == ArchARM && h.physBase != 0 && h.physBase%m.blockSize == 0 {
		base := h.physBase >> m.shift
		if first, ok := m.firstPresent(); ok && first < base {
			m.pfnBase = base
		}
	}
	return d, nil
}

// kdumpArea reads n bytes at off of the file, what naming them in errors.
func kdumpArea(s store, off, n uint64, what string, ferr func(int64, string, error) error) ([]byte, error) {
	if off > math.MaxInt64 || !within(int64(off), n, s.Size()) || int64(n) > s.backingSize() {
		return nil, ferr(int64(min(off, math.MaxInt64)), what,
			fmt.Errorf("%w: %#x bytes at %#x lie past the end of the file (size %#x)", ErrTruncated, n, off, s.Size()))
	}
	b, err := bytesAt(s, int64(off), n, nil)
	if err != nil {
		return nil, ferr(int64(off), what, truncErr(err, n, s.Size()))
	}
	return b, nil
}

// readNotes reads the ELF notes (version 4+) and VMCOREINFO (version 3+,
// else from the notes).
func (d *kdumpDump) readNotes(s store, ferr func(int64, string, error) error) error {
	h := d.hdr
	readArea := func(off, n uint64, what string) ([]byte, error) { return kdumpArea(s, off, n, what, ferr) }
	if h.version >= 4 && h.offNote != 0 && h.sizeNote != 0 {
		b, err := readArea(h.offNote, h.sizeNote, "kdump notes")
		if err != nil {
			return err
		}
		notes, err := parseNotes(b, int64(h.offNote), h.bo)
		if err != nil {
			off := int64(h.offNote)
			var ne *noteError
			if errors.As(err, &ne) {
				off = ne.offset
			}
			return ferr(off, "kdump note", fmt.Errorf("%w: %v", ErrCorrupt, err))
		}
		d.notes = notes
	}
	if h.version >= 3 && h.offVMCoreInfo != 0 && h.sizeVMCoreInfo != 0 {
		b, err := readArea(h.offVMCoreInfo, h.sizeVMCoreInfo, "kdump VMCOREINFO")
		if err != nil {
			return err
		}
		d.vmcoreinfo = append([]byte(nil), b...)
	} else if vi := vmcoreinfoFromNotes(d.notes); vi != nil {
		d.vmcoreinfo = vi
	}
	return nil
}

// readKdumpBitmaps reads the page bitmaps and sets up the page reader:
// two bitmaps when there is room for two (crash's dump_is_partial), else a
// single one serves both.
func readKdumpBitmaps(s store, h *kdumpHeader, ferr func(int64, string, error) error, cacheBytes int) (*kdumpMem, error) {
	bs := uint64(h.blockSize)
	bmOff := (1 + uint64(h.subHdrSize)) * bs // < 2^33 * 2^24
	bmLen := uint64(h.bitmapBlocks) * bs
	if !within(int64(bmOff), bmLen, s.Size()) || bmLen > uint64(s.backingSize()) {
		return nil, ferr(int64(bmOff), "kdump bitmaps",
			fmt.Errorf("%w: %d blocks at %#x lie past the end of the file (size %#x)", ErrTruncated, h.bitmapBlocks, bmOff, s.Size()))
	}
	bm, err := bytesAt(s, int64(bmOff), bmLen, nil)
	if err != nil {
		return nil, ferr(int64(bmOff), "kdump bitmaps", truncErr(err, bmLen, s.Size()))
	}
	m := &kdumpMem{st: s, blockSize: bs, shift: uint(bits.TrailingZeros64(bs)), bo: h.bo,
		dec: newDecoder(int(bs)), cache: newPageCache(cacheBytes)}
	m.srcBufs.New = func() any { b := make([]byte, bs); return &b }
	maxMapnr := h.maxMapnr()
	one := (maxMapnr + 7) / 8
	if one <= math.MaxUint64-bs {
		one = (one + bs - 1) / bs
	}
	if uint64(h.bitmapBlocks) >= 2*one && one > 0 || uint64(h.bitmapBlocks) >= 2 && maxMapnr == 0 {
		m.bitmap1, m.bitmap2 = bm[:bmLen/2], bm[bmLen/2:]
	} else {
		m.bitmap1, m.bitmap2 = bm, bm
	}
	m.maxMapnr = min(maxMapnr, uint64(len(m.bitmap2))*8)
	m.buildRank()
	descOff := bmOff + bmLen
	if descOff > math.MaxInt64 {
		return nil, ferr(0, "kdump header", fmt.Errorf("%w: page descriptors at impossible offset %#x", ErrCorrupt, descOff))
	}
	m.descOff = int64(descOff)
	return m, nil
}

// firstPresent returns the lowest pfn set in the 1st bitmap.
func (m *kdumpMem) firstPresent() (uint64, bool) {
	nwords := (m.maxMapnr + 63) / 64
	for w := uint64(0); w < nwords; w++ {
		if x := word(m.bitmap1, w); x != 0 {
			pfn := w*64 + uint64(bits.TrailingZeros64(x))
			return pfn, pfn < m.maxMapnr
		}
	}
	return 0, false
}

// word returns the idx'th little-endian 64-bit word of bm (bit i of the
// bitmap is bit i%8 of byte i/8), zero-padded past the end.
func word(bm []byte, idx uint64) uint64 {
	o := idx * 8
	if o+8 <= uint64(len(bm)) {
		return binary.LittleEndian.Uint64(bm[o:])
	}
	var w uint64
	for i := uint64(0); o+i < uint64(len(bm)) && i < 8; i++ {
		w |= uint64(bm[o+i]) << (8 * i)
	}
	return w
}

// buildRank counts bitmap2's set bits below maxMapnr per 512-bit block.
func (m *kdumpMem) buildRank() {
	nwords := (m.maxMapnr + 63) / 64
	m.rank = make([]uint64, nwords/8+1)
	var total uint64
	for w := uint64(0); w < nwords; w++ {
		if w%8 == 0 {
			m.rank[w/8] = total
		}
		x := word(m.bitmap2, w)
		if w == nwords-1 && m.maxMapnr%64 != 0 {
			x &= 1<<(m.maxMapnr%64) - 1
		}
		total += uint64(bits.OnesCount64(x))
	}
	if nwords%8 == 0 {
		m.rank[nwords/8] = total
	}
	m.ndesc = total
}

func testBit(bm []byte, pfn uint64) bool {
	i := pfn >> 3
	return i < uint64(len(bm)) && bm[i]&(1<<(pfn&7)) != 0
}

// rankOf returns the number of set bits of bitmap2 below pfn.
func (m *kdumpMem) rankOf(pfn uint64) uint64 {
	w := pfn / 64
	r := m.rank[w/8]
	for i := w &^ 7; i < w; i++ {
		r += uint64(bits.OnesCount64(word(m.bitmap2, i)))
	}
	return r + uint64(bits.OnesCount64(word(m.bitmap2, w)&(1<<(pfn%64)-1)))
}

// ranges returns the physical ranges of the dumped pages (2nd bitmap).
func (m *kdumpMem) ranges() []PhysRange {
	var out []PhysRange
	nwords := (m.maxMapnr + 63) / 64
	var runStart uint64
	inRun := false
	flush := func(end uint64) {
		out = append(out, PhysRange{Start: (runStart + m.pfnBase) << m.shift, Size: (end - runStart) << m.shift})
		inRun = false
	}
	for w := uint64(0); w < nwords; w++ {
		x := word(m.bitmap2, w)
		if w == nwords-1 && m.maxMapnr%64 != 0 {
			x &= 1<<(m.maxMapnr%64) - 1
		}
		switch {
		case x == 0 && !inRun, x == math.MaxUint64 && inRun:
			continue
		}
		for b := uint64(0); b < 64; b++ {
			set := x&(1<<b) != 0
			if set && !inRun {
				runStart, inRun = w*64+b, true
			} else if !set && inRun {
				flush(w*64 + b)
			}
		}
	}
	if inRun {
		flush(m.maxMapnr)
	}
	return out
}

func (m *kdumpMem) readPhys(p []byte, addr uint64) error {
	size := len(p)
	var descBuf [pageDescSize]byte
	for len(p) > 0 {
		pfn := addr >> m.shift
		in := addr & (m.blockSize - 1)
		n := min(uint64(len(p)), m.blockSize-in)
		if pfn < m.pfnBase {
			return &ReadError{Space: "physical", Addr: addr, Size: size, Offset: -1,
				Err: fmt.Errorf("%w: below the first pfn %#x of the dump", ErrNotInDump, m.pfnBase)}
		}
		if err := m.readPage(p[:n], pfn, in, descBuf[:]); err != nil {
			err.Addr, err.Size = addr, size
			return err
		}
		p = p[n:]
		addr += n
		if addr == 0 && len(p) > 0 {
			return &ReadError{Space: "physical", Addr: addr, Size: size, Offset: -1, Err: ErrNotInDump}
		}
	}
	return nil
}

// readPage fills dst from physical page pfn starting at byte in of the page.
func (m *kdumpMem) readPage(dst []byte, pfn, in uint64, descBuf []byte) *ReadError {
	rerr := func(off int64, err error) *ReadError {
		return &ReadError{Space: "physical", Offset: off, Err: err}
	}
	// pfn is physical (and named in messages); bit is its bitmap index.
	bit := pfn - m.pfnBase
	if bit >= m.maxMapnr {
		return rerr(-1, fmt.Errorf("%w: pfn %#x beyond max_mapnr %#x", ErrNotInDump, pfn, m.maxMapnr+m.pfnBase))
	}
	if !testBit(m.bitmap1, bit) {
		return rerr(-1, fmt.Errorf("%w: pfn %#x is not in the memory bitmap", ErrNotInDump, pfn))
	}
	if !testBit(m.bitmap2, bit) {
		return rerr(-1, fmt.Errorf("%w: pfn %#x", ErrExcluded, pfn))
	}
	pos := m.rankOf(bit)
	doff := m.descOff + int64(pos)*pageDescSize // pos < 2^40: no overflow
	if !within(doff, pageDescSize, m.st.Size()) || m.st.missing(doff, pageDescSize) {
		return rerr(doff, fmt.Errorf("%w: page descriptor of pfn %#x lies past the end of the file", ErrTruncated, pfn))
	}
	if err := readFull(m.st, descBuf, doff); err != nil {
		return rerr(doff, fmt.Errorf("%w: page descriptor of pfn %#x: %v", ErrTruncated, pfn, err))
	}
	off := int64(m.bo.Uint64(descBuf[0:]))
	dsize := m.bo.Uint32(descBuf[8:])
	flags := m.bo.Uint32(descBuf[12:])
	switch {
	case off == 0:
		return rerr(doff, fmt.Errorf("%w: pfn %#x: page descriptor never written (incomplete dump)", ErrTruncated, pfn))
	case off < 0:
		return rerr(doff, fmt.Errorf("%w: pfn %#x: negative page data offset %#x", ErrCorrupt, pfn, off))
	case uint64(dsize) > m.blockSize || dsize == 0:
		return rerr(doff, fmt.Errorf("%w: pfn %#x: page data size %d (block size %d)", ErrCorrupt, pfn, dsize, m.blockSize))
	}
	if !within(off, uint64(dsize), m.st.Size()) || m.st.missing(off, int(dsize)) {
		return rerr(off, fmt.Errorf("%w: data of pfn %#x (%d bytes) lies past the end of the file", ErrTruncated, pfn, dsize))
	}
	if flags&compressionMask == 0 {
		if uint64(dsize) != m.blockSize {
			return rerr(off, fmt.Errorf("%w: pfn %#x: uncompressed page of %d bytes (block size %d)", ErrCorrupt, pfn, dsize, m.blockSize))
		}
		if err := readFull(m.st, dst, off+int64(in)); err != nil {
			return rerr(off, fmt.Errorf("%w: pfn %#x: %v", ErrTruncated, pfn, err))
		}
		return nil
	}
	key := pageKey{off, dsize, flags & compressionMask}
	page := m.cache.get(key)
	if page == nil {
		bp := m.srcBufs.Get().(*[]byte)
		defer m.srcBufs.Put(bp)
		src := (*bp)[:dsize]
		if err := readUnmapped(m.st, src, off); err != nil {
			return rerr(off, fmt.Errorf("%w: pfn %#x: %v", ErrTruncated, pfn, err))
		}
		page = make([]byte, m.blockSize)
		if err := m.dec.decode(page, src, flags); err != nil {
			return rerr(off, fmt.Errorf("%w: pfn %#x: %v", ErrCorrupt, pfn, err))
		}
		m.cache.put(key, page)
	}
	copy(dst, page[in:])
	return nil
}
