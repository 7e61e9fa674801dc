package repl

// Golden and ground-truth tests of p, struct, union, whatis, v.v, rq and
// sched_class on the fixture dumps.
//
// Fixtures are rebuilt on every fresh machine, so the dump is never the same
// twice: the same vmlinux crashed again has another KASLR offset, other task
// addresses, jiffies, counters and runqueue contents. Only the vmlinux is
// fixed (until Debian publishes a new kernel package). So goldens are keyed
// by the vmlinux's build-id, testdata/golden/<arch>-<build-id[:12]>/<name>.txt,
// and come in two kinds (goldenCase.dump):
//
//   - outputs that depend only on the vmlinux (declarations, struct -o,
//     whatis) are compared exactly;
//   - outputs that read the dump's memory are stored and compared after
//     normalizeDump, which masks run-specific numbers (addresses, counters)
//     but keeps names, types, member order, indentation and symbol
//     annotations: the golden checks the format, and the ground-truth tests
//     below check the values.
//
// When a fixture's kernel changes (no directory for its build-id) the test
// fails; regenerate the goldens with
//
//	go test ./repl -run Golden -update
//
// and review the diff (`git status repl/testdata/golden`, then diff the new
// directory against the old one) before committing; delete the old directory
// once no fixture uses that kernel. -update also rewrites the goldens after a
// deliberate format change.

import (
	"bytes"
	"context"
	"debug/dwarf"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

var update = flag.Bool("update", false, "rewrite the golden files of the Golden tests")

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

// goldenCase is one golden command. dump marks outputs that read the
// dump's memory (even values that are usually constant): they are compared
// after normalizeDump.
type goldenCase struct {
	name, cmd string
	dump      bool
}

var goldenCases = []goldenCase{
	{"p_comm", "p init_task.comm", true},
	{"p_jiffies", "p jiffies", true},
	{"p_hex", "p -x init_task.se.load", true},
	{"p_pointer", "p &init_task", true},
	// Runqueues of cpus 1-3: cpu 0's idle task is the static init_task, so
	// whether its curr is annotated <init_task> depends on the run.
	{"p_percpu", "p runqueues:1", true},
	{"p_banner", "p linux_banner", true},
	{"p_uts", "p init_uts_ns.name", true},
	{"whatis", "whatis init_task; whatis jiffies; whatis schedule; whatis linux_banner; whatis list_head; whatis init_task.tasks", false},
	{"struct_decl", "struct list_head; struct -o list_head; union -o rcu_special", false},
	{"struct_o_task", "struct -o task_struct", false},
	{"struct_o_page", "struct -o page", false},
	{"struct_hex_o", "struct -x -o list_head; struct -o task_struct.pid", false},
	{"struct_members", "struct task_struct.pid,comm,sched_reset_on_fork init_task", true},
	{"struct_percpu", "struct rq.curr runqueues:1-3", true},
	{"struct_count", "struct list_head init_task.tasks.next 2", true},
	{"struct_thread_info", "struct thread_info init_task", true},
	{"sched_class_struct", "p rt_sched_class", true},
	{"vv_init_task", "v.v %l %t %h %s init_task", true},
	{"vv_members", "v.v %l init_task pid,comm,se.vruntime,sched_reset_on_fork", true},
	{"vv_path", "v.v %l %t init_task.tasks", true},
	{"vv_compact", "v.v %c %s init_task.tasks", true},
	{"vv_index", "v.v %i %h init_task.cpus_mask", true},
	{"vv_decimal", "v.v %t %d init_task.se.load", true},
	{"vv_expand", "v.v %t %s %e2 init_task.children", true},
	{"vv_cast", "v.v %l %t %h %s (struct task_struct *)&init_task pid,comm", true},
	{"rq1", "rq 1", true},
	{"sched_class_init", "sched_class 1", true},
}

// goldenDir is where the goldens of a vmlinux live.
func goldenDir(arch, buildID string) string {
	if len(buildID) > 12 {
		buildID = buildID[:12]
	}
	return filepath.Join("testdata", "golden", arch+"-"+buildID)
}

func TestPrintGolden(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		buildID := k.Image.BuildID()
		if buildID == "" {
			buildID = f.BuildID
		}
		if buildID == "" {
			t.Fatalf("%s fixture: vmlinux has no build-id to key its goldens by", f.Arch)
		}
		dir := goldenDir(f.Arch, buildID)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		} else if _, err := os.Stat(dir); err != nil {
			old, _ := filepath.Glob(filepath.Join("testdata", "golden", f.Arch+"-*"))
			if old == nil {
				old = []string{"none"}
			}
			t.Fatalf("no goldens for the %s fixture's kernel %s (vmlinux build-id %s): %v\n"+
				"The fixture's kernel changed (goldens exist for %v). Regenerate them with\n"+
				"\tgo test ./repl -run Golden -update\n"+
				"and review the new %s against the old directory before committing.",
				f.Arch, f.Release, buildID, err, old, dir)
		}
		for _, c := range goldenCases {
			t.Run(c.name, func(t *testing.T) {
				got := run(t, k, c.cmd)
				if c.dump {
					got = normalizeDump(got)
				}
				path := filepath.Join(dir, c.name+".txt")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run 'go test ./repl -run Golden -update' to create it, and review it)", err)
				}
				if got != string(want) {
					t.Errorf("%s: output differs from %s\n%s", c.cmd, path, firstDiff(string(want), got))
				}
			})
		}
	})
}

