package kstructs

import (
	"fmt"
	"sort"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// Module ORC tables: each module carries its own, sorted at load time and
// kept in struct module's arch member (struct mod_arch_specific: num_orcs,
// orc_unwind_ip, orc_unwind; arch/x86/kernel/unwind_orc.c orc_module_find).
// The ip entries are pc-relative int32 like the vmlinux's.

// modORCTable is one module's table, read from the dump.
type modORCTable struct {
	ipBase  uint64
	ips     []byte
	entries []byte
	n       int
	err     error
}

// modORC caches the modules' tables by module name.
type modORC struct {
	mu     sync.Mutex
	tables map[string]*modORCTable
}

// findModule is find for a pc in a module's text: inModule is false when
// pc lies in no module (the vmlinux's table applies).
func (x *x86Unwinder) findModule(pc uint64) (e orcEntry, ok, inModule bool) {
	if x.u.k.Image == nil { // the decoders' byte-table tests have no image
		return orcEntry{}, false, false
	}
	name := x.u.k.Image.ModuleOf(pc)
	if name == "" {
		return orcEntry{}, false, false
	}
	t := x.moduleTable(name)
	if t.err != nil || t.n == 0 {
		return orcEntry{}, false, true
	}
	ip := func(i int) uint64 {
		rel := int32(x.u.bo.Uint32(t.ips[i*4:]))
		return t.ipBase + uint64(i*4) + uint64(int64(rel))
	}
	i := sort.Search(t.n, func(i int) bool { return ip(i) > pc }) - 1
	if i < 0 {
		return orcEntry{}, false, true
	}
	return x.decode(t.entries[i*x.entSize : (i+1)*x.entSize]), true, true
}

// maxModuleORC bounds a module's table (one entry per few instructions).
const maxModuleORC = 1 << 22

func (x *x86Unwinder) moduleTable(name string) *modORCTable {
	x.mods.mu.Lock()
	defer x.mods.mu.Unlock()
	if t, ok := x.mods.tables[name]; ok {
		return t
	}
	if x.mods.tables == nil {
		x.mods.tables = map[string]*modORCTable{}
	}
	t := &modORCTable{}
	t.err = x.readModuleTable(name, t)
	x.mods.tables[name] = t
	return t
}

func (x *x86Unwinder) readModuleTable(name string, t *modORCTable) error {
	k := x.u.k
	mods, _ := k.LoadModuleSymbols()
	var addr uint64
	for _, m := range mods {
		if m.Name == name {
			addr = m.Addr
		}
	}
	if addr == 0 {
		return fmt.Errorf("module %s not in the modules list", name)
	}
	word := func(path string) (uint64, error) {
		off, f, err := k.memberOffset("struct module", path)
		if err != nil {
			return 0, err
		}
		b := make([]byte, f.ByteSize)
		if err := k.ReadVirt(b, addr+off); err != nil {
			return 0, fmt.Errorf("module %s: reading %s at %#x: %w", name, path, addr+off, err)
		}
		v, _ := dwarfx.Field{ByteSize: f.ByteSize}.Extract(b, x.u.bo)
		return v, nil
	}
	n, err := word("arch.num_orcs")
	if err != nil {
		return err
	}
	if n > maxModuleORC {
		return fmt.Errorf("module %s (struct module at %#x): %d ORC entries is not plausible", name, addr, n)
	}
	ipAddr, err := word("arch.orc_unwind_ip")
	if err != nil {
		return err
	}
	entAddr, err := word("arch.orc_unwind")
	if err != nil {
		return err
	}
	t.ips = make([]byte, n*4)
	t.entries = make([]byte, int(n)*x.entSize)
	if err := k.ReadVirt(t.ips, ipAddr); err != nil {
		return fmt.Errorf("module %s: reading orc_unwind_ip at %#x: %w", name, ipAddr, err)
	}
	if err := k.ReadVirt(t.entries, entAddr); err != nil {
		return fmt.Errorf("module %s: reading orc_unwind at %#x: %w", name, entAddr, err)
	}
	t.ipBase, t.n = ipAddr, int(n)
	return nil
}
