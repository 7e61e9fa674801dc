package main

import (
	"bytes"
	"context"
	"encoding/binary"
	enchex "encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// fakeRoot lays out a running system's files under a temporary root.
func fakeRoot(t *testing.T, files map[string]string) liveFiles {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return liveFiles{root: root}
}

// TestLiveFindVmlinux: the vmlinux is looked for where Debian puts it,
// and the error names every place looked at.
func TestLiveFindVmlinux(t *testing.T) {
	l := fakeRoot(t, map[string]string{"/proc/sys/kernel/osrelease": "6.1.0-9-arm64\n", "/proc/kcore": ""})
	_, err := l.findVmlinux(kcorePath)
	if err == nil {
		t.Fatal("found a vmlinux in an empty root")
	}
	for _, want := range []string{"/usr/lib/debug/boot/vmlinux-6.1.0-9-arm64", "/boot/vmlinux-6.1.0-9-arm64",
		"/lib/modules/6.1.0-9-arm64/build/vmlinux", "/boot/vmlinux-*", "linux-image-6.1.0-9-arm64-dbg"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	l = fakeRoot(t, map[string]string{"/proc/sys/kernel/osrelease": "6.1.0-9-arm64\n", "/proc/kcore": "",
		"/lib/modules/6.1.0-9-arm64/build/vmlinux": "x"})
	src, vml, ok, err := l.liveArgs(nil)
	if err != nil || !ok || src.path != l.path(kcorePath) || src.devMem || vml != l.path("/lib/modules/6.1.0-9-arm64/build/vmlinux") {
		t.Fatalf("liveArgs() = %+v %q %v %v", src, vml, ok, err)
	}
	if _, _, ok, _ := l.liveArgs([]string{"vmcore", "vmlinux"}); ok {
		t.Error("a dump and a vmlinux taken for live mode")
	}
}

// TestLiveNoKcore: a kernel without /proc/kcore (Debian's armmp) nor
// /dev/mem is a clear error naming CONFIG_PROC_KCORE and CONFIG_DEVMEM,
// not an open failure; with /dev/mem, /dev/mem is read.
func TestLiveNoKcore(t *testing.T) {
	l := fakeRoot(t, map[string]string{"/proc/sys/kernel/osrelease": "6.1.0-9-armmp\n"})
	_, _, ok, err := l.liveArgs(nil)
	if !ok || err == nil || !strings.Contains(err.Error(), "CONFIG_PROC_KCORE") || !strings.Contains(err.Error(), "CONFIG_DEVMEM") {
		t.Fatalf("liveArgs() = %v %v, want the CONFIG_PROC_KCORE and CONFIG_DEVMEM error", ok, err)
	}
	l = fakeRoot(t, map[string]string{"/proc/sys/kernel/osrelease": "6.1.0-9-armmp\n", "/dev/mem": "",
		"/boot/vmlinux-6.1.0-9-armmp": "x"})
	src, vml, ok, err := l.liveArgs(nil)
	if err != nil || !ok || !src.devMem || src.path != l.path("/dev/mem") || vml != l.path("/boot/vmlinux-6.1.0-9-armmp") {
		t.Fatalf("liveArgs() without /proc/kcore = %+v %q %v %v, want /dev/mem", src, vml, ok, err)
	}
	for _, args := range [][]string{{l.path("/dev/mem"), "vmlinux"}, {"vmlinux", l.path("/dev/mem")}} {
		if src, vml, ok, err := l.liveArgs(args); err != nil || !ok || !src.devMem || vml != "vmlinux" {
			t.Errorf("liveArgs(%q) = %+v %q %v %v", args, src, vml, ok, err)
		}
	}
}

// devMemRoot is a fake root whose /dev/mem is a raw RAM image (a symlink
// to ram, RAM from physical 0) and whose /proc/iomem says so, with the
// fixture's /proc/version and release.
func devMemRoot(t *testing.T, f *fixture.Fixture, ram string, iomem string) liveFiles {
	t.Helper()
	l := fakeRoot(t, map[string]string{
		"/proc/sys/kernel/osrelease": f.GT.Release + "\n",
		"/proc/version":              f.GT.Version + "\n",
		"/proc/iomem":                iomem,
	})
	if err := os.MkdirAll(l.path("/dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ram, l.path("/dev/mem")); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLiveDevMemRaspi: the whole /dev/mem open path on a real 32-bit ARM
// kernel: the raspi2b fixture's RAM (physical 0 up) stands in for /dev/mem
// behind a Raspberry Pi's /proc/iomem (System RAM, then a device window
// that must never be read). kinspect finds the layout from memory and
// DWARF, checks the banner against /proc/version, reads it as live (triage
// says so) and ps lists /proc's tasks.
func TestLiveDevMemRaspi(t *testing.T) {
	f := fixture.RequireKind(t, "arm", fixture.KindRaspi)
	ram := f.Path("ram.bin")
	fi, err := os.Stat(ram)
	if err != nil {
		t.Fatal(err)
	}
	// QEMU's raspi2b has 1 GiB of RAM where a Pi 2 has 1 GiB less the
	// GPU's share; its ARM local peripherals follow at 1 GiB on both.
	iomem := fmt.Sprintf("00000000-%08x : System RAM\n  00008000-00cfffff : Kernel code\n40000000-400000ff : local_intc@40000000\n", fi.Size()-1)
	l := devMemRoot(t, f, ram, iomem)
	var stderr bytes.Buffer
	k, err := openKernel(l, cliFlags{}, []string{f.Vmlinux(), l.path("/dev/mem")}, kstructs.Options{}, &stderr)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	defer k.Close()
	if !k.Live() || !strings.Contains(k.Dump.Format(), "/dev/mem") {
		t.Errorf("live %v, format %q", k.Live(), k.Dump.Format())
	}
	for _, w := range k.Warnings {
		if strings.Contains(w, "/proc/version") {
			t.Errorf("the banner read through /dev/mem is not /proc/version's: %s", w)
		}
	}
	var out bytes.Buffer
	s := repl.NewSession(k, &out, &stderr)
	s.JSON = true
	if err := s.Exec(context.Background(), "ps", false); err != nil {
		t.Fatalf("ps: %v: %s", err, stderr.String())
	}
	var ps []psEntry
	if err := json.Unmarshal(out.Bytes(), &ps); err != nil {
		t.Fatal(err)
	}
	byPID := psByPID(ps)
	matched := 0
	for _, g := range f.GT.Tasks {
		if p, ok := byPID[strconv.Itoa(g.PID)]; ok && procNameOf(p.Comm, g.Comm) && p.PPID == g.PPID {
			matched++
		} else if g.PPID != f.GT.CrashPID {
			t.Errorf("pid %d (%s) of /proc: /dev/mem ps %+v", g.PID, g.Comm, p)
		}
	}
	t.Logf("arm raspi2b through a /dev/mem: %d of %d /proc tasks matched in ps (%d listed)", matched, len(f.GT.Tasks), len(ps))
	if err := s.Exec(context.Background(), "triage", false); err == nil || !strings.Contains(stderr.String(), "live kernel") {
		t.Errorf("triage on /dev/mem: %v: %s", err, stderr.String())
	}
	if err := k.Dump.ReadPhys(make([]byte, 4), 0x40000000); !errors.Is(err, dump.ErrNotInDump) {
		t.Error("read a device window (not System RAM) through /dev/mem")
	}
}

// TestLiveDevMemErrors: /proc/iomem read by a user (addresses 0), and no
// System RAM in it, are one-line errors naming the cause.
func TestLiveDevMemErrors(t *testing.T) {
	f := fixture.RequireKind(t, "arm", fixture.KindRaspi)
	for iomem, want := range map[string]string{
		"00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n": "needs root",
		"3f006000-3f006fff : dwc_otg\n":                                       "no top-level System RAM",
	} {
		l := devMemRoot(t, f, f.Path("ram.bin"), iomem)
		_, err := l.openDevMem(l.path("/dev/mem"), f.Vmlinux(), kstructs.Options{})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("iomem %q: %v, want one line saying %q", iomem, err, want)
		}
	}
}

// liveJSON is the JSON document of a live run (its other lines are
// kinspect's stderr).
func liveJSON(t *testing.T, l *fixture.Live, name string, v any) {
	t.Helper()
	docs := liveDocs(t, l, name)
	if len(docs) == 0 {
		t.Fatalf("live %s printed no JSON: %+v", name, l.Runs[name])
	}
	if err := json.Unmarshal(docs[0], v); err != nil {
		t.Fatalf("live %s: %v: %s", name, err, docs[0])
	}
}

type psEntry struct {
	PID        int    `json:"pid"`
	PPID       int    `json:"ppid"`
	CPU        int    `json:"cpu"`
	Task       string `json:"task"`
	Comm       string `json:"comm"`
	StateChar  string `json:"state_char"`
	Policy     string `json:"policy"`
	Prio       int    `json:"prio"`
	StaticPrio int    `json:"static_prio"`
	RTPriority int    `json:"rt_priority"`
	Nice       int    `json:"nice"`
	// KernelThread: PF_KTHREAD.
	KernelThread bool `json:"kernel_thread"`
}

// policyNames are the SCHED_* policies by number (include/uapi/linux/sched.h).
var policyNames = map[int]string{0: "NORMAL", 1: "FIFO", 2: "RR", 3: "BATCH", 5: "IDLE", 6: "DEADLINE"}

// schedFields are the scheduling fields of a live ps entry that differ
// from /proc's stat (policy, priority + 100, nice, rt_priority).
func schedFields(p psEntry, g *fixture.GTTask) []string {
	var bad []string
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"policy", p.Policy, policyNames[g.Policy]}, {"prio", p.Prio, g.Priority + 100},
		{"nice", p.Nice, g.Nice}, {"rt_priority", p.RTPriority, g.RTPriority},
	} {
		if c.got != c.want {
			bad = append(bad, fmt.Sprintf("%s %v (/proc %v)", c.name, c.got, c.want))
		}
	}
	return bad
}

// psByPID indexes ps entries by pid (the idle tasks, all pid 0, by
// "0/cpu").
func psByPID(ps []psEntry) map[string]psEntry {
	m := map[string]psEntry{}
	for _, p := range ps {
		k := strconv.Itoa(p.PID)
		if p.PID == 0 {
			k = fmt.Sprintf("0/%d", p.CPU)
		}
		m[k] = p
	}
	return m
}

// forLive runs check on each live fixture (one per arch with
// /proc/kcore) with the kinspect runs its console holds.
func forLive(t *testing.T, check func(t *testing.T, f *fixture.Fixture, l *fixture.Live)) {
	for _, a := range fixture.LiveArches {
		t.Run(a, func(t *testing.T) {
			f := fixture.RequireKind(t, a, fixture.KindLive)
			l, err := fixture.LiveOf(f)
			if err != nil {
				t.Fatal(err)
			}
			check(t, f, l)
		})
	}
}

// TestLivePsMatchesProc: the ps kinspect printed on the guest's own
// /proc/kcore lists every task of the /proc snapshot the guest printed just
// before, with its comm, parent, (for sleeping user tasks) state, and its
// scheduling policy and priorities. A kernel thread's state is not
// compared: its own timers and work queues wake it at any moment between
// the snapshot and the walk (a kworker in I was R in the cold run). The
// snapshot's own commands (children of the snapshot shell) have exited
// by then and are not looked for.
func TestLivePsMatchesProc(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		var ps []psEntry
		liveJSON(t, l, "ps-json", &ps)
		m := psByPID(ps)
		matched := 0
		for _, g := range f.GT.Tasks {
			if g.PPID == f.GT.CrashPID {
				continue
			}
			p, ok := m[strconv.Itoa(g.PID)]
			if !ok {
				t.Errorf("pid %d (%s, %s) of /proc is not in live ps", g.PID, g.Comm, g.State)
				continue
			}
			if !procNameOf(p.Comm, g.Comm) || p.PPID != g.PPID {
				t.Errorf("pid %d: live ps comm %q ppid %d, /proc %q %d", g.PID, p.Comm, p.PPID, g.Comm, g.PPID)
				continue
			}
			if sleeping := strings.Contains("SID", g.State); sleeping && !p.KernelThread && p.StateChar != g.State {
				t.Errorf("pid %d (%s): live ps state %s, /proc %s", g.PID, g.Comm, p.StateChar, g.State)
				continue
			}
			if bad := schedFields(p, &g); len(bad) > 0 {
				t.Errorf("pid %d (%s): live ps %s", g.PID, g.Comm, strings.Join(bad, ", "))
				continue
			}
			matched++
		}
		t.Logf("%s: %d of %d /proc tasks matched in live ps, with policy, prio, nice, rt_priority (%d tasks listed)", f.Meta.Arch, matched, len(f.GT.Tasks), len(ps))
	})
}

