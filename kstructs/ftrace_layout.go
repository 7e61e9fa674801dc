package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file finds, once per Kernel and from DWARF only, where the ftrace
// structures keep what the trace decoder reads: struct trace_array, the
// ring buffer (struct trace_buffer, named ring_buffer before 5.6), its
// per-cpu buffers and pages, the event calls and their fields, and the
// saved_cmdlines map. The helpers are private to the ftrace files (ft*)
// so that they do not depend on other kstructs internals.

// ftField is a member located in its outermost struct.
type ftField struct {
	Off, Size int
	Type      dwarf.Type
	BitPos    int // for a bit-field, DWARF data bit offset from the struct start
	Bits      int
	ok        bool
}

// ftStruct is a struct type whose members are looked up by dotted path.
type ftStruct struct {
	im      *dwarfx.Image
	name    string
	t       dwarf.Type
	size    int
	missing []string
}

func ftType(im *dwarfx.Image, names ...string) (*ftStruct, error) {
	var firstErr error
	for _, n := range names {
		t, err := im.Type(n)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		t = dwarfx.Strip(im.Complete(dwarfx.Strip(t)))
		st, ok := t.(*dwarf.StructType)
		if !ok || st.Incomplete {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s has no definition in DWARF", n)
			}
			continue
		}
		return &ftStruct{im: im, name: n, t: st, size: int(st.Size())}, nil
	}
	return nil, fmt.Errorf("type %s: %v", strings.Join(names, " / "), firstErr)
}

// opt finds the first existing path among alternatives (renamed members).
func (s *ftStruct) opt(paths ...string) ftField {
	for _, p := range paths {
		if f, ok := s.member(p); ok {
			return f
		}
	}
	return ftField{}
}

// need is opt for a member the decoder cannot do without.
func (s *ftStruct) need(paths ...string) ftField {
	f := s.opt(paths...)
	if !f.ok {
		s.missing = append(s.missing, strings.Join(paths, "|"))
	}
	return f
}

