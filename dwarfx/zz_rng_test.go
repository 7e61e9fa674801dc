package dwarfx

import (
	"os"
	"testing"
)

func TestRngDump(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	im, _ := Open(p)
	n := 0
	for i := range im.idx.defs {
		d := &im.idx.defs[i]
		if d.rng >= 0 {
			n++
			if n < 4 {
				f := im.funcFromDef(int32(i))
				g, ok := im.FunctionAt(f.Ranges[len(f.Ranges)-1][0] + 1)
				s, off, _ := im.SymbolAt(f.Ranges[len(f.Ranges)-1][0])
				t.Logf("%s %#x %v -> %s %v sym %s+%d", f.Name, f.Ranges, f.Low, g.Name, ok, s.Name, off)
			}
		}
	}
	t.Logf("%d functions with ranges", n)
}
