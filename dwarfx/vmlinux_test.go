package dwarfx

import (
	"bufio"
	"bytes"
	"debug/dwarf"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinspect/kinspect/internal/fixture"
)

// taskFacts are the task_struct facts the tests below need, from gdb's
// ptype/o of the same vmlinux (gdb_layout_test.go): nothing is tied to one
// kernel build.
type taskFacts struct {
	size, tasks, vrun, rqSize int64
	resetByte, resetBit       int64 // sched_reset_on_fork: byte of its bit, bit within it (LSB = 0)
	pid, comm, se, state, mm  int64
}

func taskLayout(t *testing.T, im *Image) taskFacts {
	t.Helper()
	g := gdbLayouts(t, archOf(im))
	off := func(st, m string) int64 {
		x, ok := g[st].member(m)
		if !ok {
			t.Fatalf("gdb shows no struct %s.%s", st, m)
		}
		return x.Off
	}
	reset, ok := g["task_struct"].member("sched_reset_on_fork")
	if !ok || !reset.BitField {
		t.Fatalf("gdb shows no bit-field task_struct.sched_reset_on_fork: %+v", reset)
	}
	return taskFacts{size: g["task_struct"].Size, tasks: off("task_struct", "tasks"),
		vrun: off("task_struct", "se") + off("sched_entity", "vruntime"), rqSize: g["rq"].Size,
		resetByte: reset.Off + reset.Bit/8, resetBit: reset.Bit % 8,
		pid: off("task_struct", "pid"), comm: off("task_struct", "comm"), se: off("task_struct", "se"),
		state: off("task_struct", "__state"), mm: off("task_struct", "mm")}
}

func archOf(im *Image) string {
	switch im.Machine() {
	case 183:
		return "arm64"
	case 62:
		return "x86_64"
	}
	return "arm"
}

func TestVmlinuxTaskStruct(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		want := taskLayout(t, im)
		ts, err := im.Type("struct task_struct")
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := ts.(*dwarf.StructType); !ok || st.Incomplete {
			t.Fatalf("struct task_struct is %T (incomplete?): a declaration won over the definition", ts)
		}
		if n, _ := im.Sizeof(ts); n != want.size {
			t.Errorf("sizeof(struct task_struct) = %d, want %d", n, want.size)
		}
		for _, c := range []struct {
			path string
			off  int64
			typ  string
		}{
			{"pid", want.pid, "pid_t"}, {"comm", want.comm, "char [16]"}, {"se", want.se, "struct sched_entity"},
			{"__state", want.state, "unsigned int"}, {"tasks", want.tasks, "struct list_head"},
			{"mm", want.mm, "struct mm_struct *"}, {"se.vruntime", want.vrun, "u64"},
		} {
			off, typ, err := im.OffsetOf(ts, c.path)
			if err != nil || off != c.off || TypeString(typ) != c.typ {
				t.Errorf("task_struct.%s: offset %d type %q (%v); want %d %q", c.path, off, TypeString(typ), err, c.off, c.typ)
			}
		}
		// 6.1 renamed state to __state.
		if _, ok := im.FindMember(ts, "state"); ok {
			t.Errorf("task_struct has 'state' in 6.1")
		}
		f, ok := im.FindMember(ts, "sched_reset_on_fork")
		if !ok || f.BitSize != 1 || f.BitOffset != want.resetByte*8+want.resetBit || f.ByteOffset != want.resetByte {
			t.Errorf("sched_reset_on_fork = %+v, want 1 bit at byte %d bit %d", f, want.resetByte, want.resetBit)
		}
		// Reading the bit-field from a fake task.
		mem := newMapMemory()
		const base = 0x10000
		mem.write(base+uint64(want.resetByte), []byte{1 << want.resetBit})
		task := im.NewValueAt(ts, base).WithMem(mem)
		v, err := task.Member("sched_reset_on_fork")
		if err != nil {
			t.Fatal(err)
		}
		if x, err := v.Uint(nil); err != nil || x != 1 {
			t.Errorf("sched_reset_on_fork read %d %v", x, err)
		}
		mem.write(base+uint64(want.resetByte), []byte{^byte(1 << want.resetBit)})
		if x, err := v.Uint(nil); err != nil || x != 0 {
			t.Errorf("sched_reset_on_fork read %d %v (neighbours set)", x, err)
		}
		// Opaque pointee completed: mm->pgd through a task.
		mm, _ := im.FindMember(ts, "mm")
		pt := Strip(mm.Type).(*dwarf.PtrType)
		if full := im.Complete(pt.Type); sizeOf(full) <= 0 {
			t.Errorf("struct mm_struct not completed")
		}
		names := im.MemberNames(ts)
		if len(names) < 100 || !contains(names, "comm") || !contains(names, "__state") {
			t.Errorf("MemberNames(task_struct): %d names", len(names))
		}
		// page.flags and a union member through anonymous members.
		pg, err := im.Type("struct page")
		if err != nil {
			t.Fatal(err)
		}
		if off, _, err := im.OffsetOf(pg, "flags"); err != nil || off != 0 {
			t.Errorf("page.flags at %d %v", off, err)
		}
		if _, _, err := im.OffsetOf(pg, "lru"); err != nil {
			t.Errorf("page.lru (inside anonymous union/struct): %v", err)
		}
	})
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

