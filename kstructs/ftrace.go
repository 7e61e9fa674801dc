package kstructs

import (
	"debug/dwarf"
	"errors"
	"fmt"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file reads the ftrace ring buffers out of the dump: the trace
// arrays (global_trace and the instances on ftrace_trace_arrays), their
// per-cpu ring buffers, pages and events, in the order the kernel's own
// "trace" file iterator reads them. Layouts come from DWARF
// (ftrace_layout.go), event formats from the kernel's trace_event_call
// list (ftrace_events.go).

// TraceInstance is one trace array: the top-level buffer (Name "") or an
// instance under /sys/kernel/tracing/instances.
type TraceInstance struct {
	Name      string `json:"name"`
	Addr      uint64 `json:"trace_array"`
	Buffer    uint64 `json:"buffer"`
	Tracer    string `json:"tracer"`
	TracingOn bool   `json:"tracing_on"`
	Clock     string `json:"clock,omitempty"`
	ClockInNS bool   `json:"clock_in_ns"`
	TimeStart uint64 `json:"time_start"`
	// Expanded is ring_buffer_expanded: false until tracing is first used
	// (the buffers stay at their boot size of one page a cpu).
	Expanded bool       `json:"expanded"`
	CPUs     []TraceCPU `json:"cpus"`
}

// TraceCPU is one cpu's ring buffer, with the counters of
// per_cpu/cpuN/stats.
type TraceCPU struct {
	CPU           int    `json:"cpu"`
	Addr          uint64 `json:"ring_buffer_per_cpu"`
	Pages         uint64 `json:"pages"`
	SizeKB        uint64 `json:"size_kb"`
	Entries       uint64 `json:"entries"`
	Overrun       uint64 `json:"overrun"`
	CommitOverrun uint64 `json:"commit_overrun"`
	Bytes         uint64 `json:"bytes"`
	Dropped       uint64 `json:"dropped_events"`
	Read          uint64 `json:"read_events"`
}

// TraceEvent is one event of a ring buffer.
type TraceEvent struct {
	CPU          int
	TS           uint64 // trace clock (ns for the ns clocks)
	Type         int
	Name         string // event name ("sched_switch", "function")
	System       string
	Flags        uint8
	PreemptCount uint8
	PID          int32
	Data         []byte // the whole entry, trace_entry header first
	ev           *ftEventType
}

// TracePageError is a page whose contents cannot be decoded; the events
// of the other pages are still returned.
type TracePageError struct {
	Instance string
	CPU      int
	Page     uint64 // struct buffer_page
	Data     uint64 // struct buffer_data_page
	Reason   string
}

func (e *TracePageError) Error() string {
	inst := fmt.Sprintf("trace instance %q", e.Instance)
	if e.Instance == "" {
		inst = "top-level trace buffer"
	}
	return fmt.Sprintf("%s cpu %d: page %#x (data %#x): %s", inst, e.CPU, e.Page, e.Data, e.Reason)
}

// ErrTracingNeverEnabled says the kernel has ftrace but no ring buffer was
// ever allocated (tracing never used since boot).
var ErrTracingNeverEnabled = errors.New("tracing was never enabled since boot")

// ftReader is what the ftrace walks may touch: target memory through the
// seam (the Kernel's ReadVirt, so WithMemory overlays apply), the image's
// symbols and types, and the pointer size. The layout comes with each call.
type ftReader struct {
	mem VirtReader
	im  *dwarfx.Image
	ptr int
}

func (k *Kernel) ftReader() *ftReader { return &ftReader{mem: k, im: k.Image, ptr: k.PtrSize()} }

func (r *ftReader) read(addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	if err := r.mem.ReadVirt(b, addr); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *ftReader) ptrAt(addr uint64) (uint64, error) {
	b, err := r.read(addr, r.ptr)
	if err != nil {
		return 0, err
	}
	return dwarfx.DecodeUint(r.im.ByteOrder(), b), nil
}

func (r *ftReader) cstring(addr uint64, max int) (string, error) {
	return readCStringFrom(r.mem, addr, max)
}

func (r *ftReader) decoder() decoder { return decoder{bo: r.im.ByteOrder(), ptr: r.ptr} }

// The Kernel's entry points read through its ftReader.
func (k *Kernel) ftRead(addr uint64, n int) ([]byte, error) { return k.ftReader().read(addr, n) }
func (k *Kernel) ftPtr(addr uint64) (uint64, error)         { return k.ftReader().ptrAt(addr) }

// TraceInstances returns the top-level trace array and every instance.
func (k *Kernel) TraceInstances() ([]*TraceInstance, error) {
	l, err := k.ftLayout()
	if err != nil {
		return nil, err
	}
	gt, err := k.Image.Variable("global_trace")
	if err != nil {
		return nil, fmt.Errorf("the kernel has no ftrace (global_trace): %w", err)
	}
	addrs := []uint64{gt.Addr}
	if head, err := k.Image.Variable("ftrace_trace_arrays"); err == nil {
		nodes, werr := WalkList(k, head.Addr, ListOptions{Head: true, Limit: 4096})
		if werr != nil && len(nodes) == 0 {
			return nil, fmt.Errorf("ftrace_trace_arrays: %w", werr)
		}
		for _, n := range nodes {
			a := n - uint64(l.taList.Off)
			if a != gt.Addr {
				addrs = append(addrs, a)
			}
		}
	}
	var out []*TraceInstance
	r := k.ftReader()
	cpus, _ := k.PossibleCPUs()
	for i, a := range addrs {
		ti, err := r.readTraceInstance(l, a, i == 0, cpus)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			continue
		}
		out = append(out, ti)
	}
	return out, nil
}

