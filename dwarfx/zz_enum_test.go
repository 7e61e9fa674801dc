package dwarfx

import (
	"fmt"
	"os"
	"sort"
	"testing"
)

func TestEnumDump(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	im, _ := Open(p)
	var names []string
	for k := range im.idx.types {
		if k.kind == kEnumerator {
			names = append(names, k.name)
		}
	}
	sort.Strings(names)
	f, _ := os.Create(os.Getenv("OUT"))
	for _, n := range names {
		fmt.Fprintln(f, n)
	}
	f.Close()
}
