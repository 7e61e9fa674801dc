package kstructs

import "fmt"

// ZoneFree is one zone's buddy allocator state (mm/page_alloc.c): what
// /proc/buddyinfo counts and crash's kmem -f walks.
type ZoneFree struct {
	Addr                       uint64
	Node                       int
	Name                       string
	StartPFN, Spanned, Present uint64
	FreePages                  int64 // vm_stat[NR_FREE_PAGES]
	Orders                     []OrderFree
	Err                        error `json:"-"` // a free list could not be walked to its end
}

// OrderFree is free_area[order]: nr_free and each migrate type's list.
type OrderFree struct {
	Order  int
	NrFree uint64
	Lists  []FreeList
}

// FreeList is one free_list[migratetype]: its list_head and its length.
type FreeList struct {
	Addr   uint64
	Blocks uint64
}

// freeLayout is where struct zone keeps its buddy free lists
// (include/linux/mmzone.h: free_area[MAX_ORDER], each with
// free_list[MIGRATE_TYPES] and nr_free).
type freeLayout struct {
	zl             *zoneLayout
	area           fieldLoc // zone.free_area
	areaSize       int
	list, nrFree   fieldLoc // in struct free_area
	orders, mtypes int
}

func (k *Kernel) freeLayout() (*freeLayout, error) {
	zl, err := k.zoneLayout()
	if err != nil {
		return nil, err
	}
	zt, err := k.structType("zone")
	if err != nil {
		return nil, err
	}
	fa, err := memberPath(zt, "free_area")
	if err != nil {
		return nil, fmt.Errorf("struct zone: %w", err)
	}
	fat, err := k.structType("free_area")
	if err != nil {
		return nil, err
	}
	fb := &layoutBuilder{t: fat, name: "struct free_area"}
	l := &freeLayout{zl: zl, area: fa, areaSize: int(fat.Size()), list: fb.need("free_list"), nrFree: fb.need("nr_free")}
	if err := fb.err(); err != nil {
		return nil, err
	}
	l.orders, l.mtypes = fa.Size/l.areaSize, l.list.Size/(2*k.PtrSize())
	return l, nil
}

// eachFreeList calls fn with every free list head of the zone at za, in
// crash's order (by order, then migrate type), until fn returns false.
func (l *freeLayout) eachFreeList(k *Kernel, za uint64, fn func(order, mtype int, head uint64) bool) {
	for o := 0; o < l.orders; o++ {
		area := za + uint64(l.area.Off) + uint64(o*l.areaSize)
		for m := 0; m < l.mtypes; m++ {
			if !fn(o, m, area+uint64(l.list.Off)+uint64(m*2*k.PtrSize())) {
				return
			}
		}
	}
}

// readZones reads every zone's struct.
func (k *Kernel) readZones(l *zoneLayout) ([]Zone, [][]byte, error) {
	zones, err := k.zones()
	if err != nil {
		return nil, nil, err
	}
	var out []Zone
	var raw [][]byte
	for _, za := range zones {
		zb, err := k.readBytes(za, l.size, "struct zone")
		if err != nil {
			return out, raw, err
		}
		out, raw = append(out, k.decodeZone(l, za, zb)), append(raw, zb)
	}
	return out, raw, nil
}

