package kstructs

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kinspect/kinspect/dwarfx"
)

// Loaded kernel modules: the `modules` list of struct module
// (kernel/module/main.c), their memory regions and their own symbol
// tables. The layout is decided from DWARF: Linux 6.4 replaced
// core_layout/init_layout (struct module_layout) by mem[] (struct
// module_memory, one per enum mod_mem_type); Linux 4.5 moved symtab,
// num_symtab and strtab into struct mod_kallsyms (mod->kallsyms).

// Module is one loaded module.
type Module struct {
	Addr  uint64 `json:"addr"` // the struct module
	Name  string `json:"name"`
	State int    `json:"state"` // enum module_state: 0 live, 1 coming, 2 going, 3 unformed
	// Base is the core text base, Size the module's total size: what
	// /proc/modules prints (kernel/module/procfs.c m_show).
	Base    uint64            `json:"base"`
	Size    uint64            `json:"size"`
	Regions []dwarfx.SymRange `json:"regions"`
	NumSyms int               `json:"num_symbols"`

	symtab, strtab, typetab uint64
}

// modLayout is struct module as this kernel lays it out.
type modLayout struct {
	size                      int64
	list, name, state         dwarfx.Field
	mem                       *modMemLayout    // 6.4+
	core, init                *modLayoutLayout // before 6.4
	kallsyms                  dwarfx.Field     // pointer to struct mod_kallsyms, or unset
	symtab, numSymtab, strtab dwarfx.Field     // in mod_kallsyms (or struct module before 4.5)
	typetab                   dwarfx.Field
	ksSize                    int64
	sym                       *dwarf.StructType // Elf_Sym
	stName, stValue, stSize   dwarfx.Field
	stInfo                    dwarfx.Field
}

// modMemLayout: mem[MOD_MEM_NUM_TYPES] of struct module_memory.
type modMemLayout struct {
	off, stride   int64
	n             int
	base, size    dwarfx.Field
	text, initTxt int64 // MOD_TEXT and MOD_INIT_TEXT
}

// modLayoutLayout: struct module_layout (core_layout, init_layout).
type modLayoutLayout struct {
	off                  int64
	base, size, textSize dwarfx.Field
}

func (k *Kernel) moduleLayout() (*modLayout, error) {
	im := k.Image
	t, err := k.lookupType("struct module")
	if err != nil {
		return nil, err
	}
	st, err := pkStruct(im, t, false)
	if err != nil {
		return nil, err
	}
	l := &modLayout{size: st.Size()}
	for _, m := range []struct {
		p   string
		dst *dwarfx.Field
	}{{"list", &l.list}, {"name", &l.name}, {"state", &l.state}} {
		if *m.dst, err = pkMember(im, st, m.p); err != nil {
			return nil, err
		}
	}
	if err := l.regions(k, st); err != nil {
		return nil, err
	}
	if err := l.symbols(k, st); err != nil {
		return nil, err
	}
	return l, nil
}

// regions resolves mem[] (6.4+) or core_layout/init_layout.
func (l *modLayout) regions(k *Kernel, st *dwarf.StructType) error {
	im := k.Image
	if f, err := pkMember(im, st, "mem"); err == nil {
		at, ok := dwarfx.Strip(f.Type).(*dwarf.ArrayType)
		if !ok || at.Count <= 0 {
			return fmt.Errorf("struct module member mem is not an array (%s)", dwarfx.TypeString(f.Type))
		}
		mm := &modMemLayout{off: f.ByteOffset, n: int(at.Count), stride: at.Type.Size(), text: 0, initTxt: -1}
		if mm.base, err = pkMember(im, at.Type, "base"); err != nil {
			return err
		}
		if mm.size, err = pkMember(im, at.Type, "size"); err != nil {
			return err
		}
		if v, _, ok := im.EnumConstant("MOD_TEXT"); ok {
			mm.text = v
		}
		if v, _, ok := im.EnumConstant("MOD_INIT_TEXT"); ok {
			mm.initTxt = v
		}
		l.mem = mm
		return nil
	}
	lay := func(name string) (*modLayoutLayout, error) {
		f, err := pkMember(im, st, name)
		if err != nil {
			return nil, fmt.Errorf("struct module has neither mem[] nor %s: %w", name, err)
		}
		ll := &modLayoutLayout{off: f.ByteOffset}
		if ll.base, err = pkMember(im, f.Type, "base"); err != nil {
			return nil, err
		}
		if ll.size, err = pkMember(im, f.Type, "size"); err != nil {
			return nil, err
		}
		if ll.textSize, err = pkMember(im, f.Type, "text_size"); err != nil {
			return nil, err
		}
		return ll, nil
	}
	var err error
	if l.core, err = lay("core_layout"); err != nil {
		return err
	}
	l.init, err = lay("init_layout")
	return err
}

