package oracle_test

// kmem ADDR compared with crash 8.0.6's kmem ADDR on the same dump, for a
// sample of addresses of every class: kernel image symbols (from nm on the
// vmlinux), task_structs and kernel stacks of the task list, objects of
// slab pages (allocated and free, of every cache met), struct pages (page
// array entries, aligned and not), direct-map pages, vmalloc areas and
// per-cpu areas. The sample is only where to look; every expected value is
// what crash prints. Both outputs are parsed by the same parser into the
// fields crash shows (symbol, vmap area, cache/slab/object/free, task, page
// line) and compared field by field; agreement is reported per class.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

type kmemSample struct {
	class string
	addr  uint64
	want  string // a line kinspect prints beyond crash's (what the sample was built from)
}

// spread picks at most n items evenly from xs (deterministic: the crash
// cache is keyed by the command text).
func spread[T any](xs []T, n int) []T {
	if len(xs) <= n {
		return xs
	}
	out := make([]T, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, xs[i*len(xs)/n])
	}
	return out
}

// nmSymbols lists the vmlinux's data and text symbols with nm (link
// addresses).
func nmSymbols(t *testing.T, vmlinux string) ([]uint64, map[string]map[uint64]bool) {
	out, err := exec.Command("nm", vmlinux).Output()
	if err != nil {
		t.Skipf("nm: %v", err)
	}
	var addrs []uint64
	names := map[string]map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 {
			if a, err := strconv.ParseUint(f[0], 16, 64); err == nil {
				if names[f[2]] == nil {
					names[f[2]] = map[uint64]bool{}
				}
				names[f[2]][a] = true
			}
		}
		if len(f) != 3 || !strings.ContainsAny(f[1], "TtDdBbRr") || strings.HasPrefix(f[2], "__") || strings.HasPrefix(f[2], "$") {
			continue
		}
		if a, err := strconv.ParseUint(f[0], 16, 64); err == nil && a != 0 {
			addrs = append(addrs, a)
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	return addrs, names
}

func kmemSamples(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) []kmemSample {
	var s []kmemSample
	add := func(class string, a uint64) { s = append(s, kmemSample{class, a, ""}) }
	syms, _ := nmSymbols(t, f.Vmlinux())
	for i, a := range spread(syms, 200) {
		add("symbol", a+k.Layout.KASLROffset+uint64(i%3)*4)
	}
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	for i, tk := range spread(tasks, 120) {
		add("task_struct", tk.Addr+uint64(i%8)*0x40)
		if tk.Stack != 0 {
			add("stack", tk.Stack+0x1000+uint64(i%16)*0x80)
		}
	}
	areas, _ := k.VmapAreas()
	var withVM []kstructs.VmapArea
	for _, v := range areas {
		if v.VM != 0 {
			withVM = append(withVM, v)
		}
	}
	for _, v := range spread(withVM, 120) {
		add("vmalloc", v.Start+0x10)
	}
	for _, cpu := range []int{0, 1} {
		off, err := k.PerCPUOffset(cpu)
		if err != nil {
			continue
		}
		for _, name := range []string{"runqueues", "cpu_number", "this_cpu_off", "kernel_cpustat", "irq_stat"} {
			if v, err := k.Image.Variable(name); err == nil && v.PerCPU {
				s = append(s, kmemSample{"percpu", v.Addr + off, fmt.Sprintf("PER-CPU VARIABLE: %s+0  CPU: %d", name, cpu)})
			}
		}
		// inside variables: kmem names the variable, the offset and the cpu
		for _, name := range []string{"runqueues", "kernel_cpustat", "vm_event_states"} {
			if v, err := k.Image.Variable(name); err == nil && v.PerCPU && v.Type.Size() > 0x48 {
				s = append(s, kmemSample{"percpu", v.Addr + off + 0x48, fmt.Sprintf("PER-CPU VARIABLE: %s+%d  CPU: %d", name, 0x48, cpu)})
			}
		}
	}
	s = append(s, freeBlockSamples(t, k)...)
	s = append(s, pageTableSamples(t, k)...)
	return append(s, pageSamples(t, k)...)
}

// freeBlockSamples are pages of the buddy allocator's free blocks: the
// first free block of each free list (its struct page, a struct page
// inside it, and a direct-map address in its last page).
func freeBlockSamples(t *testing.T, k *kstructs.Kernel) []kmemSample {
	zones, err := k.FreeAreas()
	if err != nil {
		t.Fatal(err)
	}
	lru, err := k.MemberOffset("struct page", "lru")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.Image.Type("struct page")
	if err != nil {
		t.Fatal(err)
	}
	pageSize := uint64(k.Image.Complete(pt).Size())
	var s []kmemSample
	for _, z := range zones {
		for _, o := range z.Orders {
			for _, l := range o.Lists {
				links, err := kstructs.WalkList(k, l.Addr, kstructs.ListOptions{Head: true, Limit: 2})
				if err != nil || len(links) == 0 {
					continue
				}
				head, n := links[0]-lru, uint64(1)<<uint(o.Order)
				s = append(s, kmemSample{"buddy", head, ""}, kmemSample{"buddy", head + (n/2)*pageSize, ""})
				if pa, ok := k.IsPagePtr(head); ok {
					if va, err := k.PhysToVirt(pa + (n-1)*k.PageSize()); err == nil {
						s = append(s, kmemSample{"buddy", va + 0x10, ""})
					}
				}
			}
		}
	}
	return spread(s, 150)
}

// pageTableSamples are the addresses of the page tables the walks of user
// tasks' first VMA read (dump.PageTables).
func pageTableSamples(t *testing.T, k *kstructs.Kernel) []kmemSample {
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	var s []kmemSample
	seen := map[uint64]bool{}
	for _, tk := range spread(tasks, 60) {
		if tk.MM == 0 || seen[tk.MM] {
			continue
		}
		seen[tk.MM] = true
		for _, pa := range userTables(k, tk.MM) {
			// a table in the direct map by its virtual address, one in
			// highmem (arm's HIGHPTE) by its physical one
			a := pa
			if va, err := k.PhysToVirt(pa); err == nil {
				if back, err := k.Trans.Translate(va); err == nil && back == pa {
					a = va
				}
			}
			s = append(s, kmemSample{"pagetable", a + 0x18, "PAGE TABLE: "})
		}
	}
	return s
}

// pageSamples walks the page array for slab pages (objects of each, the
// first, a middle and the last) and samples struct pages and direct-map
// pages evenly over physical memory.
func pageSamples(t *testing.T, k *kstructs.Kernel) []kmemSample {
	var s []kmemSample
	maxPFN, err := k.ReadUint("max_pfn")
	if err != nil {
		t.Fatal(err)
	}
	ps := k.PageSize()
	var slabs, pages []uint64
	for pfn := uint64(0); pfn < maxPFN; pfn++ {
		pp, err := k.PageOfPhys(pfn * ps)
		if err != nil {
			continue
		}
		pages = append(pages, pp)
		if p, err := k.ReadPage(pp); err == nil && p.Slab && p.Head == pp {
			slabs = append(slabs, pp)
		}
	}
	for i, pp := range spread(slabs, 150) {
		pa, _ := k.IsPagePtr(pp)
		va, err := k.PhysToVirt(pa)
		if err != nil {
			continue
		}
		for j, off := range []uint64{8, 0x410, 0xfc0} {
			s = append(s, kmemSample{"slab", va + off + uint64((i+j)%4)*0x18, ""})
		}
	}
	for i, pp := range spread(pages, 150) {
		s = append(s, kmemSample{"page_struct", pp + uint64(i%2)*0x10, ""})
		pa, _ := k.IsPagePtr(pp)
		if va, err := k.PhysToVirt(pa); err == nil {
			s = append(s, kmemSample{"direct_map", va + 0x800, ""})
		}
	}
	return s
}

// userTables are the page tables (physical addresses) the walk of the
// first page of mm's first VMA reads.
func userTables(k *kstructs.Kernel, mm uint64) []uint64 {
	us, _ := k.UserSpace(mm)
	if us == nil || len(us.MM.VMAs) == 0 {
		return nil
	}
	var out []uint64
	_ = us.Tables(us.MM.VMAs[0].Start, func(_ string, table uint64) { out = append(out, table) })
	return out
}

var (
	reSym   = regexp.MustCompile(`^([0-9a-f]+) \((\w)\) (\S+)`)
	reVmap  = regexp.MustCompile(`^([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+) - ([0-9a-f]+)\s+(\d+)$`)
	reCache = regexp.MustCompile(`^([0-9a-f]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)k\s+(\S+)$`)
	reSlab  = regexp.MustCompile(`^  ([0-9a-f]+)  ([0-9a-f]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)
	reObj   = regexp.MustCompile(`^  (\[| )([0-9a-f]+)(\]|  )(.*)$`)
	reTask  = regexp.MustCompile(`^\s+TASK: ([0-9a-f]+)`)
	rePage  = regexp.MustCompile(`^([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(-?\d+) ([0-9a-f]+)(?: (\S+))?$`)
)

// kmemFields parses one kmem ADDR output into crash's fields by name.
func kmemFields(out string) map[string]string {
	m := map[string]string{}
	inObj, inFree := false, 0
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, " ")
		// crash's free-area lines of a page in the buddy allocator: the
		// zone line after its header, the area line after its header, the
		// block's first page (and the address's place in it).
		switch {
		case strings.HasPrefix(l, "ZONE  NAME") || strings.HasPrefix(l, "AREA    SIZE"):
			inFree = 1
			continue
		case inFree == 1:
			m["free"] += strings.Join(strings.Fields(l), " ") + "|"
			inFree = 2
			continue
		case inFree == 2 && strings.Contains(m["free"], "k ") && strings.Count(m["free"], "|") == 2:
			m["free"] += l
			inFree = 0
			continue
		}
		inFree = 0
		switch {
		case strings.Contains(l, "FREE / [ALLOCATED]"):
			inObj = true
			continue
		case inObj && reObj.MatchString(l):
			g := reObj.FindStringSubmatch(l)
			m["object"] += g[2] + ","
			m["object.free"] += strconv.FormatBool(g[1] == " ") + ","
			m["object.cpu"] += strings.TrimSpace(g[4]) + ","
			continue
		}
		inObj = false
		if g := reSym.FindStringSubmatch(l); g != nil && m["symbol"] == "" {
			m["symbol"] = g[2] + " " + g[3]
		} else if g := reVmap.FindStringSubmatch(l); g != nil {
			m["vmap"] = strings.Join(g[1:], " ")
		} else if g := reCache.FindStringSubmatch(l); g != nil {
			m["cache"] = g[1] + " " + g[7]
			m["cache.counts"] = strings.Join(g[2:7], " ")
		} else if g := reSlab.FindStringSubmatch(l); g != nil {
			m["slab"] = strings.Join(g[1:], " ")
		} else if g := reTask.FindStringSubmatch(l); g != nil {
			m["task"] = g[1]
		} else if g := rePage.FindStringSubmatch(l); g != nil {
			m["page"] = strings.Join(g[1:], " ")
		} else if strings.Contains(l, "not found in mem map") {
			m["page"] = "none"
		}
	}
	return m
}

func TestKmemAddrVsCrash(t *testing.T) {
	for _, fx := range fixtures {
		name := fx.Arch
		if fx.Suite != fixture.DefaultSuite {
			name += "-" + fx.Suite
		}
		t.Run(name, func(t *testing.T) { kmemAddrVsCrash(t, fx.Arch, fx.Suite) })
	}
}

func kmemAddrVsCrash(t *testing.T, arch, suite string) {
	oracle.Require(t, arch)
	dumpFile := oracle.DefaultDump(arch)
	k, f := ktest.OpenSuite(t, arch, suite, dumpFile)
	samples := kmemSamples(t, k, f)
	cmds := make([]string, len(samples))
	for i, s := range samples {
		cmds[i] = fmt.Sprintf("kmem %x", s.addr)
	}
	outs, err := oracle.RunFixture(t, f, dumpFile, cmds)
	if err != nil {
		t.Fatal(err)
	}
	_, names := nmSymbols(t, f.Vmlinux())
	var aliases []string
	type tally struct{ n, ok int }
	per := map[string]*tally{}
	var pages map[string]string // crash's kmem -p, read when needed
	bad := 0
	for i, s := range samples {
		var out, errb bytes.Buffer
		sess := repl.NewSession(k, &out, &errb)
		if err := sess.Exec(context.Background(), cmds[i], false); err != nil {
			t.Errorf("%s %q: %v", s.class, cmds[i], err)
			continue
		}
		c, kf := kmemFields(outs[i]), kmemFields(out.String())
		if s.want != "" && !strings.Contains(out.String(), s.want) {
			t.Errorf("%s %s: kinspect does not print %q:\n%s", s.class, cmds[i], s.want, out.String())
		}
		tl := per[s.class]
		if tl == nil {
			tl = &tally{}
			per[s.class] = tl
		}
		tl.n++
		if diff := fieldDiff(c, kf); diff != "" {
			if pages == nil && c["page"] == "none" {
				pages = crashPages(t, f)
			}
			if why := highmemPhys(k, s.addr, c, kf, pages); why != "" {
				aliases = append(aliases, fmt.Sprintf("%s %s: %s", s.class, cmds[i], why))
				tl.ok++
				continue
			}
			if why := imageHead(k, s.addr, outs[i]); why != "" {
				aliases = append(aliases, fmt.Sprintf("%s %s: %s", s.class, cmds[i], why))
				tl.ok++
				continue
			}
			if why := symbolAlias(c, kf, names); why != "" {
				aliases = append(aliases, fmt.Sprintf("%s %s: %s", s.class, cmds[i], why))
				tl.ok++
				continue
			}
			if bad++; bad <= 40 {
				t.Errorf("%s %s: %s\ncrash:\n%s\nkinspect:\n%s", s.class, cmds[i], diff, outs[i], out.String())
			}
			continue
		}
		tl.ok++
	}
	var classes []string
	total, agree := 0, 0
	for c, tl := range per {
		classes = append(classes, fmt.Sprintf("%s %d/%d", c, tl.ok, tl.n))
		total, agree = total+tl.n, agree+tl.ok
	}
	sort.Strings(classes)
	for _, a := range aliases {
		t.Logf("known difference: %s", a)
	}
	t.Logf("%s: kmem ADDR agrees with crash on %d of %d addresses, %d of them with a known difference listed above (%s)",
		ktest.Name(f), agree, total, len(aliases), strings.Join(classes, ", "))
}

// fieldDiff lists the fields on which crash and kinspect differ.
func fieldDiff(c, k map[string]string) string {
	var d []string
	keys := map[string]bool{}
	for x := range c {
		keys[x] = true
	}
	for x := range k {
		keys[x] = true
	}
	var names []string
	for x := range keys {
		names = append(names, x)
	}
	sort.Strings(names)
	for _, x := range names {
		if c[x] != k[x] {
			d = append(d, fmt.Sprintf("%s: crash %q kinspect %q", x, c[x], k[x]))
		}
	}
	return strings.Join(d, "; ")
}

// symbolAlias explains a difference in the symbol line alone when both
// names are symbols at the same address in nm's listing (crash and
// kinspect break ties among aliases differently).
func symbolAlias(c, k map[string]string, names map[string]map[uint64]bool) string {
	for x := range c {
		if x != "symbol" && c[x] != k[x] {
			return ""
		}
	}
	for x := range k {
		if x != "symbol" && c[x] != k[x] {
			return ""
		}
	}
	cn, kn := symName(c["symbol"]), symName(k["symbol"])
	if symOff(c["symbol"]) != symOff(k["symbol"]) {
		return ""
	}
	for a := range names[cn] {
		if names[kn][a] {
			return fmt.Sprintf("same address, another name: crash %s, kinspect %s (nm: both at %x)", cn, kn, a)
		}
	}
	return ""
}

// symName is the name in "K name+off".
func symName(s string) string {
	_, n, _ := strings.Cut(s, " ")
	n, _, _ = strings.Cut(n, "+")
	return n
}

func symOff(s string) string {
	_, o, _ := strings.Cut(s, "+")
	return o
}

// TestKmemPagesVsCrash compares kmem -p (every struct page: physical
// address, mapping, index, count, flags) and kmem -v (every vmalloc area)
// with crash's, line by line keyed by the page and the vmap_area, and
// kmem -V (the vm_stat counters) line for line.
func TestKmemPagesVsCrash(t *testing.T) {
	for _, fx := range fixtures {
		name := fx.Arch
		if fx.Suite != fixture.DefaultSuite {
			name += "-" + fx.Suite
		}
		t.Run(name, func(t *testing.T) {
			oracle.Require(t, fx.Arch)
			dumpFile := oracle.DefaultDump(fx.Arch)
			k, f := ktest.OpenSuite(t, fx.Arch, fx.Suite, dumpFile)
			cmds := []string{"kmem -p", "kmem -v", "kmem -V", "kmem -f"}
			outs, err := oracle.RunFixture(t, f, dumpFile, cmds)
			if err != nil {
				t.Fatal(err)
			}
			for i, cmd := range cmds {
				var out, errb bytes.Buffer
				if err := repl.NewSession(k, &out, &errb).Exec(context.Background(), cmd, false); err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				if cmd == "kmem -V" {
					compareLines(t, cmd, outs[i], out.String())
					continue
				}
				if cmd == "kmem -f" {
					compareFreeAreas(t, outs[i], out.String())
					continue
				}
				cl, kl := keyedLines(outs[i]), keyedLines(out.String())
				same, bad := 0, 0
				for key, c := range cl {
					if kl[key] == c {
						same++
					} else if bad++; bad <= 10 {
						t.Errorf("%s %s: crash %q kinspect %q", cmd, key, c, kl[key])
					}
				}
				if len(kl) != len(cl) {
					t.Errorf("%s: crash %d lines, kinspect %d", cmd, len(cl), len(kl))
				}
				t.Logf("%s: %s: %d of %d lines equal", ktest.Name(f), cmd, same, len(cl))
			}
		})
	}
}

// keyedLines maps each line that starts with a hex address to its fields.
func keyedLines(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		if _, err := strconv.ParseUint(f[0], 16, 64); err != nil {
			continue
		}
		m[f[0]] = strings.Join(f[1:], " ")
	}
	return m
}

// highmemPhys explains a physical address of arm's highmem for which
// crash prints no struct page: kmem_search looks a physical address up
// through PTOV, BADADDR above high_memory, and then skips the page array
// (memory.c); kinspect shows the page of that pfn (crash's own kmem -p
// lists it, and kinspect's page line must be that one). Every other
// field must agree.
func highmemPhys(k *kstructs.Kernel, addr uint64, c, kf, pages map[string]string) string {
	if c["page"] != "none" || kf["page"] == "" || addr >= k.Layout.PageOffset {
		return ""
	}
	pf := strings.Fields(kf["page"])
	if len(pf) < 2 || pages[pf[0]] != strings.Join(pf[1:], " ") {
		return ""
	}
	if va, err := k.PhysToVirt(addr); err == nil {
		if back, err := k.Trans.Translate(va); err == nil && back == addr {
			return "" // in the direct map: crash should have found it
		}
	}
	for x := range c {
		if x != "page" && c[x] != kf[x] {
			return ""
		}
	}
	return "a highmem physical address: crash's PTOV gives BADADDR and it shows no page, kinspect the pfn's struct page (as crash's kmem -p shows it)"
}

// crashPages is crash's kmem -p, keyed by struct page (the run of
// TestKmemPagesVsCrash, cached).
func crashPages(t *testing.T, f *fixture.Fixture) map[string]string {
	t.Helper()
	outs, err := oracle.RunFixture(t, f, oracle.DefaultDump(f.Arch), []string{"kmem -p"})
	if err != nil {
		t.Fatal(err)
	}
	return keyedLines(outs[0])
}

// imageHead explains an address of the kernel image before _stext that
// crash cannot translate: crash walks the page tables, which leave arm64's
// image head (its first 64 KiB, the Image header) unmapped, while kinspect
// translates image addresses by arithmetic (kimage_voffset).
func imageHead(k *kstructs.Kernel, addr uint64, crash string) string {
	lo, _ := k.Image.KernelImageRange()
	st, ok := k.Image.Lookup("_stext")
	if !ok || addr < lo || addr >= st.Addr || !strings.Contains(crash, "cannot make virtual-to-physical translation") {
		return ""
	}
	return "image head before _stext: crash finds it unmapped in the page tables, kinspect translates it by the image offset"
}

var freeAreaRow = regexp.MustCompile(`^\s*(\d+)\s+(\d+k)\s+([0-9a-f]+)\s+(\d+)\s+(\d+)\s*$`)

// compareFreeAreas compares kmem -f's area lines (order, size, free_list,
// blocks, pages) with crash's, in order.
func compareFreeAreas(t *testing.T, crash, kin string) {
	t.Helper()
	pick := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if g := freeAreaRow.FindStringSubmatch(l); g != nil {
				out = append(out, strings.Join(g[1:], " "))
			}
		}
		return out
	}
	c, k := pick(crash), pick(kin)
	same := 0
	for i := range c {
		if i < len(k) && c[i] == k[i] {
			same++
		} else if i < len(k) {
			t.Errorf("kmem -f area line %d: crash %q kinspect %q", i+1, c[i], k[i])
		}
	}
	if len(c) != len(k) || len(c) == 0 {
		t.Errorf("kmem -f: crash %d area lines, kinspect %d", len(c), len(k))
	}
	t.Logf("kmem -f: %d of %d free lists equal", same, len(c))
}
