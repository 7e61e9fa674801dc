package kstructs

import (
	"fmt"
	"sort"

	"github.com/kinspect/kinspect/dwarfx"
)

// rqHeader is the part of struct rq the task table needs.
type rqHeader struct {
	addr, curr, idle uint64
	nrRunning        uint64
	clock            uint64
	raw              []byte
}

// runqueueAddr is &per_cpu(runqueues, cpu).
func (k *Kernel) runqueueAddr(cpu int) (uint64, error) {
	v, err := k.Image.Variable("runqueues")
	if err != nil {
		return 0, fmt.Errorf("no runqueues variable: %w", err)
	}
	off, err := k.PerCPUOffset(cpu)
	if err != nil {
		return 0, err
	}
	return v.Addr + off, nil
}

func (k *Kernel) readRQ(l *schedLayout, cpu int) (*rqHeader, error) {
	addr, err := k.runqueueAddr(cpu)
	if err != nil {
		return nil, err
	}
	b, err := k.readBytes(addr, l.rq.size, fmt.Sprintf("runqueues[%d]", cpu))
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	return &rqHeader{
		addr: addr, raw: b,
		curr:      d.uint(b, l.rq.curr),
		idle:      d.uint(b, l.rq.idle),
		nrRunning: d.uint(b, l.rq.nrRunning),
		clock:     d.uint(b, l.rq.clock),
	}, nil
}

// RunQueue is one CPU's struct rq: its current task and the tasks queued in
// each scheduling class.
type RunQueue struct {
	CPU       int
	Addr      uint64 // &per_cpu(runqueues, cpu)
	Curr      *Task  // nil if rq->curr is unreadable (CurrAddr still set)
	CurrAddr  uint64
	Idle      *Task
	NrRunning uint64
	Clock     uint64 // rq->clock, ns
	// RTArray is &rq->rt.active (crash's RT PRIO_ARRAY); RT lists tasks by
	// queue index (0-99), highest priority first.
	RTArray uint64
	RT      []QueuedTask
	// CFSRoot is &rq->cfs.tasks_timeline; CFS lists tasks in vruntime
	// order, group entities flattened (Depth says how deep). The current
	// task is not in the tree and not listed.
	CFSRoot uint64
	CFS     []QueuedTask
	// Groups are the task-group cfs_rqs met while flattening (runq -g).
	Groups []CFSGroup
	// DLRoot is &rq->dl.root; DL lists deadline tasks by deadline.
	DLRoot uint64
	DL     []QueuedTask
	// Problems met while walking (corrupt trees or lists).
	Problems []string
}

// QueuedTask is one task on a runqueue.
type QueuedTask struct {
	Task  *Task
	Addr  uint64
	Prio  int    // task->prio (CFS, DL) or the RT queue index
	Key   uint64 // vruntime (CFS) or deadline (DL)
	Depth int    // task-group nesting depth (0: the root cfs_rq/rt_rq)
	CfsRQ uint64 // the cfs_rq it is queued on (CFS only)
}

// CFSGroup is a group scheduling entity's own cfs_rq.
type CFSGroup struct {
	Entity uint64 // the group's sched_entity
	CfsRQ  uint64 // its my_q
	Depth  int
}

// RunQueue reads cpu's runqueue.
func (k *Kernel) RunQueue(cpu int) (*RunQueue, error) {
	l, err := k.schedLayout()
	if err != nil {
		return nil, err
	}
	h, err := k.readRQ(l, cpu)
	if err != nil {
		return nil, err
	}
	r := &RunQueue{CPU: cpu, Addr: h.addr, CurrAddr: h.curr, NrRunning: h.nrRunning, Clock: h.clock}
	r.Curr = k.taskAt(h.curr)
	r.Idle = k.taskAt(h.idle)
	rq := &l.rq

	// CFS: an in-order walk of cfs.tasks_timeline, recursing into group
	// entities' own cfs_rq (and into cfs_rq->curr when it is a group).
	cfs := h.addr + uint64(rq.cfs.Off)
	r.CFSRoot = cfs + uint64(rq.cfsTimeline.Off)
	seenRQ := map[uint64]bool{}
	var walkCFS func(cfsRQ uint64, depth int)
	walkCFS = func(cfsRQ uint64, depth int) {
		if seenRQ[cfsRQ] || depth > 32 {
			r.Problems = append(r.Problems, fmt.Sprintf("cfs_rq %#x met twice (task-group loop)", cfsRQ))
			return
		}
		seenRQ[cfsRQ] = true
		nodes, err := WalkRBTree(k, cfsRQ+uint64(rq.cfsTimeline.Off), InOrder)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("CFS tree of cpu %d: %v", cpu, err))
		}
		entities := make([]uint64, 0, len(nodes)+1)
		for _, n := range nodes {
			entities = append(entities, n.Addr-uint64(rq.seRunNode.Off))
		}
		for _, se := range entities {
			k.cfsEntity(l, r, se, cfsRQ, depth, walkCFS)
		}
		// A running group entity is not in its parent's tree: descend
		// into it so the tasks queued below it are listed.
		if rq.cfsCurr.ok() && rq.seMyQ.ok() {
			if cur, err := k.readPointer(cfsRQ + uint64(rq.cfsCurr.Off)); err == nil && cur != 0 {
				if myq, err := k.readPointer(cur + uint64(rq.seMyQ.Off)); err == nil && myq != 0 {
					r.Groups = append(r.Groups, CFSGroup{Entity: cur, CfsRQ: myq, Depth: depth + 1})
					walkCFS(myq, depth+1)
				}
			}
		}
	}
	walkCFS(cfs, 0)

	// RT: rt.active.queue[prio] lists of sched_rt_entity.run_list.
	if rq.rtQueue.ok() && rq.rtRunList.ok() {
		rtrq := h.addr + uint64(rq.rt.Off)
		r.RTArray = rtrq + uint64(rq.rtActive.Off)
		k.walkRT(l, r, rtrq, 0, map[uint64]bool{})
	}

	// Deadline: the dl.root rb tree, in deadline order.
	if rq.dlRoot.ok() && rq.dlRBNode.ok() && l.task.dl.ok() {
		r.DLRoot = h.addr + uint64(rq.dl.Off) + uint64(rq.dlRoot.Off)
		nodes, err := WalkRBTree(k, r.DLRoot, InOrder)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("deadline tree of cpu %d: %v", cpu, err))
		}
		for _, n := range nodes {
			addr := n.Addr - uint64(rq.dlRBNode.Off) - uint64(l.task.dl.Off)
			q := QueuedTask{Addr: addr, Task: k.taskAt(addr)}
			if q.Task != nil {
				q.Prio = q.Task.Prio
			}
			if rq.dlDeadline.ok() {
				if b, err := k.readBytes(addr+uint64(l.task.dl.Off+rq.dlDeadline.Off), 8, "dl.deadline"); err == nil {
					q.Key = dwarfx.DecodeUint(k.Image.ByteOrder(), b)
				}
			}
			r.DL = append(r.DL, q)
		}
	}
	return r, nil
}

