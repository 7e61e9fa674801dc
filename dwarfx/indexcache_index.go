package dwarfx

// Records of the index cache: the name index (scan.go) and the symbol table
// (symbols.go) as Open leaves them, and back. The tables keyed by name are
// not stored: they are rebuilt from the records, concurrently.

import (
	"cmp"
	"errors"
	"slices"
)

// cachedIndex is what a cache file holds.
type cachedIndex struct {
	idx      *index
	syms     symtab
	warnings []string
}

// encodeIndex writes idx, the symbol table and the open's warnings.
func encodeIndex(idx *index, st *symtab, warnings []error) [][]byte {
	w := &cacheWriter{}
	// Sized up front: appending 16 MB of small records to a growing slice
	// spent a fifth of the save copying it.
	nsyms := len(st.all)
	w.rec = make([]byte, 0, 64+36*len(idx.units)+26*len(idx.types)+50*len(idx.defs)+20*len(idx.pcs)+
		16*len(idx.ranges)+47*nsyms)
	w.blob = make([]byte, 0, 24*(len(idx.types)+len(idx.defs)+nsyms))
	w.u64(idx.dies)
	w.count(len(idx.units))
	for _, u := range idx.units {
		w.u64(u.off)
		w.u64(u.end)
		w.u64(u.dieOff)
		w.u64(u.abbrevOff)
		w.u8(u.vers)
		w.u8(u.asize)
		w.bool(u.is64)
		w.u8(u.utype)
	}
	w.count(len(idx.types))
	for k, c := range idx.types {
		w.u8(k.kind)
		w.str(k.name)
		w.u64(c.off)
		w.bool(c.decl)
		w.u64(uint64(c.val))
	}
	w.count(len(idx.defs))
	for _, d := range idx.defs {
		w.str(d.name)
		w.u64(d.off)
		w.u64(d.lo)
		w.u64(d.hi)
		w.bool(d.ext)
		w.bool(d.isFn)
		w.i32(d.next)
		w.i32(d.rng)
	}
	w.int32s(idx.vars.slots)
	w.int32s(idx.funcs.slots)
	w.count(len(idx.pcs))
	for _, p := range idx.pcs {
		w.u64(p.lo)
		w.u64(p.hi)
		w.i32(p.def)
	}
	w.count(len(idx.ranges))
	for _, rs := range idx.ranges {
		w.count(len(rs))
		for _, r := range rs {
			w.u64(r[0])
			w.u64(r[1])
		}
	}
	encodeSymtab(w, st)
	w.count(len(warnings))
	for _, e := range warnings {
		w.str(e.Error())
	}
	return w.body()
}

func encodeSymtab(w *cacheWriter, st *symtab) {
	w.count(len(st.all))
	for _, s := range st.all {
		w.str(s.name)
		w.u64(s.addr)
		w.u64(s.size)
		w.u8(s.kind)
		w.u32(uint32(s.shndx))
		w.u8(s.rank)
		w.bool(s.noRel)
	}
	w.int32s(st.byName.slots)
	w.int32s(st.byAddr)
	w.u64(st.maxEnd)
}

