package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// The kernel log (printk buffer). Two layouts exist and the DWARF decides
// which one a kernel has, never its version string:
//
//   - 5.10+: the lockless ring buffer, `prb` pointing to a struct
//     printk_ringbuffer: a descriptor ring (struct prb_desc: state_var with
//     the record's id and state in its top two bits, text_blk_lpos) with a
//     parallel array of struct printk_info (seq, ts_nsec, text_len, level,
//     caller_id, dev_info), and a text data ring whose blocks start with the
//     owning descriptor's id.
//   - 3.5–5.9: `log_buf`, a byte array of variable-length struct printk_log
//     records (header, text, dictionary), walked from log_first_idx to
//     log_next_idx, a zero len meaning "wrap to the start".

// Printk record flags (printk_info.flags / printk_log.flags).
const (
	LogNewline = 2 // LOG_NEWLINE: text ended with a newline
	LogCont    = 8 // LOG_CONT: a fragment of a continued line
)

// callerCPU is set in caller_id when the caller was a CPU in interrupt
// context rather than a task.
const callerCPU = 0x80000000

// LogRecord is one printk record.
type LogRecord struct {
	Seq         uint64 `json:"seq"`
	TimestampNS uint64 `json:"timestamp_ns"`
	Level       uint8  `json:"level"`
	Facility    uint8  `json:"facility"`
	Flags       uint8  `json:"flags"`
	// CallerID is the printk caller: a TID, or a CPU number with the high
	// bit (0x80000000) set. Zero when the kernel does not record it.
	CallerID uint32 `json:"caller_id"`
	// HasCaller is false on kernels without caller ids (no PRINTK_CALLER).
	HasCaller bool   `json:"-"`
	Text      string `json:"text"`
	// DevInfo is the record's device dictionary (dev_printk_info on
	// lockless kernels; SUBSYSTEM=/DEVICE= of the dictionary on older ones).
	DevInfo DevInfo `json:"dev_info"`
	// Dict is the raw dictionary of pre-5.10 records, one KEY=value each.
	Dict []string `json:"dict,omitempty"`
	// Dataless marks a record whose text block was never written (the
	// kernel could not allocate it); crash prints it as an empty line.
	Dataless bool `json:"dataless,omitempty"`
	// Addr is the record's descriptor (lockless) or header (log_buf) address.
	Addr uint64 `json:"addr"`
}

// DevInfo is a printk record's device dictionary.
type DevInfo struct {
	Subsystem string `json:"subsystem,omitempty"`
	Device    string `json:"device,omitempty"`
}

// CallerIsCPU reports whether the record was printed from CPU context.
func (r LogRecord) CallerIsCPU() bool { return r.CallerID&callerCPU != 0 }

// Caller is the caller id as the kernel prints it: "T<tid>" or "C<cpu>".
func (r LogRecord) Caller() string {
	if r.CallerIsCPU() {
		return fmt.Sprintf("C%d", r.CallerID&^callerCPU)
	}
	return fmt.Sprintf("T%d", r.CallerID)
}

// LogRecordError is a record that failed validation and was skipped.
type LogRecordError struct {
	Addr   uint64 // descriptor or record address
	ID     uint64 // descriptor id (lockless ring buffer)
	Seq    uint64 // sequence number, if it could be read
	Reason string
}

func (e *LogRecordError) Error() string {
	return fmt.Sprintf("printk record seq %d (id %#x) at %#x: %s", e.Seq, e.ID, e.Addr, e.Reason)
}

// LogKind says which printk buffer a kernel has.
type LogKind int

const (
	LogNone     LogKind = iota
	LogLockless         // 5.10+ struct printk_ringbuffer (prb)
	LogRecords          // 3.5–5.9 variable-length struct printk_log records
)

// LogKind decides the printk buffer layout from the vmlinux's DWARF.
func (k *Kernel) LogKind() LogKind {
	if _, err := k.Image.Variable("prb"); err == nil {
		return LogLockless
	}
	if _, err := k.Image.Variable("log_first_idx"); err == nil {
		return LogRecords
	}
	return LogNone
}