// cfsEntity adds one CFS scheduling entity: a task, or a group whose own
// queue is walked in its place.
func (k *Kernel) cfsEntity(l *schedLayout, r *RunQueue, se, cfsRQ uint64, depth int, walk func(uint64, int)) {
	rq := &l.rq
	if rq.seMyQ.ok() {
		myq, err := k.readPointer(se + uint64(rq.seMyQ.Off))
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("reading sched_entity %#x: %v", se, err))
			return
		}
		if myq != 0 {
			r.Groups = append(r.Groups, CFSGroup{Entity: se, CfsRQ: myq, Depth: depth + 1})
			walk(myq, depth+1)
			return
		}
	}
	addr := se - uint64(l.task.se.Off)
	q := QueuedTask{Addr: addr, Task: k.taskAt(addr), Depth: depth, CfsRQ: cfsRQ}
	if q.Task != nil {
		q.Prio = q.Task.Prio
		q.Key = q.Task.VRuntime
	}
	r.CFS = append(r.CFS, q)
}

// walkRT lists the tasks of an rt_rq's priority queues, descending into
// group rt_rqs (RT_GROUP_SCHED) in place.
func (k *Kernel) walkRT(l *schedLayout, r *RunQueue, rtrq uint64, depth int, seen map[uint64]bool) {
	rq := &l.rq
	if seen[rtrq] || depth > 32 {
		r.Problems = append(r.Problems, fmt.Sprintf("rt_rq %#x met twice (task-group loop)", rtrq))
		return
	}
	seen[rtrq] = true
	lh := uint64(rq.listHeadSize)
	for prio := 0; prio < rq.rtQueueLen; prio++ {
		head := rtrq + uint64(rq.rtQueue.Off) + uint64(prio)*lh
		nodes, err := WalkList(k, head, ListOptions{Head: true, Limit: maxTasks})
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("RT queue [%d] of cpu %d: %v", prio, r.CPU, err))
		}
		for _, n := range nodes {
			rse := n - uint64(rq.rtRunList.Off)
			if rq.rtMyQ.ok() {
				if myq, err := k.readPointer(rse + uint64(rq.rtMyQ.Off)); err == nil && myq != 0 {
					k.walkRT(l, r, myq, depth+1, seen)
					continue
				}
			}
			addr := rse - uint64(l.task.rt.Off)
			r.RT = append(r.RT, QueuedTask{Addr: addr, Task: k.taskAt(addr), Prio: prio, Depth: depth})
		}
	}
}

// taskAt returns the task at addr from the task table, else decodes it.
func (k *Kernel) taskAt(addr uint64) *Task {
	if addr == 0 {
		return nil
	}
	if tt, err := k.taskTable(); err == nil {
		if t, ok := tt.byAddr[addr]; ok {
			return t
		}
	}
	t, err := k.ReadTask(addr)
	if err != nil {
		return nil
	}
	return t
}

// RunQueues reads the runqueue of every possible CPU.
func (k *Kernel) RunQueues() ([]*RunQueue, error) {
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return nil, err
	}
	sort.Ints(cpus)
	var out []*RunQueue
	for _, c := range cpus {
		r, err := k.RunQueue(c)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// SchedClassNames are the scheduler classes in priority order (ext only on
// kernels with sched_ext).
var SchedClassNames = []string{"stop_sched_class", "dl_sched_class", "rt_sched_class", "fair_sched_class", "ext_sched_class", "idle_sched_class"}

// SchedClasses maps each scheduler class's address to its symbol.
func (k *Kernel) SchedClasses() map[uint64]string {
	out := map[uint64]string{}
	for _, n := range SchedClassNames {
		if s, ok := k.Image.Lookup(n); ok {
			out[s.Addr] = n
		}
	}
	return out
}
