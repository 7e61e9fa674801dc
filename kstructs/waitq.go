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

// WaitQueue lists the entries of the struct wait_queue_head at head, in
// queue order.
func (k *Kernel) WaitQueue(head uint64) ([]WaitQueueEntry, error) {
	ht, err := k.structType("wait_queue_head")
	if err != nil {
		return nil, err
	}
	list, err := k.Image.Member(ht, "head")
	if err != nil {
		return nil, err
	}
	et, err := k.structType("wait_queue_entry")
	if err != nil {
		return nil, err
	}
	link, err := k.Image.Member(et, "entry")
	if err != nil {
		return nil, err
	}
	nodes, err := WalkList(k, head+uint64(list.ByteOffset), ListOptions{Head: true, Limit: 1 << 16})
	if err != nil {
		err = fmt.Errorf("wait queue %#x: %w", head, err)
	}
	var out []WaitQueueEntry
	for _, n := range nodes {
		e := n - uint64(link.ByteOffset)
		s := k.readStruct("wait_queue_entry", e)
		if s.err != nil {
			return out, s.err
		}
		out = append(out, WaitQueueEntry{Addr: e, Task: s.u("private"), Func: s.u("func")})
	}
	return out, err
}