// procNameOf reports whether /proc's name of a task is its comm: the
// same, or a kthread's full name that comm (16 bytes with its NUL) cuts
// (fs/proc/array.c proc_task_name, kthread's full_name), or a workqueue
// worker's comm followed by its work ("-events", "+..."; wq_worker_comm).
func procNameOf(comm, proc string) bool {
	return comm == proc || len(comm) >= 15 && strings.HasPrefix(proc, comm) ||
		strings.HasPrefix(proc, comm+"-") || strings.HasPrefix(proc, comm+"+")
}

type sysDoc struct {
	Format      string `json:"format"`
	CPUs        int    `json:"cpus"`
	OfflineCPUs int    `json:"offline_cpus"`
	Release     string `json:"release"`
	Version     string `json:"version"`
	Memory      string `json:"memory"`
	Panic       string `json:"panic"`
}

// TestLiveSys: live sys's release, version and online CPUs are /proc's;
// its memory is the zones' present pages of /proc/zoneinfo (crash's
// MEMORY rounding: to the GiB within 64 MiB, else 0.1 GB).
func TestLiveSys(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		var s sysDoc
		liveJSON(t, l, "sys-json", &s)
		if s.Release != f.GT.Release || !strings.Contains(f.GT.Version, s.Version) {
			t.Errorf("live sys release %q version %q, /proc/version %q", s.Release, s.Version, f.GT.Version)
		}
		if s.CPUs-s.OfflineCPUs != f.GT.CPUs {
			t.Errorf("live sys: %d CPUs, %d offline; /sys online %q", s.CPUs, s.OfflineCPUs, f.GT.OnlineCPUs)
		}
		if s.Panic != "" || !strings.Contains(s.Format, "live") {
			t.Errorf("live sys: format %q, panic %q", s.Format, s.Panic)
		}
		present := presentBytes(t, f)
		got := parseMemory(t, s.Memory)
		if d := got - present; d > 64<<20 || d < -(64<<20) {
			t.Errorf("live sys memory %s (%d bytes), /proc/zoneinfo present %d bytes", s.Memory, got, present)
		}
	})
}