// symbols resolves where a module's kallsyms table lies and Elf_Sym.
func (l *modLayout) symbols(k *Kernel, st *dwarf.StructType) error {
	im := k.Image
	var ks dwarf.Type = st
	if f, err := pkMember(im, st, "kallsyms"); err == nil {
		l.kallsyms = f
		kst, err := pkStruct(im, f.Type, true)
		if err != nil {
			return fmt.Errorf("struct module member kallsyms: %w", err)
		}
		ks, l.ksSize = kst, kst.Size()
	}
	var err error
	if l.symtab, err = pkMember(im, ks, "symtab"); err != nil {
		return fmt.Errorf("no module symbol table in DWARF (CONFIG_KALLSYMS off?): %w", err)
	}
	if l.numSymtab, err = pkMember(im, ks, "num_symtab"); err != nil {
		return err
	}
	if l.strtab, err = pkMember(im, ks, "strtab"); err != nil {
		return err
	}
	l.typetab = pkOptMember(im, ks, "typetab")
	if l.sym, err = pkStruct(im, l.symtab.Type, true); err != nil {
		return fmt.Errorf("the module symtab's type: %w", err)
	}
	for _, m := range []struct {
		p   string
		dst *dwarfx.Field
	}{{"st_name", &l.stName}, {"st_value", &l.stValue}, {"st_size", &l.stSize}, {"st_info", &l.stInfo}} {
		if *m.dst, err = pkMember(im, l.sym, m.p); err != nil {
			return err
		}
	}
	return nil
}

// maxModules bounds the modules list walk.
const maxModules = 1 << 14

// Modules returns the loaded modules in list order (the most recently
// loaded first, as /proc/modules).
func (k *Kernel) Modules() ([]Module, error) {
	l, err := k.moduleLayout()
	if err != nil {
		return nil, err
	}
	head, err := k.Image.Variable("modules")
	if err != nil {
		return nil, err
	}
	nodes, werr := WalkList(k, head.Addr, ListOptions{Head: true, Limit: maxModules})
	var out []Module
	for _, n := range nodes {
		m, err := k.readModule(l, n-uint64(l.list.ByteOffset))
		if err != nil {
			return out, fmt.Errorf("the modules list at %#x: %w", head.Addr, err)
		}
		out = append(out, m)
	}
	if werr != nil {
		return out, fmt.Errorf("the modules list at %#x: %w", head.Addr, werr)
	}
	return out, nil
}

