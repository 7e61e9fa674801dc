package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/dwarfx"
	"github.com/kinspect/kinspect/internal/fixture"
)

// fakeMem is a sparse little memory image for decoder tests.
type fakeMem map[uint64][]byte

func (m fakeMem) read(p []byte, addr uint64) error {
	for base, b := range m {
		if addr >= base && addr+uint64(len(p)) <= base+uint64(len(b)) {
			copy(p, b[addr-base:])
			return nil
		}
	}
	return fmt.Errorf("address %#x+%d not in the test image", addr, len(p))
}

// put writes v into the field f of the struct bytes b (bit-fields too).
func putField(t *testing.T, f dwarfx.Field, b []byte, v uint64) {
	t.Helper()
	if !f.Found() {
		t.Fatalf("put on a missing field")
	}
	if f.BitSize > 0 {
		for i := int64(0); i < f.BitSize; i++ {
			pos := f.BitOffset + i
			if v&(1<<i) != 0 {
				b[pos/8] |= 1 << (pos % 8)
			} else {
				b[pos/8] &^= 1 << (pos % 8)
			}
		}
		return
	}
	p := b[f.ByteOffset:]
	switch f.ByteSize {
	case 1:
		p[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(p, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(p, uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(p, v)
	default:
		t.Fatalf("put: field of size %d", f.ByteSize)
	}
}

// ringWriter builds a lockless printk ring buffer in a fakeMem the way the
// kernel's prb_reserve/data_alloc do (data blocks prefixed by the id,
// blocks that would cross the end of the ring stored at its start), with
// the layout of a real kernel.
type ringWriter struct {
	t         *testing.T
	l         prbLayout
	countBits uint
	sizeBits  uint
	descs     []byte
	infos     []byte
	data      []byte
	headLpos  uint64
	nextID    uint64
	idMask    uint64
	seq       uint64
	written   []ringRec
}

type ringRec struct {
	id, seq     uint64
	begin, next uint64
	text        string
	state       uint64
}

const (
	tDescAddr = 0x10000
	tInfoAddr = 0x20000
	tDataAddr = 0x40000
	tPrbAddr  = 0x2000
	tPtrAddr  = 0x1000
)

func newRingWriter(t *testing.T, l prbLayout, countBits, sizeBits uint, firstID uint64) *ringWriter {
	w := &ringWriter{t: t, l: l, countBits: countBits, sizeBits: sizeBits}
	count := uint64(1) << countBits
	w.descs = make([]byte, count*uint64(l.DescSize))
	w.infos = make([]byte, count*uint64(l.InfoSize))
	w.data = make([]byte, 1<<sizeBits)
	w.idMask = uint64(1)<<(l.StateVar.ByteSize*8-2) - 1
	w.nextID = firstID & w.idMask
	w.seq = firstID & (count - 1)
	// Every slot starts out free, as after prb_init.
	for i := uint64(0); i < count; i++ {
		putField(t, l.StateVar, w.descs[i*uint64(l.DescSize):], descReusable<<(l.StateVar.ByteSize*8-2)|(i-count)&w.idMask)
	}
	return w
}

// add appends a record; dataless records get NO_LPOS.
func (w *ringWriter) add(text string, state uint64, dataless bool) ringRec {
	l := w.l
	count := uint64(1) << w.countBits
	size := uint64(1) << w.sizeBits
	id := w.nextID
	w.nextID = (w.nextID + 1) & w.idMask
	r := ringRec{id: id, seq: w.seq, text: text, state: state}
	w.seq++
	idx := id & (count - 1)
	d := w.descs[idx*uint64(l.DescSize) : (idx+1)*uint64(l.DescSize)]
	in := w.infos[idx*uint64(l.InfoSize) : (idx+1)*uint64(l.InfoSize)]
	for i := range in {
		in[i] = 0
	}
	if dataless {
		r.begin, r.next = 3, 3
	} else {
		idSize := uint64(l.IDSize)
		n := (idSize + uint64(len(text)) + idSize - 1) / idSize * idSize
		begin := w.headLpos
		next := begin + n
		if begin>>w.sizeBits != next>>w.sizeBits {
			next = next>>w.sizeBits<<w.sizeBits + n // wraps: data at 0
		}
		binary.LittleEndian.PutUint64(w.data[begin&(size-1):], id)
		off := begin & (size - 1)
		if begin>>w.sizeBits != next>>w.sizeBits {
			off = 0
			binary.LittleEndian.PutUint64(w.data[0:], id)
		}
		copy(w.data[off+idSize:], text)
		r.begin, r.next = begin, next
		w.headLpos = next
	}
	putField(w.t, l.StateVar, d, state<<(l.StateVar.ByteSize*8-2)|id)
	putField(w.t, l.TextBegin, d, r.begin)
	putField(w.t, l.TextNext, d, r.next)
	putField(w.t, l.Seq, in, r.seq)
	putField(w.t, l.TS, in, 1_000_000*r.seq+123456789)
	putField(w.t, l.TextLen, in, uint64(len(text)))
	putField(w.t, l.Level, in, 6)
	putField(w.t, l.Flags, in, LogNewline)
	putField(w.t, l.CallerID, in, r.seq)
	w.written = append(w.written, r)
	return r
}

// image returns the memory and a layout pointing at it, with tail_id set
// to the oldest record whose text has not been overwritten.
func (w *ringWriter) image() (fakeMem, prbLayout, uint64) {
	l := w.l
	size := uint64(1) << w.sizeBits
	count := uint64(1) << w.countBits
	// The data tail: blocks that begin before headLpos - size are gone,
	// and their descriptors have been made reusable; descriptors older
	// than the last count ids have been recycled.
	tail := w.written[len(w.written)-1].id
	for i := len(w.written) - 1; i >= 0 && len(w.written)-i <= int(count); i-- {
		r := w.written[i]
		if r.begin&1 == 0 && r.begin+size < w.headLpos {
			break
		}
		tail = r.id
	}
	for _, r := range w.written {
		if r.begin&1 == 0 && r.begin+size < w.headLpos {
			idx := r.id & (count - 1)
			d := w.descs[idx*uint64(l.DescSize):]
			sv, _ := l.StateVar.Extract(d, binary.LittleEndian)
			if sv&w.idMask == r.id {
				putField(w.t, l.StateVar, d, descReusable<<(l.StateVar.ByteSize*8-2)|r.id)
			}
		}
	}
	rb := make([]byte, l.PrbSize)
	putField(w.t, l.CountBits, rb, uint64(w.countBits))
	putField(w.t, l.SizeBits, rb, uint64(w.sizeBits))
	putField(w.t, l.Descs, rb, tDescAddr)
	putField(w.t, l.Infos, rb, tInfoAddr)
	putField(w.t, l.Data, rb, tDataAddr)
	putField(w.t, l.HeadID, rb, w.written[len(w.written)-1].id)
	putField(w.t, l.TailID, rb, tail)
	ptr := make([]byte, 8)
	binary.LittleEndian.PutUint64(ptr, tPrbAddr)
	l.PrbPtrAddr = tPtrAddr
	return fakeMem{tPtrAddr: ptr, tPrbAddr: rb, tDescAddr: w.descs, tInfoAddr: w.infos, tDataAddr: w.data}, l, tail
}

// realPrbLayout takes the ring buffer's layout from a fixture's vmlinux.
func realPrbLayout(t *testing.T, arch string) prbLayout {
	f := fixture.Require(t, arch)
	im, err := dwarfx.Open(f.Vmlinux())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	v, err := im.Variable("prb")
	if err != nil {
		t.Fatal(err)
	}
	l, err := prbLayoutFromDWARF(im, v.Addr, v.Type, im.PtrSize())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestPRBWrapped decodes a small ring that has wrapped several times, with
// the real x86_64 kernel's record layout: ids wrapping around the id
// space, a block that wraps to the start of the ring, a dataless record, a
// multi-line record, a committed (not finalized) head, a reserved record,
// and a block overwritten under its descriptor.
func TestPRBWrapped(t *testing.T) {
	l := realPrbLayout(t, "x86_64")
	if l.IDSize != 8 {
		t.Fatalf("id size %d", l.IDSize)
	}
	// Different fill levels put the ring's wrap point under different
	// records; at least one must leave a wrapping block alive.
	wrappedLive := 0
	for n := 20; n < 40; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if checkWrappedRing(t, l, n) {
				wrappedLive++
			}
		})
	}
	if wrappedLive == 0 {
		t.Fatal("no fill level left a wrapping block among the live records")
	}
}

// checkWrappedRing writes n records plus the special ones and checks the
// decoder's output; it reports whether a live record had a wrapping block.
func checkWrappedRing(t *testing.T, l prbLayout, n int) bool {
	const countBits, sizeBits = 4, 8 // 16 descriptors, 256 bytes of text
	// The id space (62 bits) wraps under the last records.
	w := newRingWriter(t, l, countBits, sizeBits, (1<<62)-uint64(n)-2)
	for i := 0; i < n; i++ {
		w.add(fmt.Sprintf("message %d%s", i, strings.Repeat("x", i%7)), descFinalized, false)
	}
	w.add("", descFinalized, true)
	w.add("first line\nsecond line", descFinalized, false)
	reserved := w.add("being written", descReserved, false)
	damaged := w.add("this block is overwritten", descFinalized, false)
	w.add("panic: the end", descCommitted, false)

	mem, lay, tail := w.image()
	// Damage one block's id prefix.
	off := damaged.begin & (1<<sizeBits - 1)
	if damaged.begin>>sizeBits != damaged.next>>sizeBits {
		off = 0
	}
	binary.LittleEndian.PutUint64(mem[tDataAddr][off:], 0x1234)

	recs, errs := decodePRB(mem.read, binary.LittleEndian, lay)

	var want []ringRec
	inRange := false
	wrapped := false
	for _, r := range w.written {
		inRange = inRange || r.id == tail
		if !inRange || r.id == reserved.id || r.id == damaged.id {
			continue
		}
		if r.begin&1 == 0 && r.begin>>sizeBits != r.next>>sizeBits {
			wrapped = true
		}
		want = append(want, r)
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d (errors %v)", len(recs), len(want), errs)
	}
	for i, r := range recs {
		if r.Seq != want[i].seq || r.Text != want[i].text || r.Dataless != (want[i].begin&1 == 1) {
			t.Errorf("record %d: seq %d %q dataless %v, want seq %d %q", i, r.Seq, r.Text, r.Dataless, want[i].seq, want[i].text)
		}
		if r.Level != 6 || r.Flags != LogNewline || r.TimestampNS != 1_000_000*r.Seq+123456789 || r.CallerID != uint32(r.Seq) {
			t.Errorf("record %d: level %d flags %d ts %d caller %d", i, r.Level, r.Flags, r.TimestampNS, r.CallerID)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one (the overwritten block)", errs)
	}
	var re *LogRecordError
	if !errors.As(errs[0], &re) || re.Seq != damaged.seq || !strings.Contains(re.Reason, "overwritten") {
		t.Errorf("error %v, want the overwritten block of seq %d", errs[0], damaged.seq)
	}
	// The ids crossed the top of the id space (they are masked to 62 bits).
	idWrapped := false
	for i := 1; i < len(want); i++ {
		idWrapped = idWrapped || want[i].id < want[i-1].id
	}
	if !idWrapped {
		t.Error("the live records' ids did not wrap around the id space")
	}

	// crash's rendering of the multi-line and dataless records.
	var out []byte
	for _, r := range recs {
		out = LogFormat{}.AppendLogRecord(out, r)
	}
	if !strings.Contains(string(out), "] first line\n               second line\n") {
		t.Errorf("multi-line record not indented like crash:\n%s", out)
	}
	if !strings.Contains(string(out), "\n\n") {
		t.Errorf("dataless record not shown as an empty line:\n%s", out)
	}
	return wrapped
}

// TestPRBCorruptHeader: implausible ring sizes are an error, not a huge
// allocation or a panic.
func TestPRBCorruptHeader(t *testing.T) {
	l := realPrbLayout(t, "x86_64")
	w := newRingWriter(t, l, 3, 7, 0)
	w.add("x", descFinalized, false)
	mem, lay, _ := w.image()
	putField(t, l.CountBits, mem[tPrbAddr], 60)
	recs, errs := decodePRB(mem.read, binary.LittleEndian, lay)
	if len(recs) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "implausible") {
		t.Fatalf("recs %v errs %v", recs, errs)
	}
}

// printkLogType is struct printk_log as 5.1–5.9 kernels with
// CONFIG_PRINTK_CALLER define it (kernel/printk/printk.c):
//
//	struct printk_log {
//		u64 ts_nsec; u16 len; u16 text_len; u16 dict_len;
//		u8 facility; u8 flags:5; u8 level:3; u32 caller_id;
//	};  /* 20 bytes, aligned to 4 on most arches (packed on some) */
func printkLogType() *dwarf.StructType {
	u := func(name string, n int64) dwarf.Type {
		t := &dwarf.UintType{}
		t.Name, t.ByteSize = name, n
		return t
	}
	u8, u16, u32, u64 := u("u8", 1), u("u16", 2), u("u32", 4), u("u64", 8)
	st := &dwarf.StructType{StructName: "printk_log", Kind: "struct"}
	st.ByteSize = 24
	st.Field = []*dwarf.StructField{
		{Name: "ts_nsec", Type: u64, ByteOffset: 0},
		{Name: "len", Type: u16, ByteOffset: 8},
		{Name: "text_len", Type: u16, ByteOffset: 10},
		{Name: "dict_len", Type: u16, ByteOffset: 12},
		{Name: "facility", Type: u8, ByteOffset: 14},
		{Name: "flags", Type: u8, BitSize: 5, DataBitOffset: 15 * 8},
		{Name: "level", Type: u8, BitSize: 3, DataBitOffset: 15*8 + 5},
		{Name: "caller_id", Type: u32, ByteOffset: 16},
	}
	return st
}

// TestLogBufRecords decodes a pre-5.10 log_buf image that wrapped: the
// oldest records sit at the end of the buffer, a zero-length header marks
// the wrap, and the newest records start at index 0.
func TestLogBufRecords(t *testing.T) {
	var l logBufLayout
	l.PtrSize = 8
	l.LogBuf, l.LogBufLen, l.FirstIdx, l.NextIdx, l.FirstSeq = 0x100, 0x200, 0x210, 0x220, 0x230
	l.LogBufLenSize, l.IdxSize, l.FirstSeqSize, l.HasFirstSeq = 4, 4, 8, true
	if err := fillPrintkLog(nil, &l, printkLogType()); err != nil {
		t.Fatal(err)
	}
	if l.Level.BitOffset != 125 || l.Flags.BitSize != 5 || l.CallerID.ByteOffset != 16 {
		t.Fatalf("layout %+v", l)
	}
	const bufAddr, bufLen = 0x10000, 256
	buf := make([]byte, bufLen)
	type rec struct {
		text, dict string
		level      uint64
	}
	put := func(idx int, r rec, seq uint64) int {
		n := 24 + len(r.text) + len(r.dict)
		n = (n + 7) &^ 7
		h := buf[idx : idx+24]
		putField(t, l.TS, h, seq*1000+5)
		putField(t, l.Len, h, uint64(n))
		putField(t, l.TextLen, h, uint64(len(r.text)))
		putField(t, l.DictLen, h, uint64(len(r.dict)))
		putField(t, l.Facility, h, 0)
		putField(t, l.Flags, h, LogNewline)
		putField(t, l.Level, h, r.level)
		putField(t, l.CallerID, h, 0x80000000|uint64(seq))
		copy(buf[idx+24:], r.text)
		copy(buf[idx+24+len(r.text):], r.dict)
		return idx + n
	}
	recs := []rec{
		{"old one", "", 4},
		{"old two", "SUBSYSTEM=pci\x00DEVICE=+pci:0000:00:01.0", 6},
		{"new one", "", 3},
		{"new\ntwo", "", 7},
	}
	first := 136
	idx := put(first, recs[0], 41)
	idx = put(idx, recs[1], 42)
	// Wrap marker: a zero header at idx (len == 0).
	for i := idx; i < idx+24 && i < bufLen; i++ {
		buf[i] = 0
	}
	idx = put(0, recs[2], 43)
	next := put(idx, recs[3], 44)

	le := binary.LittleEndian
	mem := fakeMem{bufAddr: buf}
	word := func(v uint64) []byte { b := make([]byte, 8); le.PutUint64(b, v); return b }
	mem[0x100] = word(bufAddr)
	mem[0x200] = word(bufLen)[:4]
	mem[0x210] = word(uint64(first))[:4]
	mem[0x220] = word(uint64(next))[:4]
	mem[0x230] = word(41)

	got, errs := decodeLogBuf(mem.read, le, l)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records: %+v", len(got), got)
	}
	for i, r := range got {
		w := recs[i]
		if r.Text != w.text || uint64(r.Level) != w.level || r.Seq != uint64(41+i) || r.TimestampNS != r.Seq*1000+5 ||
			!r.HasCaller || !r.CallerIsCPU() || r.Caller() != fmt.Sprintf("C%d", r.Seq) || r.Flags != LogNewline {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if got[1].DevInfo != (DevInfo{Subsystem: "pci", Device: "+pci:0000:00:01.0"}) || len(got[1].Dict) != 2 {
		t.Errorf("dictionary %+v %q", got[1].DevInfo, got[1].Dict)
	}
	out := LogFormat{Dict: true, Level: true}.AppendLogRecord(nil, got[1])
	if want := "[    0.000042] <6>old two\n" + strings.Repeat(" ", 18) + "SUBSYSTEM=pci\n" + strings.Repeat(" ", 18) + "DEVICE=+pci:0000:00:01.0\n"; string(out) != want {
		t.Errorf("log -d -m:\n%q\nwant\n%q", out, want)
	}

	// A record whose length runs past the buffer stops the walk with an
	// error naming its address.
	putField(t, l.Len, buf[first:], 250)
	got, errs = decodeLogBuf(mem.read, le, l)
	if len(got) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), fmt.Sprintf("%#x", bufAddr+first)) {
		t.Errorf("corrupt length: %d records, errors %v", len(got), errs)
	}
}