// presentBytes sums /proc/zoneinfo's present pages, in bytes (the page
// size from the fixture's kernel configuration).
func presentBytes(t *testing.T, f *fixture.Fixture) int64 {
	page := int64(4096)
	if cfg, err := os.ReadFile(f.Path("config")); err == nil {
		switch {
		case strings.Contains(string(cfg), "CONFIG_ARM64_64K_PAGES=y"):
			page = 64 << 10
		case strings.Contains(string(cfg), "CONFIG_ARM64_16K_PAGES=y"):
			page = 16 << 10
		}
	}
	var pages int64
	for _, line := range f.GT.Files["/proc/zoneinfo"] {
		fs := strings.Fields(line)
		if len(fs) == 2 && fs[0] == "present" {
			n, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				t.Fatalf("zoneinfo line %q: %v", line, err)
			}
			pages += n
		}
	}
	if pages == 0 {
		t.Fatal("the guest printed no /proc/zoneinfo present lines")
	}
	return pages * page
}

// parseMemory reads crash's MEMORY ("2 GB", "1.5 GB", "512 MB").
func parseMemory(t *testing.T, s string) int64 {
	fs := strings.Fields(s)
	if len(fs) != 2 {
		t.Fatalf("memory %q", s)
	}
	v, err := strconv.ParseFloat(fs[0], 64)
	if err != nil {
		t.Fatalf("memory %q: %v", s, err)
	}
	unit := map[string]float64{"GB": 1 << 30, "MB": 1 << 20, "KB": 1 << 10}[fs[1]]
	return int64(v * unit)
}

