package kstructs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
)

// This file writes a trace instance's ring buffers as a trace-cmd
// trace.dat (file format version 6, "flyrecord"): the page and event
// headers, every event's format (regenerated from the dump's own
// trace_event_call fields and print_fmt, as tracefs prints them), the
// kernel's text symbols, the saved cmdlines, then each cpu's raw data
// pages in the order the kernel's trace iterator reads them.

// TraceDatStats says what WriteTraceDat wrote.
type TraceDatStats struct {
	CPUs   int `json:"cpus"`
	Pages  int `json:"pages"`
	Events int `json:"event_formats"`
	Bytes  int `json:"bytes"`
}

// WriteTraceDat writes the instance as a trace.dat to w.
func (k *Kernel) WriteTraceDat(w io.Writer, ti *TraceInstance) (TraceDatStats, []error, error) {
	var st TraceDatStats
	l, err := k.ftLayout()
	if err != nil {
		return st, nil, err
	}
	if ti.Buffer == 0 {
		return st, nil, fmt.Errorf("%w: trace instance %q has no ring buffer", ErrTracingNeverEnabled, ti.Name)
	}
	types, err := k.ftEventTypes()
	if err != nil {
		return st, nil, err
	}
	d := &datWriter{bo: k.Image.ByteOrder(), long: k.PtrSize(), pageSize: int(l.pageSize)}
	d.header(l)
	st.Events = d.eventFormats(l, types)
	d.kallsyms(k)
	d.u32(0) // ftrace_printk formats
	d.cmdlines(k.ftCmdlines())
	cpus, errs := k.ftReader().datCPUPages(l, ti)
	for _, pages := range cpus {
		st.Pages += len(pages)
	}
	st.CPUs = len(cpus)
	d.flyrecord(cpus)
	st.Bytes, err = d.writeTo(w, cpus)
	return st, errs, err
}

// datWriter builds a trace.dat's headers (trace-cmd's
// Documentation/trace-cmd/trace-cmd.dat.v6.5.txt) in the target's byte
// order.
type datWriter struct {
	h        bytes.Buffer
	bo       binary.ByteOrder
	long     int
	pageSize int
}

func (d *datWriter) u32(v uint32) {
	var b [4]byte
	d.bo.PutUint32(b[:], v)
	d.h.Write(b[:])
}

func (d *datWriter) u64(v uint64) {
	var b [8]byte
	d.bo.PutUint64(b[:], v)
	d.h.Write(b[:])
}

// text writes a length-prefixed (u64) text block.
func (d *datWriter) text(t string) {
	d.u64(uint64(len(t)))
	d.h.WriteString(t)
}

// header writes the magic, version, endianness, long and page sizes, then
// the header_page and header_event sections.
func (d *datWriter) header(l *ftLayout) {
	d.h.WriteString("\x17\x08\x44tracing")
	d.h.WriteString("6\x00")
	if d.bo == binary.BigEndian {
		d.h.WriteByte(1)
	} else {
		d.h.WriteByte(0)
	}
	d.h.WriteByte(byte(d.long))
	d.u32(uint32(d.pageSize))
	d.h.WriteString("header_page\x00")
	d.text(fmt.Sprintf(
		"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"+
			"\tfield: local_t commit;\toffset:8;\tsize:%d;\tsigned:1;\n"+
			"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"+
			"\tfield: char data;\toffset:%d;\tsize:%d;\tsigned:1;\n",
		d.long, l.dataHdr, d.pageSize-l.dataHdr))
	d.h.WriteString("header_event\x00")
	d.text("# compressed entry header\n" +
		"\ttype_len    :    5 bits\n" +
		"\ttime_delta  :   27 bits\n" +
		"\tarray       :   32 bits\n\n" +
		"\tpadding     : type == 29\n" +
		"\ttime_extend : type == 30\n" +
		"\ttime_stamp : type == 31\n" +
		"\tdata max type_len  == 28\n")
}

