package star

// Tests of the Starlark layer on the fixture dumps. Every iteration helper
// is compared with the command that walks the same structure (for_each_task
// with ps --json, list_for_each_entry with list, tasks_on_runqueue with
// runq --json): same tasks, same order. The examples are compared with the
// guest's own ground truth (f.GT), never with earlier kinspect output.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// forEachFixture runs fn on every bookworm fixture and the extra kernels.
func forEachFixture(t *testing.T, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	ktest.ForEach(t, fn)
	ktest.ForEachExtra(t, fn)
}

func newSession(k *kstructs.Kernel) (*repl.Session, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return repl.NewSession(k, &out, &errb), &out, &errb
}

// eval evaluates Starlark src and returns its value as JSON would carry it.
func eval(t testing.TB, s *repl.Session, src string) any {
	t.Helper()
	res, err := Eval(context.Background(), s, src)
	if err != nil {
		t.Fatalf("star %s: %v", src, err)
	}
	return roundTrip(t, res.Value)
}

// roundTrip normalises a value through encoding/json (numbers to float64
// are avoided: json.Number).
func roundTrip(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// command runs a REPL command with --json and decodes its document.
func command(t testing.TB, s *repl.Session, line string) any {
	t.Helper()
	raw, err := s.RunJSON(context.Background(), line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return v
}

func num(t testing.TB, v any) uint64 {
	t.Helper()
	switch v := v.(type) {
	case json.Number:
		if u, err := strconv.ParseUint(v.String(), 10, 64); err == nil {
			return u
		}
		i, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			t.Fatalf("number %v: %v", v, err)
		}
		return uint64(i)
	case string: // a command's hex address
		u, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("address %q: %v", v, err)
		}
		return u
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

func nums(t testing.TB, v any) []uint64 {
	t.Helper()
	var out []uint64
	for _, x := range v.([]any) {
		out = append(out, num(t, x))
	}
	return out
}

func TestForEachTaskMatchesPs(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		got := eval(t, s, `[[address_of(t), t.pid, str(t.comm)] for t in for_each_task()]`).([]any)
		ps := command(t, s, "ps").([]any)
		if len(got) != len(ps) || len(got) == 0 {
			t.Fatalf("for_each_task: %d tasks, ps --json: %d", len(got), len(ps))
		}
		for i := range got {
			g, p := got[i].([]any), ps[i].(map[string]any)
			if num(t, g[0]) != num(t, p["task"]) || num(t, g[1]) != num(t, p["pid"]) || g[2] != p["comm"] {
				t.Errorf("task %d: for_each_task %v, ps %v %v %v", i, g, p["task"], p["pid"], p["comm"])
			}
		}
		t.Logf("%s: %d tasks, same order as ps --json", ktest.Name(f), len(got))
	})
}

func TestListForEachEntryMatchesList(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		for _, c := range []struct{ star, list string }{
			{`list_for_each_entry(kernel.init_task.tasks, "struct task_struct", "tasks")`, "list -H init_task.tasks -o task_struct.tasks"},
			{`list_for_each_entry(kernel.init_task.children, "struct task_struct", "sibling")`, "list -H init_task.children -o task_struct.sibling"},
			{`list_for_each_entry(find_task(2).children, "struct task_struct", "sibling")`, "list -H ((struct task_struct *)" +
				fmt.Sprintf("%#x", mustTask(t, k, 2)) + ")->children -o task_struct.sibling"},
			{`list_for_each_entry(kernel.modules, "struct module", "list")`, "list -H modules -o module.list"},
		} {
			got := nums(t, eval(t, s, "[address_of(e) for e in "+c.star+"]"))
			var want []uint64
			for _, e := range command(t, s, c.list).(map[string]any)["entries"].([]any) {
				want = append(want, num(t, e.(map[string]any)["addr"]))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %d entries %x\n%s: %d entries %x", c.star, len(got), got, c.list, len(want), want)
			}
			t.Logf("%s: %s: %d entries", ktest.Name(f), c.list, len(got))
		}
	})
}

func mustTask(t *testing.T, k *kstructs.Kernel, pid int) uint64 {
	tk, err := k.TaskByPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Addr
}