// readModule reads one struct module at addr.
func (k *Kernel) readModule(l *modLayout, addr uint64) (Module, error) {
	b := make([]byte, l.size)
	if err := k.ReadVirt(b, addr); err != nil {
		return Module{}, fmt.Errorf("reading struct module at %#x: %w", addr, err)
	}
	bo := k.Image.ByteOrder()
	get := func(f dwarfx.Field, b []byte) uint64 { v, _ := f.Extract(b, bo); return v }
	m := Module{Addr: addr, Name: fieldCString(l.name, b), State: int(get(l.state, b))}
	if l.mem != nil {
		mm := l.mem
		for i := 0; i < mm.n; i++ {
			e := b[mm.off+int64(i)*mm.stride:]
			base, size := get(mm.base, e), get(mm.size, e)
			m.Size += size
			if int64(i) == mm.text {
				m.Base = base
			}
			if size > 0 {
				text := int64(i) == mm.text || int64(i) == mm.initTxt
				m.Regions = append(m.Regions, dwarfx.SymRange{Lo: base, Hi: base + size, Module: m.Name, Text: text})
			}
		}
	} else {
		for i, ll := range []*modLayoutLayout{l.core, l.init} {
			e := b[ll.off:]
			base, size, text := get(ll.base, e), get(ll.size, e), get(ll.textSize, e)
			if i == 0 {
				m.Base = base
			}
			m.Size += size
			if size > 0 {
				m.Regions = append(m.Regions, dwarfx.SymRange{Lo: base, Hi: base + text, Module: m.Name, Text: true},
					dwarfx.SymRange{Lo: base + text, Hi: base + size, Module: m.Name})
			}
		}
	}
	ks := b
	if l.kallsyms.Found() {
		p := get(l.kallsyms, b)
		if p == 0 {
			return m, nil
		}
		ks = make([]byte, l.ksSize)
		if err := k.ReadVirt(ks, p); err != nil {
			return m, fmt.Errorf("module %s: reading its struct mod_kallsyms at %#x: %w", m.Name, p, err)
		}
	}
	m.symtab, m.strtab = get(l.symtab, ks), get(l.strtab, ks)
	m.NumSyms = int(get(l.numSymtab, ks))
	if l.typetab.Found() {
		m.typetab = get(l.typetab, ks)
	}
	return m, nil
}

// maxModuleSyms bounds one module's symbol table (the largest modules have
// tens of thousands).
const maxModuleSyms = 1 << 20

// ModuleSymbols reads module m's own symbol table, as /proc/kallsyms lists
// it (kernel/module/kallsyms.c module_get_kallsym): value, name and type
// letter (typetab, or from st_info where the kernel has none).
func (k *Kernel) ModuleSymbols(m Module) ([]dwarfx.Symbol, error) {
	l, err := k.moduleLayout()
	if err != nil {
		return nil, err
	}
	if m.NumSyms < 0 || m.NumSyms > maxModuleSyms {
		return nil, fmt.Errorf("module %s (struct module at %#x): %d symbols is not a plausible symbol table", m.Name, m.Addr, m.NumSyms)
	}
	if m.NumSyms == 0 || m.symtab == 0 {
		return nil, nil
	}
	es := l.sym.Size()
	raw := make([]byte, int64(m.NumSyms)*es)
	if err := k.ReadVirt(raw, m.symtab); err != nil {
		return nil, fmt.Errorf("module %s: reading its %d symbols at %#x: %w", m.Name, m.NumSyms, m.symtab, err)
	}
	var types []byte
	if m.typetab != 0 {
		types = make([]byte, m.NumSyms)
		if err := k.ReadVirt(types, m.typetab); err != nil {
			return nil, fmt.Errorf("module %s: reading its symbol types at %#x: %w", m.Name, m.typetab, err)
		}
	}
	bo := k.Image.ByteOrder()
	strs := newStrCache(k, m.strtab)
	var out []dwarfx.Symbol
	for i := 1; i < m.NumSyms; i++ {
		e := raw[int64(i)*es : int64(i+1)*es]
		nameOff, _ := l.stName.Extract(e, bo)
		value, _ := l.stValue.Extract(e, bo)
		size, _ := l.stSize.Extract(e, bo)
		info, _ := l.stInfo.Extract(e, bo)
		name, err := strs.at(nameOff)
		if err != nil {
			return out, fmt.Errorf("module %s: symbol %d's name at %#x+%#x: %w", m.Name, i, m.strtab, nameOff, err)
		}
		if name == "" || isMappingSym(name) {
			continue
		}
		kind := byte('?')
		if types != nil {
			kind = types[i]
		} else if elf.ST_TYPE(uint8(info)) == elf.STT_FUNC {
			kind = 't'
		}
		out = append(out, dwarfx.Symbol{Name: name, Addr: value, Size: size, Kind: kind, Module: m.Name})
	}
	return out, nil
}

