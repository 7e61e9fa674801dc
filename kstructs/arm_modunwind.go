package kstructs

import (
	"fmt"
	"sort"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// Module unwind tables on arm: each module's .ARM.exidx is registered at
// load time as a struct unwind_table on the kernel's unwind_tables list
// (arch/arm/kernel/unwind.c unwind_table_add: start/stop bound the index
// entries, begin_addr/end_addr the text they cover). The entries are
// prel31 words like the vmlinux's; their extab words are read from memory.

type armModTable struct {
	begin, end uint64 // the text covered
	base       uint64 // run-time address of the first index entry
	idx        []byte
	n          int
}

type armModTables struct {
	once   sync.Once
	tables []armModTable
	err    error
}

// findModule is find for a pc in module text: inModule is false when pc
// lies in no module.
func (a *armUnwinder) findModule(pc uint64) (fn uint64, insn uint32, at uint64, ok, inModule bool) {
	if a.u.k.Image == nil || a.u.k.Image.ModuleOf(pc) == "" {
		return 0, 0, 0, false, false
	}
	a.mods.once.Do(func() { a.mods.tables, a.mods.err = a.readModuleTables() })
	bo := a.u.bo
	for _, t := range a.mods.tables {
		if pc < t.begin || pc >= t.end {
			continue
		}
		fnAt := func(i int) uint64 { return prel31(bo.Uint32(t.idx[i*8:]), t.base+uint64(i*8)) }
		i := sort.Search(t.n, func(i int) bool { return fnAt(i) > pc }) - 1
		if i < 0 {
			return 0, 0, 0, false, true
		}
		return fnAt(i), bo.Uint32(t.idx[i*8+4:]), t.base + uint64(i*8) + 4, true, true
	}
	return 0, 0, 0, false, true
}

// maxModuleIdx bounds one module's index (8 bytes per function).
const maxModuleIdx = 1 << 20

// readModuleTables walks unwind_tables and keeps the tables that cover
// module text.
func (a *armUnwinder) readModuleTables() ([]armModTable, error) {
	k := a.u.k
	head, err := k.Image.Variable("unwind_tables")
	if err != nil {
		return nil, err
	}
	t, err := k.lookupType("struct unwind_table")
	if err != nil {
		return nil, err
	}
	fields := map[string]dwarfx.Field{}
	for _, m := range []string{"list", "start", "stop", "begin_addr", "end_addr"} {
		if fields[m], err = k.Image.Member(t, m); err != nil {
			return nil, err
		}
	}
	nodes, werr := WalkList(k, head.Addr, ListOptions{Head: true, Limit: maxModules})
	var out []armModTable
	b := make([]byte, t.Size())
	for _, n := range nodes {
		addr := n - uint64(fields["list"].ByteOffset)
		if err := k.ReadVirt(b, addr); err != nil {
			return out, fmt.Errorf("reading struct unwind_table at %#x: %w", addr, err)
		}
		get := func(m string) uint64 { v, _ := fields[m].Extract(b, a.u.bo); return v }
		mt := armModTable{begin: get("begin_addr"), end: get("end_addr"), base: get("start")}
		stop := get("stop")
		if k.Image.ModuleOf(mt.begin) == "" {
			continue // the vmlinux's own table
		}
		if stop < mt.base || (stop-mt.base)/8 > maxModuleIdx {
			return out, fmt.Errorf("struct unwind_table at %#x: index %#x-%#x is not plausible", addr, mt.base, stop)
		}
		mt.n = int((stop - mt.base) / 8)
		mt.idx = make([]byte, mt.n*8)
		if err := k.ReadVirt(mt.idx, mt.base); err != nil {
			return out, fmt.Errorf("reading the unwind index at %#x (struct unwind_table at %#x): %w", mt.base, addr, err)
		}
		out = append(out, mt)
	}
	return out, werr
}