func TestTasksOnRunqueueMatchesRunq(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		total := 0
		for _, c := range command(t, s, "runq").(map[string]any)["cpus"].([]any) {
			cpu := c.(map[string]any)
			var want []uint64
			for _, q := range []string{"rt", "cfs", "dl"} {
				for _, x := range cpu[q].([]any) {
					want = append(want, num(t, x.(map[string]any)["task"]))
				}
			}
			n := num(t, cpu["cpu"])
			got := nums(t, eval(t, s, fmt.Sprintf("[address_of(t) for t in tasks_on_runqueue(%d)]", n)))
			if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
				t.Errorf("cpu %d: tasks_on_runqueue %x, runq --json %x", n, got, want)
			}
			// The running task is rq.curr, as runq's "current".
			cur := num(t, eval(t, s, fmt.Sprintf("int(per_cpu(kernel[\"runqueues\"], %d).curr)", n)))
			if cur != num(t, cpu["current"].(map[string]any)["task"]) {
				t.Errorf("cpu %d: rq.curr %#x, runq current %v", n, cur, cpu["current"])
			}
			total += len(got)
		}
		t.Logf("%s: %d queued tasks, same as runq --json", ktest.Name(f), total)
	})
}

func TestForEachThreadMatchesGroundTruth(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		got := eval(t, s, `{str(t.pid): [th.pid for th in for_each_thread(t)] for t in for_each_task() if t.pid and t.pid == t.tgid}`).(map[string]any)
		// Against ps --json: the tasks of each tgid, leader first.
		byTGID := map[uint64][]uint64{}
		for _, p := range command(t, s, "ps").([]any) {
			p := p.(map[string]any)
			if num(t, p["pid"]) != 0 {
				byTGID[num(t, p["tgid"])] = append(byTGID[num(t, p["tgid"])], num(t, p["pid"]))
			}
		}
		checked := 0
		for tgid, want := range byTGID {
			sort.Slice(want, func(i, j int) bool { return want[i] == tgid || want[j] != tgid && want[i] < want[j] })
			if g := nums(t, got[strconv.FormatUint(tgid, 10)]); !reflect.DeepEqual(g, want) {
				t.Errorf("tgid %d: for_each_thread %v, ps %v", tgid, g, want)
			}
		}
		// Against the guest: every multi-threaded process has its threads.
		for _, p := range f.GT.Processes() {
			var want []uint64
			for _, th := range f.GT.ThreadsOf(p.PID) {
				want = append(want, uint64(th.PID))
			}
			sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
			g := nums(t, got[strconv.Itoa(p.PID)])
			sort.Slice(g, func(i, j int) bool { return g[i] < g[j] })
			if !reflect.DeepEqual(g, want) {
				t.Errorf("pid %d (%s): for_each_thread %v, guest %v", p.PID, p.Comm, g, want)
			}
			checked++
		}
		t.Logf("%s: %d processes' threads match the guest, %d thread groups match ps", ktest.Name(f), checked, len(byTGID))
	})
}

