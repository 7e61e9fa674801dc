package kstructs

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// rbEvent builds a ring_buffer_event header word (little endian bit-fields:
// type_len in the low 5 bits, time_delta above).
func rbEvent(typeLen, delta uint32, words ...uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, typeLen|delta<<5)
	for _, w := range words {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// entry is a trace_entry header (type, flags, preempt, pid) and n more bytes.
func entry(typ uint16, pid int32, extra int) []uint32 {
	w := []uint32{uint32(typ) | 1<<16 | 2<<24, uint32(pid)}
	for i := 0; i < extra; i += 4 {
		w = append(w, 0)
	}
	return w
}

func testLayout() *ftLayout {
	return &ftLayout{
		dec:        decoder{bo: binary.LittleEndian, ptr: 8},
		entType:    fixedField(0, 2),
		entFlags:   fixedField(2, 1),
		entPreempt: fixedField(3, 1),
		entPid:     fixedField(4, 4),
	}
}

func TestFtDecodeEvents(t *testing.T) {
	l := testLayout()
	var page []byte
	page = append(page, rbEvent(2, 100, entry(7, 42, 0)...)...)                            // data, 8 bytes: ts 1000+100
	page = append(page, rbEvent(rbTypeExt, 5, 1)...)                                       // time extend: +(1<<27)+5
	page = append(page, rbEvent(3, 0, entry(7, 43, 4)...)...)                              // data, 12 bytes
	page = append(page, rbEvent(rbTypePad, 3, 4)...)                                       // discarded event (8 bytes)
	page = append(page, rbEvent(0, 10, append([]uint32{4 + 8}, entry(8, 44, 0)...)...)...) // type_len 0: length in array[0]
	page = append(page, rbEvent(rbTypeStamp, 77, 0)...)                                    // absolute stamp 77
	page = append(page, rbEvent(2, 3, entry(7, 45, 0)...)...)
	evs, err := ftDecodeEvents(l.dec, page, 1000, 0, 1, nil, l)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ts  uint64
		pid int32
	}{{1100, 42}, {1100 + 1<<27 + 5, 43}, {1100 + 1<<27 + 5 + 10, 44}, {80, 45}}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, w := range want {
		if evs[i].TS != w.ts || evs[i].PID != w.pid || evs[i].CPU != 1 {
			t.Errorf("event %d: ts %d pid %d, want %d %d", i, evs[i].TS, evs[i].PID, w.ts, w.pid)
		}
	}
	if evs[0].Flags != 1 || evs[0].PreemptCount != 2 || evs[2].Type != 8 {
		t.Errorf("header fields: %+v", evs[0])
	}
	// from skips the events before the reader's offset, keeping the time.
	evs, _ = ftDecodeEvents(l.dec, page, 1000, 12, 1, nil, l)
	if len(evs) != 3 || evs[0].PID != 43 {
		t.Errorf("from 12: %d events", len(evs))
	}
	// A null padding event ends the page.
	short := append(append([]byte{}, page[:12]...), rbEvent(rbTypePad, 0, 0)...)
	short = append(short, 0xff, 0xff, 0xff, 0xff)
	if evs, err := ftDecodeEvents(l.dec, short, 0, 0, 0, nil, l); err != nil || len(evs) != 1 {
		t.Errorf("null padding: %d events, %v", len(evs), err)
	}
	// A corrupt length gives an error and the events before it.
	bad := append(append([]byte{}, page[:12]...), rbEvent(0, 0, 4000)...)
	evs, err = ftDecodeEvents(l.dec, bad, 0, 0, 0, nil, l)
	if err == nil || len(evs) != 1 || !strings.Contains(err.Error(), "bad event length") {
		t.Errorf("corrupt length: %d events, %v", len(evs), err)
	}
}

