package dwarfx

import (
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The mini-dwarfN.elf images (testdata/mini.c built by gen-mini.sh with
// DWARF 2, 4 and 5) exercise the whole package without the big fixtures:
// DWARF 2 encodes bit-fields with DW_AT_bit_offset, 4 and 5 with
// DW_AT_data_bit_offset; 5 uses the DWARF 5 forms and unit headers; 64 is
// DWARF 5 in the 64-bit DWARF format.
var miniVersions = []int{2, 4, 5, 64}

func TestMiniOpen(t *testing.T) {
	for _, v := range miniVersions {
		im := openMini(t, v)
		if im.Machine() != elf.EM_X86_64 || im.PtrSize() != 8 {
			t.Errorf("dwarf%d: machine %v ptr %d", v, im.Machine(), im.PtrSize())
		}
		if len(im.Warnings()) > 0 {
			t.Errorf("dwarf%d: warnings %v", v, im.Warnings())
		}
		// Build ID as debug/elf sees it.
		ef, err := elf.Open(im.Path())
		if err != nil {
			t.Fatal(err)
		}
		sec := ef.Section(".note.gnu.build-id")
		data, _ := sec.Data()
		ef.Close()
		want := hex.EncodeToString(data[16:])
		if im.BuildID() != want || len(want) != 40 {
			t.Errorf("dwarf%d: BuildID %q, want %q", v, im.BuildID(), want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "notelf")
	os.WriteFile(txt, []byte("this is not an ELF file at all, just some text padding.........."), 0o644)
	if _, err := Open(txt); err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("Open(text) = %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Open(missing) succeeded")
	}
	// An ELF file without DWARF: strip the mini image's debug sections.
	b, err := os.ReadFile("testdata/mini-dwarf5.elf")
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open("testdata/mini-dwarf5.elf")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ef.Sections {
		if strings.HasPrefix(s.Name, ".debug_") {
			// Rename in the section header string table: ".debug_" -> ".nodbg_".
			shstr := ef.Section(".shstrtab")
			data, _ := shstr.Data()
			i := strings.Index(string(data), s.Name+"\x00")
			if i >= 0 {
				copy(b[shstr.Offset+uint64(i):], ".nodbg_")
			}
		}
	}
	ef.Close()
	stripped := filepath.Join(dir, "stripped")
	os.WriteFile(stripped, b, 0o644)
	_, err = Open(stripped)
	if !errors.Is(err, ErrNoDWARF) || !strings.Contains(err.Error(), "-dbg") {
		t.Errorf("Open(stripped) = %v, want ErrNoDWARF naming the -dbg package", err)
	}
}

func TestMiniTypes(t *testing.T) {
	for _, v := range miniVersions {
		im := openMini(t, v)
		for _, c := range []struct {
			name, spelled string
			size          int64
		}{
			{"struct item", "struct item", 96},
			{"item", "struct item", 96},
			{"struct item *", "struct item *", 8},
			{"struct item **[3]", "struct item **[3]", 24},
			{"u64", "u64", 8},
			{"unsigned long long", "long long unsigned int", 8},
			{"unsigned long", "long unsigned int", 8},
			{"long", "long int", 8},
			{"short unsigned", "short unsigned int", 2},
			{"char [12]", "char [12]", 12},
			{"int [2][3]", "int [2][3]", 24},
			{"enum color", "enum color", 4},
			{"color", "enum color", 4},
			{"const char *", "char *", 8},
			{"void *", "void *", 8},
			{"struct bits", "struct bits", 8},
		} {
			typ, err := im.Type(c.name)
			if err != nil {
				t.Errorf("dwarf%d: Type(%q): %v", v, c.name, err)
				continue
			}
			if got := TypeString(typ); got != c.spelled {
				t.Errorf("dwarf%d: Type(%q) = %q, want %q", v, c.name, got, c.spelled)
			}
			if n, _ := im.Sizeof(typ); n != c.size {
				t.Errorf("dwarf%d: sizeof(%s) = %d, want %d", v, c.name, n, c.size)
			}
		}
		for _, bad := range []string{"struct nosuch", "nosuch", "unsigned float", "struct", "struct item ]", "int [", ""} {
			if _, err := im.Type(bad); err == nil {
				t.Errorf("dwarf%d: Type(%q) succeeded", v, bad)
			}
		}
		it, _ := im.Type("struct item")
		for _, c := range []struct {
			path string
			off  int64
		}{{"id", 0}, {"name", 4}, {"key", 16}, {"lo", 16}, {"hi", 20}, {"flags", 24}, {"node.prev", 40}, {"color", 48}, {"next", 56}, {"arr[1][2]", 84}, {"label", 88}} {
			off, _, err := im.OffsetOf(it, c.path)
			if err != nil || off != c.off {
				t.Errorf("dwarf%d: offsetof(struct item, %s) = %d, %v; want %d", v, c.path, off, err, c.off)
			}
		}
		names := strings.Join(im.MemberNames(it), ",")
		if names != "id,name,key,lo,hi,flags,node,color,next,priv,small,arr,label" {
			t.Errorf("dwarf%d: MemberNames = %s", v, names)
		}
		if _, err := im.Type("struct opaque"); err != nil {
			t.Errorf("dwarf%d: opaque struct: %v", v, err)
		}
		if im.HasType("struct opaque") || !im.HasType("struct item") || !im.HasType("u32") {
			t.Errorf("dwarf%d: HasType wrong", v)
		}
		if n, typ, ok := im.EnumConstant("BLUE"); !ok || n != -2 || TypeString(typ) != "enum color" {
			t.Errorf("dwarf%d: EnumConstant(BLUE) = %d %v %v", v, n, typ, ok)
		}
	}
}

func TestMiniValues(t *testing.T) {
	for _, v := range miniVersions {
		im := openMini(t, v)
		mem := im.StaticMemory()
		items, err := im.ValueOf("items")
		if err != nil {
			t.Fatal(err)
		}
		items = items.WithMem(mem)
		flags, err := items.Path("[0].flags")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			member string
			want   int64
		}{{"a", 5}, {"b", -3}, {"c", 1}, {"wide", 0xABCDEF0123}, {"d", 100}, {"e", -1}} {
			f, err := flags.Member(c.member)
			if err != nil {
				t.Fatalf("dwarf%d: %v", v, err)
			}
			got, err := f.Int(nil)
			if err != nil || got != c.want {
				t.Errorf("dwarf%d: items[0].flags.%s = %d, %v; want %d", v, c.member, got, err, c.want)
			}
			if _, ok := f.Addr(); ok {
				t.Errorf("dwarf%d: bit-field %s has an address", v, c.member)
			}
			if _, err := f.AddrOf(); err == nil {
				t.Errorf("dwarf%d: &bit-field succeeded", v)
			}
		}
		// Bit-fields survive Load (snapshot) and members of constants.
		snap, err := flags.Load(nil)
		if err != nil {
			t.Fatal(err)
		}
		if w, _ := snap.Member("wide"); true {
			if x, err := w.Uint(nil); err != nil || x != 0xABCDEF0123 {
				t.Errorf("dwarf%d: snapshot wide = %#x %v", v, x, err)
			}
		}
		name, _ := items.Path("[1].name")
		if s, err := name.CString(nil, 0); err != nil || s != "eight" {
			t.Errorf("dwarf%d: items[1].name = %q %v", v, s, err)
		}
		label, _ := items.Path("[0].label")
		if s, err := label.CString(nil, 3); err != nil || s != "hel" {
			t.Errorf("dwarf%d: items[0].label (max 3) = %q %v", v, s, err)
		}
		next, err := items.Path("[0].next->next->id")
		if x, _ := next.Int(nil); err != nil || x != 9 {
			t.Errorf("dwarf%d: items[0].next->next->id = %d %v", v, x, err)
		}
		// ContainerOf from a member address.
		node, _ := items.Path("[2].node")
		na, _ := node.Addr()
		c, err := im.ContainerOf(na, "struct item", "node")
		if err != nil {
			t.Fatal(err)
		}
		if id, err := c.WithMem(mem).Member("id"); err != nil {
			t.Fatal(err)
		} else if x, _ := id.Int(nil); x != 9 {
			t.Errorf("dwarf%d: container_of id = %d", v, x)
		}
		// Errors name what was read.
		priv, _ := items.Path("[0].priv")
		if _, err := priv.Path("->x"); err == nil || !strings.Contains(err.Error(), "struct opaque has no member 'x'") {
			t.Errorf("dwarf%d: opaque member error = %v", v, err)
		}
		_, err = items.Path("[0].next->next->next->id")
		if err == nil {
		} else if !strings.Contains(err.Error(), "items[0].next->next->next->id") {
			t.Errorf("dwarf%d: error does not name the path: %v", v, err)
		}
	}
}

func TestMiniSymbols(t *testing.T) {
	for _, v := range miniVersions {
		im := openMini(t, v)
		for _, c := range []struct {
			name string
			kind byte
		}{{"items", 'D'}, {"head", 'D'}, {"counter", 'd'}, {"answer", 'D'}, {"banner", 'R'}, {"zeroed", 'B'}, {"get_counter", 'T'}, {"helper", 't'}, {"_start", 'T'}} {
			s, ok := im.Lookup(c.name)
			if !ok || s.Kind != c.kind {
				t.Errorf("dwarf%d: Lookup(%s) = %+v %v, want kind %c", v, c.name, s, ok, c.kind)
			}
		}
		f, err := im.Function("get_counter")
		if err != nil {
			t.Fatal(err)
		}
		if s, off, ok := im.SymbolAt(f.Low + 3); !ok || s.Name != "get_counter" || off != 3 {
			t.Errorf("dwarf%d: SymbolAt(get_counter+3) = %v %#x %v", v, s, off, ok)
		}
		if g, ok := im.FunctionAt(f.Low + 3); !ok || g.Name != "get_counter" {
			t.Errorf("dwarf%d: FunctionAt = %+v %v", v, g, ok)
		}
		if file, line, ok := im.LineAt(f.Low); !ok || !strings.HasSuffix(file, "mini.c") || line != 54 {
			t.Errorf("dwarf%d: LineAt(get_counter) = %s:%d %v", v, file, line, ok)
		}
		ft, err := im.FuncType(f)
		if err != nil || TypeString(ft) != "int (int)" {
			t.Errorf("dwarf%d: FuncType(get_counter) = %v %v", v, TypeString(ft), err)
		}
		h, err := im.Function("helper")
		if err != nil || h.External {
			t.Errorf("dwarf%d: helper %+v %v", v, h, err)
		}
		if _, ok := im.FunctionAt(0x10); ok {
			t.Errorf("dwarf%d: FunctionAt(0x10) found something", v)
		}
		if got := im.SymbolNames("get_c"); len(got) != 1 || got[0] != "get_counter" {
			t.Errorf("dwarf%d: SymbolNames(get_c) = %v", v, got)
		}
		if got := im.TypeNames("struct i"); len(got) != 1 || got[0] != "struct item" {
			t.Errorf("dwarf%d: TypeNames(struct i) = %v", v, got)
		}
		if got := im.SearchSymbols("counter"); len(got) != 2 {
			t.Errorf("dwarf%d: SearchSymbols(counter) = %v", v, got)
		}
		cv, err := im.Variable("counter")
		if err != nil || cv.Decl != "static" {
			t.Errorf("dwarf%d: counter %+v %v", v, cv, err)
		}
		av, err := im.Variable("answer")
		if err != nil || av.Decl != "" || TypeString(av.Type) != "int" {
			t.Errorf("dwarf%d: answer %+v %v", v, av, err)
		}
	}
}

func TestMiniKASLR(t *testing.T) {
	im := openMini(t, 5)
	s0, _ := im.Lookup("items")
	f0, _ := im.Function("get_counter")
	v0, _ := im.Variable("answer")
	const off = 0x2000000
	im.SetKASLROffset(off)
	defer im.SetKASLROffset(0)
	if im.KASLROffset() != off {
		t.Fatal("KASLROffset")
	}
	s1, _ := im.Lookup("items")
	f1, _ := im.Function("get_counter")
	v1, _ := im.Variable("answer")
	if s1.Addr != s0.Addr+off || f1.Low != f0.Low+off || v1.Addr != v0.Addr+off {
		t.Errorf("not shifted: %#x %#x %#x", s1.Addr, f1.Low, v1.Addr)
	}
	if s, o, ok := im.SymbolAt(f1.Low + 2); !ok || s.Name != "get_counter" || o != 2 {
		t.Errorf("SymbolAt shifted = %v %d %v", s, o, ok)
	}
	if _, _, ok := im.SymbolAt(f0.Low + 2); ok && f0.Low+2 < s0.Addr {
		t.Errorf("SymbolAt of an unshifted address matched")
	}
	if g, ok := im.FunctionAt(f1.Low + 2); !ok || g.Name != "get_counter" || g.Low != f1.Low {
		t.Errorf("FunctionAt shifted = %+v", g)
	}
	env := &Env{Img: im, Mem: im.StaticMemory()}
	x, err := env.Eval("answer")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := x.Int(nil); err != nil || n != 0x2a2a {
		t.Errorf("answer under KASLR = %#x %v", n, err)
	}
}
