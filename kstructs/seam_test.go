package kstructs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
)

// errInjected is what brokenRange's reads fail with.
var errInjected = errors.New("injected: memory withheld by the test")

// brokenRange is an overlay that fails every read touching [lo, hi) and
// reads everything else from the real dump: whatever walk hits the range
// must say where.
type brokenRange struct {
	k      *kstructs.Kernel
	lo, hi uint64
}

func (m brokenRange) ReadVirt(p []byte, addr uint64) error {
	if addr < m.hi && addr+uint64(len(p)) > m.lo {
		return fmt.Errorf("reading %d bytes at %#x: %w", len(p), addr, errInjected)
	}
	return m.k.ReadVirt(p, addr)
}

// TestSeamBrokenStack withholds a sleeping task's kernel stack through
// WithMemory: the unwinder reads through the seam, so its backtrace must
// fail or stop, naming the injected failure, instead of unwinding the
// dump's intact stack.
func TestSeamBrokenStack(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tasks, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		var task *kstructs.Task
		for _, tk := range tasks {
			if tk.Comm == "sleep" {
				task = tk
				break
			}
		}
		if task == nil {
			t.Skip("no task named sleep in the fixture")
		}
		good, err := k.Backtrace(task.Addr)
		if err != nil || !good.ReachedEntry() {
			t.Fatalf("intact stack of pid %d: %v %+v", task.PID, err, good)
		}
		ck := k.WithMemory(brokenRange{k: k, lo: good.StackBase, hi: good.StackTop})
		bt, err := ck.Backtrace(task.Addr)
		var msg string
		switch {
		case err != nil:
			msg = err.Error()
		case bt.Stopped != "":
			msg = bt.Stopped
		default:
			t.Fatalf("pid %d unwound %d frames from a withheld stack", task.PID, len(bt.Frames))
		}
		if !strings.Contains(msg, "injected") || !strings.Contains(msg, "0x") {
			t.Errorf("pid %d: error does not name the injected failure and its address: %s", task.PID, msg)
		}
		t.Logf("pid %d: %s", task.PID, msg)
	})
}

// TestSeamBrokenPrintk withholds the printk ring's text data through
// WithMemory: Log must report errors that name the failure and an
// address, and return no record it could not read.
func TestSeamBrokenPrintk(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if k.LogKind() != kstructs.LogLockless {
			t.Skip("not a lockless printk ring")
		}
		data, err := k.ReadUint("prb->text_data_ring.data")
		if err != nil {
			t.Fatal(err)
		}
		bits, err := k.ReadUint("prb->text_data_ring.size_bits")
		if err != nil {
			t.Fatal(err)
		}
		good, errs := k.Log()
		if len(good) == 0 {
			t.Fatalf("intact ring: no records: %v", errs)
		}
		ck := k.WithMemory(brokenRange{k: k, lo: data, hi: data + 1<<bits})
		recs, errs := ck.Log()
		if len(errs) == 0 {
			t.Fatalf("withheld text ring: %d records and no error", len(recs))
		}
		if len(recs) >= len(good) {
			t.Errorf("withheld text ring: %d records, the intact ring has %d", len(recs), len(good))
		}
		msg := errs[0].Error()
		if !errors.Is(errs[0], errInjected) && !strings.Contains(msg, "injected") {
			t.Errorf("error does not carry the injected failure: %s", msg)
		}
		if !strings.Contains(msg, "0x") {
			t.Errorf("error names no address: %s", msg)
		}
		t.Logf("%d errors, first: %s", len(errs), msg)
	})
}

// TestSeamBrokenTrace withholds a cpu's ring_buffer_per_cpu through
// WithMemory: the ftrace reader reads through the seam, so the events of
// that cpu fail with an error naming the structure and its address, and
// trace.dat reports the same cpu.
func TestSeamBrokenTrace(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		ti, err := k.TraceInstance("")
		if err != nil || ti.Buffer == 0 || len(ti.CPUs) == 0 {
			t.Skipf("no top-level trace buffer: %v", err)
		}
		tc := ti.CPUs[0]
		if evs, errs := k.TraceEvents(ti, tc.CPU); len(errs) > 0 && len(evs) == 0 {
			t.Fatalf("intact cpu %d: %v", tc.CPU, errs)
		}
		ck := k.WithMemory(brokenRange{k: k, lo: tc.Addr, hi: tc.Addr + 1})
		evs, errs := ck.TraceEvents(ti, tc.CPU)
		if len(evs) != 0 || len(errs) == 0 {
			t.Fatalf("withheld ring_buffer_per_cpu %#x: %d events, errors %v", tc.Addr, len(evs), errs)
		}
		want := fmt.Sprintf("%#x", tc.Addr)
		if msg := errs[0].Error(); !strings.Contains(msg, "injected") || !strings.Contains(msg, "ring_buffer_per_cpu "+want) {
			t.Errorf("error does not name the structure, %s and the injected failure: %s", want, msg)
		}
		var sb strings.Builder
		_, derrs, err := ck.WriteTraceDat(&sb, ti)
		if err != nil {
			t.Fatal(err)
		}
		if len(derrs) == 0 || !strings.Contains(derrs[0].Error(), want) {
			t.Errorf("trace.dat with cpu %d withheld: errors %v", tc.CPU, derrs)
		}
		t.Logf("%s; trace.dat: %v", errs[0], derrs[0])
	})
}
