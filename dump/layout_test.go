package dump

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// elfSyms implements Symbols from vmlinux's .symtab with debug/elf (the
// real implementation lives in dwarfx, which dump must not import).
type elfSyms struct {
	f       *elf.File
	addrs   map[string]uint64
	ptrSize int
}

func loadElfSyms(t testing.TB, path string) *elfSyms {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	s := &elfSyms{f: f, addrs: make(map[string]uint64, len(syms)), ptrSize: 8}
	if f.Class == elf.ELFCLASS32 {
		s.ptrSize = 4
	}
	for _, sym := range syms {
		if sym.Name == "" || elf.ST_TYPE(sym.Info) == elf.STT_FILE || elf.ST_TYPE(sym.Info) == elf.STT_SECTION {
			continue
		}
		if _, dup := s.addrs[sym.Name]; !dup {
			s.addrs[sym.Name] = sym.Value
		}
	}
	return s
}

func (s *elfSyms) LinkAddr(name string) (uint64, bool) { a, ok := s.addrs[name]; return a, ok }
func (s *elfSyms) PtrSize() int                        { return s.ptrSize }

// bytesAt reads n bytes of vmlinux's file image at link address addr.
func (s *elfSyms) bytesAt(addr uint64, n int) ([]byte, error) {
	for _, sec := range s.f.Sections {
		if sec.Type == elf.SHT_PROGBITS && sec.Flags&elf.SHF_ALLOC != 0 && addr >= sec.Addr && addr+uint64(n) <= sec.Addr+sec.Size {
			b := make([]byte, n)
			_, err := sec.ReadAt(b, int64(addr-sec.Addr))
			return b, err
		}
	}
	return nil, fmt.Errorf("no section holds %#x", addr)
}

// banner returns vmlinux's linux_banner text.
func (s *elfSyms) banner(t testing.TB) []byte {
	t.Helper()
	a, ok := s.LinkAddr("linux_banner")
	if !ok {
		t.Fatal("no linux_banner")
	}
	b, err := s.bytesAt(a, 256)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b
}

// hideSyms hides some symbols, as an older or stripped kernel would.
type hideSyms struct {
	*elfSyms
	hide map[string]bool
}

func (h hideSyms) LinkAddr(name string) (uint64, bool) {
	if h.hide[name] {
		return 0, false
	}
	return h.elfSyms.LinkAddr(name)
}

// memberOffsets finds struct members' offsets in vmlinux's DWARF.
func memberOffsets(t testing.TB, path, structName string, members ...string) map[string]int64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64)
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag != dwarf.TagStructType || !e.Children {
			continue
		}
		if n, _ := e.Val(dwarf.AttrName).(string); n != structName {
			r.SkipChildren()
			continue
		}
		for {
			c, _ := r.Next()
			if c == nil || c.Tag == 0 {
				break
			}
			name, _ := c.Val(dwarf.AttrName).(string)
			for _, m := range members {
				if name == m {
					off, _ := c.Val(dwarf.AttrDataMemberLoc).(int64)
					out[m] = off
				}
			}
			if c.Children {
				r.SkipChildren()
			}
		}
		break
	}
	for _, m := range members {
		if _, ok := out[m]; !ok {
			t.Fatalf("%s.%s not found in DWARF", structName, m)
		}
	}
	return out
}

// inputOf is what DiscoverLayout passes to discovery, kept so tests can
// take pieces away (VMCOREINFO) from a real dump.
func inputOf(d *Dump) layoutInput {
	return layoutInput{mem: d, ranges: d.Ranges(), arch: d.Arch(), vmci: d.VMCoreInfo(), notes: d.Notes()}
}

// fixtureData caches what several tests of one fixture share.
type fixtureData struct {
	f      *fixture.Fixture
	in     layoutInput
	syms   *elfSyms
	offs   map[string]int64
	banner []byte
}

var (
	fixtureMu    sync.Mutex
	fixtureCache = map[string]*fixtureData{}
)

