package oracle_test

// Field-by-field comparison of kinspect with Red Hat's crash (trixie's
// 8.0.6, see package oracle) on the real fixture dumps. Every mismatch is
// reported with the task/CPU/line it concerns; nothing is tolerated that
// crash does not also print.

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// commands is what every comparison needs from crash on every fixture;
// per-dump commands (a task's address, a stack address) are added by
// dumpCommands. All of them run in one crash process per fixture (under
// qemu-user starting crash takes minutes) and are cached next to the
// fixture by package oracle.
var commands = []string{
	"sys",
	"ps", "ps -t", "ps -l", "ps -H",
	"runq",
	"log",
	"bt -a",
	"bt -p",
	"p init_task.comm",
	"struct -o task_struct",
	"sym linux_banner",
	"rd -8 linux_banner 32",
}

// fixtures the comparisons run on: bookworm (6.1) on every arch, 5.10 and
// 6.12 (ktest.Extras).
var fixtures = append([]ktest.Extra{{Arch: "x86_64", Suite: "bookworm"}, {Arch: "arm64", Suite: "bookworm"},
	{Arch: "arm", Suite: "bookworm"}}, ktest.Extras...)

// target is one fixture opened by kinspect, with crash's outputs.
type target struct {
	arch, suite string
	k           *kstructs.Kernel
	f           *fixture.Fixture
	cmds        []string
	outs        map[string]string
}

var (
	crashMu sync.Mutex
	targets = map[string]*target{} // arch/suite → target
)

// open returns the fixture's target, running crash (or reading its cache)
// for every command once.
func open(t *testing.T, arch, suite string) *target {
	t.Helper()
	oracle.Require(t, arch)
	k, f := ktest.OpenSuite(t, arch, suite, oracle.DefaultDump(arch))
	crashMu.Lock()
	defer crashMu.Unlock()
	if tg, ok := targets[arch+"/"+suite]; ok {
		return tg
	}
	tg := &target{arch: arch, suite: suite, k: k, f: f, outs: map[string]string{}}
	tg.cmds = append(append([]string(nil), commands...), dumpCommands(t, k)...)
	tg.cmds = append(tg.cmds, memCommands(f.GT.RolePID("files"))...)
	tg.cmds = append(tg.cmds, irqCommands...)
	tg.cmds = append(tg.cmds, timerCommands...)
	tg.cmds = append(tg.cmds, devCommands...)
	tg.cmds = append(tg.cmds, sigCommands(f)...)
	tg.cmds = append(tg.cmds, netSocketCommands(f)...)
	tg.cmds = append(tg.cmds, waitqCommands(t, k, f)...)
	tg.cmds = append(tg.cmds, eframeCommands(f)...)
	outs, err := oracle.RunFixture(t, f, oracle.DefaultDump(arch), tg.cmds)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range tg.cmds {
		tg.outs[c] = outs[i]
	}
	targets[arch+"/"+suite] = tg
	return tg
}

// crash returns crash's output of cmd (one of the target's commands).
func (tg *target) crash(t *testing.T, cmd string) string {
	t.Helper()
	o, ok := tg.outs[cmd]
	if !ok {
		t.Fatalf("test bug: %q not in the commands run by crash", cmd)
	}
	return o
}

// kinspect runs cmd (one command a line) in a fresh session on the same
// dump crash reads.
func (tg *target) kinspect(t *testing.T, cmd string) string {
	t.Helper()
	return runKinspect(t, tg.k, cmd)
}

// runKinspect runs cmd (one command a line) in a fresh session on k.
func runKinspect(t *testing.T, k *kstructs.Kernel, cmd string) string {
	t.Helper()
	var out, errb bytes.Buffer
	s := repl.NewSession(k, &out, &errb)
	for _, line := range strings.Split(cmd, "\n") {
		if err := s.Exec(context.Background(), line, false); err != nil {
			t.Fatalf("kinspect %q on %s: %v\nstderr: %s", line, k.Dump.Arch(), err, errb.String())
		}
	}
	return out.String()
}