func (s *ftStruct) err() error {
	if len(s.missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s lacks member(s) %s in the vmlinux's DWARF", s.name, strings.Join(s.missing, ", "))
}

func (s *ftStruct) member(path string) (ftField, bool) {
	base := int64(0)
	cur := s.t
	parts := strings.Split(path, ".")
	for i, name := range parts {
		f, ok := s.im.FindMember(cur, name)
		if !ok {
			return ftField{}, false
		}
		if i < len(parts)-1 {
			base += f.ByteOffset
			cur = f.Type
			continue
		}
		out := ftField{Off: int(base + f.ByteOffset), Type: f.Type, ok: true}
		sz, _ := s.im.Sizeof(f.Type)
		out.Size = int(sz)
		if f.BitSize > 0 {
			out.Bits = int(f.BitSize)
			out.BitPos = int(base*8 + f.BitOffset)
		}
		return out, true
	}
	return ftField{}, false
}

// ftDec reads members out of struct bytes.
type ftDec struct {
	bo  binary.ByteOrder
	ptr int
}

func (d ftDec) u(b []byte, f ftField) uint64 {
	if !f.ok || f.Off < 0 || f.Off+f.Size > len(b) {
		return 0
	}
	// One decoder for members and bit-fields: dwarfx.Field.Extract.
	df := dwarfx.Field{ByteOffset: int64(f.Off), ByteSize: int64(f.Size)}
	if f.Bits > 0 {
		df = dwarfx.Field{ByteOffset: int64(f.BitPos / 8), BitOffset: int64(f.BitPos), BitSize: int64(f.Bits)}
	}
	x, _ := df.Extract(b, d.bo)
	return x
}

// ftLayout is every offset the trace decoder uses.
type ftLayout struct {
	dec ftDec

	ta                                           *ftStruct // struct trace_array
	taList, taName, taBuffer, taCurrent, taClock ftField
	taTimeStart, taBufferDisabled, taExpanded    ftField

	rb                                                 *ftStruct // struct trace_buffer / ring_buffer
	rbBuffers, rbCPUs, rbRecordDisabled, rbSubbufOrder ftField

	cpu                                                  *ftStruct // struct ring_buffer_per_cpu
	cpuCPU, cpuNrPages, cpuPages                         ftField
	cpuHead, cpuTail, cpuCommit, cpuReader               ftField
	cpuEntries, cpuOverrun, cpuCommitOverrun, cpuDropped ftField
	cpuRead, cpuReadBytes, cpuEntriesBytes               ftField

	bp                              *ftStruct // struct buffer_page
	bpList, bpRead, bpPage, bpOrder ftField
	dataHdr                         int // offsetof(struct buffer_data_page, data)
	dpTimeStamp, dpCommit           ftField

	ent                                   *ftStruct // struct trace_entry
	entType, entFlags, entPreempt, entPid ftField

	call                                                     *ftStruct // struct trace_event_call
	callList, callClass, callName, callEventType             ftField
	callPrintFmt, callFlags                                  ftField
	flTracepoint                                             uint64 // TRACE_EVENT_FL_TRACEPOINT
	class                                                    *ftStruct
	classSystem, classFields                                 ftField
	fld                                                      *ftStruct // struct ftrace_event_field
	fldLink, fldName, fldType, fldOffset, fldSize, fldSigned ftField

	tracerName ftField // struct tracer.name (offset)

	// print-time flags (enum trace_flag_type) and whether trace_entry's
	// preempt_count carries a migrate-disable nibble (kernels with
	// task_struct.migration_disabled print two digits).
	flIrqsOff, flNoSupport, flNeedResched, flHardirq, flSoftirq uint64
	flPreemptResched, flNMI, flBHOff                            uint64
	twoDigitPreempt                                             bool

	pageSize uint64
}

// ftLayoutOnce is a Kernel's ftrace state (Kernel.ft): the layout, the
// saved cmdlines and the event formats, each read once.
type ftLayoutOnce struct {
	once      sync.Once
	l         *ftLayout
	err       error
	cmd       *ftCmdlines
	cmdOnce   sync.Once
	events    map[int]*ftEventType
	eventsErr error
	evOnce    sync.Once
}

func (k *Kernel) ftState() *ftLayoutOnce { return &k.ft }

func (k *Kernel) ftLayout() (*ftLayout, error) {
	st := k.ftState()
	st.once.Do(func() { st.l, st.err = k.buildFtLayout() })
	return st.l, st.err
}

func (k *Kernel) buildFtLayout() (*ftLayout, error) {
	im := k.Image
	l := &ftLayout{dec: ftDec{bo: im.ByteOrder(), ptr: im.PtrSize()}, pageSize: k.PageSize()}
	var errs []string
	add := func(s *ftStruct) {
		if e := s.err(); e != nil {
			errs = append(errs, e.Error())
		}
	}
	var err error
	if l.ta, err = ftType(im, "struct trace_array"); err != nil {
		return nil, fmt.Errorf("the kernel has no ftrace (%v)", err)
	}
	l.taList = l.ta.need("list")
	l.taName = l.ta.need("name")
	l.taBuffer = l.ta.need("array_buffer.buffer", "trace_buffer.buffer")
	l.taCurrent = l.ta.opt("current_trace")
	l.taClock = l.ta.opt("clock_id")
	l.taTimeStart = l.ta.opt("array_buffer.time_start", "trace_buffer.time_start")
	l.taBufferDisabled = l.ta.opt("buffer_disabled")
	l.taExpanded = l.ta.opt("ring_buffer_expanded")
	add(l.ta)

	if l.rb, err = ftType(im, "struct trace_buffer", "struct ring_buffer"); err != nil {
		return nil, err
	}
	// Before 5.6 "struct trace_buffer" was the tracing wrapper and the
	// ring buffer was "struct ring_buffer": pick the one with buffers.
	if _, ok := l.rb.member("buffers"); !ok {
		if l.rb, err = ftType(im, "struct ring_buffer"); err != nil {
			return nil, err
		}
	}
	l.rbBuffers = l.rb.need("buffers")
	l.rbCPUs = l.rb.opt("cpus")
	l.rbRecordDisabled = l.rb.need("record_disabled")
	l.rbSubbufOrder = l.rb.opt("subbuf_order")
	add(l.rb)

	if l.cpu, err = ftType(im, "struct ring_buffer_per_cpu"); err != nil {
		return nil, err
	}
	c := l.cpu
	l.cpuCPU = c.need("cpu")
	l.cpuNrPages = c.need("nr_pages")
	l.cpuPages = c.need("pages")
	l.cpuHead = c.need("head_page")
	l.cpuTail = c.opt("tail_page")
	l.cpuCommit = c.need("commit_page")
	l.cpuReader = c.need("reader_page")
	l.cpuEntries = c.opt("entries")
	l.cpuOverrun = c.opt("overrun")
	l.cpuCommitOverrun = c.opt("commit_overrun")
	l.cpuDropped = c.opt("dropped_events")
	l.cpuRead = c.opt("read")
	l.cpuReadBytes = c.opt("read_bytes")
	l.cpuEntriesBytes = c.opt("entries_bytes")
	add(c)

	if l.bp, err = ftType(im, "struct buffer_page"); err != nil {
		return nil, err
	}
	l.bpList = l.bp.need("list.next")
	l.bpRead = l.bp.need("read")
	l.bpPage = l.bp.need("page")
	l.bpOrder = l.bp.opt("order")
	add(l.bp)
	dp, err := ftType(im, "struct buffer_data_page")
	if err != nil {
		return nil, err
	}
	l.dpTimeStamp = dp.need("time_stamp")
	l.dpCommit = dp.need("commit")
	data := dp.need("data")
	add(dp)
	l.dataHdr = data.Off

	if l.ent, err = ftType(im, "struct trace_entry"); err != nil {
		return nil, err
	}
	l.entType = l.ent.need("type")
	l.entFlags = l.ent.need("flags")
	l.entPreempt = l.ent.need("preempt_count")
	l.entPid = l.ent.need("pid")
	add(l.ent)

	if l.call, err = ftType(im, "struct trace_event_call", "struct ftrace_event_call"); err != nil {
		return nil, err
	}
	l.callList = l.call.need("list")
	l.callClass = l.call.need("class")
	l.callName = l.call.need("name")
	l.callEventType = l.call.need("event.type")
	l.callPrintFmt = l.call.opt("print_fmt")
	l.callFlags = l.call.need("flags")
	add(l.call)
	if v, _, ok := im.EnumConstant("TRACE_EVENT_FL_TRACEPOINT"); ok {
		l.flTracepoint = uint64(v)
	}
	if l.class, err = ftType(im, "struct trace_event_class", "struct ftrace_event_class"); err != nil {
		return nil, err
	}
	l.classSystem = l.class.need("system")
	l.classFields = l.class.need("fields")
	add(l.class)
	if l.fld, err = ftType(im, "struct ftrace_event_field"); err != nil {
		return nil, err
	}
	l.fldLink = l.fld.need("link")
	l.fldName = l.fld.need("name")
	l.fldType = l.fld.need("type")
	l.fldOffset = l.fld.need("offset")
	l.fldSize = l.fld.need("size")
	l.fldSigned = l.fld.need("is_signed")
	add(l.fld)
	if tr, err := ftType(im, "struct tracer"); err == nil {
		l.tracerName = tr.opt("name")
	}

	enum := func(name string, def uint64) uint64 {
		if v, _, ok := im.EnumConstant(name); ok {
			return uint64(v)
		}
		return def
	}
	l.flIrqsOff = enum("TRACE_FLAG_IRQS_OFF", 0x01)
	l.flNoSupport = enum("TRACE_FLAG_IRQS_NOSUPPORT", 0)
	l.flNeedResched = enum("TRACE_FLAG_NEED_RESCHED", 0x04)
	l.flHardirq = enum("TRACE_FLAG_HARDIRQ", 0x08)
	l.flSoftirq = enum("TRACE_FLAG_SOFTIRQ", 0x10)
	l.flPreemptResched = enum("TRACE_FLAG_PREEMPT_RESCHED", 0x20)
	l.flNMI = enum("TRACE_FLAG_NMI", 0x40)
	l.flBHOff = enum("TRACE_FLAG_BH_OFF", 0)
	if ts, err := ftType(im, "struct task_struct"); err == nil {
		_, l.twoDigitPreempt = ts.member("migration_disabled")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("ftrace layout: %s", strings.Join(errs, "; "))
	}
	return l, nil
}