// eventFormats writes the ftrace events' formats, then each other
// system's, sorted by system and event id; it returns how many it wrote.
func (d *datWriter) eventFormats(l *ftLayout, types map[int]*ftEventType) int {
	var ftraceEvs []*ftEventType
	systems := map[string][]*ftEventType{}
	for _, et := range types {
		if et.Name == "" || et.PrintFmt == "" {
			continue
		}
		if et.System == "ftrace" {
			ftraceEvs = append(ftraceEvs, et)
		} else if et.System != "" {
			systems[et.System] = append(systems[et.System], et)
		}
	}
	common := datCommonFields(l)
	n := d.formatList(ftraceEvs, common)
	sysNames := make([]string, 0, len(systems))
	for s := range systems {
		sysNames = append(sysNames, s)
	}
	sort.Strings(sysNames)
	d.u32(uint32(len(sysNames)))
	for _, s := range sysNames {
		d.h.WriteString(s + "\x00")
		n += d.formatList(systems[s], common)
	}
	return n
}

// formatList writes a count and the formats of evs, by event id.
func (d *datWriter) formatList(evs []*ftEventType, common string) int {
	sort.Slice(evs, func(i, j int) bool { return evs[i].Type < evs[j].Type })
	d.u32(uint32(len(evs)))
	for _, et := range evs {
		d.text(datEventFormat(et, common))
	}
	return len(evs)
}

// datCommonFields are the common fields, from struct trace_entry.
func datCommonFields(l *ftLayout) string {
	return fmt.Sprintf("\tfield:unsigned short common_type;\toffset:%d;\tsize:%d;\tsigned:0;\n"+
		"\tfield:unsigned char common_flags;\toffset:%d;\tsize:%d;\tsigned:0;\n"+
		"\tfield:unsigned char common_preempt_count;\toffset:%d;\tsize:%d;\tsigned:0;\n"+
		"\tfield:int common_pid;\toffset:%d;\tsize:%d;\tsigned:1;\n",
		l.entType.Off, l.entType.Size, l.entFlags.Off, l.entFlags.Size, l.entPreempt.Off, l.entPreempt.Size, l.entPid.Off, l.entPid.Size)
}

// datEventFormat is an event's format file as tracefs prints it
// (kernel/trace/trace_events.c f_show): an array's dimension follows the
// field's name.
func datEventFormat(et *ftEventType, common string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nID: %d\nformat:\n%s\n", et.Name, et.Type, common)
	for _, f := range et.Fields {
		signed := 0
		if f.Signed {
			signed = 1
		}
		typ, dim := f.Type, ""
		arr := strings.IndexByte(f.Type, '[')
		if arr >= 0 && !strings.HasPrefix(f.Type, "__data_loc") && !strings.HasPrefix(f.Type, "__rel_loc") {
			typ, dim = f.Type[:arr], f.Type[arr:]
		}
		fmt.Fprintf(&b, "\tfield:%s %s%s;\toffset:%d;\tsize:%d;\tsigned:%d;\n", typ, f.Name, dim, f.Offset, f.Size, signed)
	}
	fmt.Fprintf(&b, "\nprint fmt: %s\n", et.PrintFmt)
	return b.String()
}

// kallsyms writes the text symbols.
func (d *datWriter) kallsyms(k *Kernel) {
	var ks strings.Builder
	for _, s := range k.Image.SearchSymbols("") {
		if s.IsText() && s.Name != "" {
			fmt.Fprintf(&ks, "%0*x %c %s\n", 2*d.long, s.Addr, s.Kind, s.Name)
		}
	}
	d.u32(uint32(ks.Len()))
	d.h.WriteString(ks.String())
}

