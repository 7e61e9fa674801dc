package kstructs

import "fmt"

// WaitQueueEntry is one struct wait_queue_entry on a wait queue
// (include/linux/wait.h): private is the waiting task for the entries
// init_waitqueue_entry/DEFINE_WAIT make.
type WaitQueueEntry struct {
	Addr uint64 `json:"wait_queue_entry"`
	Task uint64 `json:"task"`
	Func uint64 `json:"func"`
}

// waitqLayout: struct wait_queue_head's list and the entries on it
// (include/linux/wait.h).
type waitqLayout struct {
	dec                     decoder
	head                    fieldLoc // wait_queue_head.head
	entry                   *structLayout
	link, private, wakeFunc fieldLoc // wait_queue_entry.entry, private, func
}

func (k *Kernel) waitqLayout() (*waitqLayout, error) {
	return layoutOf(k, &k.cache().waitq, buildWaitqLayout)
}

func buildWaitqLayout(ls *layoutSet, dec decoder) (*waitqLayout, error) {
	l := &waitqLayout{dec: dec}
	ls.add("wait_queue_head", func(b *layoutBuilder) { l.head = b.need("head") })
	l.entry = ls.add("wait_queue_entry", func(b *layoutBuilder) {
		l.link, l.private, l.wakeFunc = b.need("entry"), b.need("private"), b.need("func")
	})
	return l, ls.err()
}

// WaitQueue lists the entries of the struct wait_queue_head at head, in
// queue order.
func (k *Kernel) WaitQueue(head uint64) ([]WaitQueueEntry, error) {
	l, err := k.waitqLayout()
	if err != nil {
		return nil, err
	}
	nodes, err := WalkList(k, head+uint64(l.head.Off), ListOptions{Head: true, Limit: 1 << 16})
	if err != nil {
		err = fmt.Errorf("wait queue %#x: %w", head, err)
	}
	var out []WaitQueueEntry
	for _, n := range nodes {
		e := n - uint64(l.link.Off)
		b, rerr := l.entry.read(k, e)
		if rerr != nil {
			return out, rerr
		}
		out = append(out, WaitQueueEntry{Addr: e, Task: l.dec.uint(b, l.private), Func: l.dec.uint(b, l.wakeFunc)})
	}
	return out, err
}
