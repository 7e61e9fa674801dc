package main

import (
	"encoding/binary"
	enchex "encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
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
// behind a Raspberry Pi's /proc/iomem (System RAM, then device windows
// that are not in the image and must never be read). kinspect finds the
// layout from memory and DWARF, reads it as live, and lists /proc's tasks.
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
	src, vml, ok, err := l.liveArgs([]string{f.Vmlinux(), l.path("/dev/mem")})
	if err != nil || !ok || !src.devMem {
		t.Fatalf("liveArgs = %+v %v %v", src, ok, err)
	}
	k, err := l.openDevMem(src.path, vml, kstructs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !k.Live() || !strings.Contains(k.Dump.Format(), "/dev/mem") {
		t.Errorf("live %v, format %q", k.Live(), k.Dump.Format())
	}
	banner, err := k.Banner()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.checkVersion(banner, src.path); err != nil {
		t.Errorf("banner against /proc/version: %v", err)
	}
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	byPID := map[int]*kstructs.Task{}
	for _, tk := range tasks {
		byPID[tk.PID] = tk
	}
	matched := 0
	for _, g := range f.GT.Tasks {
		if tk, ok := byPID[g.PID]; ok && procNameOf(tk.Comm, g.Comm) && tk.PPID == g.PPID {
			matched++
		} else if g.PPID != f.GT.CrashPID {
			t.Errorf("pid %d (%s) of /proc: /dev/mem task %+v", g.PID, g.Comm, tk)
		}
	}
	t.Logf("arm raspi2b through a /dev/mem: %d of %d /proc tasks matched (%d tasks)", matched, len(f.GT.Tasks), len(tasks))
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
	r, ok := l.Runs[name]
	if !ok {
		t.Fatalf("no live run %q on the console", name)
	}
	if r.RC != 0 {
		t.Fatalf("live %s exited %d: %s", name, r.RC, strings.Join(r.Output, "\n"))
	}
	for _, line := range r.Output {
		if strings.HasPrefix(line, "{") || strings.HasPrefix(line, "[") {
			if err := json.Unmarshal([]byte(line), v); err != nil {
				t.Fatalf("live %s: %v: %s", name, err, line)
			}
			return
		}
	}
	t.Fatalf("live %s printed no JSON: %s", name, strings.Join(r.Output, "\n"))
}

type psEntry struct {
	PID       int    `json:"pid"`
	PPID      int    `json:"ppid"`
	CPU       int    `json:"cpu"`
	Comm      string `json:"comm"`
	StateChar string `json:"state_char"`
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
// before, with its comm, parent and (for sleeping tasks) state. The
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
			if sleeping := strings.Contains("SID", g.State); sleeping && p.StateChar != g.State {
				t.Errorf("pid %d (%s): live ps state %s, /proc %s", g.PID, g.Comm, p.StateChar, g.State)
				continue
			}
			matched++
		}
		t.Logf("%s: %d of %d /proc tasks matched in live ps (%d tasks listed)", f.Meta.Arch, matched, len(f.GT.Tasks), len(ps))
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