// Log reads every record of the kernel's printk buffer, oldest first.
// Records that fail validation are reported in the returned errors (with
// their address and sequence number) and skipped; an error that prevents
// reading the buffer at all is returned alone with no records.
func (k *Kernel) Log() ([]LogRecord, []error) {
	switch k.LogKind() {
	case LogLockless:
		l, err := k.prbLayout()
		if err != nil {
			return nil, []error{err}
		}
		return decodePRB(k.ReadVirt, k.Image.ByteOrder(), l)
	case LogRecords:
		l, err := k.logBufLayout()
		if err != nil {
			return nil, []error{err}
		}
		return decodeLogBuf(k.ReadVirt, k.Image.ByteOrder(), l)
	}
	return nil, []error{errors.New("the kernel has neither a lockless printk ring buffer (prb) nor a log_buf with log_first_idx: unsupported printk buffer")}
}

// pkReadFunc reads target (virtual) memory.
type pkReadFunc func(p []byte, addr uint64) error

// ---------------------------------------------------------------------------
// 5.10+ lockless ring buffer

// prbLayout is everything decodePRB needs: where the ring buffer is and the
// byte layout of its structs, taken from DWARF.
type prbLayout struct {
	PrbPtrAddr uint64 // &prb (a struct printk_ringbuffer *)
	PtrSize    int

	PrbSize                                  int64
	CountBits, Descs, Infos, HeadID, TailID  dwarfx.Field // in struct printk_ringbuffer
	SizeBits, Data                           dwarfx.Field // in struct printk_ringbuffer
	DescSize                                 int64
	StateVar, TextBegin, TextNext            dwarfx.Field // in struct prb_desc
	InfoSize                                 int64
	Seq, TS, TextLen, Facility, Flags, Level dwarfx.Field // in struct printk_info
	CallerID, Subsystem, Device              dwarfx.Field
	IDSize                                   int64 // sizeof(prb_data_block.id): an unsigned long
}

func (k *Kernel) prbLayout() (prbLayout, error) {
	v, err := k.Image.Variable("prb")
	if err != nil {
		return prbLayout{}, err
	}
	return prbLayoutFromDWARF(k.Image, v.Addr, v.Type, k.PtrSize())
}

// prbLayoutFromDWARF derives the layout from prb's type (struct
// printk_ringbuffer *); every struct involved is reachable from it.
func prbLayoutFromDWARF(im *dwarfx.Image, prbAddr uint64, prbType dwarf.Type, ptrSize int) (prbLayout, error) {
	l := prbLayout{PrbPtrAddr: prbAddr, PtrSize: ptrSize, IDSize: int64(ptrSize)}
	wrap := func(err error) error { return fmt.Errorf("printk ring buffer layout (prb): %w", err) }
	rb, err := pkStruct(im, prbType, true)
	if err != nil {
		return l, wrap(err)
	}
	l.PrbSize = rb.Size()
	must := func(st *dwarf.StructType, dst *dwarfx.Field, path string) {
		if err != nil {
			return
		}
		*dst, err = pkMember(im, st, path)
	}
	must(rb, &l.CountBits, "desc_ring.count_bits")
	must(rb, &l.Descs, "desc_ring.descs")
	must(rb, &l.Infos, "desc_ring.infos")
	must(rb, &l.HeadID, "desc_ring.head_id")
	must(rb, &l.TailID, "desc_ring.tail_id")
	must(rb, &l.SizeBits, "text_data_ring.size_bits")
	must(rb, &l.Data, "text_data_ring.data")
	if err != nil {
		return l, wrap(err)
	}
	desc, err := pkStruct(im, l.Descs.Type, true)
	if err != nil {
		return l, wrap(fmt.Errorf("desc_ring.descs: %w", err))
	}
	l.DescSize = desc.Size()
	must(desc, &l.StateVar, "state_var")
	must(desc, &l.TextBegin, "text_blk_lpos.begin")
	must(desc, &l.TextNext, "text_blk_lpos.next")
	if err != nil {
		return l, wrap(err)
	}
	info, err := pkStruct(im, l.Infos.Type, true)
	if err != nil {
		return l, wrap(fmt.Errorf("desc_ring.infos: %w", err))
	}
	l.InfoSize = info.Size()
	must(info, &l.Seq, "seq")
	must(info, &l.TS, "ts_nsec")
	must(info, &l.TextLen, "text_len")
	must(info, &l.Level, "level")
	if err != nil {
		return l, wrap(err)
	}
	l.Facility = pkOptMember(im, info, "facility")
	l.Flags = pkOptMember(im, info, "flags")
	l.CallerID = pkOptMember(im, info, "caller_id")
	l.Subsystem = pkOptMember(im, info, "dev_info.subsystem")
	l.Device = pkOptMember(im, info, "dev_info.device")
	// state_var is an atomic_long_t: its counter has the size of a long.
	if l.StateVar.ByteSize != 4 && l.StateVar.ByteSize != 8 {
		return l, wrap(fmt.Errorf("prb_desc.state_var has size %d, want a long", l.StateVar.ByteSize))
	}
	l.IDSize = l.StateVar.ByteSize
	return l, nil
}

