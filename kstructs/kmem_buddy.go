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

// FreeAreas reads every zone's free areas, counting the blocks of each
// free list by walking it.
func (k *Kernel) FreeAreas() ([]ZoneFree, error) {
	zt, err := k.structType("zone")
	if err != nil {
		return nil, err
	}
	b := &layoutBuilder{t: zt, name: "struct zone"}
	name, start, spanned, present := b.need("name"), b.need("zone_start_pfn"), b.need("spanned_pages"), b.need("present_pages")
	fa, vmstat, pgdat := b.need("free_area"), b.need("vm_stat"), b.need("zone_pgdat")
	if err := b.err(); err != nil {
		return nil, err
	}
	fat, err := k.structType("free_area")
	if err != nil {
		return nil, err
	}
	fb := &layoutBuilder{t: fat, name: "struct free_area"}
	fl, nrFree := fb.need("free_list"), fb.need("nr_free")
	if err := fb.err(); err != nil {
		return nil, err
	}
	orders, lists := fa.Size/int(fat.Size()), fl.Size/(2*k.PtrSize())
	zones, err := k.zones()
	if err != nil {
		return nil, err
	}
	nodeID, _, _ := k.memberOffset("struct pglist_data", "node_id")
	d := k.decoder()
	var out []ZoneFree
	for _, za := range zones {
		zb, err := k.readBytes(za, int(zt.Size()), "struct zone")
		if err != nil {
			return out, err
		}
		z := ZoneFree{Addr: za, StartPFN: d.uint(zb, start), Spanned: d.uint(zb, spanned), Present: d.uint(zb, present),
			FreePages: int64(d.ptrAt(zb, vmstat.Off))} // vm_stat[NR_FREE_PAGES], index 0 (include/linux/mmzone.h)
		if np := d.uint(zb, name); np != 0 {
			z.Name, _ = k.readCString(np, 32)
		}
		if pg := d.uint(zb, pgdat); pg != 0 {
			if n, err := k.readBytes(pg+nodeID, 4, "pglist_data.node_id"); err == nil {
				z.Node = int(int32(d.bo.Uint32(n)))
			}
		}
		if z.Spanned == 0 {
			out = append(out, z) // an empty zone's free lists were never initialised
			continue
		}
		for o := 0; o < orders; o++ {
			area := za + uint64(fa.Off) + uint64(o)*uint64(fat.Size())
			of := OrderFree{Order: o, NrFree: d.uint(zb[fa.Off+o*int(fat.Size()):], nrFree)}
			for m := 0; m < lists; m++ {
				head := area + uint64(fl.Off) + uint64(m*2*k.PtrSize())
				links, err := WalkList(k, head, ListOptions{Head: true, Limit: 1 << 22})
				if err != nil && z.Err == nil {
					z.Err = fmt.Errorf("zone %s order %d free_list[%d] at %#x: %w", z.Name, o, m, head, err)
				}
				of.Lists = append(of.Lists, FreeList{Addr: head, Blocks: uint64(len(links))})
			}
			z.Orders = append(z.Orders, of)
		}
		out = append(out, z)
	}
	return out, nil
}
