package kstructs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// corruptWord is an overlay that reads the real dump but returns val for
// the ptr-sized word at addr: one corrupted field in otherwise intact
// memory, as a stray write would leave it.
type corruptWord struct {
	k    *kstructs.Kernel
	addr uint64
	val  []byte
}

func (m corruptWord) ReadVirt(p []byte, addr uint64) error {
	if err := m.k.ReadVirt(p, addr); err != nil {
		return err
	}
	for i := range m.val {
		if a := m.addr + uint64(i); a >= addr && a < addr+uint64(len(p)) {
			p[a-addr] = m.val[i]
		}
	}
	return nil
}

// TestTraceCorruptPageOnDump corrupts one data page header of a real ring
// buffer through the memory seam (its buffer_data_page.commit, the length
// of the page's events, set beyond the page, as in
// kernel/trace/ring_buffer.c rb_page_commit): that page must give a
// *TracePageError naming it, and the cpu's other pages must still decode
// to exactly the events they gave intact.
func TestTraceCorruptPageOnDump(t *testing.T) {
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		ti, err := k.TraceInstance("top")
		if err != nil {
			t.Fatal(err)
		}
		cpu, page, data := pageToCorrupt(t, k, ti)
		good, errs := k.TraceEvents(ti, cpu)
		if len(errs) != 0 {
			t.Fatalf("intact cpu %d: %v", cpu, errs)
		}
		commit := mustAddr(t, k, "((struct buffer_data_page *)%#x)->commit", data)
		val := make([]byte, k.PtrSize())
		for i := range val {
			val[i] = 0x7f // ~2^62 / 2^30 bytes: far beyond any sub-buffer
		}
		ck := k.WithMemory(corruptWord{k: k, addr: commit, val: val})
		bad, errs := ck.TraceEvents(ti, cpu)
		var pe *kstructs.TracePageError
		if len(errs) != 1 || !errors.As(errs[0], &pe) || pe.Page != page || pe.Data != data || pe.CPU != cpu {
			t.Fatalf("corrupt page %#x (data %#x) on cpu %d: errors %v, want one TracePageError naming it", page, data, cpu, errs)
		}
		t.Logf("cpu %d: %d events intact, %d with page %#x corrupt: %v", cpu, len(good), len(bad), page, pe)
		if len(bad) == 0 || len(bad) >= len(good) {
			t.Fatalf("cpu %d: %d events with one page corrupt, %d intact: the other pages must still decode", cpu, len(bad), len(good))
		}
		// What still decodes is the intact sequence minus one page's run.
		key := func(e *kstructs.TraceEvent) string { return fmt.Sprintf("%d/%d/%s", e.TS, e.PID, e.Name) }
		i := 0
		for _, e := range bad {
			for i < len(good) && key(good[i]) != key(e) {
				i++
			}
			if i == len(good) {
				t.Fatalf("event %s decoded only with the page corrupt", key(e))
			}
			i++
		}
	})
}

// pageToCorrupt picks the cpu of the top buffer whose head page is neither
// the reader nor the commit page (so pages before and after it hold
// events) and returns that cpu, the head buffer_page and its data page.
func pageToCorrupt(t *testing.T, k *kstructs.Kernel, ti *kstructs.TraceInstance) (int, uint64, uint64) {
	t.Helper()
	for _, tc := range ti.CPUs {
		cpb := fmt.Sprintf("((struct ring_buffer_per_cpu *)%#x)", tc.Addr)
		head, err1 := k.ReadUint(cpb + "->head_page")
		commit, err2 := k.ReadUint(cpb + "->commit_page")
		if err1 != nil || err2 != nil {
			t.Fatalf("cpu %d: head_page %v, commit_page %v", tc.CPU, err1, err2)
		}
		if head == 0 || head == commit || tc.Entries == 0 {
			continue
		}
		data, err := k.ReadUint(fmt.Sprintf("((struct buffer_page *)%#x)->page", head))
		if err != nil {
			t.Fatal(err)
		}
		return tc.CPU, head, data
	}
	t.Fatal("no cpu of the top buffer has a head page distinct from its commit page")
	return 0, 0, 0
}