// both returns crash's and kinspect's outputs of cmd, crash first.
func (tg *target) both(t *testing.T, cmd string) (string, string) {
	t.Helper()
	return tg.crash(t, cmd), tg.kinspect(t, cmd)
}

// forArches runs fn on every fixture ("x86_64", "arm64-trixie"...).
func forArches(t *testing.T, fn func(t *testing.T, tg *target)) {
	eachFixture(t, func(t *testing.T, arch, suite string) { fn(t, open(t, arch, suite)) })
}

// eachFixture runs fn as a subtest ("x86_64", "arm64-trixie"...) for every
// fixture of the comparisons.
func eachFixture(t *testing.T, fn func(t *testing.T, arch, suite string)) {
	for _, fx := range fixtures {
		name := fx.Arch
		if fx.Suite != fixture.DefaultSuite {
			name += "-" + fx.Suite
		}
		t.Run(name, func(t *testing.T) { fn(t, fx.Arch, fx.Suite) })
	}
}

// machineBT is the bt command the machine-kind comparisons run: the
// workload's fifo task (in clock_nanosleep) and its first sleepers (in
// pause): sleeping tasks, whose stacks need no CPU registers.
func machineBT(f *fixture.Fixture) string {
	pids := append([]int{f.GT.RolePID("fifo")}, f.GT.Role("sleeper")[:min(4, len(f.GT.Role("sleeper")))]...)
	cmd := "bt"
	for _, p := range pids {
		cmd += fmt.Sprintf(" %d", p)
	}
	return cmd
}

// openMachine returns the target of a machine-kind fixture (ktest.Machines:
// the Raspberry Pi boards, LPAE): crash runs a few commands (sys, ps, runq,
// log, machineBT: under qemu-user every run takes minutes) on its
// m.CrashDump; kinspect reads dumpFile (one of m.Dumps).
func openMachine(t *testing.T, m ktest.Machine, arch, dumpFile string) *target {
	t.Helper()
	oracle.Require(t, arch)
	k, f := ktest.OpenKind(t, arch, m.Kind, dumpFile)
	crashMu.Lock()
	defer crashMu.Unlock()
	key := arch + "/" + m.Kind + "/" + dumpFile
	if tg, ok := targets[key]; ok {
		return tg
	}
	tg := &target{arch: arch, suite: f.Suite, k: k, f: f, outs: map[string]string{},
		cmds: []string{"sys", "ps", "runq", "log", machineBT(f)}}
	outs, err := oracle.RunFixture(t, f, m.CrashDump, tg.cmds)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range tg.cmds {
		tg.outs[c] = outs[i]
	}
	targets[key] = tg
	return tg
}

// forMachines runs fn on the machine-kind fixtures ("arm-raspi/
// vmcore.elf", "arm-raspi/ram.bin@0x0", "arm-lpae/vmcore.kdump-zlib"...):
// crash reads each one's CrashDump, kinspect each of its Dumps.
func forMachines(t *testing.T, fn func(t *testing.T, tg *target)) {
	for _, m := range ktest.Machines {
		for _, arch := range m.Arches {
			t.Run(arch+"-"+m.Kind, func(t *testing.T) {
				for _, d := range m.Dumps {
					t.Run(d, func(t *testing.T) { fn(t, openMachine(t, m, arch, d)) })
				}
			})
		}
	}
}

// TestMachineBTMatchesCrash: the sleeping tasks' backtraces on the machine
// kinds (Raspberry Pi boards from the ELF dump and from raw RAM, LPAE),
// against crash's.
func TestMachineBTMatchesCrash(t *testing.T) {
	testBTOn(t, forMachines, func(tg *target) string { return machineBT(tg.f) })
}

var sysLine = regexp.MustCompile(`^\s*([A-Z][A-Z ]*[A-Z]): (.*)$`)

func parseSys(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if g := sysLine.FindStringSubmatch(l); g != nil {
			m[g[1]] = strings.TrimSpace(g[2])
		}
	}
	return m
}

