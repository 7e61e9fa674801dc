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
	l, err := k.zoneLayout()
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
	fl, nrFree := fb.need("free_list"), fb.need("nr_free")
	if err := fb.err(); err != nil {
		return nil, err
	}
	orders, lists := fa.Size/int(fat.Size()), fl.Size/(2*k.PtrSize())
	zones, err := k.zones()
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	var out []ZoneFree
	for _, za := range zones {
		zb, err := k.readBytes(za, l.size, "struct zone")
		if err != nil {
			return out, err
		}
		zi := k.decodeZone(l, za, zb)
		z := ZoneFree{Addr: za, Node: zi.Node, Name: zi.Name, StartPFN: zi.StartPFN, Spanned: zi.Spanned, Present: zi.Present}
		if len(zi.VMStat) > 0 {
			z.FreePages = zi.VMStat[0].Value // NR_FREE_PAGES, index 0 (include/linux/mmzone.h)
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