// TestPanicSearchOrder follows crash's priority list: the earliest pattern
// in the list wins over an earlier line with a later pattern.
func TestPanicSearchOrder(t *testing.T) {
	none := func() (int32, bool) { return 0, false }
	cases := []struct {
		lines []string
		sysrq func() (int32, bool)
		want  string
	}{
		{[]string{"Oops: 0002 [#1] SMP\n", "Kernel panic - not syncing: Fatal exception\n"}, none, "Kernel panic - not syncing: Fatal exception"},
		{[]string{"sysrq: Trigger a crash\n", "Kernel panic - not syncing: sysrq triggered crash\n", "---[ end Kernel panic - not syncing: sysrq triggered crash ]---\n"}, none, "Kernel panic - not syncing: sysrq triggered crash"},
		{[]string{"SysRq : Trigger a crash\n", "BUG: unable to handle kernel NULL pointer dereference at (null)\n"}, none, "SysRq : Trigger a crash"},
		{[]string{"hello\n", "Kernel panic happened\n"}, none, "Kernel panic happened"},
		{[]string{"a sysrq line\n", "Oops\n"}, func() (int32, bool) { return 0, true }, ""},
		{[]string{"a sysrq line\n", "Oops\n"}, func() (int32, bool) { return 1, true }, "a sysrq line"},
		{[]string{"nothing\n"}, none, ""},
	}
	for i, c := range cases {
		if got := findPanicMessage(c.lines, c.sysrq); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
	long := strings.Repeat("x", 2000) + "Kernel panic - at the end"
	lines := crashLogLines([]LogRecord{{Text: long}})
	if len(lines) != 2 || len(lines[0]) != crashBufSize-1 {
		t.Fatalf("fgets split: %d pieces", len(lines))
	}
	// crash returns the fgets piece that holds the match.
	if got := findPanicMessage(lines, none); got != strings.TrimSuffix(lines[1], "\n") || !strings.HasSuffix(got, "xKernel panic - at the end") {
		t.Errorf("long line: %q", got)
	}
}