func TestSysMatchesCrash(t *testing.T) {
	check := func(t *testing.T, tg *target) {
		c, k := tg.both(t, "sys")
		cm, km := parseSys(c), parseSys(k)
		for _, key := range []string{"RELEASE", "VERSION", "CPUS", "MACHINE", "PANIC", "TASKS", "MEMORY", "UPTIME", "LOAD AVERAGE"} {
			cv, ok := cm[key]
			if !ok {
				t.Errorf("sys: crash printed no %s:\n%s", key, c)
				continue
			}
			if kv, ok := km[key]; !ok {
				t.Errorf("sys %s: kinspect prints none, crash %q", key, cv)
			} else if kv != cv {
				t.Errorf("sys %s: kinspect %q, crash %q", key, kv, cv)
			}
		}
	}
	forArches(t, check)
	forMachines(t, check)
}

// psRow is one line of ps.
type psRow struct {
	Active                      bool // the ">" mark
	PID, PPID, CPU, Task, State string
	Mem, VSZ, RSS, Comm         string
}

var psLine = regexp.MustCompile(`^(>?)\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+([A-Z]{2})\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(.*?)\s*$`)

// parsePS returns the rows keyed by task address (pids repeat: the idle
// tasks are all pid 0) and the lines it could not parse.
func parsePS(s string) (map[string]psRow, []string) {
	rows := map[string]psRow{}
	var bad []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" || strings.Contains(l, "PID    PPID  CPU") {
			continue
		}
		g := psLine.FindStringSubmatch(l)
		if g == nil {
			bad = append(bad, l)
			continue
		}
		rows[g[5]] = psRow{Active: g[1] == ">", PID: g[2], PPID: g[3], CPU: g[4], Task: g[5], State: g[6],
			Mem: g[7], VSZ: g[8], RSS: g[9], Comm: g[10]}
	}
	return rows, bad
}

func TestPSMatchesCrash(t *testing.T) {
	check := func(t *testing.T, tg *target) {
		c, k := tg.both(t, "ps")
		cr, cbad := parsePS(c)
		kr, kbad := parsePS(k)
		if len(cbad) > 0 {
			t.Errorf("ps: %d crash lines not understood, first %q", len(cbad), cbad[0])
		}
		if len(kbad) > 0 {
			t.Errorf("ps: %d kinspect lines not understood, first %q", len(kbad), kbad[0])
		}
		if len(cr) < 10 {
			t.Fatalf("ps: crash listed only %d tasks:\n%s", len(cr), c)
		}
		// The set of PIDs (a multiset: idle tasks share pid 0).
		pids := func(rows map[string]psRow) []int {
			var p []int
			for _, r := range rows {
				n, _ := strconv.Atoi(r.PID)
				p = append(p, n)
			}
			sort.Ints(p)
			return p
		}
		cp, kp := pids(cr), pids(kr)
		if !slices.Equal(cp, kp) {
			t.Errorf("ps: PID sets differ: crash %d tasks, kinspect %d; only crash: %v; only kinspect: %v",
				len(cp), len(kp), multisetDiff(cp, kp), multisetDiff(kp, cp))
		}
		var mism []string
		fieldMism := map[string]int{}
		for _, task := range sortedKeys(cr) {
			crow := cr[task]
			krow, ok := kr[task]
			if !ok {
				mism = append(mism, fmt.Sprintf("task %s (pid %s %s): missing in kinspect", task, crow.PID, crow.Comm))
				fieldMism["TASK"]++
				continue
			}
			for _, f := range []struct{ name, c, k string }{
				{"PID", crow.PID, krow.PID},
				{"PPID", crow.PPID, krow.PPID},
				{"CPU", crow.CPU, krow.CPU},
				{"ST", crow.State, krow.State},
				{"%MEM", crow.Mem, krow.Mem},
				{"VSZ", crow.VSZ, krow.VSZ},
				{"RSS", crow.RSS, krow.RSS},
				{"COMM", crow.Comm, krow.Comm},
				{">", strconv.FormatBool(crow.Active), strconv.FormatBool(krow.Active)},
			} {
				if f.c != f.k {
					fieldMism[f.name]++
					mism = append(mism, fmt.Sprintf("task %s pid %s %s: %s kinspect %q, crash %q",
						task, crow.PID, crow.Comm, f.name, f.k, f.c))
				}
			}
		}
		for _, task := range sortedKeys(kr) {
			if _, ok := cr[task]; !ok {
				mism = append(mism, fmt.Sprintf("task %s (pid %s %s): only in kinspect", task, kr[task].PID, kr[task].Comm))
			}
		}
		if len(mism) > 0 {
			t.Errorf("ps: %d mismatches over %d crash rows (per field: %v):\n%s",
				len(mism), len(cr), fieldMism, head(mism, 40))
		}
	}
	forArches(t, check)
	forMachines(t, check)
}

