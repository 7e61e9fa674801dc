package dwarfx

import (
	"os"
	"testing"
)

func TestLineDump(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" { t.Skip() }
	im, _ := Open(p)
	for _, n := range []string{"schedule", "get_counter", "do_exit"} {
		f, err := im.Function(n)
		if err != nil { continue }
		for _, d := range []uint64{0, 4, 8} {
			file, line, ok := im.LineAt(f.Low + d)
			t.Logf("%s+%d %s:%d %v", n, d, file, line, ok)
		}
	}
}
