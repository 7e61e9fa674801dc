package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// slabCacheJSON is one cache in `kmem -s --json`.
type slabCacheJSON struct {
	Cache      string `json:"cache"`
	Name       string `json:"name"`
	ObjSize    uint64 `json:"objsize"`     // kmem_cache.object_size (crash's OBJSIZE)
	Size       uint64 `json:"size"`        // kmem_cache.size (/proc/slabinfo's objsize)
	Allocated  uint64 `json:"allocated"`   // crash's ALLOCATED
	Total      uint64 `json:"total"`       // objects in all slabs
	Slabs      uint64 `json:"slabs"`       // number of slabs
	SlabSize   uint64 `json:"slab_size"`   // bytes per slab (SSIZE)
	ObjPerSlab uint64 `json:"objperslab"`  // objects per slab
	ActiveObjs uint64 `json:"active_objs"` // as /proc/slabinfo counts them (cpu slabs all active)
	Error      string `json:"error,omitempty"`
}

type kmemSlabResult struct {
	caches []slabCacheJSON
	err    string // the cache list could not be walked to its end
}

func (r kmemSlabResult) MarshalJSON() ([]byte, error) {
	if r.caches == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(r.caches)
}

func (r kmemSlabResult) Text(w io.Writer, s *Session) error {
	fmt.Fprintf(w, "CACHE%s OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n", strings.Repeat(" ", s.hexWidth()-4))
	for _, c := range r.caches {
		if c.Error != "" {
			fmt.Fprintf(w, "kmem: %s: cannot gather relevant slab data: %s\n", c.Name, c.Error)
			fmt.Fprintf(w, "%-*s %8d  %9s  %8s  %5s  %4dk  %s\n", s.hexWidth(), c.Cache, c.ObjSize, "?", "?", "?", c.SlabSize/1024, c.Name)
			continue
		}
		fmt.Fprintf(w, "%-*s %8d  %9d  %8d  %5d  %4dk  %s\n", s.hexWidth(), c.Cache, c.ObjSize, c.Allocated, c.Total, c.Slabs, c.SlabSize/1024, c.Name)
	}
	if r.err != "" {
		fmt.Fprintf(w, "kmem: %s\n", r.err)
	}
	return nil
}

func kmemCmd() *Command {
	return &Command{
		Name:     "kmem",
		Synopsis: "kmem -i | -s [CACHE] | -p [PHYSADDR...] | -v | -V | -f | -n | -z | -a UADDR... | ADDR...",
		Summary:  "kernel memory: the memory summary (-i), the SLUB caches (-s), what an address is (ADDR)",
		Description: "-i prints crash's memory summary (total, free, used, buffers, cached, slab, highmem, huge pages, " +
			"swap, commit limit) from _totalram_pages, the zones' and vm_node_stat's counters, hstates, swap_info " +
			"and vm_committed_as; SHARED walks every struct page as crash does (not reserved, _refcount above 1). -s lists every SLUB cache of " +
			"slab_caches with its object size, allocated and total objects, slab count and slab size, counted as " +
			"crash counts them (per-cpu slabs, per-cpu partial and node partial lists, kmem_cache_node totals); " +
			"CACHE restricts the list to the cache of that name. -p lists the page array as crash does (PAGE, PHYSICAL, " +
			"MAPPING, INDEX, CNT, FLAGS named by pageflag_names), or the pages of the physical addresses given; -v the " +
			"busy vmalloc areas (vmap_area_list, or vmap_nodes' busy trees on 6.9+); -V the counters of vm_zone_stat, " +
			"vm_node_stat and vm_numa_stat named by their enums, and vm_event_states summed over the cpus; -f walks each zone's free lists (free_area[order].free_list[type]) and counts their blocks; " +
			"-n lists the memory nodes (pglist_data, size, node_zones, mem_map) with their zones, the present SPARSEMEM " +
			"sections of mem_section (coded and decoded mem_map, state flags, first pfn) and the memory bus's memory blocks; " +
			"-z prints each zone's size, present pages, min/low/high watermarks and vm_stat counters; -a finds the VMA " +
			"of each user address in the context task's mm (choose the task with set PID). ADDR (a kernel virtual address, symbol or expression) is " +
			"identified as crash's kmem ADDR does: the kernel symbol it is in, the vmalloc area (vmap_area, vm_struct, range) " +
			"and the task whose vmapped stack it is, the SLUB object it lies in (cache, slab, object, free or allocated, " +
			"decoding hardened free pointers, the cpu whose active slab holds it), the task whose task_struct or kernel " +
			"stack contains it, and the struct page (of the address itself when it is one, else of its physical page) " +
			"with its flags named by the kernel's pageflag_names; " +
			"for a page of the buddy allocator, the free block holding it (zone, order, free list, first page, its place in the " +
			"block) as crash prints it; beyond crash, the page table the page holds (its level and the task: every mm's tables " +
			"are walked once) and, for a per-cpu address, the static per-cpu variable and the cpu. --json gives one object per cache (-s), page (-p), area (-v) or address, or the summary (-i).",
		Examples: []string{"kmem -i", "kmem -s", "kmem -s dentry", "kmem -s --json", "kmem -p 1000", "kmem -v", "kmem -n", "kmem -z --json", "kmem ffff888003a1c040", "kmem init_task --json"},
		Flags: []Flag{
			{Short: "i", Help: "memory summary"},
			{Short: "s", Help: "SLUB cache summary"},
			{Short: "p", Help: "the page array: every struct page, or those of the physical addresses given"},
			{Short: "v", Help: "the vmalloc areas (vmap_area, vm_struct, range, size)"},
			{Short: "V", Help: "the vm_stat counters (zone, node, numa) and the vm events summed over the cpus"},
			{Short: "f", Help: "the buddy allocator's free areas of each zone, per order and migrate type"},
			{Short: "n", Help: "the memory nodes and their zones, the memory sections and the memory blocks"},
			{Short: "z", Help: "each zone's size, watermarks and vm_stat counters"},
			{Short: "a", Help: "ADDR is a user address of the context task (set PID): show its VMA"},
		},
		Run: runKmem,
	}
}

