package dwarfx

// nameMap finds an entry (an index into a table) by name: a Go map when the
// index was built in this process, an open-addressing hash table of entry
// indexes when it came from the index cache (indexcache.go). The table is
// what the cache file stores: building it is one hash per name (a few
// milliseconds for 150,000 symbols) where sorting the names by string
// comparison took 0.4 s of every cold open's save, and loading it is a copy
// where building a Go map of 100,000 names costs tens of milliseconds.
type nameMap struct {
	m     map[string]int32
	slots []int32            // hashed form: entry indexes, -1 for empty; len a power of two
	name  func(int32) string // the name of entry i (hashed form)
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

func (n nameMap) get(name string) (int32, bool) {
	if n.slots == nil {
		i, ok := n.m[name]
		return i, ok
	}
	if len(n.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(n.slots) - 1)
	// At most len(slots) probes: a damaged table that is full cannot loop.
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
	if n.slots == nil {
		return len(n.m)
	}
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
	if n.slots == nil {
		for k, v := range n.m {
			fn(k, v)
		}
		return
	}
	for _, i := range n.slots {
		if i >= 0 {
			fn(n.name(i), i)
		}
	}
}

// hashSlots lays the entries out as the hashed form's table (for the cache
// file): at most half full, so probes stay short.
func (n nameMap) hashSlots(name func(int32) string) []int32 {
	size := 16
	for size < 2*n.len() {
		size <<= 1
	}
	slots := make([]int32, size)
	for i := range slots {
		slots[i] = -1
	}
	mask := uint64(size - 1)
	n.each(func(s string, i int32) {
		p := nameHash(name(i)) & mask
		for slots[p] >= 0 {
			p = (p + 1) & mask
		}
		slots[p] = i
	})
	return slots
}