// Descriptor states (top two bits of state_var).
const (
	descReserved  = 0
	descCommitted = 1
	descFinalized = 2
	descReusable  = 3
)

// Bounds for the sizes read from the dump, so that a corrupt header cannot
// make us allocate gigabytes: the kernel caps log_buf_len at 2^31 and the
// descriptor count at text size / 2^5 (PRB_AVGBITS).
const (
	maxPrbDescBits = 26
	maxLogBufBits  = 31
	maxLogBufBytes = 1 << 30
)

func decodePRB(read pkReadFunc, bo binary.ByteOrder, l prbLayout) ([]LogRecord, []error) {
	r, err := readPRB(read, bo, l)
	if err != nil {
		return nil, []error{err}
	}
	var recs []LogRecord
	var errs []error
	// From tail to head inclusive, as the kernel's readers and crash do;
	// the ring has count descriptors, which bounds the walk.
	id := r.tailID
	for n := uint64(0); n < r.count; n++ {
		rec, ok, err := r.record(id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			recs = append(recs, rec)
		}
		if id == r.headID {
			break
		}
		id = (id + 1) & r.idMask
	}
	return recs, errs
}

// prbRing is a lockless printk ring read out of the target: its
// descriptors, their printk_info records and the text data ring
// (kernel/printk/printk_ringbuffer.h).
type prbRing struct {
	l                      prbLayout
	bo                     binary.ByteOrder
	descs, infos, data     []byte
	descsAddr              uint64
	count                  uint64 // descriptors (1 << count_bits)
	sizeBits, dataSize     uint64 // text ring: 1 << size_bits bytes
	flagsShift             uint   // state_var: state in the top two bits, id below
	idMask                 uint64
	headID, tailID, idSize uint64
}

