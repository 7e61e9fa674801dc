package dwarfx

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestCPUOpen(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	for i := 0; i < 4; i++ {
		var r0, r1 syscall.Rusage
		syscall.Getrusage(0, &r0)
		t0 := time.Now()
		im, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		wall := time.Since(t0)
		syscall.Getrusage(0, &r1)
		cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
		t.Logf("wall %v cpu %v (user %v sys %v)", wall, cpu, time.Duration(r1.Utime.Nano()-r0.Utime.Nano()), time.Duration(r1.Stime.Nano()-r0.Stime.Nano()))
		im.Close()
	}
}
