package kstructs_test

// The module list and module symbols against the guest's own view of them
// (testdata/guest-module/gt-module.sh): /proc/modules, the module lines
// of /proc/kallsyms and /sys/module/*/sections, on every module fixture.

import (
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// TestModulesMatchProcModules: mod's list equals the guest's /proc/modules
// on the module fixtures (loop, fuse, the test module, qemu_fw_cfg) and on
// the sysrq ones where the guest loaded modules (qemu_fw_cfg: Linux 6.12's
// module_memory, 6.1's and 5.10's core_layout).
func TestModulesMatchProcModules(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		modulesMatch(t, k, f, 3)
	})
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		if len(f.GT.Files["/proc/modules"]) == 0 {
			// arm's kernel has no qemu_fw_cfg module: nothing loaded.
			if ms, err := k.Modules(); err != nil || len(ms) != 0 {
				t.Errorf("the guest loaded no module; kinspect lists %d (%v)", len(ms), err)
			}
			return
		}
		modulesMatch(t, k, f, 1)
	})
}

func modulesMatch(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture, least int) {
	{
		want, err := f.GT.Modules()
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < least {
			t.Fatalf("the guest printed %d modules, want at least %d", len(want), least)
		}
		got, err := k.Modules()
		if err != nil {
			t.Fatal(err)
		}
		var gn, wn []string
		for _, m := range got {
			gn = append(gn, m.Name)
		}
		for _, m := range want {
			wn = append(wn, m.Name)
		}
		// Same list order: /proc/modules walks the same list.
		if strings.Join(gn, " ") != strings.Join(wn, " ") {
			t.Fatalf("modules %v, /proc/modules %v", gn, wn)
		}
		for i, w := range want {
			g := got[i]
			if g.Base != w.Addr || g.Size != w.Size {
				t.Errorf("%s: base %#x size %d, /proc/modules %#x %d", w.Name, g.Base, g.Size, w.Addr, w.Size)
			}
			if g.State != 0 || w.State != "Live" {
				t.Errorf("%s: state %d, /proc/modules %s", w.Name, g.State, w.State)
			}
		}
		t.Logf("%d modules match /proc/modules", len(want))
	}
}

func TestModuleSymbolsMatchKallsyms(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want, err := f.GT.ModuleKallsyms()
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatal("the guest printed no module line of /proc/kallsyms")
		}
		if _, err := k.LoadModuleSymbols(); err != nil {
			t.Fatal(err)
		}
		type key struct {
			mod, name string
			addr      uint64
			kind      byte
		}
		have := map[key]bool{}
		// The type letter's case is compared loosely: /proc/kallsyms
		// upper-cases a module symbol when it is exported and lower-cases
		// it otherwise (kernel/kallsyms.c s_show), where the module's
		// own table (and crash) keep the ELF binding's case.
		lower := func(c byte) byte { return c | 0x20 }
		for _, s := range k.Image.ExtraSymbols().Symbols() {
			have[key{s.Module, s.Name, s.Addr, lower(s.Kind)}] = true
		}
		bad, skipped, perMod := 0, 0, map[string]int{}
		for _, w := range want {
			if strings.HasPrefix(w.Name, "$") {
				// arm's mapping symbols: listed, but never the
				// answer to an address lookup (the kernel's
				// find_kallsyms_symbol skips them too).
				skipped++
				continue
			}
			if !have[key{w.Module, w.Name, w.Addr, lower(w.Type)}] {
				s, ok := k.Image.Lookup(w.Module + ":" + w.Name)
				t.Errorf("%s [%s] %#x (%c): not among the module symbols (by name: %#x (%c) %v)", w.Name, w.Module, w.Addr, w.Type, s.Addr, s.Kind, ok)
				if bad++; bad > 20 {
					t.Fatal("too many mismatches")
				}
				continue
			}
			perMod[w.Module]++
			// By address: a symbol at that address (an alias may win), offset 0.
			if a, off, ok := k.Image.SymbolAt(w.Addr); !ok || off != 0 || a.Addr != w.Addr || a.Module != w.Module {
				t.Errorf("SymbolAt(%#x) = %s+%d [%s] %v, want %s [%s]", w.Addr, a.Name, off, a.Module, ok, w.Name, w.Module)
			}
		}
		t.Logf("%d mapping symbols skipped", skipped)
		t.Logf("%d module symbols of /proc/kallsyms match: %v", len(want)-bad, perMod)
		if perMod["kinspect_test"] == 0 {
			t.Error("no kinspect_test symbol checked")
		}
	})
}

func TestModuleSectionsResolve(t *testing.T) {
	ktest.ForEachKind(t, fixture.ModuleKinds, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		mods, err := f.GT.Modules()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.LoadModuleSymbols(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range mods {
			secs, err := f.GT.ModuleSections(m.Name)
			if err != nil {
				t.Fatal(err)
			}
			for sec, addr := range secs {
				// Init sections are freed once the module is live, and so are
				// the full .symtab/.strtab (kernel/module/kallsyms.c keeps a
				// copy of the core symbols: mod->core_kallsyms); the
				// others lie in the module's regions.
				if strings.Contains(sec, ".init") || strings.Contains(sec, ".exit") || sec == ".symtab" || sec == ".strtab" || addr == 0 {
					continue
				}
				n++
				if got := k.Image.ModuleOf(addr); got != m.Name {
					t.Errorf("%s section %s at %#x: in module %q", m.Name, sec, addr, got)
				}
				if sec == ".text" && addr != m.Addr {
					t.Errorf("%s .text at %#x, /proc/modules base %#x", m.Name, addr, m.Addr)
				}
			}
		}
		if n == 0 {
			t.Fatal("the guest printed no module section")
		}
		// The dump's own record of them (sect_attrs, what mod -s uses).
		kmods, err := k.Modules()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range kmods {
			got, err := k.ModuleSectionAddrs(m)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := f.GT.ModuleSections(m.Name)
			if len(got) != len(want) {
				t.Errorf("%s: %d sections in sect_attrs, %d in /sys/module", m.Name, len(got), len(want))
			}
			for sec, a := range want {
				if got[sec] != a {
					t.Errorf("%s section %s: %#x in sect_attrs, %#x in /sys/module", m.Name, sec, got[sec], a)
				}
			}
		}
		t.Logf("%d module sections lie in their modules", n)
	})
}
