package dwarfx

import (
	"reflect"
	"slices"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// A lookup answered from a run of units before the index is complete
// (lazy.go) gives exactly the index's answer: the same DIE and the same
// decoded type, variable or function, for a sample of every kind of name
// of each fixture's vmlinux (the index itself is checked against gdb,
// readelf and nm elsewhere).
func TestLazyAnswersAreTheIndexs(t *testing.T) {
	for _, fx := range []struct{ arch, suite string }{
		{"x86_64", fixture.DefaultSuite}, {"arm64", fixture.DefaultSuite}, {"arm", fixture.DefaultSuite},
		{"x86_64", "bullseye"}, {"arm64", "trixie"},
	} {
		t.Run(fx.arch+"-"+fx.suite, func(t *testing.T) {
			f := fixture.RequireSuite(t, fx.arch, fx.suite)
			im, err := Open(f.Vmlinux())
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			full := im.index()
			l := &lazyScan{} // never stopped, every unit its own: scans as far as it needs
			l.claims.split = len(im.units)
			lazy := func(final func(*index) bool) *index { return l.find(im, final, nil) }
			n := compareLazyTypes(t, im, full, lazy)
			n += compareLazyDefs(t, im, full, lazy, false)
			n += compareLazyDefs(t, im, full, lazy, true)
			if n < 200 {
				t.Errorf("only %d names answered lazily", n)
			}
		})
	}
}

// sample picks about n of names, spread over their sorted order.
func sample(names []string, n int) []string {
	slices.Sort(names)
	step := max(len(names)/n, 1)
	var out []string
	for i := 0; i < len(names); i += step {
		out = append(out, names[i])
	}
	return out
}

func compareLazyTypes(t *testing.T, im *Image, full *index, lazy func(func(*index) bool) *index) int {
	byKind := map[uint8][]string{}
	for k, c := range full.types {
		if k.kind <= kBase && !c.decl {
			byKind[k.kind] = append(byKind[k.kind], k.name)
		}
	}
	found := 0
	for kind, names := range byKind {
		for _, name := range sample(names, 40) {
			x := lazy(defined(kind, name))
			if x == nil {
				continue // static, or only declared
			}
			found++
			kinds := []uint8{kind}
			got, _ := typeIn(x, kinds, name)
			want, _ := typeIn(full, kinds, name)
			if got != want {
				t.Errorf("type %d %s: lazily %+v, indexed %+v", kind, name, got, want)
				continue
			}
			if tg, err := im.typeAt(got.off); err != nil || TypeString(tg) == "" {
				t.Errorf("type %d %s at %#x: %v", kind, name, got.off, err)
			}
		}
	}
	t.Logf("types: %d answered lazily", found)
	return found
}

func compareLazyDefs(t *testing.T, im *Image, full *index, lazy func(func(*index) bool) *index, fn bool) int {
	m := full.vars
	if fn {
		m = full.funcs
	}
	var names []string
	m.each(func(name string, i int32) {
		if full.defs[i].ext {
			names = append(names, name)
		}
	})
	found := 0
	for _, name := range sample(names, 120) {
		x := lazy(definedExt(fn, name))
		if x == nil {
			continue
		}
		found++
		var got, want any
		var gerr, werr error
		if fn {
			got, gerr = im.functionIn(x, name)
			want, werr = im.functionIn(full, name)
		} else {
			got, gerr = im.variablesIn(x, name, true)
			want, werr = im.variablesIn(full, name, true)
		}
		if gerr != nil || werr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: lazily %+v (%v), indexed %+v (%v)", name, got, gerr, want, werr)
		}
	}
	what := "variables"
	if fn {
		what = "functions"
	}
	t.Logf("%s: %d answered lazily", what, found)
	return found
}

// The index built while lookups scan runs of units (their scanners merged
// into it) is the index built without them: every unit is scanned once.
func TestIndexWithLazyRuns(t *testing.T) {
	forEachArch(t, func(t *testing.T, plain *Image) {
		im, err := Open(plain.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		// Names defined early, then later in the units: runs are scanned
		// until the workers, done with the back half, take the rest.
		var got []*index
		for _, name := range []string{"task_struct", "module", "list_head"} {
			got = append(got, im.names(defined(kStruct, name)))
		}
		got = append(got, im.names(definedExt(false, "init_task")), im.names(definedExt(false, "modules")))
		a, b := plain.index(), im.index()
		lazily := 0
		for _, x := range got {
			if x != b {
				lazily++
			}
		}
		t.Logf("%d of %d lookups answered before the index was complete", lazily, len(got))
		// (The DIE counts differ: each scanner skips the enumerations it
		// has seen, so more scanners visit more DIEs.)
		if len(a.defs) != len(b.defs) || len(a.pcs) != len(b.pcs) {
			t.Fatalf("definitions %d/%d, pc ranges %d/%d (without/with runs)",
				len(a.defs), len(b.defs), len(a.pcs), len(b.pcs))
		}
		if len(a.types) != len(b.types) {
			t.Errorf("%d types without runs, %d with", len(a.types), len(b.types))
		}
		bad := 0
		for k, c := range a.types {
			if d, ok := b.types[k]; (!ok || c != d) && bad < 10 {
				bad++
				t.Errorf("%d %s: %+v without runs, %+v (%v) with", k.kind, k.name, c, d, ok)
			}
		}
		chain := func(x *index, m nameMap, name string) (out []def) {
			h, _ := m.get(name)
			for i := h; i >= 0; i = x.defs[i].next {
				d := x.defs[i]
				d.next, d.rng = 0, 0
				out = append(out, d)
			}
			return out
		}
		for _, m := range []func(*index) nameMap{func(x *index) nameMap { return x.vars }, func(x *index) nameMap { return x.funcs }} {
			m(a).each(func(name string, _ int32) {
				if g, w := chain(b, m(b), name), chain(a, m(a), name); !reflect.DeepEqual(g, w) {
					t.Errorf("%s: %+v with runs, %+v without", name, g, w)
				}
			})
		}
		for i := range a.pcs {
			if pa, pb := a.pcs[i], b.pcs[i]; pa.lo != pb.lo || pa.hi != pb.hi || a.defs[pa.def].off != b.defs[pb.def].off {
				t.Fatalf("pc range %d: %+v without runs, %+v with", i, pa, pb)
			}
		}
	})
}
