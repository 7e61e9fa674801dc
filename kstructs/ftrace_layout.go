package kstructs

import (
	"debug/dwarf"
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

// ftStruct is the shared structLayout: a struct type whose members are
// looked up by path (need, opt, err) and whose whole size is read.
type ftStruct = structLayout

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
		return newStructLayout(im, n, st), nil
	}
	return nil, fmt.Errorf("type %s: %v", strings.Join(names, " / "), firstErr)
}

// ftLayout is every offset the trace decoder uses.
type ftLayout struct {
	dec decoder

	ta                                           *ftStruct // struct trace_array
	taList, taName, taBuffer, taCurrent, taClock fieldLoc
	taTimeStart, taBufferDisabled, taExpanded    fieldLoc

	rb                                                 *ftStruct // struct trace_buffer / ring_buffer
	rbBuffers, rbCPUs, rbRecordDisabled, rbSubbufOrder fieldLoc

	cpu                                                  *ftStruct // struct ring_buffer_per_cpu
	cpuCPU, cpuNrPages, cpuPages                         fieldLoc
	cpuHead, cpuTail, cpuCommit, cpuReader               fieldLoc
	cpuEntries, cpuOverrun, cpuCommitOverrun, cpuDropped fieldLoc
	cpuRead, cpuReadBytes, cpuEntriesBytes               fieldLoc

	bp                              *ftStruct // struct buffer_page
	bpList, bpRead, bpPage, bpOrder fieldLoc
	dataHdr                         int // offsetof(struct buffer_data_page, data)
	dpTimeStamp, dpCommit           fieldLoc

	ent                                   *ftStruct // struct trace_entry
	entType, entFlags, entPreempt, entPid fieldLoc

	call                                                     *ftStruct // struct trace_event_call
	callList, callClass, callName, callEventType             fieldLoc
	callPrintFmt, callFlags                                  fieldLoc
	flTracepoint                                             uint64 // TRACE_EVENT_FL_TRACEPOINT
	class                                                    *ftStruct
	classSystem, classFields                                 fieldLoc
	fld                                                      *ftStruct // struct ftrace_event_field
	fldLink, fldName, fldType, fldOffset, fldSize, fldSigned fieldLoc

	tracerName fieldLoc // struct tracer.name (offset)

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
	l := &ftLayout{dec: decoder{bo: im.ByteOrder(), ptr: im.PtrSize()}, pageSize: k.PageSize()}
	var errs []string
	for _, step := range []func(*dwarfx.Image) ([]*ftStruct, error){l.arrayLayout, l.ringLayout, l.pageLayout, l.eventLayout} {
		structs, err := step(im)
		if err != nil {
			return nil, err
		}
		for _, s := range structs {
			if e := s.err(); e != nil {
				errs = append(errs, e.Error())
			}
		}
	}
	l.flagLayout(im)
	if len(errs) > 0 {
		return nil, fmt.Errorf("ftrace layout: %s", strings.Join(errs, "; "))
	}
	return l, nil
}

// arrayLayout finds struct trace_array (kernel/trace/trace.h).
func (l *ftLayout) arrayLayout(im *dwarfx.Image) ([]*ftStruct, error) {
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
	if tr, err := ftType(im, "struct tracer"); err == nil {
		l.tracerName = tr.opt("name")
	}
	return []*ftStruct{l.ta}, nil
}

// ringLayout finds the ring buffer and its per-cpu buffers
// (kernel/trace/ring_buffer.c).
func (l *ftLayout) ringLayout(im *dwarfx.Image) ([]*ftStruct, error) {
	var err error
	if l.rb, err = ftType(im, "struct trace_buffer", "struct ring_buffer"); err != nil {
		return nil, err
	}
	// Before 5.6 "struct trace_buffer" was the tracing wrapper and the
	// ring buffer was "struct ring_buffer": pick the one with buffers.
	if !l.rb.opt("buffers").ok() {
		if l.rb, err = ftType(im, "struct ring_buffer"); err != nil {
			return nil, err
		}
	}
	l.rbBuffers = l.rb.need("buffers")
	l.rbCPUs = l.rb.opt("cpus")
	l.rbRecordDisabled = l.rb.need("record_disabled")
	l.rbSubbufOrder = l.rb.opt("subbuf_order")
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
	return []*ftStruct{l.rb, c}, nil
}

// pageLayout finds struct buffer_page and buffer_data_page
// (kernel/trace/ring_buffer.c).
func (l *ftLayout) pageLayout(im *dwarfx.Image) ([]*ftStruct, error) {
	var err error
	if l.bp, err = ftType(im, "struct buffer_page"); err != nil {
		return nil, err
	}
	l.bpList = l.bp.need("list.next")
	l.bpRead = l.bp.need("read")
	l.bpPage = l.bp.need("page")
	l.bpOrder = l.bp.opt("order")
	dp, err := ftType(im, "struct buffer_data_page")
	if err != nil {
		return nil, err
	}
	l.dpTimeStamp = dp.need("time_stamp")
	l.dpCommit = dp.need("commit")
	data := dp.need("data")
	l.dataHdr = data.Off
	return []*ftStruct{l.bp, dp}, nil
}

// eventLayout finds the event entries, calls, classes and fields
// (include/linux/trace_events.h).
func (l *ftLayout) eventLayout(im *dwarfx.Image) ([]*ftStruct, error) {
	var err error
	if l.ent, err = ftType(im, "struct trace_entry"); err != nil {
		return nil, err
	}
	l.entType = l.ent.need("type")
	l.entFlags = l.ent.need("flags")
	l.entPreempt = l.ent.need("preempt_count")
	l.entPid = l.ent.need("pid")
	if l.call, err = ftType(im, "struct trace_event_call", "struct ftrace_event_call"); err != nil {
		return nil, err
	}
	l.callList = l.call.need("list")
	l.callClass = l.call.need("class")
	l.callName = l.call.need("name")
	l.callEventType = l.call.need("event.type")
	l.callPrintFmt = l.call.opt("print_fmt")
	l.callFlags = l.call.need("flags")
	if v, _, ok := im.EnumConstant("TRACE_EVENT_FL_TRACEPOINT"); ok {
		l.flTracepoint = uint64(v)
	}
	if l.class, err = ftType(im, "struct trace_event_class", "struct ftrace_event_class"); err != nil {
		return nil, err
	}
	l.classSystem = l.class.need("system")
	l.classFields = l.class.need("fields")
	if l.fld, err = ftType(im, "struct ftrace_event_field"); err != nil {
		return nil, err
	}
	l.fldLink = l.fld.need("link")
	l.fldName = l.fld.need("name")
	l.fldType = l.fld.need("type")
	l.fldOffset = l.fld.need("offset")
	l.fldSize = l.fld.need("size")
	l.fldSigned = l.fld.need("is_signed")
	return []*ftStruct{l.ent, l.call, l.class, l.fld}, nil
}

// flagLayout reads enum trace_flag_type (kernel/trace/trace.h), with the
// values of kernels that lack an enumerator, and whether preempt_count
// carries a migrate-disable nibble.
func (l *ftLayout) flagLayout(im *dwarfx.Image) {
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
		l.twoDigitPreempt = ts.opt("migration_disabled").ok()
	}
}