// TestLiveRuns: the guest's other kinspect runs: log, runq and bt of a
// sleeper work live; bt without a pid and triage, which need a crash,
// say that the kernel is live.
func TestLiveRuns(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		for _, name := range []string{"sys", "ps", "log", "runq", "bt"} {
			if r := l.Runs[name]; r == nil || r.RC != 0 || len(r.Output) == 0 {
				t.Errorf("live %s: %+v", name, r)
			}
		}
		if r := l.Runs["bt"]; r != nil && !strings.Contains(strings.Join(r.Output, "\n"), fmt.Sprintf("PID: %d ", l.Sleeper)) {
			t.Errorf("live bt %d: %s", l.Sleeper, strings.Join(r.Output, "\n"))
		}
		// bt without a pid takes the task running on the lowest CPU when
		// ps read the runqueues: either it still runs, and bt says that
		// a live kernel has no registers for it, or it has slept since,
		// and bt unwinds its saved context. triage fails.
		if r := l.Runs["bt-panic"]; r == nil || r.RC != 0 || len(btFunctions(r.Output)) == 0 && !strings.Contains(strings.Join(r.Output, "\n"), "live kernel") {
			t.Errorf("live bt without a pid: %+v", r)
		}
		if r := l.Runs["triage"]; r == nil || r.RC == 0 || !strings.Contains(strings.Join(r.Output, "\n"), "live kernel") {
			t.Errorf("live triage should fail saying that the kernel is live: %+v", r)
		}
		var rq struct {
			CPUs []struct {
				CPU int `json:"cpu"`
			} `json:"cpus"`
		}
		liveJSON(t, l, "runq-json", &rq)
		if len(rq.CPUs) != f.GT.CPUs {
			t.Errorf("live runq: %d CPUs, /sys online %q", len(rq.CPUs), f.GT.OnlineCPUs)
		}
	})
}

// TestLiveVsDump: kinspect's live ps agrees with its ps of the dump taken
// seconds later for every task in both (pid, comm, parent), and the
// sleeper's live backtrace is the dump's.
func TestLiveVsDump(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		var live, dumped []psEntry
		liveJSON(t, l, "ps-json", &live)
		code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "--json", "-c", "ps")
		if code != 0 {
			t.Fatalf("ps of the dump: exit %d: %s", code, errs)
		}
		if err := json.Unmarshal([]byte(out), &dumped); err != nil {
			t.Fatal(err)
		}
		d := psByPID(dumped)
		both := 0
		for _, p := range live {
			q, ok := d[strconv.Itoa(p.PID)]
			if p.PID == 0 || !ok {
				continue
			}
			both++
			if p.Comm != q.Comm || p.PPID != q.PPID {
				t.Errorf("pid %d: live %q ppid %d, dump %q ppid %d", p.PID, p.Comm, p.PPID, q.Comm, q.PPID)
			}
		}
		t.Logf("%s: %d tasks in both the live ps (%d) and the dump's (%d)", f.Meta.Arch, both, len(live), len(dumped))
		if both == 0 {
			t.Fatal("no task in both")
		}
		liveBT := l.Runs["bt"]
		if liveBT == nil || liveBT.RC != 0 {
			t.Fatalf("no live bt run: %+v", liveBT)
		}
		code, out, errs = kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "-c", fmt.Sprintf("bt %d", l.Sleeper))
		if code != 0 {
			t.Fatalf("bt %d of the dump: exit %d: %s", l.Sleeper, code, errs)
		}
		if lf, df := btFunctions(liveBT.Output), btFunctions(strings.Split(out, "\n")); strings.Join(lf, " ") != strings.Join(df, " ") || len(lf) == 0 {
			t.Errorf("bt %d: live %v, dump %v", l.Sleeper, lf, df)
		}
	})
}

// btFunctions are the function names of crash-style frame lines
// ("#0 [ffff...] schedule at ffff...").
func btFunctions(lines []string) []string {
	var out []string
	for _, line := range lines {
		fs := strings.Fields(line)
		if len(fs) >= 3 && strings.HasPrefix(fs[0], "#") {
			out = append(out, fs[2])
		}
	}
	return out
}

// TestLiveBuildID: a vmlinux whose build-id is not the running kernel's
// (VMCOREINFO's BUILD-ID, else /sys/kernel/notes) is refused, naming
// both; the same build-id passes.
func TestLiveBuildID(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	img, err := dwarfx.Open(f.Vmlinux())
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	note := func(id string) string {
		desc, _ := enchex.DecodeString(id)
		b := binary.NativeEndian.AppendUint32(nil, 4)
		b = binary.NativeEndian.AppendUint32(b, uint32(len(desc)))
		b = binary.NativeEndian.AppendUint32(b, 3) // NT_GNU_BUILD_ID
		return string(append(append(b, "GNU\x00"...), desc...))
	}
	other := strings.Repeat("ab", 20)
	l := fakeRoot(t, map[string]string{"/sys/kernel/notes": note(other)})
	if err := l.checkBuildID(img, nil); err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), img.BuildID()) {
		t.Errorf("other build-id in /sys/kernel/notes: %v", err)
	}
	if err := fakeRoot(t, map[string]string{"/sys/kernel/notes": note(img.BuildID())}).checkBuildID(img, nil); err != nil {
		t.Errorf("same build-id: %v", err)
	}
	vmci, err := dump.ParseVMCoreInfo([]byte("BUILD-ID=" + other + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := (liveFiles{root: t.TempDir()}).checkBuildID(img, vmci); err == nil || !strings.Contains(err.Error(), "VMCOREINFO") {
		t.Errorf("other build-id in VMCOREINFO: %v", err)
	}
}

// liveDocs are the JSON documents of a live run of several commands, in
// order; the run must have succeeded (the guest runs it --keep-going: a
// failed command would show as a document with "error" and exit 1).
func liveDocs(t *testing.T, l *fixture.Live, name string) []json.RawMessage {
	t.Helper()
	r, ok := l.Runs[name]
	if !ok {
		t.Fatalf("no live run %q on the console", name)
	}
	if r.RC != 0 {
		t.Errorf("live %s exited %d: %s", name, r.RC, strings.Join(r.Output, "\n"))
	}
	var docs []json.RawMessage
	for _, line := range r.Output {
		if strings.HasPrefix(line, "{") || strings.HasPrefix(line, "[") {
			if !json.Valid([]byte(line)) {
				t.Fatalf("live %s: invalid JSON: %s", name, line)
			}
			docs = append(docs, json.RawMessage(line))
		}
	}
	return docs
}

// dumpDocs runs kinspect --json on the fixture's dump and returns its
// documents in order.
func dumpDocs(t *testing.T, f *fixture.Fixture, cmds string) []json.RawMessage {
	t.Helper()
	code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "--json", "-c", cmds)
	if code != 0 {
		t.Fatalf("%s on the dump: exit %d: %s", cmds, code, errs)
	}
	var docs []json.RawMessage
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		docs = append(docs, json.RawMessage(line))
	}
	return docs
}