func TestFtFixAbs(t *testing.T) {
	if got := ftFixAbs(5, 0); got != 5 {
		t.Errorf("%d", got)
	}
	save := uint64(0x08)<<56 | 100
	if got := ftFixAbs(200, save); got != uint64(0x08)<<56|200 {
		t.Errorf("%#x", got)
	}
}

func TestPrintFmt(t *testing.T) {
	pf := parsePrintFmt(`"comm=%s pid=%d prio=%d target_cpu=%03d", REC->comm, REC->pid, REC->prio, REC->target_cpu`)
	if pf == nil || pf.fmtStr != "comm=%s pid=%d prio=%d target_cpu=%03d" || len(pf.args) != 4 || pf.args[3] != "REC->target_cpu" {
		t.Fatalf("%+v", pf)
	}
	a := splitTopLevel(` (REC->x & 3) ? __print_flags(REC->x, "|", { 0x01, "S" }, { 0x02, "D" }) : "R", REC->y`)
	if len(a) != 2 {
		t.Errorf("%q", a)
	}
	if got := printFlags(3, "|", parseTable(a[0])); got != "S|D" {
		t.Errorf("flags %q", got)
	}
	if got := stripArg("(void *)REC->ip"); got != "REC->ip" {
		t.Errorf("strip %q", got)
	}
	if got := TraceTime(84186659500, true); got != "   84.186660" {
		t.Errorf("time %q", got)
	}
}

// TestFtWalkCPU walks a hand-built ring: reader page R (empty), ring pages
// A → B → C → A with the head flag on A's link (head B), commit page A;
// C's header is corrupt. The events come B then A, with an error naming C.
// walkLayout is a ring buffer layout for the page-walk tests: 4 KiB
// pages with a 16-byte header (time stamp, commit), buffer_page {list,
// read, page}, ring_buffer_per_cpu {reader, commit, head, nr_pages, pages}.
func walkLayout() *ftLayout {
	l := testLayout()
	l.pageSize = 4096
	l.dataHdr = 16
	l.dpTimeStamp = fixedField(0, 8)
	l.dpCommit = fixedField(8, 8)
	l.bp = &ftStruct{size: 24}
	l.bpList = fixedField(0, 8)
	l.bpRead = fixedField(8, 4)
	l.bpPage = fixedField(16, 8)
	l.cpuReader = fixedField(0, 8)
	l.cpuCommit = fixedField(8, 8)
	l.cpuHead = fixedField(16, 8)
	l.cpuNrPages = fixedField(24, 8)
	l.cpuPages = fixedField(32, 8)
	return l
}

func TestFtWalkCPU(t *testing.T) {
	l := walkLayout()
	mem := map[uint64][]byte{}
	le := binary.LittleEndian
	bpage := func(addr, next, data uint64) {
		b := le.AppendUint64(nil, next)
		b = le.AppendUint64(b, 0)
		b = le.AppendUint64(b, data)
		mem[addr] = b
	}
	dpage := func(addr, ts uint64, commit uint64, ev []byte) {
		b := le.AppendUint64(nil, ts)
		b = le.AppendUint64(b, commit)
		mem[addr] = append(b, ev...)
	}
	const R, A, B, C = 0x1000, 0x2000, 0x3000, 0x4000
	bpage(R, B, 0x10000)
	bpage(A, B|rbPageHead, 0x20000)
	bpage(B, C, 0x30000)
	bpage(C, A, 0x40000)
	dpage(0x10000, 0, 0, nil)
	ev := func(pid int32) []byte { return rbEvent(2, 1, entry(7, pid, 0)...) }
	dpage(0x20000, 300, 12, ev(3))
	dpage(0x30000, 100, 24, append(ev(1), ev(11)...))
	dpage(0x40000, 200, 99999, ev(2))
	read := func(addr uint64, n int) ([]byte, error) {
		for base, b := range mem {
			if addr >= base && addr+uint64(n) <= base+uint64(len(b)) {
				return b[addr-base : addr-base+uint64(n)], nil
			}
		}
		return nil, fmt.Errorf("unmapped %#x", addr)
	}
	cb := le.AppendUint64(nil, R)
	cb = le.AppendUint64(cb, A)
	cb = le.AppendUint64(cb, C) // stale head_page: the flag decides
	cb = le.AppendUint64(cb, 3)
	cb = le.AppendUint64(cb, A)
	evs, errs := ftWalkCPU(l, read, cb, "kt", 0, 0, nil)
	var pids []int32
	for _, e := range evs {
		pids = append(pids, e.PID)
	}
	if fmt.Sprint(pids) != "[1 11 3]" || evs[0].TS != 101 || evs[2].TS != 301 {
		t.Errorf("events %v (ts %d...)", pids, evs[0].TS)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "page 0x4000") || !strings.Contains(errs[0].Error(), "corrupt page header") {
		t.Errorf("errors %v", errs)
	}
}