func loadFixture(t *testing.T, arch string) *fixtureData {
	t.Helper()
	f := fixture.Require(t, arch)
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if fd, ok := fixtureCache[arch]; ok {
		return fd
	}
	fd := &fixtureData{f: f}
	d, err := Open(f.Path("vmcore.elf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fd.in = inputOf(d) // kept open for the test binary's life
	fd.syms = loadElfSyms(t, f.Vmlinux())
	fd.banner = fd.syms.banner(t)
	fd.offs = memberOffsets(t, f.Vmlinux(), "task_struct", "comm", "stack", "tasks")
	fixtureCache[arch] = fd
	return fd
}

// checkLayout runs the integration checks on a discovered layout.
func checkLayout(t *testing.T, fd *fixtureData, l KernelLayout) {
	t.Helper()
	tr, err := NewTranslator(fd.in.mem, l)
	if err != nil {
		t.Fatal(err)
	}
	vm := NewVirtMemory(fd.in.mem, tr)
	sym := func(name string) uint64 {
		a, ok := fd.syms.LinkAddr(name)
		if !ok {
			t.Fatalf("no symbol %s", name)
		}
		return a + l.KASLROffset
	}
	readString := func(va uint64, n int) string {
		b := make([]byte, n)
		if err := vm.ReadVirt(b, va); err != nil {
			t.Fatalf("reading %#x: %v", va, err)
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return string(b)
	}
	ptr := func(va uint64) uint64 {
		v, err := vm.ReadUint(va, fd.syms.PtrSize())
		if err != nil {
			t.Fatalf("reading pointer at %#x: %v", va, err)
		}
		return v
	}

	// linux_banner is /proc/version.
	banner := strings.TrimRight(readString(sym("linux_banner"), 512), "\n")
	if !strings.HasPrefix(banner, "Linux version ") || banner != fd.f.GT.Version {
		t.Errorf("linux_banner = %q\nground truth  %q", banner, fd.f.GT.Version)
	}

	// init_task.comm through the image mapping.
	initTask := sym("init_task")
	if comm := readString(initTask+uint64(fd.offs["comm"]), 16); comm != "swapper/0" {
		t.Errorf("init_task.comm = %q, want swapper/0", comm)
	}

	// Page tables must agree with the arithmetic on the image.
	if pa, err := walkOnly(fd.in.mem, tr.Layout(), initTask); err != nil {
		t.Errorf("walking init_task: %v", err)
	} else if want, _ := tr.Translate(initTask); pa != want {
		t.Errorf("walk(init_task) = %#x, arithmetic %#x", pa, want)
	}

	// A vmalloc address, which only the page tables map: the first busy
	// area on vmap_area_list.
	vmallocVA := firstVmapArea(t, fd, vm, sym)
	if pa, err := tr.Translate(vmallocVA); err != nil {
		t.Errorf("translating vmalloc address %#x: %v", vmallocVA, err)
	} else {
		t.Logf("vmalloc %#x -> pa %#x", vmallocVA, pa)
		if _, lin := linearVA(tr.Layout(), vmallocVA); lin {
			t.Errorf("vmalloc address %#x is in the linear map", vmallocVA)
		}
		b := make([]byte, 64)
		if err := vm.ReadVirt(b, vmallocVA); err != nil {
			t.Errorf("reading vmalloc address %#x: %v", vmallocVA, err)
		}
	}

	// Stacks end in STACK_END_MAGIC (at the lowest word with
	// THREAD_INFO_IN_TASK, just past thread_info otherwise): a check of
	// the translation that does not trust it. init_task's stack is
	// init_stack in the image; the next task's (pid 1) is vmapped on
	// arm64/x86_64 and in lowmem on arm.
	hasMagic := func(stack uint64) bool {
		for k := uint64(0); k < 64; k++ {
			if v, err := vm.ReadUint(stack+k*4, 4); err == nil && v == 0x57ac6e9d {
				return true
			}
		}
		return false
	}
	stack := ptr(initTask + uint64(fd.offs["stack"]))
	if !hasMagic(stack) {
		t.Errorf("init_task.stack %#x: no STACK_END_MAGIC", stack)
	}
	next := ptr(initTask+uint64(fd.offs["tasks"])) - uint64(fd.offs["tasks"])
	stack1 := ptr(next + uint64(fd.offs["stack"]))
	if comm := readString(next+uint64(fd.offs["comm"]), 16); comm == "" {
		t.Errorf("task after init_task at %#x has no comm", next)
	} else {
		t.Logf("task %q at %#x, stack %#x", comm, next, stack1)
	}
	if !hasMagic(stack1) {
		t.Errorf("stack %#x of task %#x: no STACK_END_MAGIC", stack1, next)
	}

	// Per-CPU: __per_cpu_offset[cpu] + &runqueues. x86_64's per-CPU
	// symbols are section offsets that KASLR does not move.
	rq, _ := fd.syms.LinkAddr("runqueues")
	if l.Arch != ArchX86_64 {
		rq += l.KASLROffset
	}
	pco := sym("__per_cpu_offset")
	for cpu := 0; cpu < fd.f.GT.CPUs; cpu++ {
		off := ptr(pco + uint64(cpu*fd.syms.PtrSize()))
		va := rq + off
		if l.Arch == ArchARM {
			va &= 0xffffffff
		}
		if _, err := tr.Translate(va); err != nil {
			t.Errorf("cpu %d runqueue %#x: %v", cpu, va, err)
		}
		// rq->cpu is an int somewhere inside; we only require reads.
		if err := vm.ReadVirt(make([]byte, 64), va); err != nil {
			t.Errorf("reading cpu %d runqueue %#x: %v", cpu, va, err)
		}
	}

	// A module-area/user address below everything must fail cleanly.
	if _, err := tr.Translate(0x1000); err == nil {
		t.Errorf("user address 0x1000 translated")
	} else if !errors.Is(err, ErrNotMapped) {
		t.Errorf("user address 0x1000: %v does not wrap ErrNotMapped", err)
	}
}

// linearVA reports whether va lies in the linear map per l.
func linearVA(l KernelLayout, va uint64) (uint64, bool) {
	if in, ok := linearMapOf[l.Arch]; ok {
		return in(l, va)
	}
	return 0, false
}

// linearMapOf bounds each architecture's linear map.
var linearMapOf = map[Arch]func(l KernelLayout, va uint64) (uint64, bool){
	ArchX86_64: func(l KernelLayout, va uint64) (uint64, bool) {
		return va - l.PageOffsetBase, va >= l.PageOffsetBase && va < l.PageOffsetBase+x86DirectMapSize4
	},
	ArchARM64: func(l KernelLayout, va uint64) (uint64, bool) {
		return 0, va >= l.PageOffset && va < arm64PageEnd(l.VABits)
	},
	ArchARM: func(l KernelLayout, va uint64) (uint64, bool) {
		return 0, va >= l.PageOffset && (l.LinearEnd == 0 || va < l.LinearEnd)
	},
}

// firstVmapArea returns the start of the first busy vmalloc area, from
// vmap_area_list (struct vmap_area { unsigned long va_start, va_end; ...
// struct list_head list; }), whose list offset VMCOREINFO gives when
// present; without it the 6.1 layout (rb_node between: 5 pointers in).
func firstVmapArea(t *testing.T, fd *fixtureData, vm *VirtMemory, sym func(string) uint64) uint64 {
	t.Helper()
	ps := uint64(fd.syms.PtrSize())
	listOff := 5 * ps // va_start, va_end, rb_node{3 words}
	if fd.in.vmci != nil {
		if v, ok := fd.in.vmci.Offset("vmap_area.list"); ok {
			listOff = uint64(v)
		}
	}
	head := sym("vmap_area_list")
	next, err := vm.ReadUint(head, int(ps))
	if err != nil {
		t.Fatalf("reading vmap_area_list: %v", err)
	}
	if next == head {
		t.Fatal("vmap_area_list is empty")
	}
	start, err := vm.ReadUint(next-listOff, int(ps))
	if err != nil {
		t.Fatalf("reading vmap_area at %#x: %v", next-listOff, err)
	}
	return start
}

func testArch(t *testing.T, arch string) {
	fd := loadFixture(t, arch)
	d := fd.in.mem.(*Dump)
	l, err := DiscoverLayout(d, fd.syms, LayoutHints{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("layout: %v", l)
	checkLayout(t, fd, l)

	// Every other dump of the same crash gives the same layout and reads
	// the same: kdump-compressed, flattened, makedumpfile-filtered.
	for _, df := range fd.f.Dumps {
		if df.File == "vmcore.elf" || df.Paging {
			continue // the paging ELF (virtual addresses) is gdb's, not a physical dump
		}
		t.Run(df.File, func(t *testing.T) {
			d2, err := Open(fd.f.Path(df.File), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			if len(d2.Ranges()) == 0 {
				t.Fatalf("%s (%s) opens with no physical memory ranges: a dump-format problem, not a layout one", df.File, d2.Format())
			}
			l2, err := DiscoverLayout(d2, fd.syms, LayoutHints{})
			if err != nil {
				t.Fatal(err)
			}
			if l2 != l {
				t.Errorf("layout from %s:\n %v\nfrom vmcore.elf:\n %v", df.File, l2, l)
			}
			fd2 := *fd
			fd2.in = inputOf(d2)
			checkLayout(t, &fd2, l2)
		})
	}

	// Without VMCOREINFO: everything from symbols and memory.
	t.Run("no-vmcoreinfo", func(t *testing.T) {
		in := fd.in
		in.vmci = nil
		l2, err := discoverLayout(in, fd.syms, LayoutHints{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("layout: %v", l2)
		if l2.KASLROffset != l.KASLROffset || l2.PGDPhys != l.PGDPhys || l2.PhysOffset != l.PhysOffset ||
			l2.PhysBase != l.PhysBase || l2.KimageVoffset != l.KimageVoffset || l2.PageOffset != l.PageOffset {
			t.Errorf("without VMCOREINFO:\n %v\nwith:\n %v", l2, l)
		}
		checkLayout(t, fd, l2)
	})
	t.Run("no-vmcoreinfo-banner-hint", func(t *testing.T) {
		in := fd.in
		in.vmci = nil
		l2, err := discoverLayout(in, fd.syms, LayoutHints{Banner: fd.banner})
		if err != nil {
			t.Fatal(err)
		}
		if l2.KASLROffset != l.KASLROffset || l2.PGDPhys != l.PGDPhys {
			t.Errorf("with banner hint:\n %v\nwant:\n %v", l2, l)
		}
	})
	t.Run("no-vmcoreinfo-kaslr-hint", func(t *testing.T) {
		in := fd.in
		in.vmci = nil
		k := l.KASLROffset
		l2, err := discoverLayout(in, fd.syms, LayoutHints{KASLROffset: &k})
		if err != nil {
			t.Fatal(err)
		}
		if l2 != l {
			t.Errorf("with KASLR hint:\n %v\nwant:\n %v", l2, l)
		}
	})
	if arch == "x86_64" {
		// No VMCOREINFO and no init_top_pgt symbol: the tables come from
		// the CR3 in QEMU's notes (a process's tables, whose kernel half
		// is shared).
		t.Run("qemu-cr3", func(t *testing.T) {
			in := fd.in
			in.vmci = nil
			hidden := hideSyms{fd.syms, map[string]bool{"init_top_pgt": true, "init_level4_pgt": true}}
			l2, err := discoverLayout(in, hidden, LayoutHints{})
			if err != nil {
				t.Fatal(err)
			}
			if l2.PGDPhys == 0 || l2.KASLROffset != l.KASLROffset || l2.PhysBase != l.PhysBase {
				t.Fatalf("from CR3:\n %v\nwant:\n %v", l2, l)
			}
			t.Logf("CR3 tables at %#x (init_top_pgt at %#x)", l2.PGDPhys, l.PGDPhys)
			checkLayout(t, fd, l2)
		})
	}
	t.Run("wrong-kaslr-hint", func(t *testing.T) {
		bad := l.KASLROffset + 0x200000
		_, err := discoverLayout(fd.in, fd.syms, LayoutHints{KASLROffset: &bad})
		if err == nil {
			t.Error("a wrong KASLR hint was accepted")
		} else {
			t.Logf("wrong KASLR hint: %v", err)
		}
	})
}

func TestLayoutX86_64(t *testing.T) { testArch(t, "x86_64") }
func TestLayoutARM64(t *testing.T)  { testArch(t, "arm64") }
func TestLayoutARM(t *testing.T)    { testArch(t, "arm") }

// mapSyms is a hand-made symbol table.
type mapSyms struct {
	m   map[string]uint64
	ptr int
}

func (s mapSyms) LinkAddr(name string) (uint64, bool) { a, ok := s.m[name]; return a, ok }
func (s mapSyms) PtrSize() int                        { return s.ptr }

// TestARMDiscoverySynthetic covers layouts no fixture has: a 2G/2G split
// with RAM at 0 (Raspberry Pi OS) and LPAE, on constructed memory.
func TestARMDiscoverySynthetic(t *testing.T) {
	for _, c := range []struct {
		name       string
		pageOffset uint64
		physOffset uint64
		lpae       bool
	}{
		{"2g2g-classic-ram-at-0", 0x80000000, 0, false},
		{"3g1g-classic", 0xc0000000, 0x40000000, false},
		{"3g1g-lpae", 0xc0000000, 0x80000000, true},
		{"2g2g-lpae-ram-at-0", 0x80000000, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newFakeMem()
			po, phys := c.pageOffset, c.physOffset
			// swapper_pg_dir sits below the kernel at PAGE_OFFSET+0x8000:
			// 16 KiB classic, 20 KiB (pgd page + 4 pmd pages) LPAE.
			swapper := po + 0x4000
			if c.lpae {
				swapper = po + 0x3000
			}
			syms := mapSyms{ptr: 4, m: map[string]uint64{
				"_stext":               po + 0x8240,
				"_text":                po + 0x8000,
				"_end":                 po + 0xc00000,
				"swapper_pg_dir":       swapper,
				"linux_banner":         po + 0xa00100,
				"__pv_phys_pfn_offset": po + 0xb00000,
				"high_memory":          po + 0xb00008,
			}}
			lowmemEnd := po + 0x30000000
			pa := func(va uint64) uint64 { return va - po + phys }
			m.putBytes(pa(po+0xa00100), []byte("Linux version 6.1.0-test\n\x00"))
			m.put32(pa(po+0xb00000), phys>>12)
			m.put32(pa(po+0xb00008), lowmemEnd)
			pgd := pa(swapper)
			vmallocVA := lowmemEnd + 0x800000 + 0x5000
			if !c.lpae {
				// 1 MiB sections for lowmem, a coarse table for vmalloc.
				for va := po; va < lowmemEnd; va += 1 << 20 {
					m.put32(pgd+(va>>20)*4, pa(va)|0xc0e)
				}
				m.put32(pgd+(vmallocVA>>20)*4, (phys+0x2800400)|1)
				m.put32(phys+0x2800400+(vmallocVA>>12&0xff)*4, 0x12345000|0x33)
			} else {
				// swapper_pg_dir: 4 entries; pmds follow it; 2 MiB blocks.
				pmdBase := pgd + 0x1000
				for i := uint64(0); i < 4; i++ {
					m.put64(pgd+i*8, (pmdBase+i*0x1000)|3)
				}
				for va := po; va < lowmemEnd; va += 1 << 21 {
					m.put64(pmdBase+(va>>30)*0x1000+(va>>21&511)*8, pa(va)|0x711)
				}
				m.put64(pmdBase+(vmallocVA>>30)*0x1000+(vmallocVA>>21&511)*8, (phys+0x2800000)|3)
				m.put64(phys+0x2800000+(vmallocVA>>12&511)*8, 0x1_2345_5000|0x7df)
			}
			in := layoutInput{mem: m, arch: ArchARM, ranges: []PhysRange{{Start: phys, Size: 0x40000000}}}
			l, err := discoverLayout(in, syms, LayoutHints{})
			if err != nil {
				t.Fatal(err)
			}
			if l.PageOffset != po || l.PhysOffset != phys || l.LPAE != c.lpae || l.PGDPhys != pgd || l.LinearEnd != lowmemEnd {
				t.Fatalf("layout %v", l)
			}
			tr, err := NewTranslator(m, l)
			if err != nil {
				t.Fatal(err)
			}
			want := uint64(0x12345005)
			if c.lpae {
				want = 0x1_2345_5005
			}
			if got, err := tr.Translate(vmallocVA + 5); err != nil || got != want {
				t.Errorf("vmalloc %#x -> %#x, %v; want %#x", vmallocVA+5, got, err, want)
			}
			// A misleading RAM start must not fool PHYS_OFFSET discovery:
			// with a decoy range below RAM, the banner check rejects it.
			in.ranges = append([]PhysRange{{Start: 0x10000000, Size: 0x1000}}, in.ranges...)
			if l2, err := discoverLayout(in, syms, LayoutHints{}); err != nil || l2.PhysOffset != phys {
				t.Errorf("with a decoy range: %v, %v", l2, err)
			}
		})
	}
}
