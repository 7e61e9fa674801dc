package dwarfx

import (
	"sync"
	"sync/atomic"
	"testing"
)

// The module symbols' loader (SetExtraSymbolsLoader) on the mini image
// (testdata/mini.c; its symbols as nm lists them: get_counter at 0x401005,
// no _text, so every address lies outside the "kernel image"). The module
// below is made up: the loader's contract, not a kernel's module list, is
// what is tested; kstructs' tests check the real lists against the guest.
const (
	modLo, modHi = 0xffffffffc0000000, 0xffffffffc0001000
	modFunc      = modLo + 0x10
)

func testModuleSymbols() *ExtraSymbols {
	return NewExtraSymbols([]Symbol{{Name: "mod_func", Addr: modFunc, Size: 0x20, Kind: 't', Module: "m"}},
		[]SymRange{{Lo: modLo, Hi: modHi, Module: "m", Text: true}})
}

// TestExtraSymbolsLoaderLazy: a lookup the vmlinux answers runs no loader;
// the first that needs module symbols runs it, once.
func TestExtraSymbolsLoaderLazy(t *testing.T) {
	im := openMini(t, 5)
	var runs atomic.Int32
	im.SetExtraSymbolsLoader(func() *ExtraSymbols { runs.Add(1); return testModuleSymbols() })
	if s, ok := im.Lookup("get_counter"); !ok || s.Addr != 0x401005 {
		t.Fatalf("Lookup(get_counter) = %+v %v", s, ok)
	}
	if runs.Load() != 0 {
		t.Fatalf("a symbol of the vmlinux ran the module loader")
	}
	if s, ok := im.Lookup("mod_func"); !ok || s.Addr != modFunc || s.Module != "m" {
		t.Errorf("Lookup(mod_func) = %+v %v", s, ok)
	}
	if s, off, ok := im.SymbolAt(modFunc + 4); !ok || s.Name != "mod_func" || off != 4 {
		t.Errorf("SymbolAt(mod_func+4) = %+v %#x %v", s, off, ok)
	}
	if !im.InText(modFunc) || im.ModuleOf(modFunc) != "m" || im.ExtraSymbols() == nil {
		t.Errorf("InText %v, ModuleOf %q of a module function", im.InText(modFunc), im.ModuleOf(modFunc))
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("loader ran %d times, want 1", n)
	}
	// SetExtraSymbols replaces it (nil removes the module symbols).
	im.SetExtraSymbols(nil)
	if _, ok := im.Lookup("mod_func"); ok || runs.Load() != 1 {
		t.Errorf("after SetExtraSymbols(nil): mod_func still found, or the loader ran again")
	}
}

// TestExtraSymbolsLoaderReentrant: the loader's own lookups (kstructs walks
// the modules list, reading memory and naming kernel symbols) that need
// module symbols answer from the vmlinux alone instead of waiting for the
// loader they run in.
func TestExtraSymbolsLoaderReentrant(t *testing.T) {
	im := openMini(t, 5)
	var runs atomic.Int32
	im.SetExtraSymbolsLoader(func() *ExtraSymbols {
		runs.Add(1)
		if _, ok := im.Lookup("no_such_symbol"); ok {
			t.Errorf("a missing name found inside the loader")
		}
		if _, _, ok := im.SymbolAt(modFunc); ok || im.InText(modFunc) || im.ExtraSymbols() != nil {
			t.Errorf("module symbols answered before the loader returned")
		}
		if s, ok := im.Lookup("get_counter"); !ok || s.Addr != 0x401005 {
			t.Errorf("Lookup(get_counter) inside the loader = %+v %v", s, ok)
		}
		return testModuleSymbols()
	})
	if _, ok := im.Lookup("mod_func"); !ok {
		t.Errorf("mod_func not found after the loader ran")
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("loader ran %d times, want 1", n)
	}
}

// TestExtraSymbolsLoaderConcurrent: lookups from several goroutines (ps
// decodes tasks on every CPU) run the loader once, without a data race
// (go test -race), and every lookup after it returned sees its symbols.
func TestExtraSymbolsLoaderConcurrent(t *testing.T) {
	im := openMini(t, 5)
	var runs atomic.Int32
	im.SetExtraSymbolsLoader(func() *ExtraSymbols { runs.Add(1); return testModuleSymbols() })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				im.Lookup("mod_func")
				im.SymbolAt(modFunc)
				im.InText(modFunc)
				im.SearchSymbols("mod_")
			}
		}()
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("loader ran %d times, want 1", n)
	}
	if got := im.SearchSymbols("mod_"); len(got) != 1 || got[0].Name != "mod_func" {
		t.Errorf("SearchSymbols(mod_) = %+v", got)
	}
}
