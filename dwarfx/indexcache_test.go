package dwarfx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// openCachedT opens path with the cache in dir and checks how it was used;
// warnings are collected in *warns.
func openCachedT(t testing.TB, path, dir string, want CacheStatus, warns *[]string) *Image {
	t.Helper()
	im, err := OpenCached(path, CacheOptions{Dir: dir, Version: "test", Warn: func(m string) { *warns = append(*warns, m) }})
	if err != nil {
		t.Fatalf("OpenCached(%s): %v", path, err)
	}
	t.Cleanup(func() { im.Close() })
	if got := im.CacheStatus(); got != want {
		t.Fatalf("cache status %d, want %d (warnings %q)", got, want, *warns)
	}
	if im.cache != nil {
		im.building.Wait() // the next open must find the file
	}
	return im
}

// indexFacts is what the index answers, gathered through the public API,
// for comparing a cache-loaded image with a freshly indexed one.
func indexFacts(t testing.TB, im *Image, sample int) []string {
	t.Helper()
	var out []string
	add := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	st := im.Stats()
	st.DIEs = 0 // a statistic that depends on how the parallel scan split the work
	add("stats %+v", st)
	add("bounds %#x %#x %#x %#x", im.stext, im.etext, im.text, im.end)
	im.PrepareCompletion()
	syms := im.SymbolNames("")
	types := im.TypeNames("")
	add("names %d %d", len(syms), len(types))
	step := 1
	if sample > 0 && len(syms) > sample {
		step = len(syms) / sample
	}
	for i := 0; i < len(syms); i += step {
		n := syms[i]
		if s, ok := im.Lookup(n); ok {
			add("sym %s %#x %d %c", s.Name, s.Addr, s.Size, s.Kind)
			if at, _, ok := im.SymbolAt(s.Addr); ok {
				add("at %#x %s", s.Addr, at.Name)
			}
		}
		if vs, err := im.Variables(n); err == nil {
			for _, v := range vs {
				add("var %s %#x %s %v %s", v.Name, v.Addr, v.Type, v.PerCPU, v.Decl)
			}
		}
		for _, f := range im.Functions(n) {
			add("func %s %#x %#x %v", f.Name, f.Low, f.High, f.Ranges)
			if g, ok := im.FunctionAt(f.Low); ok {
				add("at %#x %s", f.Low, g.Name)
			}
		}
		if v, typ, ok := im.EnumConstant(n); ok {
			add("enum %s %d %s", n, v, typ)
		}
	}
	for i := 0; i < len(types); i += max(1, step/4) {
		if ty, err := im.Type(types[i]); err == nil {
			add("type %s %s %d", types[i], ty, ty.Size())
		}
	}
	return out
}

func diffFacts(t *testing.T, what string, got, want []string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			t.Fatalf("%s: fact %d differs:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
	t.Fatalf("%s: %d facts, want %d", what, len(got), len(want))
}

// checkCacheStates opens path fresh, then with the cache cold, warm,
// truncated, and with a byte flipped in the body and in the header: every
// open answers as the fresh one, and a damaged file is reported and rewritten.
func checkCacheStates(t *testing.T, path string, sample int, damages ...string) {
	dir := t.TempDir()
	fresh, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	want := indexFacts(t, fresh, sample)
	var warns []string
	cold := openCachedT(t, path, dir, CacheWritten, &warns)
	diffFacts(t, "cold", indexFacts(t, cold, sample), want)
	file := cold.CachePath()
	warm := openCachedT(t, path, dir, CacheHit, &warns)
	diffFacts(t, "warm", indexFacts(t, warm, sample), want)
	if len(warns) != 0 {
		t.Fatalf("warnings on a good cache: %q", warns)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func([]byte) []byte{
		"truncated":     func(b []byte) []byte { return b[:len(b)/2] },
		"empty":         func(b []byte) []byte { return nil },
		"body flipped":  func(b []byte) []byte { b[len(b)*2/3] ^= 0x40; return b },
		"header flip":   func(b []byte) []byte { b[20] ^= 1; return b },
		"magic":         func(b []byte) []byte { copy(b, "NOTANIDX"); return b },
		"trailing data": func(b []byte) []byte { return append(b, 0) },
	}
	for _, name := range damages {
		fn := damage[name]
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(file, fn(append([]byte(nil), good...)), 0o600); err != nil {
				t.Fatal(err)
			}
			var warns []string
			im := openCachedT(t, path, dir, CacheWritten, &warns)
			if len(warns) != 1 || !strings.Contains(warns[0], filepath.Base(file)) || strings.Contains(warns[0], "\n") {
				t.Errorf("want one one-line warning naming the file, got %q", warns)
			}
			diffFacts(t, name, indexFacts(t, im, sample), want)
			// The damaged file was replaced by a good one.
			warns = nil
			openCachedT(t, path, dir, CacheHit, &warns)
		})
	}
}

