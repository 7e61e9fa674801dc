package dwarfx

import (
	"debug/dwarf"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Symbols of code loaded after boot (kernel modules): the Image holds them
// beside the vmlinux's, so that every lookup by address or name (sym, bt,
// dis, rd -s, kmem, the unwinders' text checks) names module addresses as
// crash does ("func+off [module]") through the one seam of SymbolAt,
// Lookup and InText. kstructs reads them from the dump (each module's own
// kallsyms: kernel/module/kallsyms.c) and installs them with
// SetExtraSymbols, or, since reading them costs a cold open the DWARF
// lookups of the modules list (most commands never name a module address),
// installs a loader with SetExtraSymbolsLoader that runs on first need: a
// name the vmlinux lacks, an address outside the kernel image, or
// ExtraSymbols. dwarfx knows nothing of where they came from.

// SymRange is one loaded region of a module: [Lo, Hi).
type SymRange struct {
	Lo     uint64 `json:"lo"`
	Hi     uint64 `json:"hi"`
	Module string `json:"module"`
	Text   bool   `json:"text"` // executable (module text)
}

// ExtraSymbols is an immutable set of symbols outside the vmlinux, by
// run-time address, with the regions they live in.
type ExtraSymbols struct {
	byAddr []Symbol // sorted by address, best first among equal addresses
	byName map[string]int
	ranges []SymRange // sorted by Lo
}

// NewExtraSymbols indexes syms (their Module set) and the regions ranges.
// Symbols outside every region are dropped: they are not loaded (a
// module's init symbols after init, or a corrupt table).
func NewExtraSymbols(syms []Symbol, ranges []SymRange) *ExtraSymbols {
	x := &ExtraSymbols{byName: map[string]int{}, ranges: append([]SymRange(nil), ranges...)}
	sort.Slice(x.ranges, func(i, j int) bool { return x.ranges[i].Lo < x.ranges[j].Lo })
	for _, s := range syms {
		if _, ok := x.rangeOf(s.Addr); ok && s.Name != "" {
			x.byAddr = append(x.byAddr, s)
		}
	}
	sort.SliceStable(x.byAddr, func(i, j int) bool {
		a, b := x.byAddr[i], x.byAddr[j]
		if a.Addr != b.Addr {
			return a.Addr < b.Addr
		}
		// Functions and sized symbols first, then globals.
		if a.IsText() != b.IsText() {
			return a.IsText()
		}
		return a.Size > b.Size
	})
	for i, s := range x.byAddr {
		if j, ok := x.byName[s.Name]; !ok || !x.byAddr[j].Global() && s.Global() {
			x.byName[s.Name] = i
		}
	}
	return x
}

// Symbols returns every symbol, by address.
func (x *ExtraSymbols) Symbols() []Symbol { return append([]Symbol(nil), x.byAddr...) }

func (x *ExtraSymbols) rangeOf(addr uint64) (SymRange, bool) {
	i := sort.Search(len(x.ranges), func(i int) bool { return x.ranges[i].Lo > addr }) - 1
	if i >= 0 && addr < x.ranges[i].Hi {
		return x.ranges[i], true
	}
	return SymRange{}, false
}

// at is SymbolAt within the regions: the last symbol at or before addr in
// the same region.
func (x *ExtraSymbols) at(addr uint64) (Symbol, uint64, bool) {
	r, ok := x.rangeOf(addr)
	if !ok {
		return Symbol{}, 0, false
	}
	i := sort.Search(len(x.byAddr), func(i int) bool { return x.byAddr[i].Addr > addr }) - 1
	for i >= 0 && i > 0 && x.byAddr[i-1].Addr == x.byAddr[i].Addr {
		i-- // the best of equal addresses sorts first
	}
	if i < 0 || x.byAddr[i].Addr < r.Lo {
		return Symbol{}, 0, false
	}
	s := x.byAddr[i]
	return s, addr - s.Addr, true
}

// extraSyms holds the module symbols, or the loader that reads them.
type extraSyms struct {
	st atomic.Pointer[extraState]
	// loading is held by the one goroutine running the loader.
	loading sync.Mutex
}

// extraState is immutable: replaced whole, so that a lookup sees the
// loader or its result, never a half-installed set.
type extraState struct {
	load func() *ExtraSymbols // nil once run
	x    *ExtraSymbols
}

// SetExtraSymbols installs (or with nil removes) the module symbols,
// replacing any loader not yet run.
func (im *Image) SetExtraSymbols(x *ExtraSymbols) { im.extra.st.Store(&extraState{x: x}) }

// SetExtraSymbolsLoader installs load, run once when a lookup first needs
// the module symbols; its result is what SetExtraSymbols would install.
// Lookups load makes itself (it reads memory and names kernel symbols)
// answer from the vmlinux alone, as do lookups of other goroutines while
// it runs: a lookup never waits for the loader, so the loader cannot wait
// for itself.
func (im *Image) SetExtraSymbolsLoader(load func() *ExtraSymbols) {
	im.extra.st.Store(&extraState{load: load})
}

// ExtraSymbols returns the module symbols (nil if none), loading them if
// a loader is installed.
func (im *Image) ExtraSymbols() *ExtraSymbols { return im.extras() }

// extras returns the module symbols, running the loader on first call.
func (im *Image) extras() *ExtraSymbols {
	e := &im.extra
	st := e.st.Load()
	if st == nil || st.load == nil {
		return stateSyms(st)
	}
	if !e.loading.TryLock() {
		return nil // being loaded, maybe by this very goroutine
	}
	defer e.loading.Unlock()
	if st = e.st.Load(); st == nil || st.load == nil {
		return stateSyms(st) // loaded while we took the lock
	}
	e.st.CompareAndSwap(st, &extraState{x: st.load()}) // unless replaced meanwhile
	return stateSyms(e.st.Load())
}

func stateSyms(st *extraState) *ExtraSymbols {
	if st == nil {
		return nil
	}
	return st.x
}

// extraAt names an address outside the kernel image from the module
// symbols.
func (im *Image) extraAt(addr uint64) (Symbol, uint64, bool) {
	if im.InKernelImage(addr) {
		return Symbol{}, 0, false
	}
	x := im.extras()
	if x == nil {
		return Symbol{}, 0, false
	}
	return x.at(addr)
}

// extraLookup finds a module symbol by name: "name" or "module:name"
// (crash's and gdb's spelling for a module's static symbol).
func (im *Image) extraLookup(name string) (Symbol, bool) {
	x := im.extras()
	if x == nil {
		return Symbol{}, false
	}
	if mod, n, ok := strings.Cut(name, ":"); ok {
		for _, s := range x.byAddr {
			if s.Module == mod && s.Name == n {
				return s, true
			}
		}
		return Symbol{}, false
	}
	i, ok := x.byName[name]
	if !ok {
		return Symbol{}, false
	}
	return x.byAddr[i], true
}

// extraRange is the module region holding addr, an address outside the
// kernel image.
func (im *Image) extraRange(addr uint64) (SymRange, bool) {
	if im.InKernelImage(addr) {
		return SymRange{}, false
	}
	x := im.extras()
	if x == nil {
		return SymRange{}, false
	}
	return x.rangeOf(addr)
}

// ModuleOf names the module whose loaded region holds addr ("" if none).
func (im *Image) ModuleOf(addr uint64) string {
	r, _ := im.extraRange(addr)
	return r.Module
}

// InLoadedCode reports whether addr lies in the kernel image or in a loaded
// module: where commands name an address by its symbol (crash's rd -s, dis).
func (im *Image) InLoadedCode(addr uint64) bool {
	return im.InKernelImage(addr) || im.ModuleOf(addr) != ""
}

// TypeSource finds a type the vmlinux lacks (a module's, from its debug
// information): kw is "struct", "union", "enum" or "" (any, typedefs
// included).
type TypeSource func(kw, name string) (dwarf.Type, bool)

type typeSources struct {
	mu   sync.Mutex
	list []TypeSource
}

// AddTypeSource adds a source of types consulted after the vmlinux's.
func (im *Image) AddTypeSource(src TypeSource) {
	im.extraTypes.mu.Lock()
	defer im.extraTypes.mu.Unlock()
	im.extraTypes.list = append(im.extraTypes.list, src)
}

func (im *Image) extraType(kw, name string) (dwarf.Type, bool) {
	im.extraTypes.mu.Lock()
	list := im.extraTypes.list
	im.extraTypes.mu.Unlock()
	for _, src := range list {
		if t, ok := src(kw, name); ok {
			return t, true
		}
	}
	return nil, false
}
