package kstructs_test

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

var consoleKernelLine = regexp.MustCompile(`^\[ *\d+\.\d{6}\] `)

// consoleKernelLines returns the kernel-printed lines of a fixture's serial
// console (userspace output in between is left out).
func consoleKernelLines(t *testing.T, f *fixture.Fixture) []string {
	t.Helper()
	fh, err := os.Open(f.Path("console.log"))
	if err != nil {
		t.Fatalf("console.log: %v", err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if consoleKernelLine.MatchString(line) {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("console.log: %v", err)
	}
	return out
}

// dmesgLines renders records as the kernel's console does: every line of a
// record's text carries the record's timestamp.
func dmesgLines(recs []kstructs.LogRecord) []string {
	var out []string
	for _, r := range recs {
		if r.Dataless {
			continue
		}
		prefix := fmt.Sprintf("[%5d.%06d] ", r.TimestampNS/1e9, r.TimestampNS%1e9/1000)
		for _, l := range strings.Split(strings.TrimSuffix(r.Text, "\n"), "\n") {
			out = append(out, prefix+l)
		}
	}
	return out
}

// dumpFiles lists the fixture's dump files (fixture.json), ELF first.
func dumpFiles(f *fixture.Fixture) []string {
	out := []string{"vmcore.elf"}
	for _, d := range f.Dumps {
		if d.File != "vmcore.elf" && !d.Paging {
			out = append(out, d.File)
		}
	}
	return out
}

// TestLogMatchesConsole: every kernel line the guest printed on its serial
// console, from boot to the panic, appears in the dump's log in order with
// the same timestamp and text. The log may hold more (records below the
// console loglevel).
func TestLogMatchesConsole(t *testing.T) {
	for _, arch := range ktest.Arches {
		t.Run(arch, func(t *testing.T) {
			f := fixture.Require(t, arch)
			for _, file := range dumpFiles(f) {
				t.Run(file, func(t *testing.T) {
					k, _ := ktest.Open(t, arch, file)
					logMatchesConsole(t, k, f)
				})
			}
		})
	}
	ktest.ForEachMachine(t, logMatchesConsole)
}

func logMatchesConsole(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
	want := consoleKernelLines(t, f)
	if len(want) == 0 {
		t.Fatal("console.log has no kernel lines")
	}
	recs, errs := k.Log()
	for _, err := range errs {
		t.Errorf("log: %v", err)
	}
	got := dmesgLines(recs)
	j, matched := 0, 0
	for _, w := range want {
		for j < len(got) && got[j] != w {
			j++
		}
		if j == len(got) {
			t.Errorf("console line %q not in the log (after %d matched lines)", w, matched)
			break
		}
		matched++
		j++
	}
	t.Logf("%s %s: %d records, %d log lines, %d/%d console lines matched in order, %d log lines not on the console",
		ktest.Name(f), k.Dump.Path(), len(recs), len(got), matched, len(want), len(got)-matched)
	if last := want[len(want)-1]; len(got) > 0 && got[len(got)-1] != last {
		t.Errorf("the log ends with %q, the console with %q", got[len(got)-1], last)
	}
}

func TestPanicMessage(t *testing.T) {
	check := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		msg, err := k.PanicMessage()
		if err != nil {
			t.Fatal(err)
		}
		if msg != f.GT.Panic {
			t.Errorf("panic message %q, ground truth %q", msg, f.GT.Panic)
		}
	}
	ktest.ForEach(t, check)
	ktest.ForEachMachine(t, check)
}

func TestTaint(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tn, err := k.Taint()
		if err != nil {
			t.Fatal(err)
		}
		if len(tn.Flags) < 18 {
			t.Errorf("taint_flags has %d entries, 6.1 has 19", len(tn.Flags))
		}
		// The kernel's own report of the panic ("CPU: 1 PID: 348 Comm: sh
		// Not tainted ...") says what print_tainted() returned.
		recs, _ := k.Log()
		var line string
		for _, r := range recs {
			if strings.HasPrefix(r.Text, "CPU: ") && strings.Contains(r.Text, " Comm: ") {
				line = r.Text
			}
		}
		if line == "" {
			t.Fatal("no 'CPU: .. Comm:' line in the log")
		}
		if !strings.Contains(line, " "+tn.String()+" ") {
			t.Errorf("taint %q is not what the kernel printed: %q", tn.String(), line)
		}
		for i, fl := range tn.Flags {
			if fl.Bit != i || len(fl.Char) != 1 || len(fl.NotChar) != 1 {
				t.Errorf("flag %d: %+v", i, fl)
			}
		}
		if tn.Flags[0].Char != "P" || tn.Flags[0].NotChar != "G" {
			t.Errorf("taint_flags[0] = %+v, want P/G", tn.Flags[0])
		}
	})
}

