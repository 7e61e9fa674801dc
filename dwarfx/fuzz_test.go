package dwarfx

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Seeds shared by the expression fuzzers (more live in testdata/fuzz/).
var exprSeeds = []string{
	"items[0].id", "head->next->next->name", "(struct item *)0x403040 + 1", "sizeof(struct item)",
	"container_of(&items[1].node, struct item, node)", "per_cpu(items, 1)", "items:2", "$1 + $$ - $",
	"-~!*&items[0].flags.b", "1 ? 2 : 3", "'a' + '\\n'", "0x7fffffffffffffff * 2 / 0", "1 << 63 >> 64",
	"(char)((unsigned long)-1)", "offsetof(struct item, arr[1][2])", "((struct item *)0)->flags.wide",
	"&banner[3]", "get_counter", "*get_counter", "&*head", "(u64 (*)[3])0", "sizeof(int[1099511627776])",
	"(int [2][3])items", "per_cpu_ptr(head, 0)->label", "'__bss_start'", "__bss_start + 1",
}

// fuzzMemory returns bytes derived from the address: pointers read through
// it lead somewhere deterministic; a few pages fail.
type fuzzMemory struct{}

func (fuzzMemory) ReadVirt(p []byte, addr uint64) error {
	if addr>>12%7 == 3 {
		return errUnmapped(addr)
	}
	for i := range p {
		a := addr + uint64(i)
		p[i] = byte(a*0x9E3779B97F4A7C15>>56) ^ byte(a)
	}
	return nil
}

type errUnmapped uint64

func (e errUnmapped) Error() string { return "unmapped" }

func FuzzParse(f *testing.F) {
	for _, s := range exprSeeds {
		f.Add(s)
	}
	isType := func(s string) bool { return len(s) > 0 && s[0] == 'u' }
	f.Fuzz(func(t *testing.T, expr string) {
		parseExpr(expr, isType) // must not panic
		lex(expr)
		parsePath(expr)
		toks, err := lex(expr)
		if err == nil {
			parseTypeName(expr, toks, 0)
		}
	})
}

var (
	fuzzImOnce sync.Once
	fuzzIm     *Image
)

func FuzzEval(f *testing.F) {
	for _, s := range exprSeeds {
		f.Add(s)
	}
	fuzzImOnce.Do(func() {
		im, err := Open("testdata/mini-dwarf5.elf")
		if err != nil {
			f.Fatal(err)
		}
		fuzzIm = im
	})
	im := fuzzIm
	hist := im.NewConst(im.PointerTo(mustType(f, im, "struct item")), 0x403040)
	env := &Env{
		Img: im, Mem: fuzzMemory{}, NrCPUs: func() int { return 4 },
		PerCPU: func(v Value, cpu int) (Value, error) {
			a, _ := v.Addr()
			return im.NewValueAt(v.Type(), a+uint64(cpu)<<12), nil
		},
		History: func(n int) (Value, bool) { return hist, n < 3 },
	}
	f.Fuzz(func(t *testing.T, expr string) {
		ev := &evaluator{env: env, expr: expr, mem: env.Mem}
		n, err := parseExpr(expr, env.isType)
		if err != nil {
			return
		}
		v, err := ev.eval(n) // no recover: a panic fails the fuzzer
		if err != nil {
			return
		}
		// Exercise the value accessors too.
		v.Uint(nil)
		v.Int(nil)
		v.CString(nil, 64)
		if v.Size() >= 0 && v.Size() <= 1<<16 {
			v.Bytes(nil)
		}
		v.Load(nil)
		v.Deref()
		v.AddrOf()
		v.Index(1)
		for _, m := range im.MemberNames(v.Type()) {
			v.Member(m)
		}
		TypeString(v.Type())
	})
}

func mustType(f *testing.F, im *Image, name string) dwarf.Type {
	t, err := im.Type(name)
	if err != nil {
		f.Fatal(err)
	}
	return t
}

// FuzzOpenBytes mutates the mini ELF images: opening, indexing and looking
// names up must fail cleanly, never panic.
func FuzzOpenBytes(f *testing.F) {
	for _, v := range miniVersions {
		b, err := os.ReadFile(fmt.Sprintf("testdata/mini-dwarf%d.elf", v))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint32(0), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, at uint32, val uint16) {
		// Besides the engine's own mutations, poke a 16-bit value at a
		// chosen offset: it reaches the DWARF deep inside the file.
		data = append([]byte(nil), data...)
		// A hang is a failure too: crash the worker (the fuzzer then
		// saves the input) with every goroutine's stack.
		watchdog := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			os.Stderr.Write(buf[:n])
			panic("FuzzOpenBytes: input took over 10s")
		})
		defer watchdog.Stop()
		if len(data) > 2 {
			i := int(at) % (len(data) - 1)
			binary.LittleEndian.PutUint16(data[i:], val)
		}
		im, err := OpenBytes("fuzz", data)
		if err != nil {
			return
		}
		im.Lookup("items")
		im.SymbolAt(0x401010)
		im.FunctionAt(0x401010)
		im.Function("get_counter")
		im.EnumConstant("BLUE")
		im.SearchSymbols("e")
		im.TypeNames("struct ")
		im.SymbolNames("i")
		im.HasType("struct item")
		im.Stats()
	})
}
