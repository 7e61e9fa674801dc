package repl

// Format and ground-truth tests of p, struct, v.v, rq and sched_class on
// the fixture dumps. Values are checked against the guest's own view of
// its tasks here, and against crash 8.0.6 on the same dump in
// internal/oracle (p, struct, whatis, union, struct -o, and v.v's member
// addresses against crash's struct -o); the Trace32 formats, which no
// other tool prints, are checked structurally: the shape Trace32 uses,
// with every value position holding a value, never one dump's bytes.

import (
	"bytes"
	"context"
	"debug/dwarf"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// run executes one command line in a fresh session and returns its stdout.
func run(t *testing.T, k *kstructs.Kernel, line string) string {
	t.Helper()
	var out, errb bytes.Buffer
	s := NewSession(k, &out, &errb)
	if err := s.Exec(context.Background(), line, false); err != nil {
		t.Fatalf("%s: %v (stderr %q)", line, err, errb.String())
	}
	return out.String()
}

// TestPrintCrashFormats checks outputs against crash's documented formats.
func TestPrintCrashFormats(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if got := run(t, k, "p init_task.comm"); got != `$1 = "swapper/0\000\000\000\000\000\000"`+"\n" {
			t.Errorf("p init_task.comm = %q", got)
		}
		var out, errb bytes.Buffer
		s := NewSession(k, &out, &errb)
		for i := 1; i <= 2; i++ {
			out.Reset()
			if err := s.Exec(context.Background(), "p jiffies", false); err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(fmt.Sprintf(`^jiffies = \$%d = \d+\n$`, i)).MatchString(out.String()) {
				t.Errorf("p jiffies #%d = %q", i, out.String())
			}
		}
		// $N history: $1 is jiffies' value.
		out.Reset()
		if err := s.Exec(context.Background(), "p $1 == jiffies", false); err != nil {
			t.Fatal(err)
		}
		if out.String() != "$3 = 1\n" {
			t.Errorf("p $1 == jiffies = %q", out.String())
		}
	})
}

// TestVViewGroundTruth checks v.v, rq and sched_class against the guest's
// own view of its tasks.
func TestVViewGroundTruth(t *testing.T) {
	ktest.ForEach(t, checkVView)
	ktest.ForEachMachine(t, checkVView)
}

