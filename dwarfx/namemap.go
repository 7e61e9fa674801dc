package dwarfx

import (
	"slices"
	"sort"
	"strings"
)

// nameMap finds an entry (an index into a table) by name: a Go map when the
// index was built in this process, an array of the entries sorted by name
// when it came from the index cache (indexcache.go), which costs nothing to
// load where building a map of 100,000 names costs tens of milliseconds.
type nameMap struct {
	m      map[string]int32
	sorted []int32
	name   func(int32) string // the name of entry i (sorted form)
}

func (n nameMap) get(name string) (int32, bool) {
	if n.m != nil || n.sorted == nil {
		i, ok := n.m[name]
		return i, ok
	}
	s := n.sorted
	j := sort.Search(len(s), func(j int) bool { return n.name(s[j]) >= name })
	if j < len(s) && n.name(s[j]) == name {
		return s[j], true
	}
	return 0, false
}

func (n nameMap) len() int {
	if n.m != nil {
		return len(n.m)
	}
	return len(n.sorted)
}

// each calls fn for every name and entry, in no particular order.
func (n nameMap) each(fn func(name string, i int32)) {
	if n.m != nil {
		for k, v := range n.m {
			fn(k, v)
		}
		return
	}
	for _, i := range n.sorted {
		fn(n.name(i), i)
	}
}

// sortedEntries lists the entries sorted by name (for the cache file).
func (n nameMap) sortedEntries(name func(int32) string) []int32 {
	out := make([]int32, 0, n.len())
	n.each(func(_ string, i int32) { out = append(out, i) })
	slices.SortFunc(out, func(a, b int32) int { return strings.Compare(name(a), name(b)) })
	return out
}
