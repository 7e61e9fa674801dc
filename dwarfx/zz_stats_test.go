package dwarfx

import (
	"os"
	"testing"
)

func TestStatsDump(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	im, _ := Open(p)
	t.Logf("%+v", im.Stats())
}