// runqueue is one CPU of runq: its current task and its queued entries in
// order ("RT [prio] task", "CFS [prio] task"...).
type runqueue struct {
	Current string
	Queued  []string
}

var (
	rqCPU     = regexp.MustCompile(`^CPU (\d+) (RUNQUEUE|\[OFFLINE\])`)
	rqCurrent = regexp.MustCompile(`CURRENT: PID: (\d+)\s+TASK: ([0-9a-f]+)`)
	rqSection = regexp.MustCompile(`^\s+(RT PRIO_ARRAY|CFS RB_ROOT|DL RB_ROOT):`)
	rqTask    = regexp.MustCompile(`^\s+\[\s*(\d+)\] PID: (\d+)\s+TASK: ([0-9a-f]+)`)
)

func parseRunq(s string) map[string]*runqueue {
	m := map[string]*runqueue{}
	var cur *runqueue
	section := ""
	for _, l := range strings.Split(s, "\n") {
		if g := rqCPU.FindStringSubmatch(l); g != nil {
			cur = &runqueue{}
			if g[2] != "RUNQUEUE" {
				cur.Current = "OFFLINE"
			}
			m[g[1]] = cur
			section = ""
			continue
		}
		if cur == nil {
			continue
		}
		if g := rqCurrent.FindStringSubmatch(l); g != nil {
			cur.Current = "pid " + g[1] + " task " + g[2]
		} else if g := rqSection.FindStringSubmatch(l); g != nil {
			section = strings.Fields(g[1])[0]
		} else if g := rqTask.FindStringSubmatch(l); g != nil {
			cur.Queued = append(cur.Queued, fmt.Sprintf("%s [%s] pid %s task %s", section, g[1], g[2], g[3]))
		}
	}
	return m
}

func TestRunqMatchesCrash(t *testing.T) {
	check := func(t *testing.T, tg *target) {
		c, k := tg.both(t, "runq")
		cm, km := parseRunq(c), parseRunq(k)
		if len(cm) == 0 {
			t.Fatalf("runq: crash printed no CPU:\n%s", c)
		}
		for _, cpu := range sortedKeys(cm) {
			crq := cm[cpu]
			krq, ok := km[cpu]
			if !ok {
				t.Errorf("runq CPU %s: missing in kinspect", cpu)
				continue
			}
			if krq.Current != crq.Current {
				t.Errorf("runq CPU %s CURRENT: kinspect %q, crash %q", cpu, krq.Current, crq.Current)
			}
			if !slices.Equal(krq.Queued, crq.Queued) {
				t.Errorf("runq CPU %s queued:\nkinspect %q\ncrash    %q", cpu, krq.Queued, crq.Queued)
			}
		}
		for cpu := range km {
			if _, ok := cm[cpu]; !ok {
				t.Errorf("runq CPU %s: only in kinspect", cpu)
			}
		}
	}
	forArches(t, check)
	forMachines(t, check)
}