// TraceInstance returns the instance by name ("" or "top" for the
// top-level buffer).
func (k *Kernel) TraceInstance(name string) (*TraceInstance, error) {
	all, err := k.TraceInstances()
	if err != nil {
		return nil, err
	}
	if name == "top" {
		name = ""
	}
	for _, ti := range all {
		if ti.Name == name {
			return ti, nil
		}
	}
	var names []string
	for _, ti := range all[1:] {
		names = append(names, ti.Name)
	}
	return nil, fmt.Errorf("no trace instance %q (instances: %v)", name, names)
}

func (r *ftReader) readTraceInstance(l *ftLayout, addr uint64, top bool, cpus []int) (*TraceInstance, error) {
	b, err := r.read(addr, l.ta.size)
	if err != nil {
		return nil, fmt.Errorf("reading trace_array %#x: %w", addr, err)
	}
	d := l.dec
	ti := &TraceInstance{Addr: addr, Buffer: d.uint(b, l.taBuffer), TimeStart: d.uint(b, l.taTimeStart)}
	if !top {
		if p := d.uint(b, l.taName); p != 0 {
			ti.Name, _ = r.cstring(p, 256)
		}
	}
	if ct := d.uint(b, l.taCurrent); ct != 0 && l.tracerName.ok() {
		if p, err := r.ptrAt(ct + uint64(l.tracerName.Off)); err == nil && p != 0 {
			ti.Tracer, _ = r.cstring(p, 64)
		}
	}
	if l.taExpanded.ok() {
		ti.Expanded = d.uint(b, l.taExpanded) != 0
	} else if v, err := r.im.Variable("ring_buffer_expanded"); err == nil {
		if eb, err := r.read(v.Addr, 1); err == nil {
			ti.Expanded = eb[0] != 0
		}
	} else {
		ti.Expanded = true
	}
	if l.taClock.ok() {
		ti.Clock, ti.ClockInNS = r.ftClock(int(d.uint(b, l.taClock)))
	} else {
		ti.ClockInNS = true
	}
	if ti.Buffer == 0 {
		ti.TracingOn = d.uint(b, l.taBufferDisabled) == 0
		return ti, nil
	}
	rb, err := r.read(ti.Buffer, l.rb.size)
	if err != nil {
		return nil, fmt.Errorf("reading ring buffer %#x: %w", ti.Buffer, err)
	}
	// RB_BUFFER_OFF (1 << 20) is tracing_on=0; other bits are transient.
	ti.TracingOn = d.uint(rb, l.rbRecordDisabled)&(1<<20) == 0
	bufs := d.uint(rb, l.rbBuffers)
	if len(cpus) == 0 {
		n := int(d.uint(rb, l.rbCPUs))
		for i := 0; i < n; i++ {
			cpus = append(cpus, i)
		}
	}
	order := d.uint(rb, l.rbSubbufOrder)
	for _, c := range cpus {
		p, err := r.ptrAt(bufs + uint64(c*r.ptr))
		if err != nil || p == 0 {
			continue
		}
		cb, err := r.read(p, l.cpu.size)
		if err != nil {
			continue
		}
		tc := TraceCPU{CPU: c, Addr: p, Pages: d.uint(cb, l.cpuNrPages)}
		tc.SizeKB = tc.Pages * ((l.pageSize << order) - uint64(l.dataHdr)) >> 10
		overrun := d.uint(cb, l.cpuOverrun)
		read := d.uint(cb, l.cpuRead)
		tc.Entries = d.uint(cb, l.cpuEntries) - (overrun + read)
		tc.Overrun = overrun
		tc.CommitOverrun = d.uint(cb, l.cpuCommitOverrun)
		tc.Bytes = d.uint(cb, l.cpuEntriesBytes) - d.uint(cb, l.cpuReadBytes)
		tc.Dropped = d.uint(cb, l.cpuDropped)
		tc.Read = read
		ti.CPUs = append(ti.CPUs, tc)
	}
	return ti, nil
}