func TestObjects(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		check := func(src string, want any) {
			t.Helper()
			got := eval(t, s, src)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s = %v, want %v", src, got, want)
			}
		}
		check(`str(kernel.init_task.comm)`, "swapper/0")
		check(`kernel["init_task"].pid`, 0)
		check(`typeof(kernel.init_task.parent)`, "struct task_struct *")
		check(`kernel.init_task.parent == kernel.init_task.real_parent`, true)
		check(`address_of(member(kernel.init_task, "tasks")) == int(kernel.init_task.tasks.next.prev)`, true)
		// container_of inverts a member's address.
		check(`address_of(container_of(kernel.init_task.tasks.next, "struct task_struct", "tasks")) == address_of(list_for_each_entry(kernel.init_task.tasks, "struct task_struct", "tasks")[0])`, true)
		check(`container_of(address_of(member(kernel.init_task, "se")), "struct task_struct", "se") == kernel.init_task`, true)
		// cast reinterprets a pointer; deref and [0] follow it.
		check(`cast(kernel.init_task.tasks.next, "struct task_struct *") != None`, true)
		check(`deref(kernel.init_task.parent).pid`, 0)
		check(`kernel.init_task.parent[0].pid`, 0)
		check(`str(kernel.init_task.comm[0])`, int('s'))
		// sizeof and member offsets against the DWARF.
		tt, _ := k.Image.Type("struct task_struct")
		n, _ := k.Image.Sizeof(tt)
		check(`sizeof("struct task_struct")`, n)
		check(`sizeof(kernel.init_task)`, n)
		off, _, _ := k.Image.OffsetOf(tt, "se.vruntime")
		check(`address_of(member(kernel.init_task, "se.vruntime")) - address_of(kernel.init_task)`, off)
		// per_cpu: each CPU's runqueue knows its cpu number.
		cpus, _ := k.PossibleCPUs()
		for _, c := range cpus {
			check(fmt.Sprintf(`per_cpu(kernel["runqueues"], %d).cpu`, c), c)
		}
		// The guest's crash pid is a task, with the guest's comm.
		if gt, ok := f.GT.Task(f.GT.CrashPID); ok {
			check(fmt.Sprintf(`str(find_task(%d).comm)`, gt.PID), gt.Comm)
			check(fmt.Sprintf(`find_task(%d).real_parent.tgid`, gt.PID), gt.PPID)
		}
		// str() is p's printing, t32() v.v's.
		p := strings.TrimSpace(strings.SplitN(runText(t, s, "p init_task.se.load"), "= ", 2)[1])
		check(`str(kernel.init_task.se["load"])`, p) // load is a Starlark keyword: obj["load"]
		check(`t32(member(kernel.init_task, "se.load"), "%h") == `+strconv.Quote(strings.TrimRight(runText(t, s, "v.v %h init_task.se.load"), "\n")), true)
		if _, err := Eval(context.Background(), s, `per_cpu(kernel.init_task, 0)`); err == nil {
			t.Error("per_cpu of init_task worked")
		}
		check(`per_cpu(member(kernel.runqueues, "cfs"), 0) == per_cpu(kernel.runqueues, 0).cfs`, true)
		// Per-cpu variables need a cpu.
		if _, err := Eval(context.Background(), s, `kernel.runqueues.nr_running`); err == nil || !strings.Contains(err.Error(), "per_cpu") {
			t.Errorf("reading a per-cpu variable without a cpu: %v", err)
		}
	})
}

func runText(t *testing.T, s *repl.Session, line string) string {
	t.Helper()
	var out, errb bytes.Buffer
	s2 := repl.NewSession(s.K, &out, &errb)
	if err := s2.Exec(context.Background(), line, false); err != nil {
		t.Fatalf("%s: %v %s", line, err, errb.String())
	}
	return out.String()
}

func TestReadFault(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	s, _, _ := newSession(k)
	tt, _ := k.Image.Type("struct task_struct")
	off, _, _ := k.Image.OffsetOf(tt, "pid")
	want := fmt.Sprintf("%#x", 0x10+off)
	// A failing read stops the script with the address and a traceback.
	_, err := Eval(context.Background(), s, "def f():\n  return object(\"struct task_struct\", 0x10).pid\nx = f()")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "<star>:2:") {
		t.Errorf("read fault: %v (want the address %s and <star>:2)", err, want)
	}
	// try_read makes it a value.
	got := eval(t, s, `[[bool(r), hex(r.address), "not mapped" in r.message] for r in [try_read(lambda: object("struct task_struct", 0x10).pid)]]`)
	if fmt.Sprint(got) != fmt.Sprintf("[[false %s true]]", want) {
		t.Errorf("try_read = %v", got)
	}
	// A list whose head cannot be read: the walk's error names the address.
	got = eval(t, s, `[hex(r.address) for r in [try_read(list_for_each_entry, 0x20, "struct task_struct", "tasks")]]`)
	if fmt.Sprint(got) != "[0x20]" {
		t.Errorf("try_read(list_for_each_entry) at 0x20 = %v", got)
	}
	// and passes values through.
	if got := eval(t, s, `try_read(lambda: kernel.init_task.pid)`); fmt.Sprint(got) != "0" {
		t.Errorf("try_read of a good read = %v", got)
	}
}