func TestVmlinuxTypes(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		ptr := int64(im.PtrSize())
		for _, c := range []struct {
			name, spelled string
			size          int64
		}{
			{"task_struct", "struct task_struct", taskLayout(t, im).size},
			{"struct rq *", "struct rq *", ptr},
			{"struct list_head", "struct list_head", 2 * ptr},
			{"unsigned long", "long unsigned int", ptr},
			{"u64", "u64", 8},
			{"u8", "u8", 1},
			{"char [16]", "char [16]", 16},
			{"atomic_t", "atomic_t", 4},
			{"enum pid_type", "enum pid_type", 4},
			{"pid_type", "enum pid_type", 4},
			{"struct page **", "struct page **", ptr},
			{"spinlock_t", "spinlock_t", -1},
		} {
			typ, err := im.Type(c.name)
			if err != nil {
				t.Errorf("Type(%q): %v", c.name, err)
				continue
			}
			if TypeString(typ) != c.spelled {
				t.Errorf("Type(%q) = %q, want %q", c.name, TypeString(typ), c.spelled)
			}
			if n, err := im.Sizeof(typ); c.size >= 0 && (err != nil || n != c.size) {
				t.Errorf("sizeof(%s) = %d %v, want %d", c.name, n, err, c.size)
			}
		}
		if n, typ, ok := im.EnumConstant("PIDTYPE_MAX"); !ok || n != 4 || TypeString(typ) != "enum pid_type" {
			t.Errorf("PIDTYPE_MAX = %d %v %v", n, typ, ok)
		}
		if n, _, ok := im.EnumConstant("TASK_COMM_LEN"); !ok || n != 16 {
			t.Errorf("TASK_COMM_LEN = %d %v", n, ok)
		}
	})
}

func TestVmlinuxSymbols(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		for _, c := range []struct {
			name  string
			kinds string
		}{{"init_task", "D"}, {"linux_banner", "RD"}, {"fair_sched_class", "RD"}, {"schedule", "T"}, {"jiffies", "D"}, {"runqueues", "Dd"}, {"_stext", "T"}, {"__per_cpu_offset", "D"}} {
			s, ok := im.Lookup(c.name)
			if !ok || !strings.ContainsRune(c.kinds, rune(s.Kind)) || s.Addr == 0 {
				t.Errorf("Lookup(%s) = %+v %v, want kind in %q", c.name, s, ok, c.kinds)
			}
		}
		f, err := im.Function("schedule")
		if err != nil {
			t.Fatal(err)
		}
		sym, _ := im.Lookup("schedule")
		s, off, ok := im.SymbolAt(sym.Addr + 0x10)
		if !ok || s.Name != "schedule" || off != 0x10 {
			t.Errorf("SymbolAt(schedule+0x10) = %s+%#x %v", s.Name, off, ok)
		}
		// On arm64 DW_AT_low_pc lies after the patchable-entry NOPs that
		// follow the symbol; FunctionAt covers them too.
		for _, pc := range []uint64{sym.Addr, sym.Addr + 0x10, f.Low, f.High - 1} {
			if g, ok := im.FunctionAt(pc); !ok || g.Name != "schedule" || g.Low != f.Low || g.High != f.High {
				t.Errorf("FunctionAt(%#x) = %+v %v", pc, g, ok)
			}
		}
		if f.Low < sym.Addr || f.Low-sym.Addr > 16 || f.High > sym.Addr+sym.Size {
			t.Errorf("schedule: DWARF [%#x,%#x) vs symbol %#x+%#x", f.Low, f.High, sym.Addr, sym.Size)
		}
		if file, line, ok := im.LineAt(f.Low + 4); !ok || !strings.HasSuffix(file, "kernel/sched/core.c") || line <= 0 {
			t.Errorf("LineAt(schedule+4) = %s:%d %v", file, line, ok)
		}
		// Functions split in hot and cold parts (DW_AT_ranges; x86-64's
		// .cold sections): a pc in any part belongs to the function.
		idx := im.index()
		for i := range idx.defs {
			d := &idx.defs[i]
			if d.rng < 0 || len(idx.ranges[d.rng]) < 2 {
				continue
			}
			fn := im.funcFromDef(idx, int32(i))
			last := fn.Ranges[len(fn.Ranges)-1]
			if g, ok := im.FunctionAt(last[0] + 1); !ok || g.Name != fn.Name {
				t.Errorf("FunctionAt(%s cold part %#x) = %+v %v", fn.Name, last[0]+1, g, ok)
			}
			break
		}
		if !im.InText(f.Low) || im.InText(0x1000) {
			t.Errorf("InText wrong")
		}
		v, _ := im.Variable("init_task")
		if im.InText(v.Addr) || !im.InKernelImage(v.Addr) {
			t.Errorf("init_task: InText %v InKernelImage %v", im.InText(v.Addr), im.InKernelImage(v.Addr))
		}
		if got := im.SearchSymbols("fair_sched_cla"); len(got) == 0 || !strings.Contains(got[0].Name, "fair_sched_cla") {
			t.Errorf("SearchSymbols = %v", got)
		}
		// KASLR shift applies to symbols, variables and functions alike,
		// but not to the zero-based per-cpu section (x86-64).
		const slide = 0x3e00000
		rq0, _ := im.Variable("runqueues")
		im.SetKASLROffset(slide)
		s1, _ := im.Lookup("init_task")
		v1, _ := im.Variable("init_task")
		f1, _ := im.Function("schedule")
		rq1, _ := im.Variable("runqueues")
		sym1, _ := im.Lookup("schedule")
		sa, so, _ := im.SymbolAt(sym1.Addr + 4)
		im.SetKASLROffset(0)
		s0, _ := im.Lookup("init_task")
		if s1.Addr != s0.Addr+slide || v1.Addr != v.Addr+slide || f1.Low != f.Low+slide || sa.Name != "schedule" || so != 4 {
			t.Errorf("KASLR: %#x %#x %#x %s+%d", s1.Addr, v1.Addr, f1.Low, sa.Name, so)
		}
		_, _, zero := im.PerCPURange()
		if zero != (archOf(im) == "x86_64") {
			t.Errorf("zero-based per-cpu = %v", zero)
		}
		if zero && rq1.Addr != rq0.Addr || !zero && rq1.Addr != rq0.Addr+slide {
			t.Errorf("runqueues under KASLR: %#x -> %#x", rq0.Addr, rq1.Addr)
		}
	})
}