// decodeIndex reads a body written by encodeIndex. Strings alias body.
func decodeIndex(body []byte) (*cachedIndex, error) {
	r, err := newCacheReader(body)
	if err != nil {
		return nil, err
	}
	idx := &index{dies: r.u64()}
	idx.units = make([]unitInfo, r.count(36))
	for i := range idx.units {
		u := &idx.units[i]
		u.off, u.end, u.dieOff, u.abbrevOff = r.u64(), r.u64(), r.u64(), r.u64()
		u.vers, u.asize, u.is64, u.utype = r.u8(), r.u8(), r.bool(), r.u8()
	}
	types := make([]typeKey, r.count(26))
	cands := make([]cand, len(types))
	for i := range types {
		types[i] = typeKey{kind: r.u8(), name: r.str()}
		cands[i] = cand{off: r.u64(), decl: r.bool(), val: int64(r.u64())}
	}
	idx.defs = make([]def, r.count(42))
	for i := range idx.defs {
		d := &idx.defs[i]
		d.name, d.off, d.lo, d.hi = r.str(), r.u64(), r.u64(), r.u64()
		d.ext, d.isFn, d.next, d.rng = r.bool(), r.bool(), r.i32(), r.i32()
	}
	varHeads, funcHeads := r.slots(len(idx.defs), "variable"), r.slots(len(idx.defs), "function")
	r.checkChains(idx.defs, varHeads, funcHeads)
	defName := func(i int32) string { return idx.defs[i].name }
	idx.vars = nameMap{slots: varHeads, name: defName}
	idx.funcs = nameMap{slots: funcHeads, name: defName}
	idx.pcs = make([]pcRange, r.count(20))
	for i := range idx.pcs {
		idx.pcs[i] = pcRange{lo: r.u64(), hi: r.u64(), def: r.index32(r.i32(), len(idx.defs), false, "pc range's definition")}
	}
	idx.ranges = make([][][2]uint64, r.count(4))
	for i := range idx.ranges {
		rs := make([][2]uint64, r.count(16))
		for j := range rs {
			rs[j] = [2]uint64{r.u64(), r.u64()}
		}
		idx.ranges[i] = rs
	}
	for i := range idx.defs {
		d := &idx.defs[i]
		d.next = r.index32(d.next, len(idx.defs), true, "definition chain")
		d.rng = r.index32(d.rng, len(idx.ranges), true, "definition's ranges")
	}
	ci := &cachedIndex{idx: idx}
	decodeSymtab(r, &ci.syms)
	ci.warnings = make([]string, r.count(8))
	for i := range ci.warnings {
		ci.warnings[i] = r.str()
	}
	if r.err == nil && r.p != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	idx.types = make(map[typeKey]cand, len(types))
	for i, k := range types {
		idx.types[k] = cands[i]
	}
	return ci, nil
}

// int32s reads a list of indexes into a table of n entries.
func (r *cacheReader) int32s(n int, what string) []int32 {
	h := make([]int32, r.count(4))
	for i := range h {
		h[i] = r.index32(r.i32(), n, false, what)
	}
	return h
}

// slots reads a nameMap's hash table (nameMap.hashSlots) of entries into a
// table of n: a power-of-two length, each slot -1 or an entry.
func (r *cacheReader) slots(n int, what string) []int32 {
	h := make([]int32, r.count(4))
	if len(h)&(len(h)-1) != 0 {
		r.fail(what + " name table's size is not a power of two")
		return nil
	}
	for i := range h {
		h[i] = r.index32(r.i32(), n, true, what)
	}
	return h
}

func (w *cacheWriter) int32s(v []int32) {
	w.count(len(v))
	for _, i := range v {
		w.i32(i)
	}
}

// checkChains rejects definition chains that loop or share entries: in a
// good index every definition is on at most one chain, so all chains
// together are at most len(defs) steps long.
func (r *cacheReader) checkChains(defs []def, lists ...[]int32) {
	steps := 0
	for _, heads := range lists {
		for _, h := range heads {
			for i := h; i >= 0 && r.err == nil; i = defs[i].next {
				if steps++; steps > len(defs) {
					r.fail("definition chains loop")
				}
				if defs[i].next < -1 || int(defs[i].next) >= len(defs) {
					r.fail("definition chain runs out of range")
				}
			}
		}
	}
}

func decodeSymtab(r *cacheReader, st *symtab) {
	st.all = make([]rawSym, r.count(31))
	for i := range st.all {
		s := &st.all[i]
		s.name, s.addr, s.size, s.kind = r.str(), r.u64(), r.u64(), r.u8()
		s.shndx, s.rank, s.noRel = uint16(r.u32()), r.u8(), r.bool()
	}
	st.byName = nameMap{slots: r.slots(len(st.all), "symbol"), name: func(i int32) string { return st.all[i].name }}
	st.byAddr = r.int32s(len(st.all), "symbol")
	if r.err == nil && !slices.IsSortedFunc(st.byAddr, func(a, b int32) int {
		return cmp.Compare(st.all[a].addr, st.all[b].addr)
	}) {
		r.fail("symbols by address are not sorted")
	}
	st.maxEnd = r.u64()
}

// warningErrors turns the cached warning texts back into errors.
func (ci *cachedIndex) warningErrors() []error {
	var errs []error
	for _, w := range ci.warnings {
		errs = append(errs, errors.New(w))
	}
	return errs
}
