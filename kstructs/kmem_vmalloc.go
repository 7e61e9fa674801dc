package kstructs

import (
	"fmt"
	"sort"
	"sync"
)

// VmapArea is one busy vmap_area with its vm_struct (mm/vmalloc.c), as
// crash's kmem -v lists it and /proc/vmallocinfo shows it.
type VmapArea struct {
	Addr       uint64 // the struct vmap_area
	Start, End uint64 // va_start, va_end (the guard page included)
	VM         uint64 // the struct vm_struct (0 for vm_map_ram areas)
	VMAddr     uint64 // vm->addr
	VMSize     uint64 // vm->size: what /proc/vmallocinfo prints
	Caller     uint64 // vm->caller
	NrPages    uint64
	Flags      uint64 // vm->flags (VM_IOREMAP, VM_ALLOC, ...)
	PhysAddr   uint64 // vm->phys_addr (ioremap)
}

type vmapLayout struct {
	size                      int
	start, end, vm, list, rb  fieldLoc
	vmSize                    int
	vmAddr, vmLen, caller, nr fieldLoc
	vmFlags, vmPhys           fieldLoc
	nodeSize                  int
	busyRoot                  fieldLoc // vmap_node.busy.root (6.9+)
}

var vmapCache sync.Map // *Kernel → *vmapOnce

type vmapOnce struct {
	once  sync.Once
	areas []VmapArea
	err   error
}

// VmapAreas returns the busy vmap areas sorted by address: vmap_area_list
// before 6.9, the busy trees of vmap_nodes[] after (mm/vmalloc.c). A walk
// that stops early returns what it found and the error.
func (k *Kernel) VmapAreas() ([]VmapArea, error) {
	v, _ := vmapCache.LoadOrStore(k, &vmapOnce{})
	o := v.(*vmapOnce)
	o.once.Do(func() { o.areas, o.err = k.readVmapAreas() })
	return o.areas, o.err
}

func (k *Kernel) buildVmapLayout() (*vmapLayout, error) {
	va, err := k.structType("vmap_area")
	if err != nil {
		return nil, err
	}
	vs, err := k.structType("vm_struct")
	if err != nil {
		return nil, err
	}
	b := &layoutBuilder{t: va, name: "struct vmap_area"}
	l := &vmapLayout{size: int(va.Size()), vmSize: int(vs.Size())}
	l.start, l.end, l.vm = b.need("va_start"), b.need("va_end"), b.need("vm")
	l.list, l.rb = b.need("list"), b.need("rb_node")
	sb := &layoutBuilder{t: vs, name: "struct vm_struct"}
	l.vmAddr, l.vmLen, l.caller = sb.need("addr"), sb.need("size"), sb.need("caller")
	l.nr, l.vmFlags, l.vmPhys = sb.opt("nr_pages"), sb.need("flags"), sb.opt("phys_addr")
	if err := b.err(); err != nil {
		return nil, err
	}
	if err := sb.err(); err != nil {
		return nil, err
	}
	if vn, err := k.structType("vmap_node"); err == nil {
		l.nodeSize = int(vn.Size())
		l.busyRoot = (&layoutBuilder{t: vn}).opt("busy.root")
	}
	return l, nil
}

// vmapAreaAddrs lists the struct vmap_area addresses of the busy areas.
func (k *Kernel) vmapAreaAddrs(l *vmapLayout) ([]uint64, error) {
	if head, err := k.Image.Variable("vmap_area_list"); err == nil {
		links, err := WalkList(k, head.Addr, ListOptions{Head: true, Limit: 1 << 20})
		out := make([]uint64, 0, len(links))
		for _, a := range links {
			out = append(out, a-uint64(l.list.Off))
		}
		if err != nil {
			return out, fmt.Errorf("vmap_area_list at %#x: %w", head.Addr, err)
		}
		return out, nil
	}
	nodes, err := k.Image.Variable("vmap_nodes")
	if err != nil || !l.busyRoot.ok() {
		return nil, fmt.Errorf("neither vmap_area_list nor vmap_nodes[].busy in this kernel")
	}
	arr, err := k.readPointer(nodes.Addr)
	if err != nil {
		return nil, fmt.Errorf("reading vmap_nodes at %#x: %w", nodes.Addr, err)
	}
	n, err := k.ReadUint("nr_vmap_nodes")
	if err != nil || n == 0 || n > 4096 {
		return nil, fmt.Errorf("nr_vmap_nodes: %d (%v)", n, err)
	}
	var out []uint64
	for i := uint64(0); i < n; i++ {
		root := arr + i*uint64(l.nodeSize) + uint64(l.busyRoot.Off)
		rb, err := WalkRBTree(k, root, InOrder)
		for _, r := range rb {
			out = append(out, r.Addr-uint64(l.rb.Off))
		}
		if err != nil {
			return out, fmt.Errorf("vmap_nodes[%d].busy: %w", i, err)
		}
	}
	return out, nil
}

func (k *Kernel) readVmapAreas() ([]VmapArea, error) {
	l, err := k.buildVmapLayout()
	if err != nil {
		return nil, err
	}
	addrs, werr := k.vmapAreaAddrs(l)
	d := k.decoder()
	var out []VmapArea
	for _, a := range addrs {
		b, err := k.readBytes(a, l.size, "struct vmap_area")
		if err != nil {
			return out, err
		}
		v := VmapArea{Addr: a, Start: d.uint(b, l.start), End: d.uint(b, l.end), VM: d.uint(b, l.vm)}
		if v.VM != 0 {
			vb, err := k.readBytes(v.VM, l.vmSize, "struct vm_struct")
			if err != nil {
				return out, fmt.Errorf("vmap_area %#x: %w", a, err)
			}
			v.VMAddr, v.VMSize, v.Caller = d.uint(vb, l.vmAddr), d.uint(vb, l.vmLen), d.uint(vb, l.caller)
			v.NrPages, v.Flags, v.PhysAddr = d.uint(vb, l.nr), d.uint(vb, l.vmFlags), d.uint(vb, l.vmPhys)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, werr
}

// VmapAreaOf is the busy vmap area with a vm_struct that contains addr,
// as crash's kmem ADDR finds it.
func (k *Kernel) VmapAreaOf(addr uint64) (*VmapArea, error) {
	areas, err := k.VmapAreas()
	i := sort.Search(len(areas), func(i int) bool { return areas[i].End > addr })
	if i < len(areas) && areas[i].Start <= addr && areas[i].VM != 0 {
		return &areas[i], nil
	}
	return nil, err
}