// ftClock names trace_clocks[id] and says whether it counts ns.
func (r *ftReader) ftClock(id int) (string, bool) {
	v, err := r.im.Variable("trace_clocks")
	if err != nil {
		return "", true
	}
	// trace_clocks is an array of an anonymous struct {func, name, in_ns}.
	at, ok := dwarfx.Strip(v.Type).(*dwarf.ArrayType)
	if !ok {
		return "", true
	}
	et := dwarfx.Strip(r.im.Complete(dwarfx.Strip(at.Type)))
	if _, ok := et.(*dwarf.StructType); !ok {
		return "", true
	}
	st := newStructLayout(r.im, "trace_clocks[]", et)
	nameF, nsF := st.opt("name"), st.opt("in_ns")
	if at.Count > 0 && int64(id) >= at.Count {
		return fmt.Sprintf("clock %d", id), true
	}
	b, err := r.read(v.Addr+uint64(id*st.size), st.size)
	if err != nil {
		return "", true
	}
	d := decoder{bo: r.im.ByteOrder(), ptr: r.ptr}
	name, _ := r.cstring(d.uint(b, nameF), 32)
	return name, d.uint(b, nsF) != 0
}

// ftPage is one buffer_page as read.
type ftPage struct {
	addr, next, data uint64
	read             uint64
	order            uint64
	reader           bool
}

func ftReadPage(l *ftLayout, read ftReadFunc, addr uint64) (ftPage, error) {
	b, err := read(addr, l.bp.size)
	if err != nil {
		return ftPage{}, err
	}
	d := l.dec
	return ftPage{addr: addr, next: d.uint(b, l.bpList), data: d.uint(b, l.bpPage), read: d.uint(b, l.bpRead), order: d.uint(b, l.bpOrder)}, nil
}

const (
	rbPageHead  = 1
	rbFlagMask  = 3
	rbTSShift   = 27
	rbTypePad   = 29
	rbTypeExt   = 30
	rbTypeStamp = 31
)

// TraceEvents decodes one cpu's ring buffer of the instance, oldest first,
// in the order the kernel's trace iterator reads it: the reader page from
// its read offset, then from the head page around to the commit page. A
// page that cannot be decoded gives a *TracePageError and the others
// still decode.
func (k *Kernel) TraceEvents(ti *TraceInstance, cpu int) ([]*TraceEvent, []error) {
	l, err := k.ftLayout()
	if err != nil {
		return nil, []error{err}
	}
	if ti.Buffer == 0 {
		return nil, []error{fmt.Errorf("%w: trace instance %q has no ring buffer", ErrTracingNeverEnabled, ti.Name)}
	}
	var tc *TraceCPU
	for i := range ti.CPUs {
		if ti.CPUs[i].CPU == cpu {
			tc = &ti.CPUs[i]
		}
	}
	if tc == nil {
		return nil, []error{fmt.Errorf("trace instance %q has no buffer for cpu %d", ti.Name, cpu)}
	}
	cb, err := k.ftRead(tc.Addr, l.cpu.size)
	if err != nil {
		return nil, []error{fmt.Errorf("reading ring_buffer_per_cpu %#x: %w", tc.Addr, err)}
	}
	types, _ := k.ftEventTypes()
	return ftWalkCPU(l, k.ftRead, cb, ti.Name, cpu, ti.TimeStart, types)
}

// ftReadFunc reads n bytes of kernel memory (the Kernel's, or a test's).
type ftReadFunc func(addr uint64, n int) ([]byte, error)

