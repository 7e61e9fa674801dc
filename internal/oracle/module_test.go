package oracle_test

// The module fixtures (an oops and a hung task inside the test module)
// against crash 8.0.6 on the same dumps: mod line for line, and the
// backtraces of the tasks that stand in the module (the faulting or hung
// task, the module's kthread) function by function, module frames
// included.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/repl"
)

var (
	modMu      sync.Mutex
	modTargets = map[string]*target{}
)

// openKind opens a module fixture with crash's outputs of mod and of the
// backtraces of the module's tasks.
func openKind(t *testing.T, arch, kind string) *target {
	t.Helper()
	oracle.Require(t, arch)
	k, f := ktest.OpenKind(t, arch, kind, oracle.DefaultDump(arch))
	modMu.Lock()
	defer modMu.Unlock()
	if tg, ok := modTargets[arch+"/"+kind]; ok {
		return tg
	}
	tg := &target{arch: arch, suite: f.Suite, k: k, f: f, outs: map[string]string{}}
	tg.cmds = []string{"mod", "bt"}
	for _, pid := range moduleTaskPIDs(t, f) {
		tg.cmds = append(tg.cmds, fmt.Sprintf("bt %d", pid))
	}
	tg.cmds = append(tg.cmds, moduleSymbolCommands(f)...)
	tg.cmds = append(tg.cmds, moduleSysCommands...)
	tg.cmds = append(tg.cmds, eframeCommands(f)...)
	outs, err := oracle.RunFixture(t, f, oracle.DefaultDump(arch), tg.cmds)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range tg.cmds {
		tg.outs[c] = outs[i]
	}
	modTargets[arch+"/"+kind] = tg
	return tg
}

