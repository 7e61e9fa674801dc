package dwarfx

import (
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestSortStrings(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	prefixes := []string{"", "__ksymtab_", "__kstrtab_", "a", "ab", "__", "x"}
	for _, n := range []int{0, 1, 2, 15, 16, 17, 100, 5000, 20000} {
		s := make([]string, n)
		for i := range s {
			var b strings.Builder
			b.WriteString(prefixes[r.Intn(len(prefixes))])
			for j := r.Intn(6); j > 0; j-- {
				b.WriteByte("ab_\x00z"[r.Intn(5)])
			}
			s[i] = b.String()
		}
		want := append([]string(nil), s...)
		sort.Strings(want)
		sortStrings(s)
		for i := range s {
			if s[i] != want[i] {
				t.Fatalf("n=%d: index %d: %q, want %q", n, i, s[i], want[i])
			}
		}
	}
}

// TestConcurrentUse exercises an Image from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	im := openMini(t, 5)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			env := &Env{Img: im, Mem: im.StaticMemory()}
			for i := 0; i < 50; i++ {
				if _, err := im.Type("struct item"); err != nil {
					t.Error(err)
				}
				if _, err := im.Variable("items"); err != nil {
					t.Error(err)
				}
				if v, err := env.Eval("head->next->name"); err != nil {
					t.Error(err)
				} else if s, _ := v.CString(nil, 0); s != "eight" {
					t.Errorf("got %q", s)
				}
				im.TypeNames("struct ")
				im.SymbolNames("get")
				im.FunctionAt(0x401010)
				if g == 0 && i == 10 {
					im.SetKASLROffset(0)
				}
			}
		}(g)
	}
	wg.Wait()
}