func TestCancel(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	s, _, _ := newSession(k)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Eval(ctx, s, "n = 0\nwhile True:\n  n += len(for_each_task())")
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("cancelled script: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}

// TestCancelCommand: Ctrl-C cancels the command's context, which stops the
// script the command runs.
func TestCancelCommand(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	s, _, errb := newSession(k)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := s.Exec(ctx, "star [0 for _ in range(1000000000)]", false)
	if err == nil || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("interrupted star: %v, stderr %q", err, errb.String())
	}
	// The session is still usable.
	if got := eval(t, s, "len(for_each_task()) > 0"); got != true {
		t.Errorf("after the interrupt: %v", got)
	}
}

func TestSourceCommandsAndWrites(t *testing.T) {
	k, _ := ktest.Open(t, "x86_64", "vmcore.elf")
	s, out, errb := newSession(k)
	dir := t.TempDir()
	script := filepath.Join(dir, "t.star")
	target := filepath.Join(dir, "out.txt")
	src := `
def command_comm(args):
    """comm PID: a task's command name.

    The name comes from task_struct.comm."""
    print(str(find_task(int(args[0])).comm))

def command_save(args):
    """save: writes a file."""
    write_file(` + strconv.Quote(target) + `, "x")

def command_twice(args):
    """twice: runs comm through run(), nested."""
    return [run("comm 1")["output"], run("star 1 + 1")["value"]]
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Exec(ctx, "source "+script+"; comm 1; help comm", false); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "init\n") || !strings.Contains(out.String(), "The name comes from task_struct.comm.") {
		t.Errorf("comm 1 / help comm printed %q", out.String())
	}
	// Script commands nest: one calls another, and star, through run().
	out.Reset()
	if err := s.Exec(ctx, "twice", false); err != nil || out.String() != "[\"init\\n\", 2]\n" {
		t.Errorf("twice: %v, printed %q", err, out.String())
	}
	// Built-in commands cannot be replaced.
	if err := os.WriteFile(script, []byte("def command_ps(args):\n  pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "source "+script, false); err == nil {
		t.Error("a script replaced the ps command")
	}
	// Read-only by default.
	if err := s.Exec(ctx, "save", false); err == nil || !strings.Contains(errb.String(), "--allow-write") {
		t.Errorf("write_file without --allow-write: %v %q", err, errb.String())
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the file was written")
	}
	Configure(s, Options{AllowWrite: true})
	if err := s.Exec(ctx, "save", false); err != nil {
		t.Errorf("write_file with --allow-write: %v", err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Error(err)
	}
}

func TestRun(t *testing.T) {
	forEachFixture(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s, _, _ := newSession(k)
		got := eval(t, s, `[p["pid"] for p in run("ps -k")]`)
		var want []any
		for _, p := range command(t, s, "ps -k").([]any) {
			want = append(want, p.(map[string]any)["pid"])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("run(\"ps -k\") pids %v, ps -k --json %v", got, want)
		}
		if got := eval(t, s, `run("sys")["release"]`); got != f.GT.Release {
			t.Errorf("run(\"sys\")[\"release\"] = %v, guest %s", got, f.GT.Release)
		}
		if _, err := Eval(context.Background(), s, `run("ps > /tmp/x")`); err == nil {
			t.Error("run() accepted a redirection")
		}
	})
}

func BenchmarkForEachTask(b *testing.B) {
	k, _ := ktest.Open(b, "x86_64", "vmcore.elf")
	s, _, _ := newSession(k)
	for b.Loop() {
		if _, err := Eval(context.Background(), s, `[(t.pid, t.tgid, str(t.comm)) for t in for_each_task()]`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPsJSON(b *testing.B) {
	k, _ := ktest.Open(b, "x86_64", "vmcore.elf")
	s, _, _ := newSession(k)
	for b.Loop() {
		if _, err := s.RunJSON(context.Background(), "ps"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadmeBuiltinsCurrent fails when a built-in changed and README.md was
// not regenerated with `make readme`; and every built-in is in the
// environment scripts see, and the other way round.
func TestReadmeBuiltinsCurrent(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := SpliceBuiltins(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(b) {
		t.Fatal("README.md's table of Starlark built-ins is stale: run `make readme`")
	}
	st := &state{globals: starlark.StringDict{}}
	env := st.builtins()
	documented := map[string]bool{}
	for _, bi := range Builtins() {
		documented[bi.Name] = true
		if _, ok := env[bi.Name]; !ok && bi.Name != "str" {
			t.Errorf("built-in %s is documented but not defined", bi.Name)
		}
	}
	for name := range env {
		if !documented[name] {
			t.Errorf("built-in %s is not documented", name)
		}
	}
}
