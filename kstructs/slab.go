package kstructs

import (
	"fmt"
	"math/bits"

	"github.com/kinspect/kinspect/dwarfx"
)

// SlabCache is one SLUB kmem_cache with its object counts, computed the way
// crash's `kmem -s` computes them.
type SlabCache struct {
	Addr       uint64
	Name       string
	ObjectSize uint64 // kmem_cache.object_size: what crash prints as OBJSIZE
	Size       uint64 // kmem_cache.size (object + metadata): /proc/slabinfo's objsize
	ObjPerSlab uint64 // oo_objects(s->oo)
	Order      uint64 // oo_order(s->oo)
	SlabSize   uint64 // PAGE_SIZE << order
	// Total is Σ kmem_cache_node.total_objects; Slabs Σ nr_slabs.
	Total uint64
	Slabs uint64
	// Free counts the free objects of the per-cpu slabs (objects - inuse and
	// the per-cpu freelist), of the per-cpu partial slabs and of the node
	// partial slabs; Allocated = Total - Free (crash's ALLOCATED).
	Free      uint64
	Allocated uint64
	// PartialFree is the free objects on the node partial lists only:
	// /proc/slabinfo's active_objs is Total - PartialFree.
	PartialFree uint64
	// Err is why the counts could not be gathered (crash prints "?").
	Err error
}

// SlabinfoActive is /proc/slabinfo's active_objs for this cache.
func (c *SlabCache) SlabinfoActive() uint64 { return c.Total - c.PartialFree }

type slabLayout struct {
	cacheSize                                                       int
	name, objectSize, size, offset, oo, random, cpuSlab, node, list fieldLoc
	nodeLen                                                         int

	nodeSize                                  int
	nrPartial, partial, nrSlabs, totalObjects fieldLoc

	cpuSize                           int
	cpuFreelist, cpuSlabP, cpuPartial fieldLoc

	// struct slab (6.1+) or struct page (before 5.17)
	slabType           string
	slabSize           int
	inuse, objects     dwarfx.Field
	slabList, slabNext fieldLoc
}

func (k *Kernel) slabLayout() (*slabLayout, error) {
	m := k.memLayouts()
	m.slabOnce.Do(func() { m.slab, m.slabErr = k.buildSlabLayout() })
	return m.slab, m.slabErr
}

func (k *Kernel) buildSlabLayout() (*slabLayout, error) {
	l := &slabLayout{}
	kc, err := k.structType("kmem_cache")
	if err != nil {
		return nil, fmt.Errorf("kmem -s needs SLUB: %w", err)
	}
	b := &layoutBuilder{t: kc, name: "struct kmem_cache"}
	l.cacheSize = int(kc.Size())
	l.name = b.need("name")
	l.objectSize = b.need("object_size", "objsize")
	l.size = b.need("size")
	l.offset = b.need("offset")
	l.oo = b.need("oo")
	l.random = b.opt("random")
	l.cpuSlab = b.need("cpu_slab")
	l.node = b.need("node")
	l.list = b.need("list")
	if err := b.err(); err != nil {
		return nil, fmt.Errorf("%w (kinspect reads SLUB caches only)", err)
	}
	l.nodeLen = l.node.Size / k.PtrSize()

	kn, err := k.structType("kmem_cache_node")
	if err != nil {
		return nil, err
	}
	nb := &layoutBuilder{t: kn, name: "struct kmem_cache_node"}
	l.nodeSize = int(kn.Size())
	l.nrPartial = nb.need("nr_partial")
	l.partial = nb.need("partial")
	l.nrSlabs = nb.opt("nr_slabs")
	l.totalObjects = nb.opt("total_objects")
	if err := nb.err(); err != nil {
		return nil, err
	}
	if !l.nrSlabs.ok() || !l.totalObjects.ok() {
		return nil, fmt.Errorf("kmem_cache_node has no nr_slabs/total_objects: the kernel was built without CONFIG_SLUB_DEBUG, and full slabs are on no list to walk")
	}

	kcc, err := k.structType("kmem_cache_cpu")
	if err != nil {
		return nil, err
	}
	cb := &layoutBuilder{t: kcc, name: "struct kmem_cache_cpu"}
	l.cpuSize = int(kcc.Size())
	l.cpuFreelist = cb.need("freelist")
	l.cpuSlabP = cb.need("slab", "page")
	l.cpuPartial = cb.opt("partial")
	if err := cb.err(); err != nil {
		return nil, err
	}

	// The slab descriptor: struct slab when the kernel has one with the
	// SLUB members (5.17+), else struct page.
	st, err := k.structType("slab")
	if err != nil || !hasMember(st, "slab_cache") || !hasMember(st, "inuse") {
		st, err = k.structType("page")
		if err != nil {
			return nil, err
		}
		l.slabType = "page"
	} else {
		l.slabType = "slab"
	}
	sb := &layoutBuilder{t: st, name: "struct " + l.slabType}
	l.slabSize = int(st.Size())
	l.slabList = sb.need("slab_list", "lru")
	l.slabNext = sb.opt("next")
	if err := sb.err(); err != nil {
		return nil, err
	}
	l.inuse = k.findBits(st, "inuse")
	l.objects = k.findBits(st, "objects")
	if !l.inuse.Found() || !l.objects.Found() {
		return nil, fmt.Errorf("struct %s has no inuse/objects members", l.slabType)
	}
	return l, nil
}

