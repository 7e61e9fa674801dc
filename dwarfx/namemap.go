package dwarfx

// nameMap finds an entry (an index into a table) by name: an open-addressing
// hash table of entry indexes, the same whether the index was built in this
// process or loaded from the index cache (indexcache.go), which stores the
// table as it is. Building it is one hash per name (a few milliseconds for
// 150,000 symbols) where sorting the names by string comparison took 0.4 s
// of every cold open's save; building a Go map first and laying it out as
// this table for the cache cost a cold open another ~0.1 s of CPU, and
// loading a Go map of 100,000 names costs tens of milliseconds where this
// table loads as a copy.
type nameMap struct {
	slots []int32            // entry indexes, -1 for empty; len a power of two
	name  func(int32) string // the name of entry i
}

// nameHash is FNV-1a (64-bit): stable across processes and Go versions, as a
// table stored in a file needs (hash/maphash is seeded per process).
func nameHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// newNameMap is an empty table for up to n names: at most half full, so
// probes stay short and slot always finds an empty slot.
func newNameMap(n int, name func(int32) string) nameMap {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	slots := make([]int32, size)
	for i := range slots {
		slots[i] = -1
	}
	return nameMap{slots: slots, name: name}
}

// slot is the slot holding name's entry, or the empty one where it belongs
// (for building: the table must have been made for at least this many
// names by newNameMap).
func (n nameMap) slot(name string) *int32 {
	mask := uint64(len(n.slots) - 1)
	p := nameHash(name) & mask
	for n.slots[p] >= 0 && n.name(n.slots[p]) != name {
		p = (p + 1) & mask
	}
	return &n.slots[p]
}

func (n nameMap) get(name string) (int32, bool) {
	if len(n.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(n.slots) - 1)
	// At most len(slots) probes: a damaged table (from a cache file) that
	// is full cannot loop.
	for p, k := nameHash(name)&mask, 0; k < len(n.slots); p, k = (p+1)&mask, k+1 {
		i := n.slots[p]
		if i < 0 {
			return 0, false
		}
		if n.name(i) == name {
			return i, true
		}
	}
	return 0, false
}

func (n nameMap) len() int {
	c := 0
	for _, i := range n.slots {
		if i >= 0 {
			c++
		}
	}
	return c
}

// each calls fn for every name and entry, in no particular order.
func (n nameMap) each(fn func(name string, i int32)) {
	for _, i := range n.slots {
		if i >= 0 {
			fn(n.name(i), i)
		}
	}
}
