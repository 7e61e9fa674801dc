package kstructs

import (
	"fmt"
	"strings"
)

// ftCmdlines is the tracer's pid → comm map (savedcmd, the
// saved_cmdlines_buffer trace_find_cmdline reads at print time).
type ftCmdlines struct {
	pidToMap []uint32
	mapToPid []uint32
	names    []byte
	err      error
}

const taskCommLen = 16

func (k *Kernel) ftCmdlines() *ftCmdlines {
	st := k.ftState()
	st.cmdOnce.Do(func() { st.cmd = k.readFtCmdlines() })
	return st.cmd
}

func (k *Kernel) readFtCmdlines() *ftCmdlines {
	c := &ftCmdlines{}
	v, err := k.Image.Variable("savedcmd")
	if err != nil {
		c.err = fmt.Errorf("savedcmd: %w", err)
		return c
	}
	st, err := ftType(k.Image, "struct saved_cmdlines_buffer")
	if err != nil {
		c.err = err
		return c
	}
	mp := st.need("map_pid_to_cmdline")
	mc := st.need("map_cmdline_to_pid")
	num := st.need("cmdline_num")
	names := st.need("saved_cmdlines")
	if c.err = st.err(); c.err != nil {
		return c
	}
	buf, err := k.ftPtr(v.Addr)
	if err != nil || buf == 0 {
		c.err = fmt.Errorf("savedcmd is unreadable or NULL")
		return c
	}
	b, err := k.ftRead(buf, st.size)
	if err != nil {
		c.err = fmt.Errorf("reading savedcmd %#x: %w", buf, err)
		return c
	}
	d := decoder{bo: k.Image.ByteOrder(), ptr: k.PtrSize()}
	n := int(d.uint(b, num))
	if n <= 0 || n > 1<<20 {
		c.err = fmt.Errorf("savedcmd: implausible cmdline_num %d", n)
		return c
	}
	for i := 0; i+4 <= mp.Size; i += 4 {
		c.pidToMap = append(c.pidToMap, d.bo.Uint32(b[mp.Off+i:]))
	}
	if mb, err := k.ftRead(d.uint(b, mc), 4*n); err == nil {
		for i := 0; i < n; i++ {
			c.mapToPid = append(c.mapToPid, d.bo.Uint32(mb[4*i:]))
		}
	}
	namesAddr := buf + uint64(names.Off)
	if !strings.Contains(names.Type.String(), "[") { // a pointer before 6.8
		namesAddr = d.uint(b, names)
	}
	c.names, _ = k.ftRead(namesAddr, n*taskCommLen)
	return c
}

// TraceComm is the comm the trace file prints for pid: trace_find_cmdline's
// saved_cmdlines entry; when the tracer has none ("<...>"), the comm of the
// dump's task with that pid, if any.
func (k *Kernel) TraceComm(pid int32) string {
	if s, ok := k.traceCmdline(pid); ok {
		return s
	}
	if pid > 0 {
		if ts := k.TasksByPID(int(pid)); len(ts) > 0 {
			return ts[0].Comm
		}
	}
	return "<...>"
}

// traceCmdline is __trace_find_cmdline exactly.
func (k *Kernel) traceCmdline(pid int32) (string, bool) {
	if pid == 0 {
		return "<idle>", true
	}
	if pid < 0 {
		return "<XXX>", true
	}
	c := k.ftCmdlines()
	if len(c.pidToMap) < 2 {
		return "", false
	}
	pidMax := len(c.pidToMap) - 1 // PID_MAX_DEFAULT
	tpid := int(pid) & (pidMax - 1)
	m := c.pidToMap[tpid]
	if m == ^uint32(0) || int(m) >= len(c.mapToPid) || int32(c.mapToPid[m]) != pid {
		return "", false
	}
	if int(m+1)*taskCommLen > len(c.names) {
		return "", false
	}
	return cstr(c.names[int(m)*taskCommLen : int(m+1)*taskCommLen]), true
}

// TraceFlags is the latency-format column ("d..2." / "dNs3."): irqs-off,
// need-resched, hard/softirq, preempt depth and (kernels that count it)
// migrate-disable depth.
func (k *Kernel) TraceFlags(e *TraceEvent) string {
	l, err := k.ftLayout()
	if err != nil {
		return ""
	}
	f := uint64(e.Flags)
	has := func(bit uint64) bool { return bit != 0 && f&bit != 0 }
	bh := has(l.flBHOff)
	irqs := byte('.')
	switch {
	case has(l.flIrqsOff) && bh:
		irqs = 'D'
	case has(l.flIrqsOff):
		irqs = 'd'
	case bh:
		irqs = 'b'
	case has(l.flNoSupport):
		irqs = 'X'
	}
	nr := byte('.')
	switch {
	case has(l.flNeedResched) && has(l.flPreemptResched):
		nr = 'N'
	case has(l.flNeedResched):
		nr = 'n'
	case has(l.flPreemptResched):
		nr = 'p'
	}
	nmi, hard, soft := has(l.flNMI), has(l.flHardirq), has(l.flSoftirq)
	hs := byte('.')
	switch {
	case nmi && hard:
		hs = 'Z'
	case nmi:
		hs = 'z'
	case hard && soft:
		hs = 'H'
	case hard:
		hs = 'h'
	case soft:
		hs = 's'
	}
	out := []byte{irqs, nr, hs}
	pc := e.PreemptCount
	if l.twoDigitPreempt {
		if pc&0xf != 0 {
			out = append(out, fmt.Sprintf("%x", pc&0xf)...)
		} else {
			out = append(out, '.')
		}
		if pc&0xf0 != 0 {
			out = append(out, fmt.Sprintf("%x", pc>>4)...)
		} else {
			out = append(out, '.')
		}
	} else if pc != 0 {
		out = append(out, fmt.Sprintf("%x", pc)...)
	} else {
		out = append(out, '.')
	}
	return string(out)
}

// TraceTime formats a stamp as the trace file does: seconds.microseconds
// (ns2usecs rounds to the nearest µs) for the ns clocks, the raw count
// otherwise.
func TraceTime(ts uint64, inNS bool) string {
	if !inNS {
		return fmt.Sprintf("%12d", ts)
	}
	us := (ts + 500) / 1000
	return fmt.Sprintf("%5d.%06d", us/1000000, us%1000000)
}

// TraceLine is the event as a line of /sys/kernel/tracing/trace:
// "comm-pid [cpu] flags timestamp: event: fields".
func (k *Kernel) TraceLine(ti *TraceInstance, e *TraceEvent) string {
	return fmt.Sprintf("%16s-%-7d [%03d] %s %s: %s", k.TraceComm(e.PID), e.PID, e.CPU, k.TraceFlags(e),
		TraceTime(e.TS, ti == nil || ti.ClockInNS), e.Text(k))
}