var allDamages = []string{"truncated", "empty", "body flipped", "header flip", "magic", "trailing data"}

func TestIndexCacheMini(t *testing.T) {
	for _, v := range []int{2, 4, 5, 64} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			checkCacheStates(t, fmt.Sprintf("testdata/mini-dwarf%d.elf", v), 0, allDamages...)
		})
	}
}

func TestIndexCacheFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes each fixture vmlinux several times")
	}
	for _, a := range fixtureArches {
		t.Run(a, func(t *testing.T) {
			im := openFixture(t, a)
			checkCacheStates(t, im.Path(), 1500, "truncated", "body flipped")
		})
	}
}

// TestIndexCacheKey: another tool version, or a changed vmlinux, does not
// use the file (and the old file of the same image is replaced).
func TestIndexCacheKey(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/mini-dwarf5.elf")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	var warns []string
	openCachedT(t, path, dir, CacheWritten, &warns)
	openCachedT(t, path, dir, CacheHit, &warns)
	im, err := OpenCached(path, CacheOptions{Dir: dir, Version: "other"})
	if err != nil {
		t.Fatal(err)
	}
	im.Close() // waits for the save
	if im.CacheStatus() != CacheWritten {
		t.Errorf("another tool version used the cache (status %d)", im.CacheStatus())
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.idx")); len(files) != 1 {
		t.Errorf("cache files after a version change: %q, want only the new one", files)
	}
	if err := os.WriteFile(path, append(src, 0), 0o644); err != nil { // size changes
		t.Fatal(err)
	}
	openCachedT(t, path, dir, CacheWritten, &warns)
	if len(warns) != 0 {
		t.Errorf("a changed vmlinux is a miss, not a warning: %q", warns)
	}
}

// FuzzIndexCache: decoding damaged cache files returns an error or an index,
// never panics. Seeds are the mini images' cache files.
func FuzzIndexCache(f *testing.F) {
	for _, v := range []int{2, 5, 64} {
		im, err := Open(fmt.Sprintf("testdata/mini-dwarf%d.elf", v))
		if err != nil {
			f.Fatal(err)
		}
		body := encodeIndex(im.index(), &im.syms, im.Warnings())
		f.Add(bytes.Join(append([][]byte{encodeHeader("k", body)}, body...), nil))
		im.Close()
	}
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		if body, err := decodeHeader(b, "k"); err == nil {
			decodeIndex(body)
		}
		// The body decoder alone, as if the checksums had matched.
		if len(b) > 8 {
			if ci, err := decodeIndex(b[8:]); err == nil {
				ci.idx.vars.get("x")
				ci.syms.byName.get("x")
			}
		}
	})
}

// TestIndexCacheHandOff: Close of an image whose index is still being built
// hands it off (CacheOptions.HandOff, once, with the vmlinux's path), stops
// the scan and saves nothing; Close of one whose index is complete waits
// for the save and hands nothing off. Which of the two a Close meets depends
// on how far the background scan got: each outcome is checked as it comes,
// and a Close right after opening a 600 MB vmlinux (~0.3 s of scanning)
// meets the first.
func TestIndexCacheHandOff(t *testing.T) {
	path := fixture.Require(t, "x86_64").Vmlinux()
	dir := t.TempDir()
	var handed []string
	im, err := OpenCached(path, CacheOptions{Dir: dir, Version: "test", HandOff: func(p string) error {
		handed = append(handed, p)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if im.CacheStatus() != CacheWritten {
		t.Fatalf("cache status %d on a cold open, want CacheWritten", im.CacheStatus())
	}
	if _, ok := im.Lookup("init_task"); !ok { // a lookup before Close, as a command makes
		t.Fatal("no init_task")
	}
	im.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	switch {
	case len(handed) == 1:
		if handed[0] != path || len(files) != 0 || len(tmps) != 0 {
			t.Errorf("handed off %q, cache files %q %q: want the vmlinux's path and no file written", handed, files, tmps)
		}
		lo, hi := im.lazy.claims.front(1)
		if _, ok := im.lazy.claims.back(); ok || lo != hi {
			t.Errorf("units still claimable after the hand-off (front %d..%d)", lo, hi)
		}
	case len(handed) == 0:
		t.Logf("the index was complete before Close: no hand-off")
		if len(files) != 1 {
			t.Errorf("cache files %q after a complete index, want one", files)
		}
	default:
		t.Errorf("handed off %d times: %q", len(handed), handed)
	}
}