// ftWalkCPU reads one cpu's ring buffer given its ring_buffer_per_cpu bytes.
func ftWalkCPU(l *ftLayout, read ftReadFunc, cb []byte, inst string, cpu int, timeStart uint64, types map[int]*ftEventType) ([]*TraceEvent, []error) {
	pages, errs := ftPageOrder(l, read, cb, inst, cpu)
	var out []*TraceEvent
	for i, p := range pages {
		from := uint64(0)
		if i == 0 && p.reader {
			from = p.read
		}
		evs, err := ftDecodePage(l, read, p, from, cpu, types)
		if err != nil {
			errs = append(errs, &TracePageError{Instance: inst, CPU: cpu, Page: p.addr, Data: p.data, Reason: err.Error()})
		}
		for _, e := range evs {
			if e.TS >= timeStart {
				out = append(out, e)
			}
		}
	}
	return out, errs
}

// ftPageOrder lists a cpu's buffer pages in the order the kernel's trace
// iterator reads them: the reader page (marked reader; its events start at
// its read offset), then from the head page around to the commit page.
func ftPageOrder(l *ftLayout, read ftReadFunc, cb []byte, inst string, cpu int) ([]ftPage, []error) {
	d := l.dec
	mask := ^uint64(rbFlagMask)
	reader := d.uint(cb, l.cpuReader) & mask
	commit := d.uint(cb, l.cpuCommit) & mask
	headHint := d.uint(cb, l.cpuHead) & mask
	nr := int(d.uint(cb, l.cpuNrPages))
	var errs []error
	var out []ftPage
	pageErr := func(what string, addr uint64, err error) {
		errs = append(errs, fmt.Errorf("trace instance %q cpu %d: %s %#x: %w", inst, cpu, what, addr, err))
	}
	if reader != 0 {
		rp, err := ftReadPage(l, read, reader)
		if err != nil {
			pageErr("reader page", reader, err)
		} else {
			rp.reader = true
			out = append(out, rp)
		}
		if reader == commit {
			return out, errs
		}
	}
	// The head page is the one the ring's link with RB_PAGE_HEAD points
	// to (head_page may lag behind); walk the ring once to find it.
	start := d.uint(cb, l.cpuPages) &^ rbFlagMask
	if start == 0 {
		start = headHint
	}
	pages := map[uint64]ftPage{}
	head := uint64(0)
	cur := start
	for i := 0; i <= nr+1 && cur != 0; i++ {
		if _, seen := pages[cur]; seen {
			break
		}
		p, err := ftReadPage(l, read, cur)
		if err != nil {
			pageErr("buffer page", cur, err)
			break
		}
		pages[cur] = p
		if p.next&rbFlagMask == rbPageHead {
			head = p.next &^ rbFlagMask
		}
		cur = p.next &^ rbFlagMask
	}
	if head == 0 {
		head = headHint
	}
	cur = head
	for i := 0; i <= nr+1 && cur != 0; i++ {
		p, ok := pages[cur]
		if !ok {
			var err error
			if p, err = ftReadPage(l, read, cur); err != nil {
				pageErr("buffer page", cur, err)
				break
			}
		}
		out = append(out, p)
		if cur == commit {
			break
		}
		cur = p.next &^ rbFlagMask
		if cur == head {
			break
		}
	}
	return out, errs
}

// ftDecodePage decodes the events of one data page from byte offset from.
func ftDecodePage(l *ftLayout, read ftReadFunc, p ftPage, from uint64, cpu int, types map[int]*ftEventType) ([]*TraceEvent, error) {
	if p.data == 0 {
		return nil, fmt.Errorf("no data page")
	}
	hdr, err := read(p.data, l.dataHdr)
	if err != nil {
		return nil, fmt.Errorf("reading the page header: %w", err)
	}
	d := l.dec
	ts := d.uint(hdr, l.dpTimeStamp)
	commit := d.uint(hdr, l.dpCommit) & (1<<30 - 1) // RB_MISSED_EVENTS/STORED are the top bits
	size := (l.pageSize << p.order) - uint64(l.dataHdr)
	if commit > size {
		return nil, fmt.Errorf("corrupt page header: commit %d beyond the page's %d data bytes", commit, size)
	}
	if commit == 0 {
		return nil, nil
	}
	data, err := read(p.data+uint64(l.dataHdr), int(commit))
	if err != nil {
		return nil, fmt.Errorf("reading %d bytes of events: %w", commit, err)
	}
	return ftDecodeEvents(d, data, ts, from, cpu, types, l)
}

