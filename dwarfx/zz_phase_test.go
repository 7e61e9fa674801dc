package dwarfx

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestPhases(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	im0, _ := Open(p)
	runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(2)
	minSym, minIdx := time.Hour, time.Hour
	for i := 0; i < 12; i++ {
		im := &Image{path: p, mmap: im0.mmap, ef: im0.ef, order: im0.order, sects: im0.sects, ptr: im0.ptr}
		t0 := time.Now()
		im.loadSymbols()
		t1 := time.Now()
		buildIndex(im)
		t2 := time.Now()
		minSym = min(minSym, t1.Sub(t0))
		minIdx = min(minIdx, t2.Sub(t1))
	}
	t.Logf("min single-thread: symbols %v index %v", minSym, minIdx)
}