// vvDoc is a v.v-style document (rq, sched_class): the expression and
// its value, with members for a struct.
type vvDoc struct {
	Expr  string `json:"expr"`
	Value struct {
		Addr    string                     `json:"addr"`
		Value   json.RawMessage            `json:"value"`
		Symbol  string                     `json:"symbol"`
		Members map[string]json.RawMessage `json:"-"`
	} `json:"value"`
}

// schedDocs sorts the sched-json run's documents by kind.
type schedDocs struct {
	task   []json.RawMessage // task -R
	kmem   []json.RawMessage
	mod    []json.RawMessage
	ps     []psEntry
	rq     []vvDoc
	sclass []vvDoc
}

func sortSchedDocs(t *testing.T, docs []json.RawMessage) schedDocs {
	t.Helper()
	var s schedDocs
	for _, d := range docs {
		var probe map[string]json.RawMessage
		if json.Unmarshal(d, &probe) != nil { // an array: ps
			if err := json.Unmarshal(d, &s.ps); err != nil {
				t.Fatalf("ps document: %v", err)
			}
			continue
		}
		var vv vvDoc
		switch {
		case probe["tasks"] != nil:
			s.task = append(s.task, d)
		case probe["rows"] != nil:
			s.kmem = append(s.kmem, d)
		case probe["modules"] != nil:
			s.mod = append(s.mod, d)
		case probe["values"] != nil: // p init_task.sched_class
			var p struct {
				Values []vvDoc `json:"values"`
			}
			if err := json.Unmarshal(d, &p); err != nil || len(p.Values) != 1 {
				t.Fatalf("p document %s: %v", d, err)
			}
			s.sclass = append(s.sclass, p.Values[0])
		case json.Unmarshal(d, &vv) == nil && strings.HasPrefix(vv.Expr, "runqueues:"):
			s.rq = append(s.rq, vv)
		case vv.Expr == "sched_class":
			s.sclass = append(s.sclass, vv)
		default:
			t.Errorf("unexpected document in sched-json: %s", d)
		}
	}
	return s
}

// classNames are the kernel's scheduling classes (kernel/sched/sched.h).
var classNames = []string{"stop_sched_class", "dl_sched_class", "rt_sched_class", "fair_sched_class", "idle_sched_class"}

// liveSymbols are the running kernel's addresses of the scheduling classes
// and init_task: /proc/kallsyms' lines the guest printed where the kernel
// lists data symbols (CONFIG_KALLSYMS_ALL), else nm's link address plus
// the KASLR offset of _stext (kallsyms always lists text).
func liveSymbols(t *testing.T, f *fixture.Fixture) map[string]uint64 {
	t.Helper()
	ks, err := fixture.Kallsyms(f.GT.Files["/proc/kallsyms"])
	if err != nil || ks["_stext"] == 0 {
		t.Fatalf("the guest's kallsyms lines (want _stext): %v %v", ks, err)
	}
	nm, err := f.NMSymbols()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, name := range append(classNames, "init_task") {
		switch a, ok := ks[name], nm[name] != 0; {
		case a != 0:
			m[name] = a
		case ok:
			m[name] = nm[name] + ks["_stext"] - nm["_stext"]
		default:
			t.Fatalf("no %s in the guest's kallsyms nor in nm's", name)
		}
	}
	return m
}

// taskMembers is a task -R document's one task.
type taskMembers struct {
	PID     int               `json:"pid"`
	Task    string            `json:"task"`
	Comm    string            `json:"comm"`
	Members map[string]string `json:"members"`
}

func oneTask(t *testing.T, doc json.RawMessage) taskMembers {
	t.Helper()
	var td struct {
		Tasks []taskMembers `json:"tasks"`
	}
	if err := json.Unmarshal(doc, &td); err != nil || len(td.Tasks) != 1 {
		t.Fatalf("task document %s: %v", doc, err)
	}
	return td.Tasks[0]
}

// seField is a member of the gdb-format sched_entity text ("sum_exec_runtime = 41840920").
func seField(se, name string) string {
	for _, line := range strings.Split(se, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " = "); ok && k == name {
			return strings.TrimSuffix(v, ",")
		}
	}
	return ""
}

