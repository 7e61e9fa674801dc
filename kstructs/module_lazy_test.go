package kstructs_test

// Module symbols are read on first need, not at open (kernel.go join,
// module.go loadModules): checked on freshly opened oops fixtures against
// the guest's /proc/kallsyms, whichever lookup needs them first, from
// several goroutines at once, and with a broken modules list.

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// openFresh opens f's ELF dump for this test alone (ktest's kernels are
// shared: another test may have read their module symbols already).
func openFresh(t *testing.T, f *fixture.Fixture) *kstructs.Kernel {
	t.Helper()
	k, err := kstructs.Open(f.Path("vmcore.elf"), f.Vmlinux(), kstructs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// testModuleFunc is a function of the test module as /proc/kallsyms lists it.
func testModuleFunc(t *testing.T, f *fixture.Fixture) fixture.GTKsym {
	t.Helper()
	syms, err := f.GT.ModuleKallsyms()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Module == "kinspect_test" && (s.Type == 't' || s.Type == 'T') && s.Name[0] != '$' {
			return s
		}
	}
	t.Fatal("the guest listed no function of kinspect_test in /proc/kallsyms")
	return fixture.GTKsym{}
}

func forEachOops(t *testing.T, fn func(t *testing.T, f *fixture.Fixture)) {
	for _, arch := range ktest.Arches {
		t.Run(arch, func(t *testing.T) { fn(t, fixture.RequireKind(t, arch, fixture.KindOops)) })
	}
}

// TestModuleSymbolsLazy: the open and lookups the vmlinux answers read no
// module; a module function's name, or its address, reads them then.
func TestModuleSymbolsLazy(t *testing.T) {
	forEachOops(t, func(t *testing.T, f *fixture.Fixture) {
		want := testModuleFunc(t, f)
		k := openFresh(t, f)
		if _, ok := k.Image.Lookup("init_task"); !ok {
			t.Fatal("no init_task")
		}
		if k.ModulesRead() {
			t.Fatal("module symbols read at open, or by a vmlinux lookup")
		}
		if s, ok := k.Image.Lookup(want.Name); !ok || s.Addr != want.Addr || s.Module != want.Module {
			t.Errorf("Lookup(%s) = %#x [%s] %v, /proc/kallsyms %#x [%s]", want.Name, s.Addr, s.Module, ok, want.Addr, want.Module)
		}
		if !k.ModulesRead() || k.ModuleSymbolsWarning() != nil {
			t.Errorf("module symbols read %v, warning %v", k.ModulesRead(), k.ModuleSymbolsWarning())
		}
		k = openFresh(t, f)
		if s, off, ok := k.Image.SymbolAt(want.Addr); !ok || off != 0 || s.Module != want.Module {
			t.Errorf("SymbolAt(%#x) = %s+%#x [%s] %v, /proc/kallsyms %s [%s]", want.Addr, s.Name, off, s.Module, ok, want.Name, want.Module)
		}
	})
}

// TestModuleSymbolsFirstNeedConcurrent: every kind of first need at once
// (names, addresses, text checks, LoadModuleSymbols, mod's list) reads the
// modules once, without deadlock or data race (go test -race); lookups
// made while the reading runs may answer from the vmlinux alone, so the
// answers are checked after.
func TestModuleSymbolsFirstNeedConcurrent(t *testing.T) {
	forEachOops(t, func(t *testing.T, f *fixture.Fixture) {
		want := testModuleFunc(t, f)
		k := openFresh(t, f)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch g % 4 {
				case 0:
					k.Image.Lookup(want.Name)
				case 1:
					k.Image.SymbolAt(want.Addr)
				case 2:
					k.Image.InText(want.Addr)
				case 3:
					if mods, err := k.LoadModuleSymbols(); err != nil || len(mods) == 0 {
						errs <- fmt.Errorf("LoadModuleSymbols: %d modules, %v", len(mods), err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if s, ok := k.Image.Lookup(want.Name); !ok || s.Addr != want.Addr {
			t.Errorf("Lookup(%s) = %#x %v, /proc/kallsyms %#x", want.Name, s.Addr, ok, want.Addr)
		}
		if !k.Image.InText(want.Addr) || k.Image.ModuleOf(want.Addr) != want.Module {
			t.Errorf("%#x: InText %v, ModuleOf %q, want text of %s", want.Addr, k.Image.InText(want.Addr), k.Image.ModuleOf(want.Addr), want.Module)
		}
	})
}

// TestModuleSymbolsBrokenList: a modules list whose head points nowhere
// gives an error naming the list, from LoadModuleSymbols and, once, from
// ModuleSymbolsWarning (the REPL's warning after the command that met it).
func TestModuleSymbolsBrokenList(t *testing.T) {
	forEachOops(t, func(t *testing.T, f *fixture.Fixture) {
		k := openFresh(t, f)
		head, ok := k.Image.Lookup("modules")
		if !ok {
			t.Fatal("no modules symbol")
		}
		m := newPatch(k)
		m.holes = append(m.holes, [2]uint64{0x1000, 0x2000})
		m.words[head.Addr] = 0x1000
		v := k.WithMemory(m)
		if v.ModuleSymbolsWarning() != nil {
			t.Error("a warning before the modules were read")
		}
		_, err := v.LoadModuleSymbols()
		wantErr(t, "modules list head pointing at a hole", err, fmt.Sprintf("%#x", head.Addr), "0x1000")
		if w := v.ModuleSymbolsWarning(); w == nil || w.Error() != err.Error() {
			t.Errorf("ModuleSymbolsWarning = %v, want %v", w, err)
		}
		if w := v.ModuleSymbolsWarning(); w != nil {
			t.Errorf("warned twice: %v", w)
		}
	})
}