func TestLogMatchesCrash(t *testing.T) {
	check := func(t *testing.T, tg *target) {
		c, k := tg.both(t, "log")
		cl, kl := lines(c), lines(k)
		if len(cl) < 10 {
			t.Fatalf("log: crash printed %d lines:\n%s", len(cl), c)
		}
		var diffs []string
		same := 0
		for i := 0; i < max(len(cl), len(kl)); i++ {
			var a, b string
			if i < len(cl) {
				a = cl[i]
			}
			if i < len(kl) {
				b = kl[i]
			}
			if a == b {
				same++
				continue
			}
			diffs = append(diffs, fmt.Sprintf("line %d:\n  kinspect %q\n  crash    %q", i+1, b, a))
		}
		if len(diffs) > 0 {
			t.Errorf("log: %d of %d crash lines equal (kinspect has %d lines); %d differ:\n%s",
				same, len(cl), len(kl), len(diffs), head(diffs, 15))
		}
	}
	forArches(t, check)
	forMachines(t, check)
}

var (
	btHeader = regexp.MustCompile(`^PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: (\S+)\s+COMMAND: "(.*)"`)
	// x86_64, arm64: " #0 [sp] func at pc"; arm: " #0 [<pc>] (func) from [<lr>]".
	btFrame    = regexp.MustCompile(`^\s*#(\d+) \[[0-9a-f]+\] (\S+) at [0-9a-f]+`)
	btFrameARM = regexp.MustCompile(`^\s*#(\d+) \[<[0-9a-f]+>\] \((\S+?)( \[\S+\])?\) from \[<[0-9a-f]+>\]`)
)

// parseBT returns, per task address, the function names of its numbered
// frames in order (crash's "[exception RIP: ...]" lines are not frames).
func parseBT(s string) (map[string][]string, []string) {
	m := map[string][]string{}
	var order []string
	cur, ripPending := "", false
	for _, l := range strings.Split(s, "\n") {
		if g := btHeader.FindStringSubmatch(l); g != nil {
			cur = g[2]
			if _, ok := m[cur]; !ok {
				order = append(order, cur)
			}
			m[cur] = []string{}
			continue
		}
		g := btFrame.FindStringSubmatch(l)
		if g == nil {
			g = btFrameARM.FindStringSubmatch(l)
		}
		if g == nil {
			// crash prints the interrupted function of an exception
			// frame as "[exception RIP: native_safe_halt+11]"; kinspect
			// as a frame of its own (and the same line).
			if e := btExceptionRIP.FindStringSubmatch(l); e != nil && e[1] != "no" {
				g = []string{"", "", e[1]}
			}
		}
		if g != nil && cur != "" {
			fromRIP := btExceptionRIP.MatchString(l)
			if n := len(m[cur]); n > 0 && !fromRIP && ripPending && m[cur][n-1] == g[2] {
				ripPending = false
				continue // the frame of the function the exception line named
			}
			ripPending = fromRIP
			m[cur] = append(m[cur], g[2])
		}
	}
	return m, order
}

var btExceptionRIP = regexp.MustCompile(`^\s+\[exception RIP: ([^+\]\s]+)`)

// canon names a function by its address, so that two aliases of one
// address (5.10's asm_call_on_stack and asm_call_sysvec_on_stack) compare
// equal.
func (tg *target) canon(fns []string) []string {
	out := make([]string, len(fns))
	for i, f := range fns {
		out[i] = f
		if s, ok := tg.k.Image.Lookup(f); ok {
			out[i] = fmt.Sprintf("%#x", s.Addr)
		}
	}
	return out
}

// testBT compares the frames of every task crash unwinds. kinspect starts
// where the CPU really was (crash starts at the frame its stack search
// finds and prints the interrupted function as "[exception RIP: …]"), so
// crash's frames must equal kinspect's from crash's first frame on,
// exactly. Where crash stops earlier than kinspect, the case must be listed
// in crashStopsEarly with the reason; tasks crash cannot unwind at all
// (header only) are listed in crashNoFrames.
func testBT(t *testing.T, cmd string) {
	testBTOn(t, forArches, func(*target) string { return cmd })
}