// TestLiveTask: live `task -R ...` of the reniced sleeper (it sleeps all
// along: nothing of it moves) shows /proc's pid, comm, policy, priorities
// (stat's priority + 100, 120 + nice), rt_priority, context switches
// (status), se.sum_exec_runtime (its schedstat) and se.nr_migrations (its
// sched file), fair_sched_class at kallsyms' address, and the task
// address of the dump taken later.
func TestLiveTask(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		pid := f.GT.RolePID("nice_sleeper")
		g, ok := f.GT.Task(pid)
		if pid == 0 || !ok || g.Nice != 5 {
			t.Fatalf("the guest's reniced sleeper: pid %d, /proc %+v", pid, g)
		}
		s := sortSchedDocs(t, liveDocs(t, l, "sched-json"))
		if len(s.task) != 1 {
			t.Fatalf("%d task documents in sched-json", len(s.task))
		}
		live := oneTask(t, s.task[0])
		sched := fixture.ProcFields(f.GT.Files[fmt.Sprintf("/proc/%d/sched", pid)], ":")
		stat := strings.Fields(strings.Join(f.GT.Files[fmt.Sprintf("/proc/%d/schedstat", pid)], ""))
		want := map[string]string{
			"pid":         strconv.Itoa(pid),
			"policy":      strconv.Itoa(g.Policy),
			"prio":        strconv.Itoa(g.Priority + 100),
			"static_prio": strconv.Itoa(120 + g.Nice),
			"normal_prio": strconv.Itoa(120 + g.Nice),
			"rt_priority": strconv.Itoa(g.RTPriority),
			"nvcsw":       strconv.FormatUint(g.VolCtxt, 10),
			"nivcsw":      strconv.FormatUint(g.NonvolCtxt, 10),
			"sched_class": fmt.Sprintf("%#x <fair_sched_class>", liveSymbols(t, f)["fair_sched_class"]),
		}
		// /proc/PID/schedstat needs CONFIG_SCHED_INFO, /proc/PID/sched
		// CONFIG_SCHED_DEBUG (Debian's kernels have both).
		if len(stat) == 3 {
			want["se.sum_exec_runtime"] = stat[0]
		}
		if sched["se.nr_migrations"] != "" {
			want["se.nr_migrations"], want["prio(sched)"] = sched["se.nr_migrations"], sched["prio"]
		}
		if _, ok := f.KernelConfig("SCHED_INFO"); ok && len(stat) != 3 {
			t.Errorf("CONFIG_SCHED_INFO: the guest printed no /proc/%d/schedstat: %q", pid, stat)
		}
		if _, ok := f.KernelConfig("SCHED_DEBUG"); ok && sched["se.nr_migrations"] == "" {
			t.Errorf("CONFIG_SCHED_DEBUG: the guest printed no /proc/%d/sched: %v", pid, sched)
		}
		got := maps.Clone(live.Members)
		got["prio(sched)"] = got["prio"]
		got["se.sum_exec_runtime"] = seField(got["se"], "sum_exec_runtime")
		got["se.nr_migrations"] = seField(got["se"], "nr_migrations")
		equal := 0
		for k, w := range want {
			if got[k] != w {
				t.Errorf("sleeper %d: live %s = %q, /proc %q", pid, k, got[k], w)
			} else {
				equal++
			}
		}
		if live.PID != pid || !procNameOf(live.Comm, g.Comm) {
			t.Errorf("live task: pid %d comm %q, /proc %d %q", live.PID, live.Comm, pid, g.Comm)
		}
		dumped := oneTask(t, dumpDocs(t, f, fmt.Sprintf("task -R pid %d", pid))[0])
		if dumped.Task != live.Task {
			t.Errorf("sleeper %d: live task %s, dump %s", pid, live.Task, dumped.Task)
		}
		r := l.Runs["sched"]
		out := ""
		if r != nil {
			out = strings.Join(r.Output, "\n")
		}
		for _, w := range []string{fmt.Sprintf("PID: %d ", pid), "fair_sched_class", "runqueues:0", "TOTAL MEM"} {
			if r == nil || r.RC != 0 || !strings.Contains(out, w) {
				t.Errorf("live sched (text) lacks %q: %+v", w, r)
			}
		}
		t.Logf("%s: sleeper %d: %d of %d fields equal to /proc", f.Meta.Arch, pid, equal, len(want))
	})
}

// classOf is the scheduling class /proc's policy means for a task; the
// stopper threads (migration/N) are FIFO to /proc but stop_sched_class
// (kernel/stop_machine.c: sched_set_stop_task).
func classOf(g *fixture.GTTask) string {
	switch {
	case strings.HasPrefix(g.Comm, "migration/"):
		return "stop_sched_class"
	case g.Policy == 1 || g.Policy == 2:
		return "rt_sched_class"
	case g.Policy == 6:
		return "dl_sched_class"
	}
	return "fair_sched_class"
}

