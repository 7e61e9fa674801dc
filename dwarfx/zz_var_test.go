package dwarfx

import (
	"os"
	"testing"
	"time"
)

func TestVarCold(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	im, _ := Open(p)
	for _, n := range []string{"init_task", "runqueues", "jiffies", "init_mm", "fair_sched_class", "linux_banner", "__per_cpu_offset", "nr_cpu_ids", "vmcoreinfo_data", "totalram_pages"} {
		im.resetTypeCaches()
		t0 := time.Now()
		v, err := im.Variable(n)
		t.Logf("%-20s %v %s %v", n, time.Since(t0), TypeString(v.Type), err)
	}
	for _, n := range []string{"schedule", "do_exit", "panic"} {
		im.resetTypeCaches()
		t0 := time.Now()
		f, _ := im.Function(n)
		ft, err := im.FuncType(f)
		t.Logf("%-20s %v %s %v", n, time.Since(t0), TypeString(ft), err)
	}
}
