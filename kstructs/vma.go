package kstructs

import (
	"fmt"
)

// VMA is one vm_area_struct of an mm.
type VMA struct {
	Addr       uint64
	Start, End uint64
	Flags      uint64
	PgOff      uint64 // vm_pgoff (pages)
	File       uint64 // vm_file, 0 for anonymous memory
	Path       string // the file's path as crash's get_pathname builds it
	PathErr    error  // why Path could not be built
}

// MM is an mm_struct's summary and its VMAs in address order.
type MM struct {
	Addr     uint64
	PGD      uint64
	TotalVM  uint64 // pages
	MapCount int64
	VMAs     []VMA
}

type vmaLayout struct {
	mmSize                               int
	mmMT, mmMmap, pgd, totalVM, mapCount fieldLoc
	maTreeRoot                           int // offset of ma_root inside struct maple_tree

	vmaSize                                        int
	vmStart, vmEnd, vmFlags, vmFile, vmNext, pgoff fieldLoc

	// maple tree (6.1+)
	maple                                bool
	nodeSize                             int
	r64Pivot, r64Slot, a64Pivot, a64Slot int // offsets inside struct maple_node
	nodeSlot                             int
	slots, pivots                        [4]int // mt_slots[], mt_pivots[] per node type
}

func (k *Kernel) vmaLayout() (*vmaLayout, error) {
	m := k.memLayouts()
	m.vmaOnce.Do(func() { m.vma, m.vmaErr = k.buildVMALayout() })
	return m.vma, m.vmaErr
}

func (k *Kernel) buildVMALayout() (*vmaLayout, error) {
	l := &vmaLayout{}
	mt, err := k.structType("mm_struct")
	if err != nil {
		return nil, err
	}
	b := &layoutBuilder{t: mt, name: "struct mm_struct"}
	l.mmSize = int(mt.Size())
	l.mmMT = b.opt("mm_mt")
	l.mmMmap = b.opt("mmap")
	l.pgd = b.need("pgd")
	l.totalVM = b.need("total_vm")
	l.mapCount = b.opt("map_count")
	if err := b.err(); err != nil {
		return nil, err
	}
	vt, err := k.structType("vm_area_struct")
	if err != nil {
		return nil, err
	}
	vb := &layoutBuilder{t: vt, name: "struct vm_area_struct"}
	l.vmaSize = int(vt.Size())
	l.vmStart = vb.need("vm_start")
	l.vmEnd = vb.need("vm_end")
	l.vmFlags = vb.need("vm_flags", "__vm_flags")
	l.vmFile = vb.need("vm_file")
	l.pgoff = vb.need("vm_pgoff")
	l.vmNext = vb.opt("vm_next")
	if err := vb.err(); err != nil {
		return nil, err
	}
	switch {
	case l.mmMT.ok():
		l.maple = true
		if err := k.mapleLayout(l); err != nil {
			return nil, err
		}
	case l.mmMmap.ok() && l.vmNext.ok():
	default:
		return nil, fmt.Errorf("mm_struct has neither mm_mt (maple tree) nor mmap (vma list)")
	}
	return l, nil
}

func (k *Kernel) mapleLayout(l *vmaLayout) error {
	tt, err := k.structType("maple_tree")
	if err != nil {
		return err
	}
	root, err := memberPath(tt, "ma_root")
	if err != nil {
		return err
	}
	l.maTreeRoot = root.Off
	nt, err := k.structType("maple_node")
	if err != nil {
		return err
	}
	l.nodeSize = int(nt.Size())
	b := &layoutBuilder{t: nt, name: "struct maple_node"}
	l.r64Pivot = b.need("mr64.pivot").Off
	l.r64Slot = b.need("mr64.slot").Off
	l.a64Pivot = b.need("ma64.pivot").Off
	l.a64Slot = b.need("ma64.slot").Off
	l.nodeSlot = b.need("slot").Off
	if err := b.err(); err != nil {
		return err
	}
	// The per-type slot and pivot counts are the kernel's own tables.
	for _, tab := range []struct {
		name string
		dst  *[4]int
	}{{"mt_slots", &l.slots}, {"mt_pivots", &l.pivots}} {
		v, err := k.Image.Variable(tab.name)
		if err != nil {
			return fmt.Errorf("maple tree: %w", err)
		}
		buf, err := k.readBytes(v.Addr, 4, tab.name)
		if err != nil {
			return fmt.Errorf("maple tree: %w", err)
		}
		for i := range buf {
			tab.dst[i] = int(buf[i])
		}
	}
	for t := 1; t < 4; t++ {
		if l.slots[t] == 0 || l.slots[t]*k.PtrSize() > l.nodeSize {
			return fmt.Errorf("maple tree: mt_slots[%d] = %d does not fit struct maple_node (%d bytes)", t, l.slots[t], l.nodeSize)
		}
	}
	return nil
}