// cmdlines writes the tracer's saved_cmdlines.
func (d *datWriter) cmdlines(c *ftCmdlines) {
	var cl strings.Builder
	for m, pid := range c.mapToPid {
		if pid == 0 || pid == ^uint32(0) || (m+1)*taskCommLen > len(c.names) {
			continue
		}
		if name := cstr(c.names[m*taskCommLen : (m+1)*taskCommLen]); name != "" {
			fmt.Fprintf(&cl, "%d %s\n", pid, name)
		}
	}
	d.text(cl.String())
}

// datCPUPages is each cpu's data pages in reading order, indexed by cpu.
func (r *ftReader) datCPUPages(l *ftLayout, ti *TraceInstance) ([][][]byte, []error) {
	maxCPU := -1
	for _, tc := range ti.CPUs {
		maxCPU = max(maxCPU, tc.CPU)
	}
	var errs []error
	cpus := make([][][]byte, maxCPU+1)
	for _, tc := range ti.CPUs {
		pages, perrs := r.ftRawPages(l, ti, tc)
		errs = append(errs, perrs...)
		cpus[tc.CPU] = pages
	}
	return cpus, errs
}

// flyrecord writes the cpu count and each cpu's data offset and size; the
// data starts on the page after the headers.
func (d *datWriter) flyrecord(cpus [][][]byte) {
	d.u32(uint32(len(cpus)))
	d.h.WriteString("flyrecord\x00")
	off := d.h.Len() + 16*len(cpus)
	off = (off + d.pageSize - 1) / d.pageSize * d.pageSize
	for _, pages := range cpus {
		size := 0
		for _, p := range pages {
			size += len(p)
		}
		d.u64(uint64(off))
		d.u64(uint64(size))
		off += size
	}
}

// writeTo writes the headers, the padding to a page and the data pages;
// it returns the bytes written.
func (d *datWriter) writeTo(w io.Writer, cpus [][][]byte) (int, error) {
	cw := &countWriter{w: bufio.NewWriter(w)}
	cw.write(d.h.Bytes())
	if pad := (d.pageSize - d.h.Len()%d.pageSize) % d.pageSize; pad > 0 {
		cw.write(make([]byte, pad))
	}
	for _, pages := range cpus {
		for _, p := range pages {
			cw.write(p)
		}
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, cw.w.Flush()
}

// countWriter counts what it writes and keeps the first error (then
// writes nothing more).
type countWriter struct {
	w   *bufio.Writer
	n   int
	err error
}

func (c *countWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += n
	c.err = err
}

// ftRawPages returns the cpu's data pages (header and events, a whole
// page each) in reading order, leaving out empty and corrupt ones.
func (r *ftReader) ftRawPages(l *ftLayout, ti *TraceInstance, tc TraceCPU) ([][]byte, []error) {
	cb, err := r.read(tc.Addr, l.cpu.size)
	if err != nil {
		return nil, []error{fmt.Errorf("reading ring_buffer_per_cpu %#x: %w", tc.Addr, err)}
	}
	var out [][]byte
	var errs []error
	pages, werrs := ftPageOrder(l, r.read, cb, ti.Name, tc.CPU)
	errs = append(errs, werrs...)
	for _, p := range pages {
		size := int(l.pageSize << p.order)
		b, err := r.read(p.data, size)
		if err != nil {
			errs = append(errs, &TracePageError{Instance: ti.Name, CPU: tc.CPU, Page: p.addr, Data: p.data, Reason: err.Error()})
			continue
		}
		commit := l.dec.uint(b, l.dpCommit) & (1<<30 - 1)
		if commit == 0 {
			continue
		}
		if commit > uint64(size-l.dataHdr) {
			errs = append(errs, &TracePageError{Instance: ti.Name, CPU: tc.CPU, Page: p.addr, Data: p.data,
				Reason: fmt.Sprintf("corrupt page header: commit %d beyond the page's %d data bytes (left out)", commit, size-l.dataHdr)})
			continue
		}
		out = append(out, b)
	}
	return out, errs
}