// testBTOn runs the comparison of testBT on the targets each visits, with
// the bt command cmdOf gives for a target.
func testBTOn(t *testing.T, each func(*testing.T, func(*testing.T, *target)), cmdOf func(*target) string) {
	each(t, func(t *testing.T, tg *target) {
		cmd := cmdOf(tg)
		c, k := tg.both(t, cmd)
		cm, corder := parseBT(c)
		km, korder := parseBT(k)
		if len(cm) == 0 {
			t.Fatalf("%s: crash printed no task:\n%s", cmd, c)
		}
		if !slices.Equal(korder, corder) {
			t.Errorf("%s: tasks in order: kinspect %v, crash %v", cmd, korder, corder)
		}
		compared, exact, toEntry := 0, 0, 0
		for _, task := range corder {
			cf, kf := cm[task], km[task]
			if len(cf) == 0 {
				if why, ok := crashNoFrames[tg.arch]; ok {
					t.Logf("%s task %s: crash printed no frame (%s)", cmd, task, why)
					continue
				}
				t.Errorf("%s task %s: crash printed no frame, and %s is not listed in crashNoFrames", cmd, task, tg.arch)
				continue
			}
			compared++
			ccf, ckf := tg.canon(cf), tg.canon(kf)
			start := slices.Index(ckf, ccf[0])
			if start < 0 {
				t.Errorf("%s task %s: crash's first frame %s is not in kinspect's %v", cmd, task, cf[0], kf)
				continue
			}
			tail, ctail := kf[start:], ckf[start:]
			switch {
			case slices.Equal(ctail, ccf):
				exact++
			case len(cf) < len(tail) && slices.Equal(ctail[:len(cf)], ccf) && crashStopsEarly[tg.arch+"/"+cf[len(cf)-1]] != "":
				t.Logf("%s task %s: crash stops at %s (%s); kinspect goes on: %v", cmd, task, cf[len(cf)-1],
					crashStopsEarly[tg.arch+"/"+cf[len(cf)-1]], tail[len(cf):])
			case len(cf) < len(tail) && slices.Equal(ctail[:len(cf)], ccf) && crashPanicStopsEarly[tg.arch] != "" && tg.isPanicTask(task):
				t.Logf("%s task %s (the panic task): crash stops after %d frames (%s); kinspect goes on: %v", cmd, task, len(cf),
					crashPanicStopsEarly[tg.arch], tail[len(cf):])
			case len(tail) == len(cf)+1 && slices.Equal(ctail[:len(cf)], ccf) && crashOmitsEntry[tg.arch+"/"+tail[len(cf)]] != "":
				toEntry++
				t.Logf("%s task %s: crash ends at %s (%s)", cmd, task, cf[len(cf)-1], crashOmitsEntry[tg.arch+"/"+tail[len(cf)]])
			case tg.stopsAfterNoreturn(cf, tail):
				t.Logf("%s task %s: crash names the return address after %s's call of a noreturn function as %s and stops; kinspect goes on: %v",
					cmd, task, tail[len(cf)-1], cf[len(cf)-1], tail[len(cf):])
			case isSubsequence(tg.canon(tg.textFrames(cf)), ctail) && crashSkipsFrames[tg.arch+"/"+tg.suite] != "":
				t.Logf("%s task %s: crash leaves frames out (%s):\nkinspect %v\ncrash    %v", cmd, task,
					crashSkipsFrames[tg.arch+"/"+tg.suite], tail, cf)
			default:
				t.Errorf("%s task %s: frames differ from %s on:\nkinspect %v\ncrash    %v", cmd, task, cf[0], tail, cf)
			}
		}
		t.Logf("%s on %s: %d tasks compared, %d exactly equal, %d equal up to the syscall entry crash does not list",
			cmd, tg.arch, compared, exact, toEntry)
	})
}

// stopsAfterNoreturn reports whether crash's frames are kinspect's up to
// crash's last one, which crash names after the function that follows
// kinspect's: a return address right after a call of a noreturn function
// (sysrq_handle_crash's "bl panic" is its last instruction) lies at the
// start of the next function. crash looks the address itself up, names
// that next function, and stops; kinspect looks up the call (pc-4).
func (tg *target) stopsAfterNoreturn(cf, tail []string) bool {
	n := len(cf)
	if n == 0 || n > len(tail) || !slices.Equal(tg.canon(cf[:n-1]), tg.canon(tail[:n-1])) {
		return false
	}
	next, ok := tg.k.Image.Lookup(cf[n-1])
	if !ok {
		return false
	}
	prev, _, ok := tg.k.Image.SymbolAt(next.Addr - 1)
	return ok && prev.Name == tail[n-1]
}