// SlabCaches walks slab_caches and returns every cache with its counts.
// A cache whose counts cannot be gathered has Err set; a list that cannot
// be walked to its end returns the caches found and the error.
func (k *Kernel) SlabCaches() ([]*SlabCache, error) {
	l, err := k.slabLayout()
	if err != nil {
		return nil, err
	}
	head, err := k.Image.Variable("slab_caches")
	if err != nil {
		return nil, fmt.Errorf("kmem -s walks slab_caches: %w", err)
	}
	nodes, lerr := WalkList(k, head.Addr, ListOptions{Head: true, Limit: 1 << 16})
	var out []*SlabCache
	for _, n := range nodes {
		out = append(out, k.slabCache(l, n-uint64(l.list.Off)))
	}
	if lerr != nil {
		return out, fmt.Errorf("slab_caches list at %#x: %w", head.Addr, lerr)
	}
	return out, nil
}

// slabCache reads one kmem_cache and counts its objects.
func (k *Kernel) slabCache(l *slabLayout, addr uint64) *SlabCache {
	c := &SlabCache{Addr: addr}
	b, err := k.readBytes(addr, l.cacheSize, "struct kmem_cache")
	if err != nil {
		c.Name = "(unknown)"
		c.Err = err
		return c
	}
	d := k.decoder()
	if np := d.uint(b, l.name); np != 0 {
		if s, err := k.readCString(np, 64); err == nil {
			c.Name = s
		} else {
			c.Name = "(unknown)"
		}
	}
	c.ObjectSize = d.uint(b, l.objectSize)
	c.Size = d.uint(b, l.size)
	oo := d.uint(b, l.oo)
	c.ObjPerSlab = oo & (1<<16 - 1)
	c.Order = oo >> 16
	c.SlabSize = k.PageSize() << c.Order
	w := &slabWalk{k: k, l: l, c: c, offset: d.uint(b, l.offset), random: d.uint(b, l.random), hardened: l.random.ok()}
	c.Err = w.count(b)
	if c.Err == nil {
		if c.Free > c.Total {
			c.Err = fmt.Errorf("%s: %d free objects but only %d in total", c.Name, c.Free, c.Total)
		} else {
			c.Allocated = c.Total - c.Free
		}
	}
	return c
}

type slabWalk struct {
	k        *Kernel
	l        *slabLayout
	c        *SlabCache
	offset   uint64 // kmem_cache.offset: where the free pointer lies in an object
	random   uint64
	hardened bool
}

// slabCounts reads a slab descriptor's inuse and objects.
func (w *slabWalk) slabCounts(slab uint64) (inuse, objects uint64, err error) {
	b, err := w.k.readBytes(slab, w.l.slabSize, "struct "+w.l.slabType)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: slab %#x: %w", w.c.Name, slab, err)
	}
	bo := w.k.Image.ByteOrder()
	inuse, _ = w.l.inuse.Extract(b, bo)
	objects, _ = w.l.objects.Extract(b, bo)
	if inuse > objects {
		return 0, 0, fmt.Errorf("%s: slab %#x: inuse %d > objects %d (not a slab?)", w.c.Name, slab, inuse, objects)
	}
	return inuse, objects, nil
}