// moduleTaskPIDs: the test module's kthread (its own report names its pid)
// and the task that wrote the fault trigger (crash_pid).
func moduleTaskPIDs(t *testing.T, f *fixture.Fixture) []int {
	t.Helper()
	var pids []int
	if s := f.GT.TestModule()["sleeper"]; len(s) == 1 && len(s[0]) == 3 {
		var pid int
		if _, err := fmt.Sscan(s[0][2], &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatal("the guest's /proc/kinspect_test names no sleeper pid")
	}
	return append(pids, f.GT.CrashPID)
}

func forKinds(t *testing.T, fn func(t *testing.T, tg *target)) {
	for _, kind := range fixture.ModuleKinds {
		for _, arch := range ktest.Arches {
			t.Run(arch+"-"+kind, func(t *testing.T) { fn(t, openKind(t, arch, kind)) })
		}
	}
}

func TestModMatchesCrash(t *testing.T) {
	forKinds(t, func(t *testing.T, tg *target) {
		c, k := tg.crash(t, "mod"), tg.kinspect(t, "mod")
		compareLines(t, "mod", c, k)
		if n := strings.Count(strings.TrimSpace(c), "\n"); n < 3 {
			t.Errorf("crash's mod lists %d modules: %q", n, c)
		}
	})
}

// TestModuleTasksBtMatchCrash: the module's tasks unwind through module
// text as crash unwinds them, frame by frame, "[kinspect_test]" included.
func TestModuleTasksBtMatchCrash(t *testing.T) {
	forKinds(t, func(t *testing.T, tg *target) {
		for _, pid := range moduleTaskPIDs(t, tg.f) {
			cmd := fmt.Sprintf("bt %d", pid)
			c, k := tg.crash(t, cmd), tg.kinspect(t, cmd)
			cm, co := parseBT(c)
			km, ko := parseBT(k)
			if len(co) != 1 || len(ko) != 1 {
				t.Errorf("%s: crash printed %d tasks, kinspect %d", cmd, len(co), len(ko))
				continue
			}
			cf, kf := cm[co[0]], km[ko[0]]
			if pid == tg.f.GT.CrashPID && tg.f.GT.Oops() != nil && tg.f.Meta.Kind == fixture.KindOops {
				// The panic task: crash starts at its stack search's
				// first frame; kinspect where the CPU really was.
				if len(cf) == 0 || !isSubsequence(cf, kf) {
					t.Logf("%s: crash %v, kinspect %v (difference listed, see the console test)", cmd, cf, kf)
				}
				continue
			}
			// crash's frames are kinspect's, in order; where crash stops
			// earlier (on arm and arm64 it ends kthreads at kthread,
			// kinspect goes on to ret_from_fork) the rest is listed.
			cc, kc := tg.canon(cf), tg.canon(kf)
			switch {
			case len(cf) == 0 || len(cc) > len(kc) || !slices.Equal(kc[:len(cc)], cc):
				t.Errorf("%s: crash %v\nkinspect %v", cmd, cf, kf)
			case len(cc) < len(kc):
				t.Logf("%s: crash stops after %s; kinspect goes on: %v", cmd, cf[len(cf)-1], kf[len(cf):])
			}
			if !strings.Contains(k, "[kinspect_test]") || !strings.Contains(c, "[kinspect_test]") {
				t.Errorf("%s: no [kinspect_test] frame:\ncrash:\n%s\nkinspect:\n%s", cmd, c, k)
			}
		}
	})
}

// moduleSymbolCommands name module addresses (sym, sym -q, dis, rd -s on
// the faulting task's stack). x86_64 only: crash runs natively there, and
// under qemu-user each further crash run of the arm fixtures costs minutes.
func moduleSymbolCommands(f *fixture.Fixture) []string {
	if f.Arch != "x86_64" {
		return nil
	}
	cmds := []string{"sym kt_do_oops", "sym -q kt_do", "dis kt_do_oops"}
	if o := f.GT.Oops(); o != nil && o.Regs["rsp"] != 0 {
		cmds = append(cmds, fmt.Sprintf("rd -s %x 8", o.Regs["rsp"]))
	}
	return cmds
}

// disLabel keeps a dis line's address and symbol label ("0x… <f+5>:"):
// the instruction text is crash's gdb's, compared with objdump elsewhere.
var disLabel = regexp.MustCompile(`^0x[0-9a-f]+ <[^>]+>:`)

func disLabels(s string) string {
	var out []string
	for _, l := range lines(s) {
		out = append(out, disLabel.FindString(l))
	}
	return strings.Join(out, "\n")
}

// TestModuleSymbolCommandsMatchCrash: sym, sym -q, rd -s and dis name
// module addresses as crash does ("kt_do_oops [kinspect_test]").
func TestModuleSymbolCommandsMatchCrash(t *testing.T) {
	forKinds(t, func(t *testing.T, tg *target) {
		cmds := moduleSymbolCommands(tg.f)
		if len(cmds) == 0 {
			t.Skipf("module symbol commands are compared on x86_64 only (crash under qemu-user costs minutes a run)")
		}
		for _, cmd := range cmds {
			c, k := tg.crash(t, cmd), tg.kinspect(t, cmd)
			if strings.HasPrefix(cmd, "dis") {
				c, k = disLabels(c), disLabels(k)
			}
			compareLines(t, cmd, c, k)
		}
	})
}

// TestModuleDebugLinesMatchAddr2line: with the test module's .ko loaded
// (mod -s), bt -l's file:line of every module frame is addr2line's on the
// .ko at the frame's offset in its section (the section addresses from
// the guest's /sys/module/kinspect_test/sections).
func TestModuleDebugLinesMatchAddr2line(t *testing.T) {
	for _, kind := range fixture.ModuleKinds {
		for _, arch := range ktest.Arches {
			t.Run(arch+"-"+kind, func(t *testing.T) {
				k, f := ktest.OpenKind(t, arch, kind, "vmcore.elf")
				tool := addr2line[arch]
				if _, err := exec.LookPath(tool); err != nil {
					t.Fatalf("%s not found (make deps installs the cross binutils): %v", tool, err)
				}
				ko := f.Path("kinspect_test.ko")
				if err := k.LoadModuleDebug("kinspect_test", ko); err != nil {
					t.Fatal(err)
				}
				secs, err := f.GT.ModuleSections("kinspect_test")
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, pid := range moduleTaskPIDs(t, f) {
					task, err := k.TaskByPID(pid)
					if err != nil {
						t.Fatal(err)
					}
					bt, err := k.Backtrace(task.Addr)
					if err != nil {
						t.Fatal(err)
					}
					for _, fr := range k.SymbolizeFrames(bt.Frames) {
						if fr.Module != "kinspect_test" || fr.Inline {
							continue
						}
						pc := fr.PC
						if fr.IsReturn {
							pc--
						}
						sec, base := "", uint64(0)
						for name, a := range secs {
							if strings.HasPrefix(name, ".text") && a <= pc && a >= base {
								sec, base = name, a
							}
						}
						out, err := exec.Command(tool, "-e", ko, "-j", sec, fmt.Sprintf("%#x", pc-base)).Output()
						if err != nil {
							t.Fatalf("%s -j %s %#x: %v", tool, sec, pc-base, err)
						}
						file, line, _ := strings.Cut(strings.Fields(string(out))[0], ":")
						n++
						if baseFile(fr.File) != baseFile(file) || fmt.Sprint(fr.Line) != line {
							t.Errorf("pid %d %s at %#x (%s+%#x): kinspect %s:%d, addr2line %s:%s", pid, fr.Function, fr.PC, sec, pc-base, fr.File, fr.Line, file, line)
						}
					}
				}
				if n == 0 {
					t.Fatal("no kinspect_test frame checked")
				}
				t.Logf("%d module frames' lines match addr2line", n)
			})
		}
	}
}

// gdbMember is one top-level member line of gdb's ptype /o.
var (
	gdbNested = regexp.MustCompile(`^/\*\s+(\d+)\s+\|\s+\d+ \*/\s+(?:struct|union) \w* ?\{$`)
	gdbClose  = regexp.MustCompile(`^\s+\} (\w+)(?:\[\d+\])*;$`)
)

var gdbMember = regexp.MustCompile(`^/\*\s+(\d+)\s+\|\s+\d+ \*/\s{4}\S.*?[ *](\w+)(\[\d+\])*;$`)

// TestModuleTypesMatchGDB: with mod -s, struct -o of a module type has
// gdb's offsets on the .ko, and struct TYPE ADDR reads the module's
// objects as the guest reported them (/proc/kinspect_test).
func TestModuleTypesMatchGDB(t *testing.T) {
	for _, kind := range fixture.ModuleKinds {
		for _, arch := range ktest.Arches {
			t.Run(arch+"-"+kind, func(t *testing.T) {
				k, f := ktest.OpenKind(t, arch, kind, "vmcore.elf")
				ko := f.Path("kinspect_test.ko")
				run := func(cmd string) string {
					var out, errb bytes.Buffer
					s := repl.NewSession(k, &out, &errb)
					if err := s.Exec(context.Background(), cmd, false); err != nil {
						t.Fatalf("%s: %v (%s)", cmd, err, errb.String())
					}
					return out.String()
				}
				run("mod -s kinspect_test " + ko)
				g, err := exec.Command("gdb-multiarch", "-batch", "-ex", "ptype /o struct kt_obj", ko).CombinedOutput()
				if err != nil {
					t.Fatalf("gdb: %v\n%s", err, g)
				}
				want := map[string]string{}
				depth, nested := 0, "" // nested: the offset of the open top-level struct member
				for _, l := range lines(string(g)) {
					l = strings.TrimRight(l, " ")
					switch m := gdbNested.FindStringSubmatch(l); {
					case m != nil:
						if depth == 1 {
							nested = m[1]
						}
						depth++
					case gdbClose.MatchString(l):
						depth--
						if c := gdbClose.FindStringSubmatch(l); depth == 1 && nested != "" {
							want[c[1]], nested = nested, ""
						}
					case depth == 1:
						if m := gdbMember.FindStringSubmatch(l); m != nil {
							want[m[2]] = m[1]
						}
					case strings.Contains(l, "type = struct"):
						depth = 1
					}
				}
				offs := parseStructO(run("struct -o kt_obj"))
				if len(want) < 4 || fmt.Sprint(offs) != fmt.Sprint(want) {
					t.Errorf("struct -o kt_obj: kinspect %v, gdb %v", offs, want)
				}
				objs := f.GT.TestModule()["obj"]
				if len(objs) == 0 {
					t.Fatal("the guest reported no object")
				}
				for _, o := range objs { // ADDR id N name S
					out := run("struct kt_obj " + o[0])
					if !strings.Contains(out, "id = "+o[2]+",") || !strings.Contains(out, `name = "`+o[4]) {
						t.Errorf("struct kt_obj %s: want id %s name %s:\n%s", o[0], o[2], o[4], out)
					}
				}
				// mod -S over the fixture directory: the test module's .ko
				// is there, Debian's modules' are not, and are listed.
				gm, err := f.GT.Modules()
				if err != nil {
					t.Fatal(err)
				}
				var others []string
				for _, m := range gm {
					if m.Name != "kinspect_test" {
						others = append(others, m.Name)
					}
				}
				out := run("mod -S " + f.Dir)
				_, listed, _ := strings.Cut(out, "no debug information found for: ")
				listed, _, _ = strings.Cut(listed, "\n")
				got := strings.Fields(listed)
				slices.Sort(got)
				slices.Sort(others)
				if !slices.Equal(got, others) ||
					!strings.Contains(out, "  "+ko+"\n") {
					t.Errorf("mod -S %s: want %s loaded and %v listed as not found:\n%s", f.Dir, ko, others, out)
				}
				t.Logf("%d members match gdb, %d objects match the guest", len(want), len(objs))
			})
		}
	}
}