// readPRB reads struct printk_ringbuffer through the prb pointer, checks
// its sizes, and reads its three arrays whole.
func readPRB(read pkReadFunc, bo binary.ByteOrder, l prbLayout) (*prbRing, error) {
	ptr := make([]byte, l.PtrSize)
	if err := read(ptr, l.PrbPtrAddr); err != nil {
		return nil, fmt.Errorf("reading prb at %#x: %w", l.PrbPtrAddr, err)
	}
	rbAddr := dwarfx.DecodeUint(bo, ptr[:l.PtrSize])
	rb := make([]byte, l.PrbSize)
	if err := read(rb, rbAddr); err != nil {
		return nil, fmt.Errorf("reading struct printk_ringbuffer at %#x (prb): %w", rbAddr, err)
	}
	countBits, _ := l.CountBits.Extract(rb, bo)
	sizeBits, _ := l.SizeBits.Extract(rb, bo)
	if countBits > maxPrbDescBits || sizeBits > maxLogBufBits || sizeBits < 3 {
		return nil, fmt.Errorf("printk ring buffer at %#x: implausible sizes (count_bits %d, size_bits %d)", rbAddr, countBits, sizeBits)
	}
	r := &prbRing{l: l, bo: bo, count: uint64(1) << countBits, sizeBits: sizeBits, dataSize: uint64(1) << sizeBits}
	if r.dataSize > maxLogBufBytes {
		return nil, fmt.Errorf("printk ring buffer at %#x: text ring of %d bytes is too large to read", rbAddr, r.dataSize)
	}
	r.descsAddr, _ = l.Descs.Extract(rb, bo)
	infosAddr, _ := l.Infos.Extract(rb, bo)
	dataAddr, _ := l.Data.Extract(rb, bo)
	r.headID, _ = l.HeadID.Extract(rb, bo)
	r.tailID, _ = l.TailID.Extract(rb, bo)

	r.descs = make([]byte, r.count*uint64(l.DescSize))
	if err := read(r.descs, r.descsAddr); err != nil {
		return nil, fmt.Errorf("reading %d printk descriptors at %#x: %w", r.count, r.descsAddr, err)
	}
	r.infos = make([]byte, r.count*uint64(l.InfoSize))
	if err := read(r.infos, infosAddr); err != nil {
		return nil, fmt.Errorf("reading %d printk_info records at %#x: %w", r.count, infosAddr, err)
	}
	r.data = make([]byte, r.dataSize)
	if err := read(r.data, dataAddr); err != nil {
		return nil, fmt.Errorf("reading the printk text ring (%d bytes at %#x): %w", r.dataSize, dataAddr, err)
	}
	r.flagsShift = uint(l.StateVar.ByteSize*8) - 2
	r.idMask = uint64(1)<<r.flagsShift - 1
	r.idSize = uint64(l.IDSize)
	r.headID &= r.idMask
	r.tailID &= r.idMask
	return r, nil
}

// record returns the record with the given id; ok is false for slots that
// hold no readable record (reserved, free) and err says why a record was
// rejected.
func (r *prbRing) record(id uint64) (rec LogRecord, ok bool, err error) {
	l, bo := r.l, r.bo
	idx := id & (r.count - 1)
	d := r.descs[idx*uint64(l.DescSize) : (idx+1)*uint64(l.DescSize)]
	in := r.infos[idx*uint64(l.InfoSize) : (idx+1)*uint64(l.InfoSize)]
	descAddr := r.descsAddr + idx*uint64(l.DescSize)
	sv, _ := l.StateVar.Extract(d, bo)
	if sv&r.idMask != id {
		// The slot belongs to another id: a record being recycled at the
		// time of the dump, or a damaged ring.
		return rec, false, &LogRecordError{Addr: descAddr, ID: id,
			Reason: fmt.Sprintf("descriptor holds id %#x (state_var %#x)", sv&r.idMask, sv)}
	}
	if st := sv >> r.flagsShift; st != descCommitted && st != descFinalized {
		return rec, false, nil // reserved (being written) or already free
	}
	seq, _ := l.Seq.Extract(in, bo)
	rec = LogRecord{Seq: seq, Addr: descAddr}
	fail := func(reason string) error {
		return &LogRecordError{Addr: descAddr, ID: id, Seq: seq, Reason: reason}
	}
	// The kernel assigns seq so that it indexes the same slot as id.
	if seq&(r.count-1) != idx {
		return rec, false, fail(fmt.Sprintf("printk_info.seq %d does not belong to descriptor slot %d", seq, idx))
	}
	r.info(&rec, in)
	textLen, _ := l.TextLen.Extract(in, bo)
	begin, _ := l.TextBegin.Extract(d, bo)
	end, _ := l.TextNext.Extract(d, bo)
	dataWraps := func(lpos uint64) uint64 { return lpos >> r.sizeBits }
	dataIndex := func(lpos uint64) uint64 { return lpos & (r.dataSize - 1) }
	text, reason := prbText(r.data, begin, end, id, r.idSize, r.dataSize, bo, dataWraps, dataIndex)
	switch reason {
	case "":
		if uint64(len(text)) > textLen {
			text = text[:textLen]
		}
		rec.Text = string(text)
	case "dataless":
		rec.Dataless = true
	default:
		return rec, false, fail(reason)
	}
	return rec, true, nil
}

