package dwarfx

// Merge: joining the per-goroutine scanners' tables into one index.

import (
	"cmp"
	"slices"
	"sort"
	"sync"
)

// merge combines the workers' results into idx: the type index
// (concurrently), the definitions with their pc ranges, then the
// definitions chained by name.
func merge(idx *index, ws []*scanner, im *Image) {
	n := 0
	for _, w := range ws {
		n += w.m.n
		idx.dies += w.dies
		idx.warnings = append(idx.warnings, w.errs...)
	}
	// Types, declarations and enumerators, concurrently with definitions.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		idx.types = mergeTypes(ws, n, im)
	}()
	defer wg.Wait()
	mergeDefs(idx, ws, im)
	chainDefs(idx)
}

// mergeTypes joins the workers' name tables: for each name and kind the
// best candidate (a definition beats a declaration).
func mergeTypes(ws []*scanner, n int, im *Image) map[typeKey]cand {
	str, info := im.sects[".debug_str"], im.sects[".debug_info"]
	types := make(map[typeKey]cand, n/len(ws)+1024)
	for _, w := range ws {
		for _, e := range w.m.e {
			if e.k == 0 {
				continue
			}
			k, c := e.k-1, w.cands[e.v]
			tk := typeKey{kind: uint8(k >> 60 & 7), name: keyString(k&^(7<<60), str, info)}
			if old, ok := types[tk]; !ok || c.better(old) {
				types[tk] = c
			}
		}
		if !w.keep {
			w.m, w.cands = keyTable{}, nil
		}
	}
	return types
}

// mergeDefs appends the workers' function and variable definitions to
// idx.defs, their ranges to idx.ranges, and sorts the pc index.
func mergeDefs(idx *index, ws []*scanner, im *Image) {
	str, info := im.sects[".debug_str"], im.sects[".debug_info"]
	nd, np := 0, 0
	for _, w := range ws {
		nd += len(w.defs)
		np += len(w.pcs)
	}
	idx.defs = make([]def, 0, nd)
	pcs := make([]pcRange, 0, np)
	for _, w := range ws {
		base := int32(len(idx.defs))
		for i := range w.defs {
			wd := &w.defs[i]
			name := ""
			if wd.key != nkNone {
				name = keyString(wd.key, str, info)
			} else if wd.ref != 0 {
				name = im.refNameSlow(wd.ref)
			}
			d := def{name: name, off: wd.off, lo: wd.lo, hi: wd.hi, ext: wd.ext, isFn: wd.isFn, next: -1, rng: -1}
			if wd.rng >= 0 {
				d.rng = int32(len(idx.ranges))
				idx.ranges = append(idx.ranges, w.rngs[wd.rng])
			}
			idx.defs = append(idx.defs, d)
		}
		for _, p := range w.pcs {
			pcs = append(pcs, pcRange{lo: p.lo, hi: p.hi, def: base + p.def})
		}
		if !w.keep {
			w.defs, w.pcs = nil, nil
		}
	}
	// Ties (aliases sharing their code, e.g. ARM's __aeabi_llsl and
	// __ashldi3) go by DIE offset: which worker met which unit first must not
	// decide FunctionAt's answer.
	defs := idx.defs
	slices.SortFunc(pcs, func(a, b pcRange) int {
		if a.lo != b.lo {
			return cmp.Compare(a.lo, b.lo)
		}
		if a.hi != b.hi {
			return cmp.Compare(b.hi, a.hi)
		}
		return cmp.Compare(defs[a.def].off, defs[b.def].off)
	})
	idx.pcs = pcs
}

// chainDefs chains definitions sharing a name, then puts each chain in a
// deterministic order: external ones first, then by DIE offset.
func chainDefs(idx *index) {
	defs := idx.defs
	nv, nf := 0, 0
	for i := range defs {
		if defs[i].isFn {
			nf++
		} else {
			nv++
		}
	}
	defName := func(i int32) string { return defs[i].name }
	vars, funcs := newNameMap(nv, defName), newNameMap(nf, defName)
	idx.vars, idx.funcs = vars, funcs
	table := func(d *def) nameMap {
		if d.isFn {
			return funcs
		}
		return vars
	}
	var dups []int32 // heads of chains with more than one definition
	for i := range defs {
		d := &defs[i]
		if d.name == "" {
			continue
		}
		p := table(d).slot(d.name)
		if head := *p; head >= 0 {
			d.next = head
			if defs[head].next < 0 {
				dups = append(dups, int32(i))
			}
		}
		*p = int32(i)
	}
	var chain []int32
	for _, h := range dups {
		p := table(&defs[h]).slot(defs[h].name) // the chain may have grown past h
		chain = chain[:0]
		for i := *p; i >= 0; i = defs[i].next {
			chain = append(chain, i)
		}
		slices.SortFunc(chain, func(a, b int32) int {
			if defs[a].ext != defs[b].ext {
				if defs[a].ext {
					return -1
				}
				return 1
			}
			return cmp.Compare(defs[a].off, defs[b].off)
		})
		for j, i := range chain {
			if j+1 < len(chain) {
				defs[i].next = chain[j+1]
			} else {
				defs[i].next = -1
			}
		}
		*p = chain[0]
	}
}

// refNameSlow resolves the name of the DIE at section offset off anywhere in
// .debug_info (cross-unit references; rare).
func (im *Image) refNameSlow(off uint64) string {
	info := im.sects[".debug_info"]
	units := im.units
	i := sort.Search(len(units), func(i int) bool { return units[i].end > off })
	if i >= len(units) || off < units[i].dieOff {
		return ""
	}
	s := &scanner{order: im.order, info: info, abbrev: im.sects[".debug_abbrev"], str: im.sects[".debug_str"],
		strOff: im.sects[".debug_str_offsets"], addr: im.sects[".debug_addr"]}
	u := &units[i]
	s.u = u
	s.offsize = 4
	if u.is64 {
		s.offsize = 8
	}
	if u.vers >= 5 {
		s.strBase, s.haveStrBase = uint64(2*s.offsize), true
	}
	tab, err := s.parseAbbrevs(u)
	if err != nil {
		return ""
	}
	s.tab = tab
	var k nameKey
	var ok bool
	func() {
		defer func() { recover() }()
		k, _, ok = s.refName(off, 0)
	}()
	if !ok {
		return ""
	}
	return keyString(k, s.str, info)
}
