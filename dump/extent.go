package dump

import (
	"container/heap"
	"sort"
)

// An extent maps the address range [start, end) of some space (physical
// memory for ELF segments, logical file offsets for flattened records) to
// file offsets starting at off, or to zeros when off < 0.
type extent struct {
	start, end uint64
	off        int64
}

// A layer is one input range to paint: where ranges overlap, the layer with
// the highest prio shows.
type layer struct {
	start, end uint64
	off        int64 // file offset of start, < 0 for zeros
	prio       uint64
}

// paint resolves overlapping layers into sorted, disjoint extents. Adjacent
// pieces that continue each other (in the file, or both zero) are merged.
// Layers with start >= end are ignored. It runs in O(n log n).
func paint(layers []layer) []extent {
	ls := make([]layer, 0, len(layers))
	for _, l := range layers {
		if l.start < l.end {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].start < ls[j].start })

	// Fast path: no overlaps at all.
	disjoint := true
	for i := 1; i < len(ls); i++ {
		if ls[i].start < ls[i-1].end {
			disjoint = false
			break
		}
	}
	var out []extent
	emit := func(start, end uint64, off int64) {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.end == start && ((p.off < 0 && off < 0) ||
				(p.off >= 0 && off >= 0 && uint64(p.off)+(p.end-p.start) == uint64(off))) {
				p.end = end
				return
			}
		}
		if off < 0 {
			off = -1
		}
		out = append(out, extent{start, end, off})
	}
	if disjoint {
		for _, l := range ls {
			emit(l.start, l.end, l.off)
		}
		return out
	}

	// Sweep over the sorted boundaries with a heap of the active layers,
	// the top being the one with the highest priority.
	bounds := make([]uint64, 0, 2*len(ls))
	for _, l := range ls {
		bounds = append(bounds, l.start, l.end)
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	h := &layerHeap{}
	next := 0
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		if lo == hi {
			continue
		}
		for next < len(ls) && ls[next].start <= lo {
			heap.Push(h, ls[next])
			next++
		}
		for h.Len() > 0 && (*h)[0].end <= lo {
			heap.Pop(h)
		}
		if h.Len() == 0 {
			continue
		}
		top := (*h)[0]
		off := top.off
		if off >= 0 {
			off += int64(lo - top.start)
		}
		emit(lo, hi, off)
	}
	return out
}

type layerHeap []layer

func (h layerHeap) Len() int           { return len(h) }
func (h layerHeap) Less(i, j int) bool { return h[i].prio > h[j].prio }
func (h layerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *layerHeap) Push(x any)        { *h = append(*h, x.(layer)) }
func (h *layerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// find returns the index of the extent containing addr, or -1.
func findExtent(es []extent, addr uint64) int {
	i := sort.Search(len(es), func(i int) bool { return es[i].end > addr })
	if i < len(es) && es[i].start <= addr {
		return i
	}
	return -1
}