// crashNoFrames: where crash 8.0.6 prints task headers only for QEMU's dumps.
var crashNoFrames = map[string]string{
	"arm64": "crash finds no NT_PRSTATUS note for any CPU in QEMU's ELF dump, so it has no registers for active tasks",
	"arm":   "crash has no unwind table for the panic task (\"cannot find unwind table\") when its CPU is caught in panic's delay loop",
}

// crashStopsEarly: "arch/function" where crash 8.0.6's unwinder stops
// while the stack goes on (kinspect reaches the entry point).
var crashStopsEarly = map[string]string{
	"arm/call_with_stack": "crash does not leave the IRQ stack for the interrupted context (__irq_usr, __irq_svc)",
}

// crashOmitsEntry: "arch/function" of a syscall entry stub that crash
// 8.0.6 does not list as a frame: it ends the trace at the syscall
// function and prints the user registers saved by the entry
// (arch/arm/kernel/entry-common.S), where kinspect lists the stub too.
var crashOmitsEntry = map[string]string{
	"arm/ret_fast_syscall": "the syscall returns to ret_fast_syscall; crash prints the user registers instead of its frame",
	"arm/ret_slow_syscall": "the syscall returns to ret_slow_syscall; crash prints the user registers instead of its frame",
}

// crashPanicStopsEarly: where crash 8.0.6 stops early in the panic task
// wherever the dump caught its CPU in panic()'s delay loop (the state
// differs from one fixture build to the next).
var crashPanicStopsEarly = map[string]string{
	"arm": "crash cannot unwind out of a leaf of the timer-delay loop (arch_timer_read_counter_long, " +
		"arch_counter_get_cntvct) caught before it saved lr, or has no unwind table for it",
}

// isPanicTask reports whether task (crash's TASK column) is the panic task.
func (tg *target) isPanicTask(task string) bool {
	pt, err := tg.k.PanicTask()
	return err == nil && fmt.Sprintf("%x", pt.Addr) == task
}

// crashSkipsFrames: "arch/suite" where crash 8.0.6 leaves frames out of
// the middle of a trace; its frames must still be kinspect's, in order.
var crashSkipsFrames = map[string]string{
	"x86_64/bullseye": "on 5.10 crash goes from the IRQ stack's asm_call_on_stack straight to cpu_startup_entry, " +
		"leaving out the exception frame and the idle loop (sometimes naming the idle stack, init_thread_union, between)",
}

// textFrames leaves out the frames crash names by a data symbol: leaving
// the IRQ stack on 5.10 it can take the interrupted task's stack address
// for a return address and print the stack's own symbol
// (init_thread_union, the boot CPU's idle stack) as a frame.
func (tg *target) textFrames(frames []string) []string {
	var out []string
	for _, f := range frames {
		if s, ok := tg.k.Image.Lookup(f); ok && !strings.ContainsRune("tTwW", rune(s.Kind)) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// isSubsequence reports whether sub appears in seq in order (not
// necessarily contiguously).
func isSubsequence(sub, seq []string) bool {
	i := 0
	for _, x := range seq {
		if i < len(sub) && x == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

func TestBTAllMatchesCrash(t *testing.T)   { testBT(t, "bt -a") }
func TestBTPanicMatchesCrash(t *testing.T) { testBT(t, "bt -p") }
func TestBTCPUMatchesCrash(t *testing.T)   { testBT(t, "bt -c 0") }

// value strips gdb's "$N = " from p's output: the history number depends on
// what ran before.
func value(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "$") {
		if i := strings.Index(s, " = "); i > 0 {
			return s[i+3:]
		}
	}
	return s
}

func TestPrintMatchesCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		c, k := tg.both(t, "p init_task.comm")
		if value(c) == "" {
			t.Fatalf("p: crash printed nothing")
		}
		if value(k) != value(c) {
			t.Errorf("p init_task.comm: kinspect %q, crash %q", strings.TrimSpace(k), strings.TrimSpace(c))
		}
	})
}

