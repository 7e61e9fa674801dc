package dwarfx

// Struct layouts from a second DWARF reader: gdb's `ptype/o` on the same
// vmlinux (internal/oracle.GDB, cached next to the fixture). kinspect's
// offsets, sizes and bit positions are compared with gdb's for every
// member of the structs the kernel walkers depend on, so no expectation is
// tied to one kernel build.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/oracle"
)

// gdbStructs are the structs compared with gdb.
var gdbStructs = []string{"task_struct", "sched_entity", "rq", "page", "list_head", "mm_struct"}

// gdbMember is one member as gdb's ptype/o places it.
type gdbMember struct {
	Name     string
	Off, Bit int64 // byte offset from the struct start; bit within it for bit-fields
	BitField bool
}

// gdbStruct is a struct as gdb lays it out: its size and the members
// reachable by name from it (those of anonymous structs and unions
// included, as C allows).
type gdbStruct struct {
	Size    int64
	Members []gdbMember
}

func (g *gdbStruct) member(name string) (gdbMember, bool) {
	for _, m := range g.Members {
		if m.Name == name {
			return m, true
		}
	}
	return gdbMember{}, false
}

var (
	gdbMu    sync.Mutex
	gdbCache = map[string]map[string]*gdbStruct{}
)

// gdbLayouts returns gdb's layout of gdbStructs in the arch fixture's vmlinux.
func gdbLayouts(t *testing.T, arch string) map[string]*gdbStruct {
	t.Helper()
	gdbMu.Lock()
	defer gdbMu.Unlock()
	if m, ok := gdbCache[arch]; ok {
		return m
	}
	f := fixture.Require(t, arch)
	var cmds []string
	for _, s := range gdbStructs {
		cmds = append(cmds, "ptype/o struct "+s)
	}
	outs, err := oracle.GDB(t, f, cmds)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*gdbStruct{}
	for i, s := range gdbStructs {
		g, err := parsePtypeO(outs[i])
		if err != nil {
			t.Fatalf("gdb ptype/o struct %s: %v\n%s", s, err, outs[i])
		}
		m[s] = g
	}
	gdbCache[arch] = m
	return m
}

var (
	// "/*   1276: 0   |       4 */    unsigned int sched_reset_on_fork : 1;"
	ptypeOff = regexp.MustCompile(`^/\*\s+(\d+)(?::\s*(\d+))?\s*\|\s*\d+ \*/\s*(.*)$`)
	// "/*                   140 */    struct fp_hard_struct {" (a union member)
	ptypeNoOff = regexp.MustCompile(`^/\*\s+\d+ \*/\s*(.*)$`)
	ptypeSize  = regexp.MustCompile(`/\* total size \(bytes\):\s*(\d+) \*/`)
	fnPtrName  = regexp.MustCompile(`\(\*\s*(\w+)\)`)
	lastIdent  = regexp.MustCompile(`(\w+)\s*(?:\[[^\]]*\]\s*)*(?::\s*\d+)?;$`)
)

