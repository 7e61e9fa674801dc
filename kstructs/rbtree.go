package kstructs

import "fmt"

// RBNode is one node of a red-black tree with its position from the root
// ("root", "root/l", "root/r/l", ...), as crash's tree -p shows it.
type RBNode struct {
	Addr     uint64
	Position string
}

// RBOrder is the order WalkRBTree returns nodes in.
type RBOrder int

const (
	// InOrder is sorted order (leftmost first): what rb_first/rb_next give.
	InOrder RBOrder = iota
	// PreOrder is node, left, right: crash's tree default.
	PreOrder
)

// WalkRBTree walks the rb tree whose struct rb_root is at root (rb_node is
// its first member) and returns its nodes (struct rb_node addresses:
// subtract the member offset for container_of). A node seen twice or an
// unreadable child ends that branch with an error; the nodes found so far
// are returned.
func WalkRBTree(k *Kernel, root uint64, order RBOrder) ([]RBNode, error) {
	top, err := k.readPointer(root)
	if err != nil {
		return nil, fmt.Errorf("reading rb_root at %#x: %w", root, err)
	}
	return WalkRBNode(k, top, order)
}

// WalkRBNode is WalkRBTree from a node (crash's tree -N).
func WalkRBNode(k *Kernel, top uint64, order RBOrder) ([]RBNode, error) {
	var (
		out   []RBNode
		first error
		seen  = map[uint64]bool{}
		ps    = uint64(k.PtrSize())
	)
	// struct rb_node { unsigned long __rb_parent_color; rb_node *rb_right; rb_node *rb_left; }
	var visit func(n uint64, pos string, depth int)
	visit = func(n uint64, pos string, depth int) {
		if n == 0 {
			return
		}
		if seen[n] {
			if first == nil {
				first = fmt.Errorf("rb tree corrupt: node %#x (at %s) seen twice", n, pos)
			}
			return
		}
		if depth > 128 || len(out) >= DefaultWalkLimit {
			if first == nil {
				first = fmt.Errorf("rb tree too deep or too large at node %#x (%s)", n, pos)
			}
			return
		}
		seen[n] = true
		buf := make([]byte, 3*ps)
		if err := k.ReadVirt(buf, n); err != nil {
			if first == nil {
				first = fmt.Errorf("rb tree corrupt: cannot read node %#x (at %s): %w", n, pos, err)
			}
			return
		}
		d := k.decoder()
		right, left := d.ptrAt(buf, int(ps)), d.ptrAt(buf, int(2*ps))
		if order == PreOrder {
			out = append(out, RBNode{Addr: n, Position: pos})
		}
		visit(left, pos+"/l", depth+1)
		if order == InOrder {
			out = append(out, RBNode{Addr: n, Position: pos})
		}
		visit(right, pos+"/r", depth+1)
	}
	visit(top, "root", 0)
	return out, first
}

// walkXArray returns the non-NULL, non-internal entries of the xarray whose
// xa_head is head, with their indices, in index order.
func walkXArray(k *Kernel, head uint64, x xaNodeLayout) (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	isNode := func(e uint64) bool { return e&3 == 2 && e > 4096 }
	isInternal := func(e uint64) bool { return e&3 == 2 }
	if head == 0 {
		return out, nil
	}
	if !isNode(head) {
		if !isInternal(head) {
			out[0] = head
		}
		return out, nil
	}
	seen := map[uint64]bool{}
	ps := k.PtrSize()
	var first error
	var walk func(node uint64, base uint64, depth int)
	walk = func(node uint64, base uint64, depth int) {
		if seen[node] || depth > 16 {
			if first == nil {
				first = fmt.Errorf("xarray corrupt: node %#x seen twice or too deep", node)
			}
			return
		}
		seen[node] = true
		size := x.slots.Off + x.nslots*ps
		b, err := k.readBytes(node, size, "xa_node")
		if err != nil {
			if first == nil {
				first = err
			}
			return
		}
		shift := uint(b[x.shift.Off])
		d := k.decoder()
		for i := 0; i < x.nslots; i++ {
			e := d.ptrAt(b, x.slots.Off+i*ps)
			if e == 0 {
				continue
			}
			idx := base + uint64(i)<<shift
			if isNode(e) {
				if shift == 0 {
					continue
				}
				walk(e-2, idx, depth+1)
				continue
			}
			if isInternal(e) {
				continue // sibling, retry or zero entries
			}
			out[idx] = e
		}
	}
	walk(head-2, 0, 0)
	return out, first
}
