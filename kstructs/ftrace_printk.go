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
	a := &bstrArgs{buf: buf, bo: bo}
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
		cv, ok := parsePrintfConv(format, i, func() string { w, _ := a.get(4); return fmt.Sprint(int32(w)) })
		if !ok {
			break
		}
		cv.write(&b, a, ptr, sym)
		i = cv.end
	}
	return b.String()
}

// bstrArgs reads vbin_printf's packed arguments in order.
type bstrArgs struct {
	buf []byte
	pos int
	bo  binary.ByteOrder
}

// get reads an integer of size bytes, aligned to its size (8-byte ones
// to 4); false past the end.
func (a *bstrArgs) get(size int) (uint64, bool) {
	align := size
	if size == 8 {
		align = 4
	}
	a.pos = (a.pos + align - 1) / align * align
	if a.pos+size > len(a.buf) {
		return 0, false
	}
	v := dwarfx.DecodeUint(a.bo, a.buf[a.pos:a.pos+size])
	if size == 8 && a.bo == binary.LittleEndian {
		v = uint64(a.bo.Uint32(a.buf[a.pos:])) | uint64(a.bo.Uint32(a.buf[a.pos+4:]))<<32
	}
	a.pos += size
	return v, true
}

// str reads an inline NUL-terminated string.
func (a *bstrArgs) str() string {
	end := a.pos
	for end < len(a.buf) && a.buf[end] != 0 {
		end++
	}
	s := string(a.buf[min(a.pos, len(a.buf)):min(end, len(a.buf))])
	a.pos = end + 1
	return s
}

// printfConv is one conversion of the format: format[start:end+1].
type printfConv struct {
	format     string
	start, end int
	spec       string // flags, width and precision (a '*' width read)
	lenMod     string
	conv       byte
}

// parsePrintfConv parses the conversion starting at format[i] == '%'
// (flags, width, precision, length modifier, conversion); star, if not
// nil, gives a '*' width or precision, else '*' ends the spec. false if
// the format ends inside the conversion.
func parsePrintfConv(format string, i int, star func() string) (printfConv, bool) {
	j := i + 1
	for j < len(format) && strings.IndexByte("-+ #0", format[j]) >= 0 {
		j++
	}
	spec := format[i+1 : j]
	for j < len(format) && (format[j] >= '0' && format[j] <= '9' || format[j] == '.' || format[j] == '*' && star != nil) {
		if format[j] == '*' {
			spec += star()
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
		return printfConv{}, false
	}
	return printfConv{format: format, start: i, end: j, spec: spec, lenMod: lenMod, conv: format[j]}, true
}

// symbolExt is the %p extension letter after the conversion (%pS, %pf,
// %pB, ...), consumed; 0 if none.
func (cv *printfConv) symbolExt() byte {
	if cv.end+1 < len(cv.format) && strings.IndexByte("sSfFB", cv.format[cv.end+1]) >= 0 {
		cv.end++
		return cv.format[cv.end]
	}
	return 0
}

// size is the integer argument's size from the length modifier.
func (cv *printfConv) size(ptr int) int {
	switch cv.lenMod {
	case "hh":
		return 1
	case "h":
		return 2
	case "l", "z", "t", "j":
		return ptr
	case "ll", "L":
		return 8
	}
	return 4
}

// write writes the conversion of the next argument (lib/vsprintf.c).
func (cv *printfConv) write(b *strings.Builder, a *bstrArgs, ptr int, sym func(uint64) string) {
	size := cv.size(ptr)
	switch cv.conv {
	case 's':
		fmt.Fprintf(b, "%"+cv.spec+"s", a.str())
	case 'c':
		v, _ := a.get(1)
		b.WriteByte(byte(v))
	case 'p':
		v, _ := a.get(ptr)
		// %pS, %pf, %pB...: a symbol.
		if cv.symbolExt() != 0 {
			b.WriteString(sym(v))
		} else {
			fmt.Fprintf(b, "%x", v)
		}
	case 'd', 'i':
		v, _ := a.get(size)
		sh := uint(64 - 8*size)
		fmt.Fprintf(b, "%"+cv.spec+"d", int64(v<<sh)>>sh)
	case 'u':
		v, _ := a.get(size)
		fmt.Fprintf(b, "%"+cv.spec+"d", v)
	case 'x', 'X', 'o':
		v, _ := a.get(size)
		fmt.Fprintf(b, "%"+cv.spec+string(cv.conv), v)
	default:
		b.WriteString(cv.format[cv.start : cv.end+1])
	}
}