var structMember = regexp.MustCompile(`^\s*\[(\d+)\] .*?[ *](\w+)(\[\d+\])*(\s*:\s*\d+)?;$`)

// parseStructO returns member name → "[offset]" for the first occurrence of
// each name (nested members repeat common names; the ones compared are
// top-level in task_struct).
func parseStructO(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if g := structMember.FindStringSubmatch(l); g != nil {
			if _, ok := m[g[2]]; !ok {
				m[g[2]] = g[1]
			}
		}
	}
	return m
}

func TestStructOffsetsMatchCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		c, k := tg.both(t, "struct -o task_struct")
		cm, km := parseStructO(c), parseStructO(k)
		if lc, lk := len(lines(c)), len(lines(k)); lc != lk {
			t.Errorf("struct -o task_struct: kinspect %d lines, crash %d", lk, lc)
		}
		n := 0
		for _, name := range []string{"__state", "stack", "flags", "on_cpu", "prio", "se", "rt", "policy",
			"tasks", "mm", "exit_state", "pid", "tgid", "real_parent", "children", "sibling",
			"thread_pid", "utime", "stime", "comm", "files", "signal", "thread"} {
			co, ok := cm[name]
			if !ok {
				continue
			}
			n++
			if ko, ok := km[name]; !ok {
				t.Errorf("struct -o task_struct: member %s (crash [%s]) missing in kinspect", name, co)
			} else if ko != co {
				t.Errorf("struct -o task_struct: %s at [%s] in kinspect, [%s] in crash", name, ko, co)
			}
		}
		if n < 15 {
			t.Errorf("struct -o task_struct: only %d of the compared members found in crash's output:\n%s", n, head(lines(c), 20))
		}
	})
}

func TestSymMatchesCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		c, k := tg.both(t, "sym linux_banner")
		if strings.TrimSpace(k) != strings.TrimSpace(c) {
			t.Errorf("sym linux_banner: kinspect %q, crash %q", strings.TrimSpace(k), strings.TrimSpace(c))
		}
	})
}

func TestRdMatchesCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		c, k := tg.both(t, "rd -8 linux_banner 32")
		cl, kl := lines(c), lines(k)
		if len(cl) == 0 {
			t.Fatal("rd: crash printed nothing")
		}
		if !slices.Equal(kl, cl) {
			t.Errorf("rd -8 linux_banner 32:\nkinspect:\n%s\ncrash:\n%s", strings.Join(kl, "\n"), strings.Join(cl, "\n"))
		}
	})
}

// lines splits output into lines without trailing spaces, dropping blank
// lines at the ends.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.Trim(s, "\n"), "\n") {
		out = append(out, strings.TrimRight(l, " \t\r"))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func head(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], "\n") + fmt.Sprintf("\n… and %d more", len(s)-n)
	}
	return strings.Join(s, "\n")
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// multisetDiff returns the elements of a (sorted) not matched in b (sorted).
func multisetDiff(a, b []int) []int {
	var out []int
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			j++
			continue
		}
		out = append(out, x)
	}
	return out
}

// TestTaskStructMatchesCrash prints the panic task's whole task_struct —
// ~1,000 lines with nested structs, unions, arrays, function pointers and
// bit-fields — with kinspect's struct and crash's, and wants them identical.
func TestTaskStructMatchesCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		pt, err := tg.k.PanicTask()
		if err != nil {
			t.Fatal(err)
		}
		cmd := fmt.Sprintf("struct task_struct %x", pt.Addr)
		c, kin := tg.both(t, cmd)
		if len(nonEmptyLines(c)) < 100 {
			t.Fatalf("crash printed too little for %q:\n%s", cmd, c)
		}
		compareLines(t, cmd, strings.Join(nonEmptyLines(c), "\n"), strings.Join(nonEmptyLines(kin), "\n"))
	})
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