// TestVmlinuxSymbolKinds compares every symbol's letter and address with
// nm's (mapping symbols, which crash hides, excepted).
func TestVmlinuxSymbolKinds(t *testing.T) {
	nm, err := exec.LookPath("nm")
	if err != nil {
		t.Skip("nm not installed")
	}
	forEachArch(t, func(t *testing.T, im *Image) {
		out, err := exec.Command(nm, im.Path()).Output()
		if err != nil {
			t.Fatal(err)
		}
		type key struct {
			name string
			addr uint64
		}
		mine := map[key]byte{}
		for i := range im.syms.all {
			s := &im.syms.all[i]
			mine[key{s.name, s.addr}] = s.kind
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		n, bad := 0, 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || isMappingSymbol(f[2]) {
				continue
			}
			addr, _ := strconv.ParseUint(f[0], 16, 64)
			n++
			got, ok := mine[key{f[2], addr}]
			if !ok || got != f[1][0] {
				bad++
				if bad <= 10 {
					t.Errorf("%s at %#x: nm says %s, we say %q (found %v)", f[2], addr, f[1], got, ok)
				}
			}
		}
		if n != len(im.syms.all) {
			t.Errorf("nm lists %d symbols, we have %d", n, len(im.syms.all))
		}
		if bad > 0 {
			t.Errorf("%d of %d symbols differ from nm", bad, n)
		}
	})
}

func TestVmlinuxVariables(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		for _, c := range []struct {
			name, typ string
			percpu    bool
		}{
			{"init_task", "struct task_struct", false},
			{"jiffies", "volatile long unsigned int", false}, // declared in C, defined by the linker script
			{"runqueues", "struct rq", true},
			{"init_mm", "struct mm_struct", false},
			{"linux_banner", "const char []", false},
		} {
			v, err := im.Variable(c.name)
			if err != nil {
				t.Errorf("Variable(%s): %v", c.name, err)
				continue
			}
			if TypeString(v.Type) != c.typ || v.PerCPU != c.percpu || v.Addr == 0 {
				t.Errorf("Variable(%s) = %s percpu=%v addr=%#x; want %s percpu=%v", c.name, TypeString(v.Type), v.PerCPU, v.Addr, c.typ, c.percpu)
			}
			if s, ok := im.Lookup(c.name); ok && s.Addr != v.Addr {
				t.Errorf("Variable(%s) at %#x, symbol at %#x", c.name, v.Addr, s.Addr)
			}
		}
		// A static variable.
		found := false
		for _, n := range []string{"sched_clock_running", "cpu_idle_force_poll", "panic_on_taint"} {
			if v, err := im.Variable(n); err == nil && v.Decl == "static" {
				found = true
			}
		}
		if !found {
			t.Errorf("no static variable found")
		}
		if _, err := im.Variable("no_such_variable_xyz"); err == nil {
			t.Errorf("Variable(no_such) succeeded")
		}
	})
}