// TestLiveSchedClass: live sched_class of the reniced sleeper,
// migration/0 and watchdogd (where it runs), and p init_task.sched_class,
// is the class their /proc policy means (idle for init_task) at the
// running kernel's address of it. Each live document is told by its
// address (&task->sched_class, which does not move) from the dump's
// answers for the same tasks.
func TestLiveSchedClass(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		syms := liveSymbols(t, f)
		var cmds, classes []string
		for _, g := range f.GT.Tasks {
			if g.PID == f.GT.RolePID("nice_sleeper") || g.Comm == "migration/0" || g.Comm == "watchdogd" {
				cmds, classes = append(cmds, fmt.Sprintf("sched_class %d", g.PID)), append(classes, classOf(&g))
			}
		}
		cmds, classes = append(cmds, "p init_task.sched_class"), append(classes, "idle_sched_class")
		byAddr := map[string]string{}
		for i, d := range sortSchedDocs(t, dumpDocs(t, f, strings.Join(cmds, "; "))).sclass {
			byAddr[d.Value.Addr] = classes[i]
		}
		live := sortSchedDocs(t, liveDocs(t, l, "sched-json")).sclass
		if len(live) != len(cmds) || len(byAddr) != len(cmds) {
			t.Errorf("%d live sched_class documents, %d of the dump, for %v", len(live), len(byAddr), cmds)
		}
		matched := 0
		for _, d := range live {
			want, ok := byAddr[d.Value.Addr]
			var v string
			json.Unmarshal(d.Value.Value, &v)
			switch {
			case !ok:
				t.Errorf("live %s at %s is none of the dump's %v", d.Expr, d.Value.Addr, cmds)
			case d.Value.Symbol != want || v != fmt.Sprintf("%#x", syms[want]):
				t.Errorf("live %s at %s: %s %s, want %s at %#x", d.Expr, d.Value.Addr, v, d.Value.Symbol, want, syms[want])
			default:
				matched++
			}
		}
		t.Logf("%s: %d of %d tasks' classes match /proc and the kernel's symbols", f.Meta.Arch, matched, len(cmds))
	})
}

// rqMember is one member of an rq document's value.
func rqMember(t *testing.T, d vvDoc, name string) string {
	t.Helper()
	var ms map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(d.Value.Value, &ms); err != nil {
		t.Fatalf("%s: %v", d.Expr, err)
	}
	return strings.Trim(string(ms[name].Value), `"`)
}

// TestLiveRq: live `rq N cpu,nr_running,curr` for every online CPU: its
// struct rq is the dump's (per-cpu runqueues do not move), cpu is N, and
// curr is a task the same process's ps listed just before (the idle task
// of that CPU, or a task running then) on every CPU but at most one: the
// CPU the reading kinspect runs on, whose curr is kinspect itself, maybe
// on a thread Go's runtime started after the ps walked (seen once).
func TestLiveRq(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		s := sortSchedDocs(t, liveDocs(t, l, "sched-json"))
		if len(s.rq) != f.GT.CPUs || len(s.ps) == 0 {
			t.Fatalf("%d live rq documents, %d ps entries; /sys online %q", len(s.rq), len(s.ps), f.GT.OnlineCPUs)
		}
		byTask := map[string]psEntry{}
		for _, p := range s.ps {
			byTask["0x"+p.Task] = p
		}
		cmds := make([]string, len(s.rq))
		for i, d := range s.rq {
			cmds[i] = "rq " + strings.TrimPrefix(d.Expr, "runqueues:") + " cpu"
		}
		dumped := dumpDocs(t, f, strings.Join(cmds, "; "))
		idle, unlisted := 0, 0
		for i, d := range s.rq {
			n := strings.TrimPrefix(d.Expr, "runqueues:")
			var dd vvDoc
			if err := json.Unmarshal(dumped[i], &dd); err != nil || dd.Value.Addr != d.Value.Addr {
				t.Errorf("rq %s: live at %s, dump at %s (%v)", n, d.Value.Addr, dd.Value.Addr, err)
			}
			if c := rqMember(t, d, "cpu"); c != n {
				t.Errorf("live rq %s: cpu %s", n, c)
			}
			curr := rqMember(t, d, "curr")
			p, ok := byTask[curr]
			switch {
			case !ok:
				unlisted++
				t.Logf("live rq %s: curr %s is no task of the ps before it (the reader's own CPU?)", n, curr)
			case p.PID == 0 && strconv.Itoa(p.CPU) != n:
				t.Errorf("live rq %s: curr %s is cpu %d's idle task", n, curr, p.CPU)
			case p.PID == 0:
				idle++
			}
		}
		if unlisted > 1 {
			t.Errorf("%d runqueues' curr are no task of the ps before them: at most the reader's own CPU may be", unlisted)
		}
		t.Logf("%s: %d runqueues at the dump's addresses, %d idle then, %d curr not in the ps before", f.Meta.Arch, len(s.rq), idle, unlisted)
	})
}

