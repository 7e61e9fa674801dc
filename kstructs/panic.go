package kstructs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// panicMessages are the substrings crash looks for in the log, most
// significant first (crash's task.c panic_msg[]): the first log line that
// contains the earliest entry of this list is the panic message.
var panicMessages = []string{
	"SysRq : Crash",
	"SysRq : Trigger a crash",
	"SysRq : Netdump",
	"Kernel panic: ",
	"Kernel panic - ",
	"Kernel BUG at",
	"kernel BUG at",
	"Unable to handle kernel paging request",
	"Unable to handle kernel NULL pointer dereference",
	"BUG: unable to handle kernel ",
	"general protection fault: ",
	"double fault: ",
	"divide error: ",
	"stack segment: ",
	"[Hardware Error]: ",
	"Bad mode in ",
	"Oops: ",
}

// panicKeywords are crash's fallback (task.c panic_keywords[]): if no line
// has one of panicMessages, the first line with any of these is used.
var panicKeywords = []string{
	"Unable to handle kernel",
	"BUG: unable to handle kernel",
	"Kernel BUG at",
	"kernel BUG at",
	"Bad mode in",
	"Oops",
	"Kernel panic",
}

// crashBufSize is crash's BUFSIZE: it reads its log output with
// fgets(buf, BUFSIZE), so longer lines are searched in pieces.
const crashBufSize = 1500

// PanicMessage finds the panic message as crash does (task.c
// get_panicmsg): the string at `panicmsg` on kernels that have the
// panic_threads/panicmsg/panic_processor trio, else the first log line
// containing the highest-priority panic substring, else crash's keyword
// heuristics. An empty string with a nil error means no message was found.
func (k *Kernel) PanicMessage() (string, error) {
	if msg, ok, err := k.panicmsgSymbol(); ok || err != nil {
		return msg, err
	}
	recs, errs := k.Log()
	if len(recs) == 0 && len(errs) > 0 {
		return "", fmt.Errorf("searching the log for the panic message: %w", errors.Join(errs...))
	}
	lines := crashLogLines(recs)
	sysrqPressed := func() (int32, bool) {
		v, err := k.Image.Variable("sysrq_pressed")
		if err != nil {
			return 0, false
		}
		b := make([]byte, 4)
		if err := k.ReadVirt(b, v.Addr); err != nil {
			return 0, true
		}
		return int32(k.Image.ByteOrder().Uint32(b)), true
	}
	return findPanicMessage(lines, sysrqPressed), nil
}

// findPanicMessage is crash's search over the text-only log lines (each
// still ending in its newline, as fgets returns them).
func findPanicMessage(lines []string, sysrqPressed func() (int32, bool)) string {
	for _, m := range panicMessages {
		for _, line := range lines {
			if strings.Contains(line, m) {
				return strings.TrimRight(line, "\n")
			}
		}
	}
	for _, line := range lines {
		if strings.Contains(line, "sysrq") {
			// Kernels with sysrq_pressed (old enterprise ones) say
			// whether this sysrq line caused the crash; crash stops at
			// the first such line either way.
			if v, ok := sysrqPressed(); ok {
				if v != 0 {
					return strings.TrimRight(line, "\n")
				}
				return ""
			}
		}
		for _, kw := range panicKeywords {
			if strings.Contains(line, kw) {
				return strings.TrimRight(line, "\n")
			}
		}
	}
	return ""
}

// panicmsgSymbol reads `panicmsg` (a char *) where crash would: only when
// panic_threads and panic_processor exist too.
func (k *Kernel) panicmsgSymbol() (string, bool, error) {
	for _, name := range []string{"panic_threads", "panic_processor"} {
		if _, ok := k.Image.LookupKernel(name); !ok {
			return "", false, nil
		}
	}
	sym, ok := k.Image.LookupKernel("panicmsg")
	if !ok {
		return "", false, nil
	}
	ps := k.PtrSize()
	b := make([]byte, ps)
	if err := k.ReadVirt(b, sym.Addr); err != nil {
		return "", true, fmt.Errorf("reading panicmsg at %#x: %w", sym.Addr, err)
	}
	p := dwarfx.DecodeUint(k.Image.ByteOrder(), b[:ps])
	if p == 0 {
		return "", true, nil
	}
	s, err := k.readCString(p, crashBufSize-1)
	if err != nil {
		return "", true, fmt.Errorf("reading the panicmsg string at %#x: %w", p, err)
	}
	return strings.TrimRight(s, "\n"), true, nil
}

// readCString reads a NUL-terminated string of at most max bytes, page by
// page so that a string near the end of mapped memory still reads.
func (k *Kernel) readCString(addr uint64, max int) (string, error) {
	return readCStringFrom(k, addr, max)
}

// readCStringFrom is readCString over any reader of target memory (the
// subsystem readers hold one, not the Kernel).
func readCStringFrom(m VirtReader, addr uint64, max int) (string, error) {
	var out []byte
	for len(out) < max {
		n := int(4096 - (addr+uint64(len(out)))%4096)
		n = min(n, max-len(out))
		b := make([]byte, n)
		if err := m.ReadVirt(b, addr+uint64(len(out))); err != nil {
			if len(out) > 0 {
				break
			}
			return "", err
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return string(append(out, b[:i]...)), nil
		}
		out = append(out, b...)
	}
	return string(out), nil
}

// crashLogLines renders the log as `log -t` and splits it the way crash's
// fgets(BUFSIZE) reads it back: lines keep their newline, and a line longer
// than BUFSIZE-1 bytes comes in several pieces.
func crashLogLines(recs []LogRecord) []string {
	var buf []byte
	f := LogFormat{NoTime: true}
	for _, r := range recs {
		buf = f.AppendLogRecord(buf, r)
	}
	var lines []string
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n') + 1
		if i == 0 {
			i = len(buf)
		}
		line := buf[:i]
		for len(line) > crashBufSize-1 {
			lines = append(lines, string(line[:crashBufSize-1]))
			line = line[crashBufSize-1:]
		}
		lines = append(lines, string(line))
		buf = buf[i:]
	}
	return lines
}