func TestLogFormat(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		recs, _ := k.Log()
		if len(recs) == 0 {
			t.Fatal("no records")
		}
		if recs[0].Seq != 0 || recs[0].TimestampNS != 0 {
			t.Errorf("first record: seq %d at %dns, want the boot's record 0", recs[0].Seq, recs[0].TimestampNS)
		}
		banner := false
		for _, r := range recs[:min(5, len(recs))] {
			banner = banner || strings.HasPrefix(r.Text, "Linux version ") && r.Level == 5
		}
		if !banner {
			t.Error("no <5>Linux version banner among the first records")
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].Seq != recs[i-1].Seq+1 {
				t.Errorf("seq %d follows %d", recs[i].Seq, recs[i-1].Seq)
				break
			}
			if recs[i].TimestampNS < recs[i-1].TimestampNS && !recs[i].CallerIsCPU() && recs[i].TimestampNS != 0 {
				// Timestamps come from per-cpu clocks: only report big
				// steps backwards. A CPU being brought up prints by its
				// own clock before it is synchronised (x86's
				// calibrate_delay messages from "#1".."#3", at 0 or at
				// another CPU's early time): a step the guest's console
				// shows too is the kernel's, not a decoding error.
				stamp := fmt.Sprintf("[%5d.%06d] %s", recs[i].TimestampNS/1e9, recs[i].TimestampNS%1e9/1e3, firstLine(recs[i].Text))
				if recs[i-1].TimestampNS-recs[i].TimestampNS > 1e9 && !strings.Contains(consoleText(t, f), stamp) {
					t.Errorf("seq %d goes back in time, and the console shows no %q", recs[i].Seq, stamp)
				}
			}
		}
		var buf []byte
		fm := kstructs.LogFormat{Caller: true, CallerWidth: k.LogCallerWidth(), Level: true}
		buf = fm.AppendLogRecord(buf, recs[0])
		if !regexp.MustCompile(`^\[    0\.000000\] \[    T0\] <[0-7]>\S`).Match(buf) {
			t.Errorf("log -c -m of record 0: %q", buf)
		}
		var dev bool
		for _, r := range recs {
			if r.DevInfo.Subsystem != "" && r.DevInfo.Device != "" {
				dev = true
				break
			}
		}
		if !dev {
			t.Error("no record has a device dictionary (dev_printk_info)")
		}
	})
}

func BenchmarkLog(b *testing.B) {
	for _, arch := range ktest.Arches {
		b.Run(arch, func(b *testing.B) {
			f := fixture.Require(b, arch)
			for _, file := range dumpFiles(f) {
				b.Run(file, func(b *testing.B) {
					k, _ := ktest.Open(b, arch, file)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if recs, errs := k.Log(); len(recs) == 0 || len(errs) > 0 {
							b.Fatalf("%d records, errors %v", len(recs), errs)
						}
					}
				})
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// consoleText is the fixture's serial console, as the guest printed it.
func consoleText(t *testing.T, f *fixture.Fixture) string {
	b, err := os.ReadFile(f.Path("console.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
