package kstructs

import (
	"os"
	"testing"
)

// FuzzRelocatedDWARF: any bytes given as a module's .ko give DWARF or an
// error, never a panic.
func FuzzRelocatedDWARF(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x3e\x00"))
	f.Add([]byte("\x7fELF\x01\x01\x01\x00"))
	if b, err := os.ReadFile("/proc/self/exe"); err == nil && len(b) > 4096 {
		f.Add(b[:4096]) // a real ELF header and program headers, cut short
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = relocatedDWARF(b, map[string]uint64{".text": 0xffffffffc0000000, ".data": 0xffffffffc0001000})
	})
}