func runKmem(s *Session, inv *Invocation) (Result, error) {
	switch {
	case inv.Has("i") && inv.Has("s"):
		return nil, &UsageError{"kmem", "-i and -s are exclusive"}
	case inv.Has("p"):
		return s.kmemPages(inv.Args)
	case inv.Has("v"):
		return s.kmemVmalloc()
	case inv.Has("V"):
		return s.kmemVMStat()
	case inv.Has("f"):
		return s.kmemFree()
	case inv.Has("n"):
		return s.kmemNodes()
	case inv.Has("z"):
		return s.kmemZones()
	case inv.Has("a"):
		if len(inv.Args) == 0 {
			return nil, &UsageError{"kmem", "-a takes user addresses"}
		}
		return s.kmemUser(inv.Args)
	case inv.Has("s"):
		return kmemSlabs(s, inv.Args)
	case inv.Has("i"):
		if len(inv.Args) > 0 {
			return nil, &UsageError{"kmem", "-i takes no argument"}
		}
		return kmemInfo(s)
	case len(inv.Args) > 0:
		return s.kmemAddrs(inv.Args)
	}
	return nil, &UsageError{"kmem", "give -i, -s or an address (see 'help kmem')"}
}

func kmemSlabs(s *Session, names []string) (Result, error) {
	caches, err := s.K.SlabCaches()
	if caches == nil && err != nil {
		return nil, err
	}
	want, found := map[string]bool{}, map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var r kmemSlabResult
	r.caches = []slabCacheJSON{}
	for _, c := range caches {
		if len(names) > 0 && !want[c.Name] {
			continue
		}
		found[c.Name] = true
		j := slabCacheJSON{Cache: s.addr(c.Addr), Name: c.Name, ObjSize: c.ObjectSize, Size: c.Size,
			Allocated: c.Allocated, Total: c.Total, Slabs: c.Slabs, SlabSize: c.SlabSize, ObjPerSlab: c.ObjPerSlab,
			ActiveObjs: c.SlabinfoActive()}
		if c.Err != nil {
			j.Error = c.Err.Error()
			j.Allocated, j.Total, j.Slabs, j.ActiveObjs = 0, 0, 0, 0
		}
		r.caches = append(r.caches, j)
	}
	if err != nil {
		r.err = err.Error()
	}
	if len(names) > 0 {
		var missing []string
		for _, n := range names {
			if !found[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("kmem: no slab cache named %s", strings.Join(missing, ", "))
		}
	}
	return r, nil
}

// kmemInfoRow is one line of `kmem -i --json`.
type kmemInfoRow struct {
	Name    string  `json:"name"`    // crash's label: "TOTAL MEM", "FREE", ...
	Pages   *uint64 `json:"pages"`   // null when kinspect does not compute it (SHARED)
	Bytes   *uint64 `json:"bytes"`   // pages × page size
	Percent *uint64 `json:"percent"` // of the line's reference (TOTAL MEM, TOTAL HIGH...), null for totals
	Of      string  `json:"of"`      // the reference: "TOTAL MEM", "TOTAL LOW", ... ("" for totals)
	gap     bool
}

type kmemInfoResult struct {
	Rows []kmemInfoRow `json:"rows"`
}

// pagesToSize is crash's pages_to_size.
func pagesToSize(pages, pageSize uint64) string {
	if pages == 0 {
		return "0"
	}
	total := float64(pages) * float64(pageSize)
	var out string
	switch {
	case total >= 1<<30:
		out = fmt.Sprintf("%.1f GB", total/(1<<30))
	case total >= 1<<20:
		out = fmt.Sprintf("%.1f MB", total/(1<<20))
	default:
		out = fmt.Sprintf("%d KB", uint64(total/1024))
	}
	return strings.Replace(out, ".0 ", " ", 1)
}

func (r kmemInfoResult) Text(w io.Writer, s *Session) error {
	fmt.Fprintf(w, "                 PAGES        TOTAL      PERCENTAGE\n")
	for _, row := range r.Rows {
		if row.gap {
			fmt.Fprintln(w)
		}
		if row.Pages == nil {
			fmt.Fprintf(w, "%13s  %7s  %11s  %3s%% of %s   (not computed: crash counts mem_map pages)\n", row.Name, "?", "?", "?", row.Of)
			continue
		}
		size := pagesToSize(*row.Pages, s.K.PageSize())
		if row.Percent == nil {
			fmt.Fprintf(w, "%13s  %7d  %11s         ----\n", row.Name, *row.Pages, size)
			continue
		}
		fmt.Fprintf(w, "%13s  %7d  %11s  %3d%% of %s\n", row.Name, *row.Pages, size, *row.Percent, row.Of)
	}
	return nil
}

func kmemInfo(s *Session) (Result, error) {
	mi, err := s.K.MemInfo()
	if err != nil {
		return nil, fmt.Errorf("kmem -i: %w", err)
	}
	ps := s.K.PageSize()
	var r kmemInfoResult
	add := func(gap bool, name string, pages uint64, of string, ref uint64) {
		p, b := pages, pages*ps
		row := kmemInfoRow{Name: name, Pages: &p, Bytes: &b, Of: of, gap: gap}
		if of != "" {
			pct := uint64(0)
			if ref != 0 && pages != 0 {
				pct = pages * 100 / ref
			}
			row.Percent = &pct
		}
		r.Rows = append(r.Rows, row)
	}
	total := mi.TotalRAM
	add(false, "TOTAL MEM", total, "", 0)
	add(false, "FREE", mi.Free, "TOTAL MEM", total)
	add(false, "USED", total-min(mi.Free, total), "TOTAL MEM", total)
	r.Rows = append(r.Rows, s.sharedRow(total))
	add(false, "BUFFERS", mi.Buffers, "TOTAL MEM", total)
	add(false, "CACHED", mi.Cached, "TOTAL MEM", total)
	add(false, "SLAB", mi.Slab, "TOTAL MEM", total)
	if mi.HasHigh {
		add(true, "TOTAL HIGH", mi.TotalHigh, "TOTAL MEM", total)
		add(false, "FREE HIGH", mi.FreeHigh, "TOTAL HIGH", mi.TotalHigh)
		low := total - mi.TotalHigh
		add(false, "TOTAL LOW", low, "TOTAL MEM", total)
		add(false, "FREE LOW", mi.Free-mi.FreeHigh, "TOTAL LOW", low)
	}
	if mi.HasHuge {
		add(true, "TOTAL HUGE", mi.HugeTotal, "", 0)
		add(false, "HUGE FREE", mi.HugeFree, "TOTAL HUGE", mi.HugeTotal)
	}
	gap := true
	if mi.HasSwap {
		add(gap, "TOTAL SWAP", mi.SwapTotal, "", 0)
		add(false, "SWAP USED", mi.SwapUsed, "TOTAL SWAP", mi.SwapTotal)
		add(false, "SWAP FREE", mi.SwapTotal-mi.SwapUsed, "TOTAL SWAP", mi.SwapTotal)
		gap = true
	}
	if mi.HasCommit {
		add(gap, "COMMIT LIMIT", mi.CommitLimit, "", 0)
		add(false, "COMMITTED", mi.Committed, "TOTAL LIMIT", mi.CommitLimit)
	}
	return r, nil
}