// kmemRows are kmem -i's rows by name, in bytes.
func kmemRows(t *testing.T, doc json.RawMessage) map[string]int64 {
	t.Helper()
	var k struct {
		Rows []struct {
			Name  string `json:"name"`
			Bytes int64  `json:"bytes"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(doc, &k); err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, r := range k.Rows {
		m[r.Name] = r.Bytes
	}
	return m
}

// TestLiveKmem: live kmem -i's totals, fixed at boot, are /proc/meminfo's
// (MemTotal, SwapTotal, CommitLimit, the huge pages) and the dump's; its
// free memory is at most the total.
func TestLiveKmem(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		s := sortSchedDocs(t, liveDocs(t, l, "sched-json"))
		if len(s.kmem) != 1 {
			t.Fatalf("%d kmem documents", len(s.kmem))
		}
		live := kmemRows(t, s.kmem[0])
		mi := fixture.ProcFields(f.GT.Files["/proc/meminfo"], ":")
		kb := func(k string) int64 {
			n, err := fixture.ProcKB(mi, k)
			if err != nil {
				t.Fatalf("/proc/meminfo: %v", err)
			}
			return n
		}
		want := map[string]int64{"TOTAL MEM": kb("MemTotal"), "TOTAL SWAP": kb("SwapTotal"),
			"COMMIT LIMIT": kb("CommitLimit")}
		// The huge pages where the kernel has them (CONFIG_HUGETLB_PAGE: the
		// rpios kernel has not, and /proc/meminfo lists none).
		if _, ok := mi["HugePages_Total"]; ok {
			want["TOTAL HUGE"] = kb("HugePages_Total") * kb("Hugepagesize")
		} else if live["TOTAL HUGE"] != 0 {
			t.Errorf("live kmem -i TOTAL HUGE %d bytes on a kernel whose /proc/meminfo has no HugePages_Total", live["TOTAL HUGE"])
		}
		equal := 0
		for k, w := range want {
			if live[k] != w {
				t.Errorf("live kmem -i %s: %d bytes, /proc/meminfo %d", k, live[k], w)
			} else {
				equal++
			}
		}
		if dumped := kmemRows(t, dumpDocs(t, f, "kmem -i")[0]); dumped["TOTAL MEM"] != live["TOTAL MEM"] {
			t.Errorf("TOTAL MEM: live %d, dump %d", live["TOTAL MEM"], dumped["TOTAL MEM"])
		}
		if live["FREE"] <= 0 || live["FREE"] > live["TOTAL MEM"] {
			t.Errorf("live kmem -i FREE %d of %d", live["FREE"], live["TOTAL MEM"])
		}
		t.Logf("%s: %d of %d kmem -i totals equal to /proc/meminfo", f.Meta.Arch, equal, len(want))
	})
}

// TestLiveMod: live mod lists /proc/modules' modules with their base
// address and size.
func TestLiveMod(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		s := sortSchedDocs(t, liveDocs(t, l, "sched-json"))
		if len(s.mod) != 1 {
			t.Fatalf("%d mod documents", len(s.mod))
		}
		var md struct {
			Modules []struct {
				Name string `json:"name"`
				Base string `json:"base"`
				Size int64  `json:"size"`
			} `json:"modules"`
		}
		if err := json.Unmarshal(s.mod[0], &md); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, m := range md.Modules {
			got[m.Name] = fmt.Sprintf("%d 0x%s", m.Size, m.Base)
		}
		procMods := f.GT.Files["/proc/modules"]
		matched := 0
		for _, line := range procMods {
			fs := strings.Fields(line) // name size refs deps state address
			if len(fs) < 6 {
				t.Fatalf("/proc/modules line %q", line)
			}
			if w := fs[1] + " " + fs[5]; got[fs[0]] != w {
				t.Errorf("module %s: live %q, /proc/modules %q", fs[0], got[fs[0]], w)
				continue
			}
			matched++
		}
		if len(md.Modules) != len(procMods) {
			t.Errorf("live mod: %d modules, /proc/modules %d", len(md.Modules), len(procMods))
		}
		t.Logf("%s: %d of %d modules match /proc/modules", f.Meta.Arch, matched, len(procMods))
	})
}

// TestLiveSource: the guest read /proc/kcore where its kernel has it,
// else /dev/mem, said so, and live sys's format names it; the System RAM
// of its /proc/iomem lies within the dump's RAM.
func TestLiveSource(t *testing.T) {
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		cfg, err := os.ReadFile(f.Path("config"))
		if err != nil {
			t.Fatal(err)
		}
		want := "/dev/mem"
		if strings.Contains(string(cfg), "\nCONFIG_PROC_KCORE=y") {
			want = "/proc/kcore"
		}
		if l.Source != want || (l.Vmlinux != "/dev/vda" && l.Vmlinux != "/vmlinux") {
			t.Errorf("live source %q vmlinux %q, want %s (the fixture's config)", l.Source, l.Vmlinux, want)
		}
		var s sysDoc
		liveJSON(t, l, "sys-json", &s)
		if !strings.Contains(s.Format, want) {
			t.Errorf("live sys format %q does not name %s", s.Format, want)
		}
		ram, err := dump.SystemRAM([]byte(strings.Join(f.GT.Files["/proc/iomem"], "\n")))
		if err != nil {
			t.Fatalf("the guest's /proc/iomem: %v", err)
		}
		d, err := dump.Open(f.Path("vmcore.elf"), dump.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var total uint64
		for _, r := range ram {
			if !within(r, d.Ranges()) {
				t.Errorf("System RAM %#x-%#x is not in the dump's RAM %v", r.Start, r.End()-1, d.Ranges())
			}
			total += r.Size
		}
		t.Logf("%s: %s, %d System RAM ranges (%d MiB) within the dump", f.Meta.Arch, l.Source, len(ram), total>>20)
	})
}

// within reports whether r lies inside one of rs.
func within(r dump.PhysRange, rs []dump.PhysRange) bool {
	for _, o := range rs {
		if r.Start >= o.Start && r.End() <= o.End() {
			return true
		}
	}
	return false
}

// TestLiveGuestRunsRelease: the kinspect a live guest ran is the static
// binary `make release` builds for its arch (scripts/release.sh, named as
// a user downloads it), recorded with its SHA-256 by the fixture builder.
func TestLiveGuestRunsRelease(t *testing.T) {
	names := map[string]string{"x86_64": "kinspect-linux-amd64", "arm64": "kinspect-linux-arm64", "arm": "kinspect-linux-armv7"}
	forLive(t, func(t *testing.T, f *fixture.Fixture, l *fixture.Live) {
		want := regexp.MustCompile(`^` + names[f.Meta.Arch] + ` [0-9a-f]{64}$`)
		if !want.MatchString(f.Meta.KinspectRelease) {
			t.Errorf("fixture.json kinspect_release %q: want %q and its SHA-256 (testdata/live-fixture.sh live_kinspect)", f.Meta.KinspectRelease, names[f.Meta.Arch])
		}
	})
}