// ReadMM reads an mm_struct and every VMA of it, in address order. The
// walk stops at the first unreadable or inconsistent node with an error
// naming it; the VMAs found until then are returned.
func (k *Kernel) ReadMM(mm uint64) (*MM, error) {
	l, err := k.vmaLayout()
	if err != nil {
		return nil, err
	}
	b, err := k.readBytes(mm, l.mmSize, "struct mm_struct")
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	out := &MM{Addr: mm, PGD: d.uint(b, l.pgd), TotalVM: d.uint(b, l.totalVM), MapCount: d.int(b, l.mapCount)}
	var addrs []uint64
	if l.maple {
		addrs, err = k.walkMaple(l, mm+uint64(l.mmMT.Off))
	} else {
		addrs, err = WalkList(k, d.uint(b, l.mmMmap), ListOptions{LinkOffset: uint64(l.vmNext.Off), Limit: 1 << 20})
		if len(addrs) > 0 && addrs[0] == 0 {
			addrs = addrs[1:]
		}
	}
	var prevEnd uint64
	for _, a := range addrs {
		v, verr := k.readVMA(l, a)
		if verr != nil {
			return out, verr
		}
		if v.Start >= v.End || v.Start < prevEnd {
			return out, fmt.Errorf("vma %#x: range %#x-%#x is empty or overlaps the previous vma (ending %#x): corrupt vma tree", a, v.Start, v.End, prevEnd)
		}
		prevEnd = v.End
		out.VMAs = append(out.VMAs, v)
	}
	if err != nil {
		return out, fmt.Errorf("mm %#x: %w", mm, err)
	}
	if l.mapCount.ok() && out.MapCount != int64(len(out.VMAs)) {
		return out, fmt.Errorf("mm %#x: map_count is %d but the vma %s holds %d vmas", mm, out.MapCount,
			map[bool]string{true: "maple tree", false: "list"}[l.maple], len(out.VMAs))
	}
	return out, nil
}

func (k *Kernel) readVMA(l *vmaLayout, a uint64) (VMA, error) {
	b, err := k.readBytes(a, l.vmaSize, "struct vm_area_struct")
	if err != nil {
		return VMA{}, err
	}
	d := k.decoder()
	v := VMA{Addr: a, Start: d.uint(b, l.vmStart), End: d.uint(b, l.vmEnd), Flags: d.uint(b, l.vmFlags),
		PgOff: d.uint(b, l.pgoff), File: d.uint(b, l.vmFile)}
	if v.File != 0 {
		v.Path, v.PathErr = k.FilePath(v.File)
	}
	return v, nil
}

// Maple tree node encoding (include/linux/maple_tree.h).
const (
	mapleNodeMask  = 255
	mapleTypeShift = 3
	mapleTypeMask  = 0xf
	mapleDense     = 0
	mapleLeaf64    = 1
	mapleRange64   = 2
	mapleARange64  = 3
	mapleMaxDepth  = 32
)

func xaIsNode(e uint64) bool { return e&3 == 2 && e > 4096 }

// walkMaple returns the non-NULL entries of the maple tree at tree in
// index order, as crash's do_maple_tree gathers them.
func (k *Kernel) walkMaple(l *vmaLayout, tree uint64) ([]uint64, error) {
	root, err := k.readPointer(tree + uint64(l.maTreeRoot))
	if err != nil {
		return nil, fmt.Errorf("reading maple_tree.ma_root at %#x: %w", tree+uint64(l.maTreeRoot), err)
	}
	if root == 0 {
		return nil, nil
	}
	if !xaIsNode(root) {
		return []uint64{root}, nil
	}
	var max uint64 = 1<<64 - 1
	if k.PtrSize() == 4 {
		max = 1<<32 - 1
	}
	w := &mapleWalk{k: k, l: l, seen: map[uint64]bool{}, max: max}
	w.node(root, 0, max, 0)
	return w.out, w.err
}

type mapleWalk struct {
	k    *Kernel
	l    *vmaLayout
	seen map[uint64]bool
	out  []uint64
	err  error
	max  uint64
}

func (w *mapleWalk) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("maple tree corrupt: "+format, args...)
	}
}

func (w *mapleWalk) node(entry, min, max uint64, depth int) {
	if w.err != nil {
		return
	}
	addr := entry &^ mapleNodeMask
	typ := int(entry>>mapleTypeShift) & mapleTypeMask
	if depth > mapleMaxDepth {
		w.fail("node %#x deeper than %d levels", addr, mapleMaxDepth)
		return
	}
	if w.seen[addr] {
		w.fail("node %#x reached twice", addr)
		return
	}
	w.seen[addr] = true
	b, err := w.k.readBytes(addr, w.l.nodeSize, "struct maple_node")
	if err != nil {
		w.fail("%v", err)
		return
	}
	d := w.k.decoder()
	ps := w.k.PtrSize()
	var pivOff, slotOff int
	switch typ {
	case mapleDense:
		for i := 0; i < w.l.slots[mapleDense]; i++ {
			if e := d.ptrAt(b, w.l.nodeSlot+i*ps); e != 0 {
				w.out = append(w.out, e)
			}
		}
		return
	case mapleLeaf64, mapleRange64:
		pivOff, slotOff = w.l.r64Pivot, w.l.r64Slot
	case mapleARange64:
		pivOff, slotOff = w.l.a64Pivot, w.l.a64Slot
	default:
		w.fail("node entry %#x has unknown type %d", entry, typ)
		return
	}
	leaf := typ < mapleRange64
	nslots := w.l.slots[typ]
	first := min
	for i := 0; i < nslots; i++ {
		last := max
		slot := d.ptrAt(b, slotOff+i*ps)
		if i < nslots-1 {
			last = d.ptrAt(b, pivOff+i*ps)
		} else if slot == 0 && (typ == mapleARange64 || max != w.max) {
			break
		}
		if last == 0 && i > 0 {
			break
		}
		if leaf {
			if slot != 0 {
				w.out = append(w.out, slot)
			}
		} else if slot != 0 {
			if slot&^mapleNodeMask == 0 {
				w.fail("node %#x slot %d: %#x is not a node", addr, i, slot)
				return
			}
			w.node(slot, first, last, depth+1)
			if w.err != nil {
				return
			}
		}
		if last == max {
			break
		}
		if last > max {
			w.fail("node %#x pivot %d (%#x) beyond the node's max %#x", addr, i, last, max)
			return
		}
		first = last + 1
	}
}