// ftDecodeEvents walks the ring_buffer_events of a page's data, adding
// deltas to the page's time stamp; events before offset from are decoded
// (for their time) but not returned.
func ftDecodeEvents(d decoder, data []byte, ts, from uint64, cpu int, types map[int]*ftEventType, l *ftLayout) ([]*TraceEvent, error) {
	var out []*TraceEvent
	off := 0
	n := len(data)
	for off < n {
		if off+4 > n {
			return out, fmt.Errorf("truncated event header at offset %d of %d", off, n)
		}
		h := d.bo.Uint32(data[off:])
		var typeLen, delta uint64
		if d.bo.Uint32([]byte{0, 0, 0, 1}) == 1 { // big endian: type_len is the high bits
			typeLen, delta = uint64(h>>27), uint64(h&(1<<27-1))
		} else {
			typeLen, delta = uint64(h&31), uint64(h>>5)
		}
		arr0 := func() (uint64, bool) {
			if off+8 > n {
				return 0, false
			}
			return uint64(d.bo.Uint32(data[off+4:])), true
		}
		var length int
		switch typeLen {
		case rbTypePad:
			if delta == 0 {
				return out, nil // null event: the rest of the page is empty
			}
			a, ok := arr0()
			if !ok {
				return out, nil
			}
			length = 4 + int(a)
		case rbTypeExt:
			a, ok := arr0()
			if !ok {
				return out, fmt.Errorf("truncated time extend at offset %d", off)
			}
			ts += a<<rbTSShift + delta
			length = 8
		case rbTypeStamp:
			a, ok := arr0()
			if !ok {
				return out, fmt.Errorf("truncated time stamp at offset %d", off)
			}
			ts = ftFixAbs(a<<rbTSShift+delta, ts)
			length = 8
		default:
			var payload []byte
			if typeLen == 0 {
				a, ok := arr0()
				if !ok || a < 4 || off+4+int(a) > n {
					return out, fmt.Errorf("bad event length %d at offset %d", a, off)
				}
				length = 4 + int(a)
				payload = data[off+8 : off+length]
			} else {
				length = 4 + int(typeLen)*4
				if off+length > n {
					return out, fmt.Errorf("event at offset %d runs past the commit (%d bytes, %d committed)", off, length, n)
				}
				payload = data[off+4 : off+length]
			}
			ts += delta
			if uint64(off) >= from {
				out = append(out, newTraceEvent(d, l, payload, ts, cpu, types))
			}
		}
		if length <= 0 || off+length > n {
			return out, fmt.Errorf("event at offset %d (type_len %d) runs past the commit (%d bytes)", off, typeLen, n)
		}
		off += length
	}
	return out, nil
}

// ftFixAbs is rb_fix_abs_ts: absolute stamps lose the top 5 bits.
func ftFixAbs(abs, save uint64) uint64 {
	const msb = uint64(0xf8) << 56
	if save&msb != 0 {
		abs |= save & msb
		if abs < save {
			abs += 1 << 59
		}
	}
	return abs
}

func newTraceEvent(d decoder, l *ftLayout, payload []byte, ts uint64, cpu int, types map[int]*ftEventType) *TraceEvent {
	e := &TraceEvent{CPU: cpu, TS: ts, Data: payload}
	e.Type = int(d.uint(payload, l.entType))
	e.Flags = uint8(d.uint(payload, l.entFlags))
	e.PreemptCount = uint8(d.uint(payload, l.entPreempt))
	e.PID = int32(uint32(d.uint(payload, l.entPid)))
	if et := types[e.Type]; et != nil {
		e.ev = et
		e.Name, e.System = et.Name, et.System
	} else {
		e.Name = fmt.Sprintf("type %d", e.Type)
	}
	return e
}

// MergeTraceEvents merges per-cpu event lists in time order, as the
// kernel's trace file does (on equal stamps the lower cpu first).
func MergeTraceEvents(perCPU [][]*TraceEvent) []*TraceEvent {
	total := 0
	for _, evs := range perCPU {
		total += len(evs)
	}
	all := make([]*TraceEvent, 0, total)
	idx := make([]int, len(perCPU))
	for len(all) < total {
		best := -1
		for c, evs := range perCPU {
			if idx[c] >= len(evs) {
				continue
			}
			if best < 0 || evs[idx[c]].TS < perCPU[best][idx[best]].TS {
				best = c
			}
		}
		all = append(all, perCPU[best][idx[best]])
		idx[best]++
	}
	return all
}
