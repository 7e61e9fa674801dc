package dwarfx

import (
	"os"
	"testing"
	"time"
)

func TestExplore(t *testing.T) {
	p := os.Getenv("VMLINUX")
	if p == "" {
		t.Skip()
	}
	im, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"struct task_struct", "task_struct", "struct rq *", "char [16]", "unsigned long", "u64", "struct list_head", "atomic_t", "pgd_t", "int [2][3]", "enum pid_type", "union thread_union"} {
		t0 := time.Now()
		ty, err := im.Type(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		t.Logf("%-20s -> %-30q size=%d (%v)", n, TypeString(ty), ty.Size(), time.Since(t0))
	}
	ts, _ := im.Type("struct task_struct")
	for _, m := range []string{"pid", "comm", "se", "__state", "sched_reset_on_fork", "tasks", "mm", "thread_info", "stack"} {
		f, ok := im.FindMember(ts, m)
		t.Logf("member %s: %v off=%d bits=%d/%d type=%s", m, ok, f.ByteOffset, f.BitSize, f.BitOffset, TypeString(f.Type))
	}
	for _, n := range []string{"init_task", "linux_banner", "jiffies", "runqueues", "fair_sched_class", "init_mm", "__per_cpu_offset", "_stext", "nr_cpu_ids"} {
		v, err := im.Variable(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		t.Logf("var %-18s %#x %s %q percpu=%v", n, v.Addr, TypeString(v.Type), v.Decl, v.PerCPU)
	}
	for _, n := range []string{"schedule", "panic", "do_idle", "start_kernel"} {
		f, err := im.Function(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		f2, ok := im.FunctionAt(f.Low + 4)
		s, off, _ := im.SymbolAt(f.Low + 4)
		ft, _ := im.FuncType(f)
		t.Logf("func %s [%#x,%#x) at+4=%v %s sym=%s+%#x type=%s", n, f.Low, f.High, ok, f2.Name, s.Name, off, TypeString(ft))
	}
	env := &Env{Img: im, Mem: im.StaticMemory()}
	for _, e := range []string{"linux_banner", "sizeof(struct task_struct)", "&init_task", "init_task.comm", "init_task.pid", "&init_task.tasks", "container_of(&init_task.tasks, struct task_struct, tasks)", "(struct task_struct *)0x1000 + 1", "PIDTYPE_MAX", "init_task.sched_reset_on_fork", "&((struct task_struct *)0)->se.vruntime", "offsetof(struct task_struct, se.vruntime)", "init_task.se.vruntime", "-1", "1 << 40", "jiffies", "schedule", "&schedule", "init_task.mm", "init_task.active_mm->pgd", "fair_sched_class", "_stext", "nr_cpu_ids", "sizeof init_task.comm", "init_task.comm[0]", "(char)65", "'A' + 1", "runqueues.nr_running"} {
		v, err := env.Eval(e)
		if err != nil {
			t.Logf("EVAL %-40s ERR %v", e, err)
			continue
		}
		a, ok := v.Addr()
		var val any
		if s, err := v.CString(nil, 80); err == nil {
			val = s
		} else if x, err := v.Uint(nil); err == nil {
			val = x
		} else {
			val = err.Error()
		}
		t.Logf("EVAL %-40s type=%-28s addr=%#x/%v val=%#v", e, TypeString(v.Type()), a, ok, val)
	}
}