var (
	// A hex number: 0x... (C and gdb style, either case).
	hexNumRE = regexp.MustCompile(`\b0[xX][0-9a-fA-F]+\b`)
	// A bare 8- or 16-digit hex address (crash's per-cpu "[0]: ffff...").
	bareHexRE = regexp.MustCompile(`\b(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{8})\b`)
	// A decimal number in a value position: after "= ", "(", "{" or ", ",
	// optionally negative. Indices "[3]", history "$1", symbol offsets
	// "<init_task+1128>" and array types "char [16]" are not in value
	// positions and stay.
	decValueRE = regexp.MustCompile(`([=({,] *)-?[0-9]+\b`)
	// gdb's character after a char value: 0 '\000', 97 'a'.
	charLitRE = regexp.MustCompile(`# '(?:\\[0-7]{1,3}|\\.|[^'\\])'`)
	// The comm in a task annotation &task_struct(0x... "comm"): it names a
	// dynamic task, as run-specific as its address (which task is last on
	// init_task.tasks, or current on a CPU, depends on the run).
	taskCommRE = regexp.MustCompile(`(&task_struct\(0x# )"(?:[^"\\]|\\.)*"`)
	// gdb's run-length compression, whose shape follows the values.
	repeatsRE = regexp.MustCompile(`<repeats [0-9]+ times>`)
	// An inline array of masked scalars, compressed or not.
	maskedListRE = regexp.MustCompile(`\{(?:0x)?#(?: <repeats # times>)?(?:, (?:0x)?#(?: <repeats # times>)?)*\}`)
)

// normalizeDump masks the values in a command's output that differ between
// two dumps of the same vmlinux (KASLR, dynamic addresses, counters), so
// that a golden checks the output's format deterministically: hex numbers
// become 0x#, bare hex addresses #, decimal values #; character literals,
// gdb's <repeats N times> counts and the comms of task annotations are
// masked, and an inline array of masked scalars becomes {#...}. Symbol names
// and their offsets (static symbols: the offset is fixed by the vmlinux),
// member names, types, indices, $N history numbers and strings are kept.
func normalizeDump(s string) string {
	s = hexNumRE.ReplaceAllString(s, "0x#")
	s = bareHexRE.ReplaceAllStringFunc(s, func(m string) string {
		if strings.IndexAny(m, "0123456789") < 0 {
			return m // a word that happens to be hex letters only
		}
		return "#"
	})
	s = decValueRE.ReplaceAllString(s, "${1}#")
	s = charLitRE.ReplaceAllString(s, "# '#'")
	s = taskCommRE.ReplaceAllString(s, `${1}"#"`)
	s = repeatsRE.ReplaceAllString(s, "<repeats # times>")
	s = maskedListRE.ReplaceAllString(s, "{#...}")
	return s
}

// firstDiff shows the first differing line of two outputs with some context.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(wl) && i < len(gl) && wl[i] == gl[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d:\n", i+1)
	for j := max(0, i-3); j < i; j++ {
		fmt.Fprintf(&b, "    %s\n", wl[j])
	}
	if i < len(wl) {
		fmt.Fprintf(&b, "  - %s\n", wl[i])
	}
	if i < len(gl) {
		fmt.Fprintf(&b, "  + %s\n", gl[i])
	}
	fmt.Fprintf(&b, "--- got (first 40 lines) ---\n%s", firstLines(got, 40))
	return b.String()
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
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
		// struct -o offsets agree with DWARF.
		st, _, err := s.lookupAggregate("struct", "task_struct")
		if err != nil {
			t.Fatal(err)
		}
		decl := run(t, k, "struct -o task_struct")
		width := len(fmt.Sprint(st.ByteSize)) + 4
		for _, m := range []string{"tasks", "pid", "comm", "sibling", "sched_class"} {
			off, mt, err := k.Image.OffsetOf(st, m)
			if err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%*s %s;", width, fmt.Sprintf("  [%d]", off), gdbDecl(mt, m))
			if !strings.Contains(decl, line+"\n") {
				t.Errorf("struct -o task_struct lacks %q", line)
			}
		}
	})
}

// TestVViewGroundTruth checks v.v, rq and sched_class against the guest's
// own view of its tasks.
func TestVViewGroundTruth(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
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
	})
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
