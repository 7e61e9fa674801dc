package kstructs

import (
	"fmt"
	"sync"
)

// SlabObject is where an address lies in a SLUB slab, as crash's kmem ADDR
// shows it (mm/slub.c).
type SlabObject struct {
	Cache *SlabCache
	Slab  uint64 // struct slab (6.1+) or struct page: the slab's head page
	Base  uint64 // the slab's memory (page_address)
	Node  int
	// Objects, Allocated, Free count the slab's objects as crash does: a
	// cpu slab's free objects are its per-cpu freelist and, when objects
	// were freed from another cpu, objects - inuse.
	Objects, Allocated, Free uint64
	Obj                      uint64 // the object containing the address
	InObject                 bool   // false: in the slab's tail, past the last object
	IsFree                   bool   // Obj is on the slab's or the cpu's freelist
	CPU                      int    // the cpu whose active slab this is, -1
	free                     map[uint64]bool
}

// ObjectAddrs lists the slab's objects with whether each is free.
func (o *SlabObject) ObjectAddrs() (addrs []uint64, free []bool) {
	for i := uint64(0); i < o.Objects; i++ {
		a := o.Base + i*o.Cache.Size
		addrs, free = append(addrs, a), append(free, o.free[a])
	}
	return addrs, free
}

type slabDescLayout struct {
	cache, freelist fieldLoc
}

var slabObjCache sync.Map // *Kernel → *slabObjState

type slabObjState struct {
	mu     sync.Mutex
	desc   *slabDescLayout
	caches map[uint64]*SlabCache
	tasks  *taskIndex
}

func (k *Kernel) slabObjState() *slabObjState {
	v, _ := slabObjCache.LoadOrStore(k, &slabObjState{caches: map[uint64]*SlabCache{}})
	return v.(*slabObjState)
}

// SlabObjectOf identifies the slab object at kernel virtual address va
// from the struct page of its physical page: nil, nil when the page is not
// a slab page.
func (k *Kernel) SlabObjectOf(va uint64) (*SlabObject, error) {
	pa, err := k.Trans.Translate(va)
	if err != nil {
		return nil, nil
	}
	pp, err := k.PageOfPhys(pa)
	if err != nil {
		return nil, nil
	}
	pg, err := k.ReadPage(pp)
	if err != nil || !pg.Slab {
		return nil, err
	}
	return k.slabOf(pg.Head, va)
}

// SlabOfPage is the whole slab whose struct page (or struct slab) is at
// page, as crash's kmem shows it for a slab page's address: nil, nil
// when it is not the head page of a slab.
func (k *Kernel) SlabOfPage(page uint64) (*SlabObject, error) {
	pg, err := k.ReadPage(page)
	if err != nil || !pg.Slab || pg.Head != page {
		return nil, err
	}
	va, err := k.PhysToVirt(pg.Phys)
	if err != nil {
		return nil, err
	}
	return k.slabOf(page, va)
}

func (k *Kernel) slabOf(slab, va uint64) (*SlabObject, error) {
	l, err := k.slabLayout()
	if err != nil {
		return nil, err
	}
	st := k.slabObjState()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.desc == nil {
		t, err := k.structType(l.slabType)
		if err != nil {
			return nil, err
		}
		b := &layoutBuilder{t: t, name: "struct " + l.slabType}
		st.desc = &slabDescLayout{cache: b.need("slab_cache"), freelist: b.need("freelist")}
		if err := b.err(); err != nil {
			st.desc = nil
			return nil, err
		}
	}
	return k.slabObject(l, st, slab, va)
}

