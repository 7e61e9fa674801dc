package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

func runJSONInto(t *testing.T, k *kstructs.Kernel, line string, v any) {
	t.Helper()
	var buf, errBuf bytes.Buffer
	s := NewSession(k, &buf, &errBuf)
	s.JSON = true
	if err := s.Exec(context.Background(), line, false); err != nil {
		t.Fatalf("%s: %v (stderr %s)", line, err, errBuf.String())
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		t.Fatalf("%s: %v: %s", line, err, buf.String())
	}
}

// TestTraceForkExitCommand checks `trace fork-exit` against the guest:
// every sched_process_exit line the guest printed from the frozen "kt"
// instance is listed with its stamp, comm and pid; and every fork in the
// top-level buffer whose child was alive in the guest's task list names as
// parent a thread of the child's parent process (or the child was
// reparented to init after its parent exited).
func TestTraceForkExitCommand(t *testing.T) {
	exitRE := regexp.MustCompile(`(\d+\.\d+): sched_process_exit: comm=(.*?) pid=(-?\d+)`)
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		var rows []traceForkExitJSON
		runJSONInto(t, k, "trace fork-exit -i kt", &rows)
		got := map[string]bool{}
		for _, r := range rows {
			got[fmt.Sprintf("%s %s %d", r.Timestamp, r.Comm, r.PID)] = r.Event == "exit"
		}
		exits := 0
		for cpu, lines := range f.GT.Trace["kt"] {
			for _, l := range lines {
				if m := exitRE.FindStringSubmatch(l); m != nil {
					exits++
					if key := m[1] + " " + m[2] + " " + m[3]; !got[key] {
						t.Errorf("kt %s: guest's exit %q not in trace fork-exit", cpu, key)
					}
				}
			}
		}
		if exits == 0 {
			t.Fatal("the guest printed no sched_process_exit of instance kt")
		}
		rows = nil
		runJSONInto(t, k, "trace fork-exit", &rows)
		gt := map[int]fixture.GTTask{}
		for _, tk := range f.GT.Tasks {
			gt[tk.PID] = tk
		}
		forks := 0
		for _, r := range rows {
			child, ok := gt[int(r.PID)]
			parent, pok := gt[int(r.ParentPID)]
			if r.Event != "fork" || !ok || !pok || child.TGID != child.PID || child.Kthread {
				continue
			}
			forks++
			if child.PPID != parent.TGID && child.PPID != 1 {
				t.Errorf("fork at %s: %s-%d forked %s-%d, but the guest saw %d's parent as %d", r.Timestamp,
					r.ParentComm, r.ParentPID, r.Comm, r.PID, child.PID, child.PPID)
			}
		}
		if forks == 0 {
			t.Fatal("no fork in the top-level buffer of a process alive in the guest's task list")
		}
		t.Logf("%d exits of kt matched, %d forks checked against the guest's parents (%d rows)", exits, forks, len(rows))
		checkForkExitWithTraceCmd(t, k, rows)
	})
}

// checkForkExitWithTraceCmd: trace-cmd (libtraceevent, an independent
// decoder of the same print formats) must show exactly these forks and
// exits, field for field, in the top-level buffer's trace.dat.
func checkForkExitWithTraceCmd(t *testing.T, k *kstructs.Kernel, rows []traceForkExitJSON) {
	tc, err := exec.LookPath("trace-cmd")
	if err != nil {
		t.Skip("trace-cmd not installed")
	}
	dat := filepath.Join(t.TempDir(), "top.dat")
	runCmd(t, k, "trace dump -t "+dat)
	out, err := exec.Command(tc, "report", "-t", dat).CombinedOutput()
	if err != nil {
		t.Fatalf("trace-cmd report: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(\d+)\.(\d{9}): sched_process_(fork|exit):\s+comm=(.*?) pid=(-?\d+)(?: child_comm=(.*?) child_pid=(-?\d+))?`)
	var want, got []string
	for _, l := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[3] == "fork" {
			want = append(want, fmt.Sprintf("%s%s fork %s-%s %s-%s", m[1], m[2], m[4], m[5], m[6], m[7]))
		} else {
			want = append(want, fmt.Sprintf("%s%s exit %s-%s", m[1], m[2], m[4], m[5]))
		}
	}
	for _, r := range rows {
		if r.Event == "fork" {
			got = append(got, fmt.Sprintf("%d fork %s-%d %s-%d", r.TS, r.ParentComm, r.ParentPID, r.Comm, r.PID))
		} else {
			got = append(got, fmt.Sprintf("%d exit %s-%d", r.TS, r.Comm, r.PID))
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(want, "\n") != strings.Join(got, "\n") || len(want) == 0 {
		t.Errorf("trace-cmd report shows %d forks/exits, trace fork-exit %d:\n trace-cmd %v\n kinspect  %v", len(want), len(got), want, got)
	}
}

// TestTraceShowSince: --since keeps exactly the guest's kt lines from the
// first at or after the stamp.
func TestTraceShowSince(t *testing.T) {
	stamp := regexp.MustCompile(`\s(\d+\.\d+):\s`)
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want := f.GT.Trace["kt"]["cpu0"]
		if len(want) < 2 {
			t.Fatalf("guest printed %d kt cpu0 lines", len(want))
		}
		m := stamp.FindStringSubmatch(want[len(want)/2])
		if m == nil {
			t.Fatalf("no stamp in %q", want[len(want)/2])
		}
		out, _ := runCmd(t, k, "trace show -i kt -c 0 --since "+m[1])
		var got []string
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if !strings.HasPrefix(l, "#") {
				got = append(got, strings.TrimSpace(l))
			}
		}
		first := len(want) / 2
		for first > 0 && strings.Contains(want[first-1], " "+m[1]+": ") {
			first-- // events sharing the stamp
		}
		if strings.Join(got, "\n") != strings.TrimSpace(strings.Join(trimAll(want[first:]), "\n")) {
			t.Errorf("--since %s: %d lines, want the guest's last %d", m[1], len(got), len(want)-first)
		}
	})
}

func trimAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

// TestTraceDumpDir: `trace dump DIR` writes each cpu's pages, whole pages
// in reading order; they are the very bytes of the trace.dat's cpu
// sections, which trace-cmd decodes to the guest's events
// (TestTraceDumpTraceCmd).
func TestTraceDumpDir(t *testing.T) {
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		dir := t.TempDir()
		dat := filepath.Join(dir, "kt.dat")
		runCmd(t, k, "trace dump -i kt -t "+dat)
		runCmd(t, k, "trace dump -i kt "+filepath.Join(dir, "raw"))
		datBytes, err := os.ReadFile(dat)
		if err != nil {
			t.Fatal(err)
		}
		ti, _ := k.TraceInstance("kt")
		pages := 0
		for _, c := range ti.CPUs {
			raw, err := os.ReadFile(filepath.Join(dir, "raw", fmt.Sprintf("cpu%d.raw", c.CPU)))
			if err != nil {
				t.Fatal(err)
			}
			if len(raw)%4096 != 0 {
				t.Errorf("cpu%d.raw: %d bytes, not whole pages", c.CPU, len(raw))
			}
			if len(raw) > 0 && !bytes.Contains(datBytes, raw) {
				t.Errorf("cpu%d.raw (%d bytes) is not the trace.dat's cpu section", c.CPU, len(raw))
			}
			pages += len(raw) / 4096
		}
		if pages == 0 {
			t.Fatal("no pages written")
		}
	})
}
