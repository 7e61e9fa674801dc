package kstructs

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// The ftrace-internal events that are not printed from a print_fmt:
// print (trace_marker, trace_printk without arguments), bprint
// (trace_printk: a format pointer and the arguments in vbin_printf's binary
// layout) and bputs (trace_puts: a string pointer). The kernel prints
// them as "caller: message", without the event name.

// ftraceText formats the ftrace system's own events; ok is false for the
// others.
func (e *TraceEvent) ftraceText(k *Kernel) (string, bool) {
	if e.System != "ftrace" {
		return "", false
	}
	switch e.Name {
	case "function":
		ip, _ := e.uintField(k, "ip")
		pip, _ := e.uintField(k, "parent_ip")
		return ftSym(k, ip) + " <-" + ftSym(k, pip), true
	case "print":
		ip, _ := e.uintField(k, "ip")
		f, ok := e.field("buf")
		if !ok || f.Offset > len(e.Data) {
			return "", false
		}
		return ftSym(k, ip) + ": " + strings.TrimSuffix(cstr(e.Data[f.Offset:]), "\n"), true
	case "bputs":
		ip, _ := e.uintField(k, "ip")
		p, ok := e.uintField(k, "str")
		if !ok {
			return "", false
		}
		s, err := k.readCString(p, 1024)
		if err != nil {
			s = fmt.Sprintf("(unreadable string at %#x)", p)
		}
		return ftSym(k, ip) + ": " + strings.TrimSuffix(s, "\n"), true
	case "bprint":
		ip, _ := e.uintField(k, "ip")
		p, ok := e.uintField(k, "fmt")
		f, ok2 := e.field("buf")
		if !ok || !ok2 || f.Offset > len(e.Data) {
			return "", false
		}
		format, err := k.readCString(p, 1024)
		if err != nil {
			return ftSym(k, ip) + fmt.Sprintf(": (unreadable format at %#x)", p), true
		}
		msg := bstrPrintf(format, e.Data[f.Offset:], k.Image.ByteOrder(), k.PtrSize(), func(a uint64) string { return ftSym(k, a) })
		return ftSym(k, ip) + ": " + strings.TrimSuffix(msg, "\n"), true
	}
	return "", false
}

// bstrPrintf is the kernel's bstr_printf: format with the arguments packed
// by vbin_printf (each integer aligned to its size, 8-byte ones to 4,
// strings inline with their NUL).
func bstrPrintf(format string, buf []byte, bo binary.ByteOrder, ptr int, sym func(uint64) string) string {
	var b strings.Builder
	pos := 0
	get := func(size int) (uint64, bool) {
		align := size
		if size == 8 {
			align = 4
		}
		pos = (pos + align - 1) / align * align
		if pos+size > len(buf) {
			return 0, false
		}
		v := dwarfx.DecodeUint(bo, buf[pos:pos+size])
		if size == 8 && bo == binary.LittleEndian {
			v = uint64(bo.Uint32(buf[pos:])) | uint64(bo.Uint32(buf[pos+4:]))<<32
		}
		pos += size
		return v, true
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+ #0", format[j]) >= 0 {
			j++
		}
		spec := format[i+1 : j]
		for j < len(format) && (format[j] >= '0' && format[j] <= '9' || format[j] == '.' || format[j] == '*') {
			if format[j] == '*' {
				w, _ := get(4)
				spec += fmt.Sprint(int32(w))
			} else {
				spec += string(format[j])
			}
			j++
		}
		lenMod := ""
		for j < len(format) && strings.IndexByte("hlzLjt", format[j]) >= 0 {
			lenMod += string(format[j])
			j++
		}
		if j >= len(format) {
			break
		}
		conv := format[j]
		size := 4
		switch lenMod {
		case "hh":
			size = 1
		case "h":
			size = 2
		case "l", "z", "t", "j":
			size = ptr
		case "ll", "L":
			size = 8
		}
		switch conv {
		case 's':
			end := pos
			for end < len(buf) && buf[end] != 0 {
				end++
			}
			fmt.Fprintf(&b, "%"+spec+"s", string(buf[pos:min(end, len(buf))]))
			pos = end + 1
		case 'c':
			v, _ := get(1)
			b.WriteByte(byte(v))
		case 'p':
			v, _ := get(ptr)
			ext := byte(0)
			if j+1 < len(format) && strings.IndexByte("sSfFB", format[j+1]) >= 0 {
				ext = format[j+1]
				j++
			}
			if ext != 0 {
				b.WriteString(sym(v))
			} else {
				fmt.Fprintf(&b, "%x", v)
			}
		case 'd', 'i':
			v, _ := get(size)
			sh := uint(64 - 8*size)
			fmt.Fprintf(&b, "%"+spec+"d", int64(v<<sh)>>sh)
		case 'u':
			v, _ := get(size)
			fmt.Fprintf(&b, "%"+spec+"d", v)
		case 'x', 'X', 'o':
			v, _ := get(size)
			fmt.Fprintf(&b, "%"+spec+string(conv), v)
		default:
			b.WriteString(format[i : j+1])
		}
		i = j
	}
	return b.String()
}