// parsePtypeO parses gdb's `ptype/o struct X`: members of nested named
// aggregates stay inside them; those of anonymous ones are lifted to the
// enclosing level.
func parsePtypeO(s string) (*gdbStruct, error) {
	type level struct {
		off     int64
		members []gdbMember
	}
	var stack []*level
	out := &gdbStruct{Size: -1}
	for _, line := range strings.Split(s, "\n") {
		trim := strings.TrimSpace(line)
		if g := ptypeSize.FindStringSubmatch(trim); g != nil && len(stack) == 1 {
			out.Size, _ = strconv.ParseInt(g[1], 10, 64)
			continue
		}
		if strings.Contains(trim, "type = ") && strings.HasSuffix(trim, "{") { // the outer struct
			stack = append(stack, &level{off: 0})
			continue
		}
		var off, bit int64 = -1, 0
		bitField := false
		text := ""
		if g := ptypeOff.FindStringSubmatch(trim); g != nil {
			off, _ = strconv.ParseInt(g[1], 10, 64)
			if g[2] != "" {
				bit, _ = strconv.ParseInt(g[2], 10, 64)
				bitField = true
			}
			text = g[3]
		} else if g := ptypeNoOff.FindStringSubmatch(trim); g != nil {
			text = g[1]
		} else if strings.HasPrefix(trim, "}") && len(stack) > 0 {
			name := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trim, "}"), ";"))
			name = strings.TrimSpace(regexp.MustCompile(`\[.*$`).ReplaceAllString(name, ""))
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				out.Members = top.members
				continue
			}
			parent := stack[len(stack)-1]
			if name == "" {
				parent.members = append(parent.members, top.members...)
			} else {
				parent.members = append(parent.members, gdbMember{Name: name, Off: top.off})
			}
			continue
		} else {
			continue
		}
		if len(stack) == 0 {
			return nil, fmt.Errorf("member before the struct: %q", line)
		}
		if off < 0 {
			off = stack[len(stack)-1].off // a union member sits at the union's offset
		}
		if strings.HasSuffix(text, "{") {
			stack = append(stack, &level{off: off})
			continue
		}
		name := ""
		if g := fnPtrName.FindStringSubmatch(text); g != nil {
			name = g[1]
		} else if g := lastIdent.FindStringSubmatch(text); g != nil {
			name = g[1]
		}
		if name == "" {
			return nil, fmt.Errorf("no member name in %q", line)
		}
		top := stack[len(stack)-1]
		top.members = append(top.members, gdbMember{Name: name, Off: off, Bit: bit, BitField: bitField})
	}
	if out.Size < 0 || len(out.Members) == 0 {
		return nil, fmt.Errorf("no total size or no members")
	}
	return out, nil
}

// TestLayoutsMatchGDB compares every member gdb lists with kinspect's
// FindMember, and each struct's size.
func TestLayoutsMatchGDB(t *testing.T) {
	forEachArch(t, func(t *testing.T, im *Image) {
		layouts := gdbLayouts(t, archOf(im))
		total := 0
		for _, name := range gdbStructs {
			g := layouts[name]
			typ, err := im.Type("struct " + name)
			if err != nil {
				t.Errorf("struct %s: %v", name, err)
				continue
			}
			if n, err := im.Sizeof(typ); err != nil || n != g.Size {
				t.Errorf("sizeof(struct %s) = %d %v, gdb %d", name, n, err, g.Size)
			}
			for _, m := range g.Members {
				total++
				f, ok := im.FindMember(typ, m.Name)
				switch {
				case !ok:
					t.Errorf("struct %s: member %s (gdb offset %d) not found", name, m.Name, m.Off)
				case m.BitField && (f.BitSize == 0 || f.BitOffset != m.Off*8+m.Bit):
					t.Errorf("struct %s.%s: bit-field at bit %d (size %d), gdb byte %d bit %d",
						name, m.Name, f.BitOffset, f.BitSize, m.Off, m.Bit)
				case !m.BitField && f.ByteOffset != m.Off:
					t.Errorf("struct %s.%s: offset %d, gdb %d", name, m.Name, f.ByteOffset, m.Off)
				}
			}
		}
		t.Logf("%s: %d members of %d structs compared with gdb", archOf(im), total, len(gdbStructs))
	})
}

func TestParsePtypeO(t *testing.T) {
	const out = `/* offset      |    size */  type = struct demo {
/*      0      |       4 */    int a;
/*      8      |      16 */    union {
/*                     8 */        long b;
/*                    16 */        struct {
/*      8      |       8 */            long c;
/*     16      |       8 */            void (*fn)(int);
                               };
                           };
/*     24      |       4 */    struct inner {
/*     24      |       4 */        int x;
                           } in;
/*     28: 3   |       4 */    unsigned int bits : 2;
/*     32      |      16 */    char name[16];

                               /* total size (bytes):   48 */
                             }
`
	g, err := parsePtypeO(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]gdbMember{"a": {Off: 0}, "b": {Off: 8}, "c": {Off: 8}, "fn": {Off: 16}, "in": {Off: 24},
		"bits": {Off: 28, Bit: 3, BitField: true}, "name": {Off: 32}}
	if g.Size != 48 || len(g.Members) != len(want) {
		t.Fatalf("parsed %+v", g)
	}
	for name, w := range want {
		m, ok := g.member(name)
		w.Name = name
		if !ok || m != w {
			t.Errorf("%s: %+v, want %+v", name, m, w)
		}
	}
	if _, ok := g.member("x"); ok {
		t.Error("a named inner struct's member was lifted")
	}
}
