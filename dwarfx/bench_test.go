package dwarfx

import (
	"debug/dwarf"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// Benchmarks run on each fixture vmlinux; sub-benchmarks are named by arch:
//
//	go test ./dwarfx -run XXX -bench . -benchtime 5x
func benchArches(b *testing.B, fn func(b *testing.B, im *Image)) {
	for _, a := range fixtureArches {
		b.Run(a, func(b *testing.B) {
			fn(b, openFixture(b, a))
		})
	}
}

// BenchmarkOpen maps and indexes the vmlinux (symbols and the DWARF name
// index); bytes/s is over .debug_info.
func BenchmarkOpen(b *testing.B) {
	for _, a := range fixtureArches {
		b.Run(a, func(b *testing.B) {
			f := fixture.Require(b, a)
			im, err := Open(f.Vmlinux())
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(im.sects[".debug_info"])))
			im.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				im, err := Open(f.Vmlinux())
				if err != nil {
					b.Fatal(err)
				}
				im.Close()
			}
		})
	}
}

// resetTypeCaches forgets every decoded type, as if freshly opened.
func (im *Image) resetTypeCaches() {
	im.dataMu.Lock()
	im.cuData = make(map[int]*cuDwarf)
	im.dataMu.Unlock()
	im.typeMu.Lock()
	im.typeByName = make(map[string]dwarf.Type)
	im.complete = make(map[dwarf.Type]dwarf.Type)
	im.typeMu.Unlock()
}

// BenchmarkType_task_struct is the first decode of struct task_struct
// (cold: all type caches dropped each time).
func BenchmarkType_task_struct(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		for i := 0; i < b.N; i++ {
			im.resetTypeCaches()
			if _, err := im.Type("struct task_struct"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkType_task_struct_warm is a cached lookup.
func BenchmarkType_task_struct_warm(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		im.Type("struct task_struct")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := im.Type("struct task_struct"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPrepareCompletion builds the sorted name tables (once per image
// in real use; its first use pays this).
func BenchmarkPrepareCompletion(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		for i := 0; i < b.N; i++ {
			im.completion = sync.Once{}
			im.PrepareCompletion()
		}
	})
}

func BenchmarkTypeNames(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		im.PrepareCompletion()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if len(im.TypeNames("struct ta")) == 0 {
				b.Fatal("no completions")
			}
		}
	})
}

func BenchmarkSymbolNames(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		im.PrepareCompletion()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if len(im.SymbolNames("init_")) == 0 {
				b.Fatal("no completions")
			}
		}
	})
}

// BenchmarkSymbolNamesAll completes the empty prefix (every name).
func BenchmarkSymbolNamesAll(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		im.PrepareCompletion()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			im.SymbolNames("")
		}
	})
}

func BenchmarkMemberNames(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		ts, _ := im.Type("struct task_struct")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if len(im.MemberNames(ts)) == 0 {
				b.Fatal("no members")
			}
		}
	})
}

func BenchmarkSymbolAt(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		f, _ := im.Function("schedule")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, ok := im.SymbolAt(f.Low + uint64(i%64)); !ok {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkFunctionAt(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		f, _ := im.Function("schedule")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, ok := im.FunctionAt(f.Low + uint64(i%64)); !ok {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkEval(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		env := &Env{Img: im, Mem: im.StaticMemory()}
		env.Eval("init_task.comm") // warm the type caches
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := env.Eval("((struct task_struct *)&init_task)->se.vruntime + " + strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestOpenMemory reports the heap an opened image keeps (and, with
// KINSPECT_RSS=1, the process peak RSS after opening one image: run it
// alone, e.g. go test ./dwarfx -run TestOpenMemory/arm64 -v).
func TestOpenMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, a := range fixtureArches {
		t.Run(a, func(t *testing.T) {
			f := fixture.Require(t, a)
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			im, err := Open(f.Vmlinux())
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			t.Logf("%s: heap kept by the open image: %.1f MB (%+v)", a, float64(m1.HeapAlloc-m0.HeapAlloc)/1e6, im.Stats())
			if os.Getenv("KINSPECT_RSS") != "" {
				b, _ := os.ReadFile("/proc/self/status")
				for _, l := range splitLines(string(b)) {
					if strings.HasPrefix(l, "VmHWM:") || strings.HasPrefix(l, "RssAnon:") || strings.HasPrefix(l, "RssFile:") {
						t.Log(l)
					}
				}
			}
			runtime.KeepAlive(im)
			im.Close()
		})
	}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// BenchmarkCacheEncode is the index cache's encoding of an opened image
// (indexcache_index.go): the part of a cold open that saves the index.
func BenchmarkCacheEncode(b *testing.B) {
	benchArches(b, func(b *testing.B, im *Image) {
		for i := 0; i < b.N; i++ {
			encodeIndex(im.index(), &im.syms, im.Warnings())
		}
	})
}
