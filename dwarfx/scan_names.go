package dwarfx

// The name index: packed name keys, candidate ranking (a definition
// beats a declaration) and the open-addressing table the scanners fill.

// cand is a candidate DIE for a name: the best is kept (see better).
type cand struct {
	off  uint64 // DIE offset (enumerators: the enumeration type's DIE)
	decl bool   // a declaration only
	val  int64  // enumerators: the value
}

// better reports whether a should be preferred to b: definitions first, then
// the lowest offset, so that the choice does not depend on the order the
// parallel scan met them, and so that the first definition in file order is
// the answer: a lookup made while the index is being built can stop at the
// first unit defining the name (lazy.go). (The unit's size used to come
// before the offset, the smallest unit decoding fastest; the first unit
// defining struct task_struct on x86_64 is head64.c, the second unit.)
func (a cand) better(b cand) bool {
	if a.decl != b.decl {
		return !a.decl
	}
	return a.off < b.off
}

// nameKey identifies a name during the scan without materialising a string:
//
//	bit 63 = 0: bits 0..59 hold a .debug_str offset
//	bit 63 = 1, bit 59 = 0: an inline string of <= 7 bytes, packed in bits 0..55, its length in 56..58
//	bit 63 = 1, bit 59 = 1: an inline string at .debug_info offset bits 0..58
//
// Bits 60..62 hold the kind.
type nameKey = uint64

const (
	nkInline  = 1 << 63
	nkLong    = 1 << 59
	nkPayload = 1<<59 - 1
	nkNone    = ^uint64(0)
)

func withKind(k nameKey, kind uint8) uint64 { return k&^(7<<60) | uint64(kind)<<60 }

// put records c for key k unless a better candidate is known.
// It reports whether k was known already, and the rank of what was known.
func (s *scanner) put(k uint64, c cand) (bool, uint32) {
	e := s.m.slot(k)
	r := c.rank()
	if e.k != 0 {
		prev := e.r
		if r < e.r || r == e.r && c.better(s.cands[e.v]) {
			s.cands[e.v] = c
			e.r = r
		}
		return true, prev
	}
	e.k, e.v, e.r = k+1, int32(len(s.cands)), r
	s.cands = append(s.cands, c)
	s.m.n++
	if s.m.n*2 > len(s.m.e) {
		s.m.grow()
	}
	return false, 0
}

// rank orders candidates as better does, but for the offset: lower is better.
func (a cand) rank() uint32 {
	if a.decl {
		return 1
	}
	return 0
}

// keyTable is an open-addressing hash table from name keys to candidate
// indices: the scan's hottest structure, several times faster than a Go map
// for this use. Keys are stored plus one so that 0 marks an empty slot.
type keyTable struct {
	e     []keyEntry
	shift uint
	n     int
}

type keyEntry struct {
	k uint64
	v int32  // index into the scanner's cands
	r uint32 // rank of cands[v], kept here to compare without touching cands
}

func newKeyTable(bits uint) keyTable {
	return keyTable{e: make([]keyEntry, 1<<bits), shift: 64 - bits}
}

// slot returns the entry holding k, or the empty entry where k belongs.
func (t *keyTable) slot(k uint64) *keyEntry {
	mask := uint64(len(t.e) - 1)
	i := ((k + 1) * 0x9E3779B97F4A7C15) >> t.shift
	for {
		e := &t.e[i]
		if e.k == k+1 || e.k == 0 {
			return e
		}
		i = (i + 1) & mask
	}
}

func (t *keyTable) grow() {
	old := t.e
	t.e = make([]keyEntry, 2*len(old))
	t.shift--
	for _, e := range old {
		if e.k != 0 {
			*t.slot(e.k - 1) = e
		}
	}
}