func TestVmlinuxEval(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		f := fixture.Require(t, archOf(im))
		version := ""
		if f.GT != nil {
			version = f.GT.Version
		}
		env := &Env{Img: im, Mem: im.StaticMemory(), NrCPUs: func() int { return 4 }}
		env.PerCPU = func(v Value, cpu int) (Value, error) {
			a, _ := v.Addr()
			return im.NewValueAt(v.Type(), a+uint64(cpu)*0x1000), nil
		}
		ts := taskLayout(t, im)
		init, _ := im.Variable("init_task")
		for _, c := range []evalCase{
			{expr: "init_task.comm", want: "swapper", typ: "char [16]"},
			{expr: "init_task.pid", want: 0},
			{expr: "sizeof(struct task_struct)", want: int(ts.size)},
			{expr: "sizeof(init_task)", want: int(ts.size)},
			{expr: "&init_task.tasks", want: init.Addr + uint64(ts.tasks), typ: "struct list_head *"},
			{expr: "container_of(&init_task.tasks, struct task_struct, tasks)", want: init.Addr, typ: "struct task_struct *"},
			{expr: fmt.Sprintf("(struct task_struct *)(%#x - %#x)", init.Addr+uint64(ts.tasks), ts.tasks), want: init.Addr},
			{expr: fmt.Sprintf("((struct task_struct *)%#x)->comm", init.Addr), want: "swapper"},
			{expr: "&((struct task_struct *)0)->se.vruntime", want: int(ts.vrun)},
			{expr: "(struct task_struct *)0 + 1", want: int(ts.size)},
			{expr: "PIDTYPE_MAX", want: 4},
			{expr: "sizeof(struct rq)", want: int(ts.rqSize)},
			{expr: "&((struct rq *)0)->nr_running", want: 4},
			{expr: "init_task.sched_reset_on_fork", want: 0},
			{expr: "runqueues:1", typ: "struct rq"},
			{expr: "&per_cpu(runqueues, 2)", typ: "struct rq *"},
			{expr: "init_task.mm", want: 0},
			{expr: "init_task.state", err: "struct task_struct has no member 'state'"},
			{expr: "init_task.bar", err: "struct task_struct has no member 'bar'"},
			{expr: "foo", err: "unknown symbol 'foo'"},
			{expr: "(struct task_struct *)(0xF161926C-0x3EC", err: "expected ')'"},
		} {
			checkEval(t, env, c)
		}
		v, err := env.Eval("linux_banner")
		if err != nil {
			t.Fatal(err)
		}
		s, err := v.CString(nil, 512)
		if err != nil || !strings.HasPrefix(s, "Linux version 6.1.") || version != "" && !strings.HasPrefix(s, version) {
			t.Errorf("linux_banner = %q %v (ground truth %q)", s, err, version)
		}
		// A per-cpu variable read without a cpu says how to ask for one.
		env.Mem = newMapMemory()
		if _, err := env.Eval("runqueues.curr->pid"); err == nil || !strings.Contains(err.Error(), "runqueues:N") {
			t.Errorf("per-cpu hint missing: %v", err)
		}
	})
}

// TestVmlinuxCompletionSpeed checks the completion lookups answer well
// under 50 ms on the real images.
func TestVmlinuxCompletionSpeed(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		im.PrepareCompletion()
		ts, _ := im.Type("struct task_struct")
		for _, c := range []struct {
			name string
			fn   func() []string
			must string
		}{
			{"TypeNames(struct task_)", func() []string { return im.TypeNames("struct task_") }, "struct task_struct"},
			{"TypeNames(u)", func() []string { return im.TypeNames("u") }, "u64"},
			{"TypeNames(task_s)", func() []string { return im.TypeNames("task_s") }, "struct task_struct"},
			{"SymbolNames(init_ta)", func() []string { return im.SymbolNames("init_ta") }, "init_task"},
			{"SymbolNames(PIDTYPE_)", func() []string { return im.SymbolNames("PIDTYPE_") }, "PIDTYPE_MAX"},
			{"SymbolNames()", func() []string { return im.SymbolNames("") }, "schedule"},
			{"MemberNames(task_struct)", func() []string { return im.MemberNames(ts) }, "se"},
		} {
			t0 := time.Now()
			got := c.fn()
			d := time.Since(t0)
			if !contains(got, c.must) {
				t.Errorf("%s lacks %q (%d results)", c.name, c.must, len(got))
			}
			if d > 50*time.Millisecond {
				t.Errorf("%s took %v", c.name, d)
			}
		}
	})
}
