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
	bo := k.Image.ByteOrder()
	long := k.PtrSize()
	var h bytes.Buffer
	u32 := func(v uint32) {
		var b [4]byte
		bo.PutUint32(b[:], v)
		h.Write(b[:])
	}
	u64 := func(v uint64) {
		var b [8]byte
		bo.PutUint64(b[:], v)
		h.Write(b[:])
	}
	h.WriteString("\x17\x08\x44tracing")
	h.WriteString("6\x00")
	if bo == binary.BigEndian {
		h.WriteByte(1)
	} else {
		h.WriteByte(0)
	}
	h.WriteByte(byte(long))
	pageSize := int(l.pageSize)
	u32(uint32(pageSize))

	section := func(name, text string) {
		h.WriteString(name + "\x00")
		u64(uint64(len(text)))
		h.WriteString(text)
	}
	signed := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	section("header_page", fmt.Sprintf(
		"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"+
			"\tfield: local_t commit;\toffset:8;\tsize:%d;\tsigned:1;\n"+
			"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"+
			"\tfield: char data;\toffset:%d;\tsize:%d;\tsigned:1;\n",
		long, l.dataHdr, pageSize-l.dataHdr))
	section("header_event", "# compressed entry header\n"+
		"\ttype_len    :    5 bits\n"+
		"\ttime_delta  :   27 bits\n"+
		"\tarray       :   32 bits\n\n"+
		"\tpadding     : type == 29\n"+
		"\ttime_extend : type == 30\n"+
		"\ttime_stamp : type == 31\n"+
		"\tdata max type_len  == 28\n")

	// The common fields, from struct trace_entry.
	common := fmt.Sprintf("\tfield:unsigned short common_type;\toffset:%d;\tsize:%d;\tsigned:0;\n"+
		"\tfield:unsigned char common_flags;\toffset:%d;\tsize:%d;\tsigned:0;\n"+
		"\tfield:unsigned char common_preempt_count;\toffset:%d;\tsize:%d;\tsigned:0;\n"+
		"\tfield:int common_pid;\toffset:%d;\tsize:%d;\tsigned:1;\n",
		l.entType.Off, l.entType.Size, l.entFlags.Off, l.entFlags.Size, l.entPreempt.Off, l.entPreempt.Size, l.entPid.Off, l.entPid.Size)
	format := func(et *ftEventType) string {
		var b strings.Builder
		fmt.Fprintf(&b, "name: %s\nID: %d\nformat:\n%s\n", et.Name, et.Type, common)
		for _, f := range et.Fields {
			arr := strings.IndexByte(f.Type, '[')
			if arr < 0 || strings.HasPrefix(f.Type, "__data_loc") || strings.HasPrefix(f.Type, "__rel_loc") {
				fmt.Fprintf(&b, "\tfield:%s %s;\toffset:%d;\tsize:%d;\tsigned:%d;\n", f.Type, f.Name, f.Offset, f.Size, signed(f.Signed))
			} else {
				fmt.Fprintf(&b, "\tfield:%s %s%s;\toffset:%d;\tsize:%d;\tsigned:%d;\n", f.Type[:arr], f.Name, f.Type[arr:], f.Offset, f.Size, signed(f.Signed))
			}
		}
		fmt.Fprintf(&b, "\nprint fmt: %s\n", et.PrintFmt)
		return b.String()
	}
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
	byType := func(s []*ftEventType) {
		sort.Slice(s, func(i, j int) bool { return s[i].Type < s[j].Type })
	}
	byType(ftraceEvs)
	u32(uint32(len(ftraceEvs)))
	for _, et := range ftraceEvs {
		t := format(et)
		u64(uint64(len(t)))
		h.WriteString(t)
		st.Events++
	}
	var sysNames []string
	for s := range systems {
		sysNames = append(sysNames, s)
	}
	sort.Strings(sysNames)
	u32(uint32(len(sysNames)))
	for _, s := range sysNames {
		h.WriteString(s + "\x00")
		evs := systems[s]
		byType(evs)
		u32(uint32(len(evs)))
		for _, et := range evs {
			t := format(et)
			u64(uint64(len(t)))
			h.WriteString(t)
			st.Events++
		}
	}
	// kallsyms: the text symbols.
	var ks strings.Builder
	for _, s := range k.Image.SearchSymbols("") {
		if s.IsText() && s.Name != "" {
			fmt.Fprintf(&ks, "%0*x %c %s\n", 2*long, s.Addr, s.Kind, s.Name)
		}
	}
	u32(uint32(ks.Len()))
	h.WriteString(ks.String())
	u32(0) // ftrace_printk formats
	// cmdlines: the tracer's saved_cmdlines.
	var cl strings.Builder
	c := k.ftCmdlines()
	for m, pid := range c.mapToPid {
		if pid == 0 || pid == ^uint32(0) || (m+1)*taskCommLen > len(c.names) {
			continue
		}
		if name := cstr(c.names[m*taskCommLen : (m+1)*taskCommLen]); name != "" {
			fmt.Fprintf(&cl, "%d %s\n", pid, name)
		}
	}
	u64(uint64(cl.Len()))
	h.WriteString(cl.String())

	// The data: each cpu's pages, in reading order.
	var errs []error
	type cpuData struct{ pages [][]byte }
	var cpus []cpuData
	maxCPU := -1
	for _, tc := range ti.CPUs {
		if tc.CPU > maxCPU {
			maxCPU = tc.CPU
		}
	}
	cpus = make([]cpuData, maxCPU+1)
	for _, tc := range ti.CPUs {
		pages, perrs := k.ftRawPages(l, ti, tc)
		errs = append(errs, perrs...)
		cpus[tc.CPU].pages = pages
		st.Pages += len(pages)
	}
	st.CPUs = len(cpus)
	u32(uint32(len(cpus)))
	h.WriteString("flyrecord\x00")
	off := h.Len() + 16*len(cpus)
	off = (off + pageSize - 1) / pageSize * pageSize
	for _, cd := range cpus {
		size := 0
		for _, p := range cd.pages {
			size += len(p)
		}
		u64(uint64(off))
		u64(uint64(size))
		off += size
	}
	bw := bufio.NewWriter(w)
	n, err := bw.Write(h.Bytes())
	st.Bytes += n
	if err != nil {
		return st, errs, err
	}
	if pad := (pageSize - h.Len()%pageSize) % pageSize; pad > 0 {
		n, err = bw.Write(make([]byte, pad))
		st.Bytes += n
		if err != nil {
			return st, errs, err
		}
	}
	for _, cd := range cpus {
		for _, p := range cd.pages {
			n, err = bw.Write(p)
			st.Bytes += n
			if err != nil {
				return st, errs, err
			}
		}
	}
	return st, errs, bw.Flush()
}

// ftRawPages returns the cpu's data pages (header and events, a whole
// page each) in reading order, leaving out empty and corrupt ones.
func (k *Kernel) ftRawPages(l *ftLayout, ti *TraceInstance, tc TraceCPU) ([][]byte, []error) {
	cb, err := k.ftRead(tc.Addr, l.cpu.size)
	if err != nil {
		return nil, []error{fmt.Errorf("reading ring_buffer_per_cpu %#x: %w", tc.Addr, err)}
	}
	var out [][]byte
	var errs []error
	pages, werrs := ftPageOrder(l, k.ftRead, cb, ti.Name, tc.CPU)
	errs = append(errs, werrs...)
	for _, p := range pages {
		size := int(l.pageSize << p.order)
		b, err := k.ftRead(p.data, size)
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
