package dwarfx

import (
	"fmt"
	"testing"
)

// The table (what the index cache stores) answers exactly as a Go map
// of the same entries, collisions included, and finds nothing it lacks.
func TestNameMapHashed(t *testing.T) {
	names := make([]string, 5000)
	m := map[string]int32{}
	for i := range names {
		names[i] = fmt.Sprintf("sym_%d", i*7919%100000)
		m[names[i]] = int32(i)
	}
	name := func(i int32) string { return names[i] }
	h := newNameMap(len(m), name)
	for n, i := range m {
		*h.slot(n) = i
	}
	if h.len() != len(m) {
		t.Fatalf("len %d, want %d", h.len(), len(m))
	}
	for n, i := range m {
		if j, ok := h.get(n); !ok || j != i {
			t.Fatalf("get(%q) = %d, %v; want %d", n, j, ok, i)
		}
	}
	for _, n := range []string{"", "sym_", "sym_1x", "init_task"} {
		if _, ok := h.get(n); ok {
			t.Errorf("get(%q) found an entry", n)
		}
	}
	seen := 0
	h.each(func(n string, i int32) {
		if m[n] != i {
			t.Errorf("each gave %q=%d, want %d", n, i, m[n])
		}
		seen++
	})
	if seen != len(m) {
		t.Errorf("each saw %d entries, want %d", seen, len(m))
	}
	// A damaged table that is full (no empty slot) ends the probe.
	full := nameMap{slots: []int32{0, 1, 2, 3}, name: name}
	if _, ok := full.get("nothing"); ok {
		t.Error("full table found a missing name")
	}
	if _, ok := (nameMap{slots: []int32{}, name: name}).get("x"); ok {
		t.Error("empty table found a name")
	}
}
