package kstructs_test

import (
	"fmt"
	"testing"

	"github.com/kinspect/kinspect/internal/ktest"
)

func TestZZDebugNotes(t *testing.T) {
	for _, arch := range ktest.Arches {
		k, _ := ktest.Open(t, arch, "vmcore.elf")
		for c := 0; c < 4; c++ {
			r, err := k.CPURegs(c)
			if err != nil {
				t.Log(err)
				continue
			}
			s := ""
			for i, n := range r.RegNames() {
				s += fmt.Sprintf("%s=%x ", n, r.Values[i])
			}
			pcs, off, _ := k.Image.SymbolAt(r.PC())
			lrs, loff, _ := k.Image.SymbolAt(r.LR())
			t.Logf("%s cpu%d task %x user=%v pc=%s+%x lr=%s+%x\n %s", arch, c, k.ActiveTaskOn(c), r.User, pcs.Name, off, lrs.Name, loff, s)
		}
	}
}