// TestT32KernelSplit: on 32-bit arm the Trace32 view's task and list
// addresses lie in the linear map from the kernel's own CONFIG_PAGE_OFFSET
// (0x80000000 on the 2G/2G rpios kernel, as in Trace32 listings of a Pi;
// 0xC0000000 on Debian's 3G/1G armmp), with init_task where the vmlinux's
// symbol table puts it.
func TestT32KernelSplit(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if f.Arch != "arm" {
			return
		}
		po, ok := f.KernelConfig("PAGE_OFFSET")
		if !ok {
			t.Fatalf("%s/config has no CONFIG_PAGE_OFFSET", f.Dir)
		}
		pageOffset, err := strconv.ParseUint(po, 0, 32)
		if err != nil {
			t.Fatalf("CONFIG_PAGE_OFFSET %q: %v", po, err)
		}
		out := run(t, k, "v.v %l %t %h init_task pid,comm,tasks")
		nm, err := f.NMSymbols()
		if err != nil {
			t.Fatal(err)
		}
		want, ok := nm["init_task"]
		if !ok {
			t.Fatalf("nm lists no init_task in %s", f.Vmlinux())
		}
		if !strings.Contains(out, fmt.Sprintf("%X", want)) {
			t.Errorf("v.v init_task does not show nm's address %#x:\n%s", want, out)
		}
		// Every member's location ([D:0x...]) and the tasks list's links.
		addrs := regexp.MustCompile(`(?:\[D:|(?:next|prev) = )0x([0-9A-F]+)`).FindAllStringSubmatch(out, -1)
		if len(addrs) < 6 {
			t.Fatalf("v.v init_task: want 4 member locations and tasks.next/prev:\n%s", out)
		}
		for _, m := range addrs {
			a, _ := strconv.ParseUint(m[1], 16, 32)
			if a < pageOffset {
				t.Errorf("task address %#x below CONFIG_PAGE_OFFSET %#x:\n%s", a, pageOffset, out)
			}
		}
		t.Logf("CONFIG_PAGE_OFFSET %#x: init_task at %#x, %d addresses at or above it", pageOffset, want, len(addrs))
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

func checkVView(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
	{
		pid := f.GT.RolePID("raspbian_proc")
		task, err := k.TaskByPID(pid)
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, k, fmt.Sprintf("v.v %%l %%t %%h %%s (struct task_struct *)%#x pid,comm,sibling", task.Addr))
		gt, _ := f.GT.Task(pid)
		if !strings.Contains(out, fmt.Sprintf("pid = 0x%X,", pid)) || !strings.Contains(out, fmt.Sprintf(`comm = "%s",`, gt.Comm)) {
			t.Errorf("v.v of pid %d lacks its pid/comm:\n%s", pid, out)
		}
		// Its sibling list's neighbours are its real siblings (or the parent's children head).
		sibs := map[string]bool{}
		for _, c := range f.GT.ChildrenOf(gt.PPID) {
			if c.PID != pid {
				sibs[c.Comm] = true
			}
		}
		parent, _ := f.GT.Task(gt.PPID)
		re := regexp.MustCompile(`&task_struct\(0x[0-9A-F]+ "([^"]*)"\)\.(sibling|children)`)
		ms := re.FindAllStringSubmatch(out, -1)
		if len(ms) != 2 {
			t.Fatalf("sibling next/prev not annotated with tasks:\n%s", out)
		}
		for _, m := range ms {
			if m[2] == "sibling" && !sibs[m[1]] || m[2] == "children" && m[1] != parent.Comm {
				t.Errorf("sibling neighbour %s.%s is not a sibling of pid %d", m[1], m[2], pid)
			}
		}

		// rq 0: curr is a task that ran on cpu 0.
		out = run(t, k, "rq 0 curr")
		m := regexp.MustCompile(`curr = 0x([0-9A-F]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("rq 0 has no curr:\n%s", out)
		}
		var curr uint64
		fmt.Sscanf(m[1], "%X", &curr)
		ct, err := k.ReadTask(curr)
		if err != nil {
			t.Fatal(err)
		}
		if ct.CPU != 0 {
			t.Errorf("rq 0 curr is pid %d on cpu %d", ct.PID, ct.CPU)
		}

		for role, class := range map[string]string{"fifo": "rt", "raspbian_proc": "fair"} {
			out := run(t, k, fmt.Sprintf("sched_class %d", f.GT.RolePID(role)))
			if !strings.Contains(out, "= "+class+"_sched_class -> (") || !strings.Contains(out, "enqueue_task = ") ||
				!strings.Contains(out, "= enqueue_task_"+class+",") {
				t.Errorf("sched_class of %s: want %s_sched_class with *_%s methods:\n%s", role, class, class, out)
			}
		}

		// A bit-field prints its value (cross-checked with the raw bits).
		out = run(t, k, fmt.Sprintf("v.v %%h (struct task_struct *)%#x sched_reset_on_fork", task.Addr))
		fd, ok := k.Image.FindMember(mustType(t, k, "struct task_struct"), "sched_reset_on_fork")
		if !ok {
			t.Fatal("no sched_reset_on_fork")
		}
		b := make([]byte, 1)
		if err := k.ReadVirt(b, task.Addr+uint64(fd.ByteOffset)); err != nil {
			t.Fatal(err)
		}
		bit := b[0] >> (fd.BitOffset % 8) & 1
		if k.Image.ByteOrder().String() == "BigEndian" {
			bit = b[0] >> (7 - fd.BitOffset%8) & 1
		}
		if !strings.Contains(out, fmt.Sprintf("sched_reset_on_fork = 0x%X", bit)) {
			t.Errorf("bit-field sched_reset_on_fork: want %d:\n%s", bit, out)
		}
	}
}

func mustType(t *testing.T, k *kstructs.Kernel, name string) dwarf.Type {
	t.Helper()
	ty, err := k.Image.Type(name)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestT32Flags(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  t32Opts
		bad   bool
	}{
		{[]string{"%l", "%t", "%h", "%s"}, t32Opts{Location: true, Type: true, Hex: true, Symbols: true}, false},
		{[]string{"%d", "%i", "%c"}, t32Opts{Dec: true, Index: true, Compact: true}, false},
		{[]string{"%h", "%d"}, t32Opts{Dec: true}, false},
		{[]string{"%c", "%m"}, t32Opts{}, false},
		{[]string{"%e"}, t32Opts{Expand: 1}, false},
		{[]string{"%e3"}, t32Opts{Expand: 3}, false},
		{[]string{"%ex"}, t32Opts{}, true},
		{[]string{"%q"}, t32Opts{}, true},
	} {
		o, rest, err := parseT32Args(append(tc.words, "init_task"))
		if (err != nil) != tc.bad {
			t.Errorf("%v: err %v", tc.words, err)
			continue
		}
		if !tc.bad && (o != tc.want || len(rest) != 1) {
			t.Errorf("%v: got %+v %v, want %+v", tc.words, o, rest, tc.want)
		}
	}
}

func TestGDBCharArray(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		n    int64
		want string
	}{
		{[]byte("swapper/0\x00\x00\x00\x00\x00\x00\x00"), 16, `"swapper/0\000\000\000\000\000\000"`},
		{[]byte("abc"), 3, `"abc"`},
		{[]byte("a\"\\\n\x01"), 5, `"a\"\\\n\001"`},
		{bytes.Repeat([]byte("x"), 300)[:257], 300, `"` + strings.Repeat("x", 256) + `"...`},
	} {
		if got := gdbCharArray(tc.b, tc.n); got != tc.want {
			t.Errorf("gdbCharArray(%q) = %s, want %s", tc.b, got, tc.want)
		}
	}
}

// TestVViewFormats checks the Trace32 layouts v.v prints: one line per
// member, nested structs indented by two spaces inside "( ... )", the
// location "[D:0x…]" with %l, the type "(…)" with %t, hexadecimal with %h
// and decimal with %d, list_head links resolved to their task with %s,
// arrays indexed with %i, a one-line form with %c, pointer targets
// expanded with %eN. Each check is a shape, with every value position
// required to hold a value: the values themselves are the oracle tests'.
func TestVViewFormats(t *testing.T) {
	const (
		hex  = `0x[0-9A-F]+`
		loc  = `\[D:` + hex + `\] `
		task = `&task_struct\(` + hex + ` "[^"]*"\)\.`
	)
	for _, c := range []struct {
		cmd   string
		lines []string // every line matches one of these
		must  []string // and each of these matches some line
	}{
		{"v.v %l %t %h %s init_task", []string{
			`^  \(struct task_struct\) ` + loc + `init_task = \($`,
			`^    (  )*\(.+\) ` + loc + `\w+ = .*[,)]$`,
			`^    (  )*\(.+\) ` + loc + `\w+ = \($`,
			`^    (  )*\[\d+\] = \($`, // an array of structs
		}, []string{
			`^    \(unsigned int\) ` + loc + `__state = ` + hex + `,$`,
			`^    \(char \[16\]\) ` + loc + `comm = "swapper/0",$`,
			`^    \(struct list_head\) ` + loc + `tasks = \($`,
			`^      \(struct list_head \*\) ` + loc + `next = ` + hex + ` = ` + task + `tasks,$`,
		}},
		{"v.v %l init_task pid,comm,se.vruntime,sched_reset_on_fork", []string{
			`^  ` + loc + `init_task = \($`,
			`^    ` + loc + `(pid|se\.vruntime|sched_reset_on_fork) = -?\d+[,)]$`,
			`^    ` + loc + `comm = \((\d+, ){15}\d+\),$`,
		}, []string{`pid = 0,$`, `sched_reset_on_fork = \d+\)$`}},
		{"v.v %c %s init_task.tasks", []string{
			`^  init_task\.tasks = \(next = ` + hex + ` = ` + task + `tasks, prev = ` + hex + ` = ` + task + `tasks\)$`,
		}, nil},
		{"v.v %i %h init_task.cpus_mask", []string{
			`^  init_task\.cpus_mask = \($`,
			`^    bits = \(\[0\] = ` + hex + `(, \[\d+\] = ` + hex + `)*\)\)$`,
		}, nil},
		{"v.v %t %d init_task.se.load", []string{
			`^  \(struct load_weight\) init_task\.se\.load = \($`,
			`^    \(.+\) (weight|inv_weight) = \d+[,)]$`,
		}, []string{`weight = \d+,`}},
		{"v.v %t %s %e2 init_task.children", []string{
			`^  \(struct list_head\) init_task\.children = \($`,
			`^    (  )*\(struct list_head \*\) (next|prev) = ` + hex + ` = ` + task + `(sibling|children)( -> \(|\)*,|\)+)$`,
		}, []string{` -> \($`}},
	} {
		ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
			out := run(t, k, c.cmd)
			res := make([]*regexp.Regexp, len(c.lines))
			for i, l := range c.lines {
				res[i] = regexp.MustCompile(l)
			}
			for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
				ok := false
				for _, re := range res {
					ok = ok || re.MatchString(line)
				}
				if !ok {
					t.Errorf("%s: line %d has no Trace32 shape: %q", c.cmd, i+1, line)
				}
			}
			for _, m := range c.must {
				if !regexp.MustCompile(`(?m)` + m).MatchString(out) {
					t.Errorf("%s: no line matches %q:\n%s", c.cmd, m, firstLines(out, 30))
				}
			}
		})
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
