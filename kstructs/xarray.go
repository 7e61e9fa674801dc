package kstructs

import (
	"debug/dwarf"
	"fmt"

	"github.com/kinspect/kinspect/dwarfx"
)

// xarray entry encoding (include/linux/xarray.h): an internal entry has
// the low bits 10; one above 4096 is a node (xa_to_node: entry - 2);
// those below are sibling and retry entries, which carry no value.
const xaNodeTag = 2

// walkRadix returns the non-NULL entries of the xarray (struct
// radix_tree_root is the same struct, include/linux/radix-tree.h) at root
// in index order. A node reached twice, a shift that does not shrink, or
// an unreadable node ends the walk with an error naming it.
func (k *Kernel) walkRadix(root uint64) ([]uint64, error) {
	xt, err := k.structType("xarray")
	if err != nil {
		return nil, err
	}
	headF, err := k.Image.Member(xt, "xa_head")
	if err != nil {
		return nil, err
	}
	nt, err := k.structType("xa_node")
	if err != nil {
		return nil, err
	}
	fs, err := k.members(nt, "struct xa_node", "shift", "slots")
	if err != nil {
		return nil, err
	}
	at, ok := fs[1].Type.(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("struct xa_node.slots is not an array")
	}
	w := &radixWalk{k: k, size: int(nt.Size()), shift: fs[0], slots: fs[1].ByteOffset, n: int(at.Count), seen: map[uint64]bool{}}
	head, err := k.readPointer(root + uint64(headF.ByteOffset))
	if err != nil {
		return nil, fmt.Errorf("reading xarray.xa_head at %#x: %w", root, err)
	}
	w.entry(head, 64)
	return w.out, w.err
}

type radixWalk struct {
	k     *Kernel
	size  int
	shift dwarfx.Field
	slots int64
	n     int
	seen  map[uint64]bool
	out   []uint64
	err   error
}

func (w *radixWalk) entry(e uint64, parentShift uint64) {
	if w.err != nil || e == 0 {
		return
	}
	if e&3 != xaNodeTag {
		w.out = append(w.out, e)
		return
	}
	if e <= 4096 {
		return // sibling, retry or zero entry
	}
	node := e - xaNodeTag
	if w.seen[node] {
		w.err = fmt.Errorf("xarray corrupt: node %#x reached twice", node)
		return
	}
	w.seen[node] = true
	b, err := w.k.readBytes(node, w.size, "struct xa_node")
	if err != nil {
		w.err = fmt.Errorf("xarray node %#x: %w", node, err)
		return
	}
	shift, _ := w.shift.Extract(b, w.k.Image.ByteOrder())
	if shift >= parentShift {
		w.err = fmt.Errorf("xarray corrupt: node %#x has shift %d, not below its parent's %d", node, shift, parentShift)
		return
	}
	d := w.k.decoder()
	for i := 0; i < w.n; i++ {
		w.entry(d.ptrAt(b, int(w.slots)+i*w.k.PtrSize()), shift)
	}
}
