package kstructs_test

import (
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// TestIdentifyModuleAddresses: kmem ADDR names a loaded module's function
// as the guest's /proc/kallsyms does (name and module), from the module's
// own symbol table in the dump, for every text symbol the guest listed.
func TestIdentifyModuleAddresses(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		syms, err := f.GT.ModuleKallsyms()
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, s := range syms {
			if s.Type != 't' && s.Type != 'T' || s.Name[0] == '$' {
				continue // text only; arm's $a/$x mapping symbols name no function
			}
			a := k.IdentifyAddr(s.Addr)
			if a.SymOff != 0 || a.SymModule != s.Module {
				t.Errorf("%#x: kmem names %s+%d [%s]; /proc/kallsyms %s [%s]", s.Addr, a.Symbol, a.SymOff, a.SymModule, s.Name, s.Module)
				continue
			}
			if a.Symbol != s.Name {
				// Aliases: two names at one address; the dump's table must hold both.
				if other, ok := k.Image.Lookup(s.Module + ":" + s.Name); !ok || other.Addr != s.Addr {
					t.Errorf("%#x: kmem names %s, /proc/kallsyms %s", s.Addr, a.Symbol, s.Name)
				}
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("the guest listed no module text symbol")
		}
		t.Logf("%d module functions named as /proc/kallsyms", checked)
	})
}