func (k *Kernel) slabObject(l *slabLayout, st *slabObjState, slab, va uint64) (*SlabObject, error) {
	b, err := k.readBytes(slab, l.slabSize, "struct "+l.slabType)
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	cacheAddr := d.uint(b, st.desc.cache)
	c, ok := st.caches[cacheAddr]
	if !ok {
		c = k.slabCache(l, cacheAddr)
		st.caches[cacheAddr] = c
	}
	if c.Size == 0 || c.Name == "(unknown)" {
		return nil, fmt.Errorf("slab %#x: slab_cache %#x is not a readable kmem_cache", slab, cacheAddr)
	}
	bo := k.Image.ByteOrder()
	objects, _ := l.objects.Extract(b, bo)
	inuse, _ := l.inuse.Extract(b, bo)
	o := &SlabObject{Cache: c, Slab: slab, CPU: -1, Objects: objects}
	hpa, ok := k.IsPagePtr(slab)
	if !ok {
		return nil, fmt.Errorf("slab %#x is not in the page array", slab)
	}
	if o.Base, err = k.PhysToVirt(hpa); err != nil {
		return nil, err
	}
	if va < o.Base {
		return nil, fmt.Errorf("%#x lies before its slab's memory %#x", va, o.Base)
	}
	idx := (va - o.Base) / c.Size
	o.InObject = idx < o.Objects
	o.Obj = o.Base + idx*c.Size
	w := &slabWalk{k: k, l: l, c: c}
	if err := w.loadFreeParams(cacheAddr); err != nil {
		return nil, err
	}
	free := map[uint64]bool{}
	if err := w.collectFree(d.uint(b, st.desc.freelist), int(o.Objects), free); err != nil {
		return o, err
	}
	cpu, cpuFree, err := w.cpuOwning(cacheAddr, slab)
	if err != nil {
		return o, err
	}
	o.CPU = cpu
	o.Free = o.Objects - min(inuse, o.Objects)
	if cpu >= 0 {
		n := len(free)
		if err := w.collectFree(cpuFree, int(o.Objects), free); err != nil {
			return o, err
		}
		o.Free = uint64(len(free) - n)
		if d.uint(b, st.desc.freelist) != 0 {
			o.Free += o.Objects - min(inuse, o.Objects)
		}
	}
	o.Free = min(o.Free, o.Objects)
	o.Allocated = o.Objects - o.Free
	o.IsFree = free[o.Obj]
	o.free = free
	return o, nil
}

// loadFreeParams reads the cache's free-pointer offset and hardening key.
func (w *slabWalk) loadFreeParams(cache uint64) error {
	b, err := w.k.readBytes(cache, w.l.cacheSize, "struct kmem_cache")
	if err != nil {
		return err
	}
	d := w.k.decoder()
	w.offset, w.random, w.hardened = d.uint(b, w.l.offset), d.uint(b, w.l.random), w.l.random.ok()
	return nil
}

// collectFree adds the objects of a freelist to free.
func (w *slabWalk) collectFree(obj uint64, max int, free map[uint64]bool) error {
	for n := 0; obj != 0 && obj&1 == 0; n++ {
		if free[obj] {
			return fmt.Errorf("%s: freelist object %#x seen twice", w.c.Name, obj)
		}
		if n > max {
			return fmt.Errorf("%s: freelist longer than the slab's %d objects", w.c.Name, max)
		}
		free[obj] = true
		at := obj + w.offset
		raw, err := w.k.readPointer(at)
		if err != nil {
			return fmt.Errorf("%s: free object %#x: reading its free pointer at %#x: %w", w.c.Name, obj, at, err)
		}
		obj = w.freePtr(raw, at)
	}
	return nil
}

// cpuOwning finds the cpu whose kmem_cache_cpu.slab is slab, with that
// cpu's lockless freelist.
func (w *slabWalk) cpuOwning(cache, slab uint64) (int, uint64, error) {
	k, l := w.k, w.l
	cpuSlab, err := k.readPointer(cache + uint64(l.cpuSlab.Off))
	if err != nil {
		return -1, 0, err
	}
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return -1, 0, err
	}
	d := k.decoder()
	for _, cpu := range cpus {
		off, err := k.PerCPUOffset(cpu)
		if err != nil {
			return -1, 0, err
		}
		cb, err := k.readBytes(cpuSlab+off, l.cpuSize, "struct kmem_cache_cpu")
		if err != nil {
			return -1, 0, err
		}
		if d.uint(cb, l.cpuSlabP) == slab {
			return cpu, d.uint(cb, l.cpuFreelist), nil
		}
	}
	return -1, 0, nil
}

// SlabCacheOf is the name of the slab cache whose slab page holds kernel
// virtual address va (crash's vaddr_to_kmem_cache): what rd -S shows.
func (k *Kernel) SlabCacheOf(va uint64) (string, bool) {
	pa, err := k.Trans.Translate(va)
	if err != nil {
		return "", false
	}
	pp, err := k.PageOfPhys(pa)
	if err != nil {
		return "", false
	}
	pg, err := k.ReadPage(pp)
	if err != nil || !pg.Slab {
		return "", false
	}
	l, err := k.slabLayout()
	if err != nil {
		return "", false
	}
	t, err := k.structType(l.slabType)
	if err != nil {
		return "", false
	}
	f, err := memberPath(t, "slab_cache")
	if err != nil {
		return "", false
	}
	cache, err := k.readPointer(pg.Head + uint64(f.Off))
	if err != nil {
		return "", false
	}
	np, err := k.readPointer(cache + uint64(l.name.Off))
	if err != nil {
		return "", false
	}
	name, err := k.readCString(np, 64)
	return name, err == nil && name != ""
}