func (w *slabWalk) count(cache []byte) error {
	k, l, c := w.k, w.l, w.c
	d := k.decoder()
	cpuSlab := d.uint(cache, l.cpuSlab)
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return err
	}
	for _, cpu := range cpus {
		off, err := k.PerCPUOffset(cpu)
		if err != nil {
			return err
		}
		pc := cpuSlab + off
		cb, err := k.readBytes(pc, l.cpuSize, "struct kmem_cache_cpu")
		if err != nil {
			return fmt.Errorf("%s: cpu %d: %w", c.Name, cpu, err)
		}
		if slab := d.uint(cb, l.cpuSlabP); slab != 0 {
			inuse, objects, err := w.slabCounts(slab)
			if err != nil {
				return fmt.Errorf("cpu %d slab: %w", cpu, err)
			}
			c.Free += objects - inuse
			n, err := w.countFreelist(d.uint(cb, l.cpuFreelist), int(objects))
			if err != nil {
				return fmt.Errorf("cpu %d freelist: %w", cpu, err)
			}
			c.Free += n
		}
		if l.cpuPartial.ok() && l.slabNext.ok() {
			seen := map[uint64]bool{}
			for p := d.uint(cb, l.cpuPartial); p != 0; {
				if seen[p] || len(seen) > 1<<16 {
					return fmt.Errorf("%s: cpu %d partial list: slab %#x seen twice", c.Name, cpu, p)
				}
				seen[p] = true
				inuse, objects, err := w.slabCounts(p)
				if err != nil {
					return fmt.Errorf("cpu %d partial: %w", cpu, err)
				}
				c.Free += objects - inuse
				next, err := k.readPointer(p + uint64(l.slabNext.Off))
				if err != nil {
					return fmt.Errorf("%s: cpu %d partial slab %#x: reading next: %w", c.Name, cpu, p, err)
				}
				p = next
			}
		}
	}
	// kmem_cache is allocated with nr_node_ids node pointers: the rest of
	// the array is not part of it.
	nodes := l.nodeLen
	if n, err := k.ReadUint("nr_node_ids"); err == nil && n > 0 && int(n) < nodes {
		nodes = int(n)
	} else if err == nil && n == 0 {
		return fmt.Errorf("nr_node_ids is 0")
	}
	for i := 0; i < nodes; i++ {
		np := d.ptrAt(cache, l.node.Off+i*k.PtrSize())
		if np == 0 {
			continue
		}
		nb, err := k.readBytes(np, l.nodeSize, "struct kmem_cache_node")
		if err != nil {
			return fmt.Errorf("%s: node %d: %w", c.Name, i, err)
		}
		c.Slabs += d.uint(nb, l.nrSlabs)
		c.Total += d.uint(nb, l.totalObjects)
		nrPartial := d.uint(nb, l.nrPartial)
		head := np + uint64(l.partial.Off)
		links, err := WalkList(k, head, ListOptions{Head: true, Limit: int(nrPartial) + 1024})
		if err != nil {
			return fmt.Errorf("%s: node %d partial list: %w", c.Name, i, err)
		}
		for _, ln := range links {
			inuse, objects, err := w.slabCounts(ln - uint64(l.slabList.Off))
			if err != nil {
				return fmt.Errorf("node %d partial: %w", i, err)
			}
			c.Free += objects - inuse
			c.PartialFree += objects - inuse
		}
	}
	return nil
}

// countFreelist counts a SLUB freelist (free pointers hardened with
// CONFIG_SLAB_FREELIST_HARDENED when kmem_cache has random).
func (w *slabWalk) countFreelist(obj uint64, max int) (uint64, error) {
	seen := map[uint64]bool{}
	n := uint64(0)
	for obj != 0 {
		if seen[obj] {
			return n, fmt.Errorf("%s: freelist object %#x seen twice", w.c.Name, obj)
		}
		if len(seen) > max+1 {
			return n, fmt.Errorf("%s: freelist longer than the slab's %d objects", w.c.Name, max)
		}
		seen[obj] = true
		n++
		at := obj + w.offset
		raw, err := w.k.readPointer(at)
		if err != nil {
			return n, fmt.Errorf("%s: free object %#x: reading its free pointer at %#x: %w", w.c.Name, obj, at, err)
		}
		obj = w.freePtr(raw, at)
	}
	return n, nil
}

// freePtr decodes a stored free pointer: ptr ^ s->random ^ swab(ptr_addr)
// on hardened kernels (older ones did not swab; as crash, try both).
func (w *slabWalk) freePtr(raw, at uint64) uint64 {
	if !w.hardened {
		return raw
	}
	var sw uint64
	if w.k.PtrSize() == 8 {
		sw = bits.ReverseBytes64(at)
	} else {
		sw = uint64(bits.ReverseBytes32(uint32(at)))
	}
	v := raw ^ w.random ^ sw
	if v == 0 || w.readable(v) {
		return v
	}
	return raw ^ w.random ^ at
}

func (w *slabWalk) readable(addr uint64) bool {
	b := make([]byte, 1)
	return w.k.ReadVirt(b, addr) == nil
}