// decodeHeader fills what every printk record format has — time, level,
// facility, flags, caller — from the header bytes b (printk_info, or a
// log_buf struct printk_log), returning the raw level.
func decodeHeader(rec *LogRecord, b []byte, bo binary.ByteOrder, ts, level, facility, flags, caller dwarfx.Field) uint64 {
	rec.TimestampNS, _ = ts.Extract(b, bo)
	lv, _ := level.Extract(b, bo)
	rec.Level = uint8(lv)
	fac, _ := facility.Extract(b, bo)
	rec.Facility = uint8(fac)
	fl, _ := flags.Extract(b, bo)
	rec.Flags = uint8(fl)
	cid, has := caller.Extract(b, bo)
	rec.CallerID, rec.HasCaller = uint32(cid), has
	return lv
}

// info fills rec from its printk_info bytes in: time, level, facility,
// flags, caller and device.
func (r *prbRing) info(rec *LogRecord, in []byte) {
	l := r.l
	decodeHeader(rec, in, r.bo, l.TS, l.Level, l.Facility, l.Flags, l.CallerID)
	rec.DevInfo = DevInfo{Subsystem: fieldCString(l.Subsystem, in), Device: fieldCString(l.Device, in)}
}

// prbText finds a record's text in the data ring following the kernel's
// get_data(): a regular block lies in one wrap of the ring, a wrapping block
// stores its data at the start of the ring. Every block starts with the id
// of its descriptor, which is checked. The reason is "dataless" for records
// without a text block and a description of the damage otherwise.
func prbText(data []byte, begin, next, id, idSize, size uint64, bo binary.ByteOrder,
	wraps, index func(uint64) uint64) ([]byte, string) {
	if begin&1 != 0 && next&1 != 0 {
		// NO_LPOS (empty text) or FAILED_LPOS (allocation failed).
		return nil, "dataless"
	}
	var off, n uint64
	switch {
	case wraps(begin) == wraps(next) && begin < next:
		off, n = index(begin), next-begin
	case wraps(begin+size) == wraps(next):
		off, n = 0, index(next)
	default:
		return nil, fmt.Sprintf("text block [%#x, %#x) is not a valid position in a ring of %d bytes", begin, next, size)
	}
	if begin%idSize != 0 || next%idSize != 0 {
		return nil, fmt.Sprintf("text block [%#x, %#x) is not aligned to the id size", begin, next)
	}
	if n < idSize || off+n > uint64(len(data)) {
		return nil, fmt.Sprintf("text block [%#x, %#x) has an invalid size %d", begin, next, n)
	}
	blk := data[off : off+n]
	got := dwarfx.DecodeUint(bo, blk[:int(idSize)])
	if got != id {
		return nil, fmt.Sprintf("text block at ring offset %#x belongs to id %#x, not %#x (overwritten)", off, got, id)
	}
	return blk[idSize:], ""
}

// ---------------------------------------------------------------------------
// 3.5–5.9 variable-length records in log_buf

// logBufLayout describes the log_buf variables and struct printk_log.
type logBufLayout struct {
	PtrSize int
	// Addresses of the variables.
	LogBuf, LogBufLen, FirstIdx, NextIdx, FirstSeq uint64
	HasFirstSeq                                    bool
	// struct printk_log (struct log before 3.11).
	HdrSize                              int64
	TS, Len, TextLen, DictLen, Facility  dwarfx.Field
	Flags, Level, CallerID               dwarfx.Field
	LogBufLenSize, IdxSize, FirstSeqSize int64
}