// FreeAreas reads every zone's free areas, counting the blocks of each
// free list by walking it.
func (k *Kernel) FreeAreas() ([]ZoneFree, error) {
	l, err := k.freeLayout()
	if err != nil {
		return nil, err
	}
	zones, raw, err := k.readZones(l.zl)
	d := k.decoder()
	var out []ZoneFree
	for i, zi := range zones {
		z := ZoneFree{Addr: zi.Addr, Node: zi.Node, Name: zi.Name, StartPFN: zi.StartPFN, Spanned: zi.Spanned, Present: zi.Present}
		if len(zi.VMStat) > 0 {
			z.FreePages = zi.VMStat[0].Value // NR_FREE_PAGES, index 0 (include/linux/mmzone.h)
		}
		if z.Spanned == 0 {
			out = append(out, z) // an empty zone's free lists were never initialised
			continue
		}
		l.eachFreeList(k, zi.Addr, func(o, m int, head uint64) bool {
			if m == 0 {
				z.Orders = append(z.Orders, OrderFree{Order: o, NrFree: d.uint(raw[i][l.area.Off+o*l.areaSize:], l.nrFree)})
			}
			links, err := WalkList(k, head, ListOptions{Head: true, Limit: 1 << 22})
			if err != nil && z.Err == nil {
				z.Err = fmt.Errorf("zone %s order %d free_list[%d] at %#x: %w", z.Name, o, m, head, err)
			}
			of := &z.Orders[len(z.Orders)-1]
			of.Lists = append(of.Lists, FreeList{Addr: head, Blocks: uint64(len(links))})
			return true
		})
		out = append(out, z)
	}
	return out, err
}

// FreeBlock is the buddy allocator's free block holding a page: crash's
// kmem ADDR free-area lines (memory.c dump_free_pages_zones_v2).
type FreeBlock struct {
	Zone Zone
	// MemMap and MapNr are the zone's mem_map and its index as crash's
	// dump_free_pages_zones_v2 computes them: the struct page of the
	// zone's first pfn and its distance from the node's (SPARSEMEM), the
	// node's mem_map plus the zone's start pfn in pages (FLATMEM).
	MemMap, MapNr uint64
	Order         int
	MType         int    // migrate type: the index of the free list
	List          uint64 // &free_area[Order].free_list[MType]
	Head          uint64 // struct page of the block's first page
	Index         uint64 // the page's position in the block, from 0
}

// FreeBlockOf finds the free block holding the page whose struct page is
// page, walking the free lists of the zones with free pages in crash's
// order; nil if the page is not free. As crash's free_page_callback,
// the walk stops at the first block whose range, its end included,
// reaches the page: a page just past a block is then reported in none.
func (k *Kernel) FreeBlockOf(page uint64) (*FreeBlock, error) {
	l, err := k.freeLayout()
	if err != nil {
		return nil, err
	}
	pl, err := k.pageLayout()
	if err != nil {
		return nil, err
	}
	lru, _, err := k.memberOffset("struct page", "lru")
	if err != nil {
		return nil, err
	}
	nodes, err := k.MemNodes()
	if err != nil {
		return nil, err
	}
	size := uint64(pl.size)
	for _, n := range nodes {
		for _, z := range n.Zones {
			if z.Spanned == 0 || len(z.VMStat) == 0 || z.VMStat[0].Value == 0 {
				continue
			}
			var fb *FreeBlock
			var werr error
			l.eachFreeList(k, z.Addr, func(o, m int, head uint64) bool {
				links, err := WalkList(k, head, ListOptions{Head: true, Limit: 1 << 22})
				for _, ln := range links {
					first := ln - lru
					if page >= first && page <= first+(uint64(1)<<uint(o))*size {
						fb = &FreeBlock{Zone: z, Order: o, MType: m, List: head, Head: first, Index: (page - first) / size}
						return false
					}
				}
				if err != nil && werr == nil {
					werr = fmt.Errorf("zone %s order %d free_list[%d] at %#x: %w", z.Name, o, m, head, err)
				}
				return true
			})
			if fb != nil {
				fb.MemMap, fb.MapNr = z.MemMap, (z.MemMap-n.MemMap)/size
				if pl.model.flat {
					fb.MemMap, fb.MapNr = n.MemMap+z.StartPFN*size, z.StartPFN
				}
				if fb.Index >= uint64(1)<<uint(fb.Order) {
					return nil, werr // one past the block: crash stops here and shows nothing
				}
				return fb, werr
			}
			if werr != nil {
				return nil, werr
			}
		}
	}
	return nil, nil
}
