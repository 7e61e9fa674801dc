package kstructs

import (
	"errors"
	"fmt"
)

// DefaultWalkLimit bounds list and tree walks that give no limit of their own.
const DefaultWalkLimit = 1 << 22

// ListOptions says how WalkList follows a linked list.
type ListOptions struct {
	// Head: start is a standalone list_head (the list's anchor): it is not
	// an entry, the walk begins at its next (prev with Reverse) and ends
	// when it comes back to it. Without Head, start is the first entry's
	// link and is returned too; the walk ends on NULL or back at start.
	Head bool
	// Reverse follows prev (the second pointer of a list_head) instead of next.
	Reverse bool
	// LinkOffset is where the next pointer lies inside each node: 0 for a
	// list_head, or the offset of a singly-linked "next" member. Ignored
	// with Reverse (prev is the word after next).
	LinkOffset uint64
	// End stops the walk when this node is reached (not returned).
	End uint64
	// Known, if set, gives the next pointer of nodes the caller has already
	// read (decoded with their structs): the walk reads memory only for the
	// others. Forward walks only.
	Known func(node uint64) (next uint64, ok bool)
	// Limit bounds the number of nodes (DefaultWalkLimit if 0).
	Limit int
}

// ListError is a list that cannot be walked to its end: a node seen twice
// (a cycle that does not pass through the head), an unreadable link, a NULL
// in a circular list, or too many nodes.
type ListError struct {
	Head   uint64 // where the walk started
	At     uint64 // the node whose link is bad
	Next   uint64 // the bad link's value (for a cycle, the node seen twice)
	Reason string // "seen twice", "unreadable", "NULL next", "too long"
	Err    error  // the read error, for "unreadable"
	// Live: the list was read from a running kernel, where a node seen
	// twice or a bad link is most likely the list changing under the
	// walk (an entry removed or moved meanwhile), not corruption.
	Live bool
}

func (e *ListError) Error() string {
	if e.Live && e.Reason != "too long" {
		return fmt.Sprintf("list at %#x changed while it was read (live kernel), walk stopped: %s", e.Head, e.text())
	}
	return e.text()
}

func (e *ListError) text() string {
	switch e.Reason {
	case "seen twice":
		return fmt.Sprintf("list corrupt at %#x: next %#x (seen twice)", e.At, e.Next)
	case "unreadable":
		return fmt.Sprintf("list corrupt at %#x: cannot read its link: %v", e.At, e.Err)
	case "too long":
		return fmt.Sprintf("list at %#x: more than %d entries, stopped at %#x", e.Head, e.Next, e.At)
	}
	return fmt.Sprintf("list corrupt at %#x: %s", e.At, e.Reason)
}

func (e *ListError) Unwrap() error { return e.Err }

// WalkList follows a kernel linked list from start and returns its nodes
// (the addresses of the links, not of the containing structs: subtract the
// member offset for container_of). It never loops: a node seen twice, an
// unreadable link or a NULL link in a circular list ends the walk with a
// *ListError and the nodes found so far.
func WalkList(k *Kernel, start uint64, opts ListOptions) ([]uint64, error) {
	out, err := walkList(k, start, opts)
	var le *ListError
	if errors.As(err, &le) {
		le.Live = k.Live()
	}
	return out, err
}

func walkList(k *Kernel, start uint64, opts ListOptions) ([]uint64, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultWalkLimit
	}
	linkOff := opts.LinkOffset
	if opts.Reverse {
		linkOff = uint64(k.PtrSize())
	}
	seen := map[uint64]bool{start: true}
	var out []uint64
	cur := start
	if !opts.Head {
		out = append(out, start)
	}
	for {
		next, known := uint64(0), false
		if opts.Known != nil && !opts.Reverse {
			next, known = opts.Known(cur)
		}
		if !known {
			var err error
			if next, err = k.readPointer(cur + linkOff); err != nil {
				return out, &ListError{Head: start, At: cur, Reason: "unreadable", Err: err}
			}
		}
		switch {
		case next == start:
			return out, nil
		case next == 0:
			if !opts.Head {
				// A NULL-terminated list (hlist, singly linked): the end.
				return out, nil
			}
			return out, &ListError{Head: start, At: cur, Next: 0, Reason: "NULL next"}
		case next == opts.End && opts.End != 0:
			return out, nil
		case next == cur:
			// crash stops quietly on a self-loop (an entry removed with list_del_init).
			return out, nil
		case seen[next]:
			return out, &ListError{Head: start, At: cur, Next: next, Reason: "seen twice"}
		}
		if len(out) >= limit {
			return out, &ListError{Head: start, At: cur, Next: uint64(limit), Reason: "too long"}
		}
		seen[next] = true
		out = append(out, next)
		cur = next
	}
}

// walkCircular walks a circular list_head list from its head; if the
// forward walk breaks, it walks backwards through prev from the head to
// collect the entries the forward walk missed. It returns the nodes
// (forward ones in order, then the recovered ones in list order) and the
// problems met.
func walkCircular(k *Kernel, head uint64, limit int, known func(uint64) (uint64, bool)) ([]uint64, []error) {
	fwd, err := WalkList(k, head, ListOptions{Head: true, Limit: limit, Known: known})
	if err == nil {
		return fwd, nil
	}
	errs := []error{err}
	var le *ListError
	if errors.As(err, &le) && le.Reason == "too long" {
		return fwd, errs
	}
	have := make(map[uint64]bool, len(fwd))
	for _, n := range fwd {
		have[n] = true
	}
	// Walk prev from the head until we meet a node the forward walk saw.
	var back []uint64
	cur := head
	for i := 0; i < DefaultWalkLimit; i++ {
		prev, rerr := k.readPointer(cur + uint64(k.PtrSize()))
		if rerr != nil {
			errs = append(errs, &ListError{Head: head, At: cur, Reason: "unreadable", Err: rerr, Live: k.Live()})
			break
		}
		if prev == head || prev == 0 || have[prev] {
			break
		}
		have[prev] = true
		back = append(back, prev)
		cur = prev
	}
	for i := len(back) - 1; i >= 0; i-- {
		fwd = append(fwd, back[i])
	}
	return fwd, errs
}