func (k *Kernel) logBufLayout() (logBufLayout, error) {
	l := logBufLayout{PtrSize: k.PtrSize()}
	wrap := func(err error) error { return fmt.Errorf("printk log_buf layout: %w", err) }
	vars := []struct {
		name string
		addr *uint64
		size *int64
	}{
		{"log_buf", &l.LogBuf, nil},
		{"log_buf_len", &l.LogBufLen, &l.LogBufLenSize},
		{"log_first_idx", &l.FirstIdx, &l.IdxSize},
		{"log_next_idx", &l.NextIdx, nil},
	}
	for _, v := range vars {
		dv, err := k.Image.Variable(v.name)
		if err != nil {
			return l, wrap(err)
		}
		*v.addr = dv.Addr
		if v.size != nil {
			*v.size = dv.Type.Size()
		}
	}
	if dv, err := k.Image.Variable("log_first_seq"); err == nil {
		l.FirstSeq, l.FirstSeqSize, l.HasFirstSeq = dv.Addr, dv.Type.Size(), true
	}
	var st *dwarf.StructType
	var lastErr error
	// Renamed from struct log to struct printk_log in 3.11.
	for _, name := range []string{"struct printk_log", "struct log"} {
		t, err := k.Image.Type(name)
		if err != nil {
			lastErr = err
			continue
		}
		if st, err = pkStruct(k.Image, t, false); err == nil {
			break
		}
		lastErr = err
	}
	if st == nil {
		return l, wrap(lastErr)
	}
	return l, fillPrintkLog(k.Image, &l, st)
}

// fillPrintkLog takes struct printk_log's member layout from DWARF.
func fillPrintkLog(im *dwarfx.Image, l *logBufLayout, st *dwarf.StructType) error {
	l.HdrSize = st.Size()
	var err error
	must := func(dst *dwarfx.Field, path string) {
		if err == nil {
			*dst, err = pkMember(im, st, path)
		}
	}
	must(&l.TS, "ts_nsec")
	must(&l.Len, "len")
	must(&l.TextLen, "text_len")
	must(&l.DictLen, "dict_len")
	if err != nil {
		return fmt.Errorf("printk log_buf layout: %w", err)
	}
	l.Facility = pkOptMember(im, st, "facility")
	l.Flags = pkOptMember(im, st, "flags")
	l.Level = pkOptMember(im, st, "level")
	l.CallerID = pkOptMember(im, st, "caller_id")
	if !l.Level.Found() {
		return fmt.Errorf("printk log_buf layout: %s has no level member", dwarfx.TypeString(st))
	}
	if l.LogBufLenSize == 0 {
		l.LogBufLenSize = 4
	}
	if l.IdxSize == 0 {
		l.IdxSize = 4
	}
	if l.FirstSeqSize == 0 {
		l.FirstSeqSize = 8
	}
	return nil
}

func pkReadVar(read pkReadFunc, bo binary.ByteOrder, addr uint64, size int64, name string) (uint64, error) {
	if size <= 0 || size > 8 {
		return 0, fmt.Errorf("%s has size %d", name, size)
	}
	b := make([]byte, 8)
	if err := read(b[:size], addr); err != nil {
		return 0, fmt.Errorf("reading %s at %#x: %w", name, addr, err)
	}
	f := dwarfx.Field{ByteSize: size}
	v, _ := f.Extract(b, bo)
	return v, nil
}

// logBufVars are the variables that place the log_buf records (3.5 to
// 5.9, kernel/printk/printk.c).
type logBufVars struct {
	bufAddr, bufLen, first, next, seq uint64
}

// readLogBufVars reads log_buf, log_buf_len, log_first_idx, log_next_idx
// and log_first_seq, and checks they fit together.
func readLogBufVars(read pkReadFunc, bo binary.ByteOrder, l logBufLayout) (v logBufVars, err error) {
	for _, r := range []struct {
		dst  *uint64
		addr uint64
		size int64
		name string
		skip bool
	}{
		{&v.bufAddr, l.LogBuf, int64(l.PtrSize), "log_buf", false},
		{&v.bufLen, l.LogBufLen, l.LogBufLenSize, "log_buf_len", false},
		{&v.first, l.FirstIdx, l.IdxSize, "log_first_idx", false},
		{&v.next, l.NextIdx, l.IdxSize, "log_next_idx", false},
		{&v.seq, l.FirstSeq, l.FirstSeqSize, "log_first_seq", !l.HasFirstSeq},
	} {
		if r.skip {
			continue
		}
		if *r.dst, err = pkReadVar(read, bo, r.addr, r.size, r.name); err != nil {
			return v, err
		}
	}
	if v.bufLen == 0 || v.bufLen > maxLogBufBytes {
		return v, fmt.Errorf("log_buf_len %d is implausible", v.bufLen)
	}
	if v.first >= v.bufLen || v.next >= v.bufLen {
		return v, fmt.Errorf("log_first_idx %d / log_next_idx %d outside log_buf_len %d", v.first, v.next, v.bufLen)
	}
	return v, nil
}

