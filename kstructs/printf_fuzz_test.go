package kstructs

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// FuzzBstrPrintf: any format over any packed arguments (a corrupt
// bprint event) formats without a panic, on either byte order.
func FuzzBstrPrintf(f *testing.F) {
	le := binary.LittleEndian
	args := le.AppendUint32(nil, 0xfffffffe)
	args = append(args, "abc\x00x\x00\x00\x00"...)
	args = le.AppendUint64(args, 0x1000)
	f.Add("a=%d s=%s c=%c x=%llx f=%ps\n", args, false)
	f.Add("%*d %-5s %hhx %lu %zd %pS %%", []byte{1, 2}, true)
	f.Add("%s%s%s", []byte("a\x00"), false)
	f.Add("%", []byte{}, false)
	f.Fuzz(func(t *testing.T, format string, buf []byte, big bool) {
		var bo binary.ByteOrder = binary.LittleEndian
		if big {
			bo = binary.BigEndian
		}
		bstrPrintf(format, buf, bo, 8, func(a uint64) string { return fmt.Sprintf("sym_%x", a) })
		bstrPrintf(format, buf, bo, 4, func(a uint64) string { return "" })
	})
}

// FuzzParsePrintfConv: the conversion parser shared by print_fmt and
// bstr_printf stays inside the format and ends on its conversion.
func FuzzParsePrintfConv(f *testing.F) {
	for _, s := range []string{"%d", "%-08.3llx", "%*s", "%ps", "%", "%hh", "%5.2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, format string) {
		for i := 0; i < len(format); i++ {
			if format[i] != '%' {
				continue
			}
			cv, ok := parsePrintfConv(format, i, nil)
			if !ok {
				continue
			}
			if cv.end <= i || cv.end >= len(format) || cv.format[cv.end] != cv.conv {
				t.Fatalf("%q at %d: conversion %+v", format, i, cv)
			}
			cv.symbolExt()
			if cv.end >= len(format) {
				t.Fatalf("%q: extension past the end", format)
			}
		}
	})
}