// isMappingSym: arm's and arm64's $a/$t/$d/$x mapping symbols, which
// kallsyms lookups skip (kernel/module/kallsyms.c is_mapping_symbol).
func isMappingSym(name string) bool {
	return len(name) >= 2 && name[0] == '$' && (len(name) == 2 || name[2] == '.')
}

// strCache reads a string table page by page, each page once.
type strCache struct {
	k     *Kernel
	base  uint64
	pages map[uint64][]byte
}

func newStrCache(k *Kernel, base uint64) *strCache {
	return &strCache{k: k, base: base, pages: map[uint64][]byte{}}
}

// at returns the NUL-terminated string at base+off (at most 512 bytes:
// KSYM_NAME_LEN).
func (c *strCache) at(off uint64) (string, error) {
	var out []byte
	for a := c.base + off; len(out) < 512; {
		pg := a &^ 4095
		p, ok := c.pages[pg]
		if !ok {
			p = make([]byte, 4096)
			if err := c.k.ReadVirt(p, pg); err != nil {
				return "", err
			}
			c.pages[pg] = p
		}
		for _, ch := range p[a-pg:] {
			if ch == 0 {
				return string(out), nil
			}
			out = append(out, ch)
		}
		a = pg + 4096
	}
	return string(out), nil
}

// modState caches the module list and its symbols, read once, on first
// need (kernel.go's join installs moduleSymbols as the Image's loader).
type modState struct {
	once sync.Once
	mods []Module
	err  error
	syms *dwarfx.ExtraSymbols
	// installed: this is the Image's loader (join), not a WithMemory
	// view's own reading.
	installed bool
	done      atomic.Bool // the fields above are set
	reported  atomic.Bool // err given by ModuleSymbolsWarning
}

// loadModules reads every module's symbol table, once. A lookup made
// while it runs answers from the vmlinux alone (dwarfx.Image.extras): the
// walk cannot need a module's symbol.
func (k *Kernel) loadModules() *modState {
	k.mods.once.Do(func() {
		mods, err := k.Modules()
		var syms []dwarfx.Symbol
		var ranges []dwarfx.SymRange
		for _, m := range mods {
			ranges = append(ranges, m.Regions...)
			s, serr := k.ModuleSymbols(m)
			syms = append(syms, s...)
			if serr != nil && err == nil {
				err = serr
			}
		}
		k.mods.mods, k.mods.err = mods, err
		k.mods.syms = dwarfx.NewExtraSymbols(syms, ranges)
		k.mods.done.Store(true)
	})
	return &k.mods
}

// moduleSymbols is the Image's loader of module symbols (join).
func (k *Kernel) moduleSymbols() *dwarfx.ExtraSymbols { return k.loadModules().syms }

// LoadModuleSymbols reads every module's symbol table and installs them in
// the Image, so every address lookup names module addresses. It returns
// the modules; an error names what could not be read (modules read before
// it keep their symbols).
func (k *Kernel) LoadModuleSymbols() ([]Module, error) {
	// Through the Image's loader first: when it is k's, it holds the
	// Image's loading lock around k.mods.once, and a lookup missing
	// inside the walk must find that lock taken, not start the loader
	// (which would wait on the once it runs in).
	k.Image.ExtraSymbols()
	st := k.loadModules()
	if !st.installed {
		k.Image.SetExtraSymbols(st.syms) // a WithMemory view's own reading
	}
	return append([]Module(nil), st.mods...), st.err // callers may sort it
}

// ModuleSymbolsError is the error met reading the module list and symbols,
// nil if none or if they have not been read yet.
func (k *Kernel) ModuleSymbolsError() error {
	if !k.mods.done.Load() {
		return nil
	}
	return k.mods.err
}

// ModuleSymbolsWarning returns the error met reading the module list and
// symbols, once, and only after they were read (by a lookup that needed
// them, or LoadModuleSymbols): the REPL gives it after the command that
// met it, as the open gave it before module symbols were read lazily.
func (k *Kernel) ModuleSymbolsWarning() error {
	err := k.ModuleSymbolsError()
	if err == nil || k.mods.reported.Swap(true) {
		return nil
	}
	return err
}