// addDict splits a log_buf record's dictionary ("KEY=value" NUL-separated)
// into rec.Dict and picks out the device.
func addDict(rec *LogRecord, dict []byte) {
	for _, kv := range strings.Split(string(dict), "\x00") {
		if kv == "" {
			continue
		}
		rec.Dict = append(rec.Dict, kv)
		if v, ok := strings.CutPrefix(kv, "SUBSYSTEM="); ok {
			rec.DevInfo.Subsystem = v
		} else if v, ok := strings.CutPrefix(kv, "DEVICE="); ok {
			rec.DevInfo.Device = v
		}
	}
}

func decodeLogBuf(read pkReadFunc, bo binary.ByteOrder, l logBufLayout) ([]LogRecord, []error) {
	v, err := readLogBufVars(read, bo, l)
	if err != nil {
		return nil, []error{err}
	}
	bufAddr, bufLen, first, next, seq := v.bufAddr, v.bufLen, v.first, v.next, v.seq
	buf := make([]byte, bufLen)
	if err := read(buf, bufAddr); err != nil {
		return nil, []error{fmt.Errorf("reading log_buf (%d bytes at %#x): %w", bufLen, bufAddr, err)}
	}
	hdr := uint64(l.HdrSize)
	var recs []LogRecord
	var errs []error
	fail := func(idx uint64, reason string) {
		errs = append(errs, &LogRecordError{Addr: bufAddr + idx, Seq: seq, Reason: reason})
	}
	lenAt := func(idx uint64) uint64 {
		if idx+hdr > bufLen {
			return 0
		}
		v, _ := l.Len.Extract(buf[idx:idx+hdr], bo)
		return v
	}
	// Each record is at least a header long, so bufLen/hdr bounds the walk
	// (and catches a cycle in a corrupt buffer).
	idx := first
	for n := uint64(0); idx != next; n++ {
		if n > bufLen/hdr+1 {
			fail(idx, "log_buf walk does not reach log_next_idx (cycle)")
			break
		}
		if idx+hdr > bufLen || lenAt(idx) == 0 {
			// The end-of-buffer marker: this record is at the start.
			idx = 0
			if idx == next {
				break
			}
		}
		h := buf[idx : idx+hdr]
		recLen := lenAt(idx)
		textLen, _ := l.TextLen.Extract(h, bo)
		dictLen, _ := l.DictLen.Extract(h, bo)
		if recLen < hdr || idx+recLen > bufLen || hdr+textLen+dictLen > recLen {
			// A bad length loses the chain: nothing after it can be found.
			fail(idx, fmt.Sprintf("record length %d (text %d, dict %d, header %d) does not fit at index %d of %d", recLen, textLen, dictLen, hdr, idx, bufLen))
			break
		}
		rec := LogRecord{Seq: seq, Addr: bufAddr + idx}
		lv := decodeHeader(&rec, h, bo, l.TS, l.Level, l.Facility, l.Flags, l.CallerID)
		if l.Level.BitSize == 0 && l.Level.ByteSize == 2 {
			// 3.5's u16 level held facility<<3 | level.
			rec.Level = uint8(lv & 7)
		}
		body := buf[idx+hdr : idx+recLen]
		rec.Text = string(body[:textLen])
		if dictLen > 0 {
			addDict(&rec, body[textLen:textLen+dictLen])
		}
		recs = append(recs, rec)
		seq++
		idx += recLen
		if idx >= bufLen {
			idx = 0
		}
	}
	return recs, errs
}