func TestBstrPrintf(t *testing.T) {
	le := binary.LittleEndian
	var buf []byte
	buf = le.AppendUint32(buf, uint32(0xfffffffe)) // %d: -2
	buf = append(buf, "abc\x00"...)                // %s
	buf = append(buf, 'x')                         // %c
	buf = append(buf, 0, 0, 0)                     // align
	buf = le.AppendUint32(buf, 0x89abcdef)         // %llx: low word
	buf = le.AppendUint32(buf, 0x01234567)         // high word
	buf = le.AppendUint64(buf, 0x1000)             // %ps
	got := bstrPrintf("a=%d s=%s c=%c x=%llx f=%ps\n", buf, le, 8, func(a uint64) string { return fmt.Sprintf("sym_%x", a) })
	if want := "a=-2 s=abc c=x x=123456789abcdef f=sym_1000\n"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestFtWalkCPUSubbufOrder: with sub-buffers of two pages (Linux 6.8+
// buffer_page.order, kernel/trace/ring_buffer.c), a data page holds more
// than a page of events: 400 events of 12 bytes (4800 bytes) all decode,
// where order 0 would make the commit overrun the page.
func TestFtWalkCPUSubbufOrder(t *testing.T) {
	l := walkLayout()
	l.bpOrder = fixedField(12, 4)
	le := binary.LittleEndian
	mem := map[uint64][]byte{}
	bpage := func(addr, next, data uint64) {
		b := le.AppendUint64(nil, next)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 1) // order 1: 8 KiB sub-buffers
		mem[addr] = le.AppendUint64(b, data)
	}
	const R, A = 0x1000, 0x2000
	bpage(R, A|rbPageHead, 0x10000)
	bpage(A, A|rbPageHead, 0x20000)
	mem[0x10000] = make([]byte, 8192)
	var evs []byte
	for i := 0; i < 400; i++ {
		evs = append(evs, rbEvent(2, 1, entry(7, int32(i), 0)...)...)
	}
	d := le.AppendUint64(nil, 1000)
	d = le.AppendUint64(d, uint64(len(evs)))
	mem[0x20000] = append(append(d, evs...), make([]byte, 8192-16-len(evs))...)
	read := func(addr uint64, n int) ([]byte, error) {
		for base, b := range mem {
			if addr >= base && addr+uint64(n) <= base+uint64(len(b)) {
				return b[addr-base : addr-base+uint64(n)], nil
			}
		}
		return nil, fmt.Errorf("unmapped %#x", addr)
	}
	cb := le.AppendUint64(nil, R)
	cb = le.AppendUint64(cb, A)
	cb = le.AppendUint64(cb, A)
	cb = le.AppendUint64(cb, 1)
	cb = le.AppendUint64(cb, A)
	got, errs := ftWalkCPU(l, read, cb, "", 0, 0, nil)
	if len(errs) != 0 || len(got) != 400 || got[399].PID != 399 || got[399].TS != 1400 {
		t.Fatalf("%d events (errors %v); want 400 ending with pid 399 at 1400", len(got), errs)
	}
}
