package kstructs

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"reflect"

	"github.com/kinspect/kinspect/dwarfx"
)

// taskLayout is where task_struct keeps what ps, runq and bt need. Members
// that only some kernels have are optional (Off = -1).
type taskLayout struct {
	size                                                int
	span                                                int // bytes decodeTask reads: the end of the last member decoded (see decodeSpan)
	state, exitState, flags, pid, tgid, comm            fieldLoc
	cpu                                                 fieldLoc // task_struct.cpu or thread_info.cpu (THREAD_INFO_IN_TASK)
	onCPU                                               fieldLoc // task_struct.on_cpu (SMP): running now, for live kernels (live.go)
	policy, prio, staticPrio, normalPrio, rtPriority    fieldLoc
	schedClass, onRQ                                    fieldLoc
	lastArrival, utime, stime, startTime, sumExec, vrun fieldLoc
	startBoot                                           fieldLoc // start_boottime (5.5+), real_start_time before
	mm, activeMM, parent, realParent, stack, signal     fieldLoc
	tasks, children, sibling                            fieldLoc
	threadNode, threadGroup                             fieldLoc // list_head members
	pidLink                                             fieldLoc // pid_links[PIDTYPE_PID] / pids[PIDTYPE_PID].node
	rssStat                                             fieldLoc // task_struct.rss_stat.count (SPLIT_RSS_COUNTING)
	se, rt, dl                                          fieldLoc
	lastRun                                             fieldLoc // last_run / timestamp / sched_info.last_arrival
}

// signalLayout: the thread list of a thread group.
type signalLayout struct {
	threadHead fieldLoc
}

// mmLayout: the counters ps shows as VSZ and RSS.
type mmLayout struct {
	size     int
	totalVM  fieldLoc
	rssCount fieldLoc // mm_struct.rss_stat.count (array of atomic_long_t); -1 on 6.2+ percpu counters
	rssPCPU  fieldLoc // mm_struct.rss_stat (array of struct percpu_counter) on 6.2+
	mmCount  fieldLoc
	// struct percpu_counter (6.2+): its size, count (s64) and counters
	// (s32 __percpu *), offsets inside the struct.
	pcpuSize              int
	pcpuCount, pcpuCounts fieldLoc
}

// rqLayout: struct rq and its cfs_rq / rt_rq / dl_rq.
type rqLayout struct {
	size                     int
	curr, idle, nrRunning    fieldLoc
	clock, cpu               fieldLoc
	cfs, rt, dl              fieldLoc // embedded runqueues
	cfsTimeline, cfsCurr     fieldLoc // relative to the cfs_rq
	cfsNrRunning             fieldLoc
	cfsSize                  int
	rtActive, rtNrRunning    fieldLoc // relative to the rt_rq
	rtQueue                  fieldLoc // rt_prio_array.queue (relative to rt_rq)
	rtQueueLen               int      // MAX_RT_PRIO
	rtSize                   int
	dlRoot, dlNrRunning      fieldLoc // relative to the dl_rq
	seRunNode, seMyQ, seVrun fieldLoc // sched_entity
	seCfsRq                  fieldLoc
	rtRunList, rtMyQ         fieldLoc // sched_rt_entity
	dlRBNode                 fieldLoc // sched_dl_entity.rb_node
	dlDeadline               fieldLoc
	listHeadSize             int
}

// pidLayout: struct pid and the pid namespace's idr.
type pidLayout struct {
	tasks0  fieldLoc // pid.tasks[PIDTYPE_PID]
	nsIDR   fieldLoc // pid_namespace.idr.idr_rt.xa_head
	idrBase fieldLoc
	nsAddr  uint64 // &init_pid_ns
	xaNode  xaNodeLayout
}

type xaNodeLayout struct {
	shift, slots fieldLoc
	nslots       int
}

// schedLayout is every layout this package decodes with.
type schedLayout struct {
	task   taskLayout
	signal signalLayout
	mm     mmLayout
	rq     rqLayout
	pid    pidLayout
	hasPid bool // the pid namespace idr could be laid out (cross-check possible)
	// Why the pid cross-check cannot run, if it cannot.
	pidErr error
	// mm counters enumerators (MM_FILEPAGES...) that exist.
	rssIdx []int
}

func (k *Kernel) schedLayout() (*schedLayout, error) {
	c := k.cache()
	c.layoutOnce.Do(func() { c.layout, c.layoutErr = k.buildSchedLayout() })
	return c.layout, c.layoutErr
}

func (k *Kernel) varType(name string) (dwarf.Type, error) {
	v, err := k.Image.Variable(name)
	if err != nil {
		return nil, fmt.Errorf("finding the type of %s: %w", name, err)
	}
	return v.Type, nil
}

func (k *Kernel) buildSchedLayout() (*schedLayout, error) {
	l := &schedLayout{}
	tt, err := k.varType("init_task")
	if err != nil {
		return nil, err
	}
	if err := l.task.find(tt); err != nil {
		return nil, err
	}
	if err := l.findSignal(); err != nil {
		return nil, err
	}
	l.findMM()
	for _, name := range []string{"MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES"} {
		if v, _, ok := k.Image.EnumConstant(name); ok {
			l.rssIdx = append(l.rssIdx, int(v))
		}
	}

	l.task.span = l.task.decodeSpan()

	if err := k.buildRQLayout(l); err != nil {
		return nil, err
	}
	l.pidErr = k.buildPidLayout(l)
	l.hasPid = l.pidErr == nil
	return l, nil
}

// find locates the task_struct members the task walks decode
// (include/linux/sched.h), under their names of every kernel.
func (t *taskLayout) find(tt dwarf.Type) error {
	tb := &layoutBuilder{t: tt, name: "struct task_struct"}
	t.size = int(tt.Size())
	t.state = tb.need("__state", "state")
	t.exitState = tb.need("exit_state")
	t.flags = tb.need("flags")
	t.pid = tb.need("pid")
	t.tgid = tb.need("tgid")
	t.comm = tb.need("comm")
	t.cpu = tb.opt("cpu", "thread_info.cpu")
	t.onCPU = tb.opt("on_cpu")
	t.policy = tb.need("policy")
	t.prio = tb.need("prio")
	t.staticPrio = tb.need("static_prio")
	t.normalPrio = tb.need("normal_prio")
	t.rtPriority = tb.need("rt_priority")
	t.schedClass = tb.opt("sched_class")
	t.onRQ = tb.opt("on_rq")
	t.lastArrival = tb.opt("sched_info.last_arrival")
	t.lastRun = tb.opt("last_run", "timestamp", "sched_info.last_arrival")
	t.utime = tb.opt("utime")
	t.stime = tb.opt("stime")
	t.startTime = tb.opt("start_time")
	t.startBoot = tb.opt("start_boottime", "real_start_time")
	t.sumExec = tb.opt("se.sum_exec_runtime")
	t.vrun = tb.opt("se.vruntime")
	t.mm = tb.need("mm")
	t.activeMM = tb.opt("active_mm")
	t.parent = tb.need("parent")
	t.realParent = tb.need("real_parent")
	t.stack = tb.opt("stack")
	t.signal = tb.need("signal")
	t.tasks = tb.need("tasks")
	t.children = tb.need("children")
	t.sibling = tb.need("sibling")
	t.threadNode = tb.opt("thread_node")
	t.threadGroup = tb.opt("thread_group")
	t.pidLink = tb.opt("pid_links[0]", "pids[0].node")
	t.rssStat = tb.opt("rss_stat.count")
	t.se = tb.opt("se")
	t.rt = tb.opt("rt")
	t.dl = tb.opt("dl")
	return tb.err()
}

// findSignal locates how threads are linked: signal_struct.thread_head
// with task_struct.thread_node, or thread_group.
func (l *schedLayout) findSignal() error {
	t := &l.task
	if st, ok := pointee(t.signal.Type); ok {
		sb := &layoutBuilder{t: st, name: "struct signal_struct"}
		l.signal.threadHead = sb.opt("thread_head")
	} else {
		l.signal.threadHead = noField
	}
	if !l.signal.threadHead.ok() || !t.threadNode.ok() {
		// Old kernels (and 6.7+ in the other direction) link threads
		// through task_struct.thread_group only.
		l.signal.threadHead = noField
		if !t.threadGroup.ok() {
			return fmt.Errorf("struct task_struct has neither thread_node (with signal_struct.thread_head) nor thread_group: cannot find threads")
		}
	}
	return nil
}

// findMM locates the mm_struct counters: rss_stat as an atomic array or,
// since 6.2, as percpu_counters.
func (l *schedLayout) findMM() {
	mt, ok := pointee(l.task.mm.Type)
	if !ok {
		return
	}
	mb := &layoutBuilder{t: mt, name: "struct mm_struct"}
	l.mm.size = int(dwarfx.Strip(mt).Size())
	l.mm.totalVM = mb.opt("total_vm")
	l.mm.mmCount = mb.opt("mm_count")
	if f := mb.opt("rss_stat.count"); f.ok() {
		l.mm.rssCount = f
		l.mm.rssPCPU = noField
	} else {
		l.mm.rssCount = noField
		l.mm.rssPCPU = mb.opt("rss_stat")
		if at, ok := dwarfx.Strip(l.mm.rssPCPU.Type).(*dwarf.ArrayType); ok {
			pb := &layoutBuilder{t: at.Type, name: "struct percpu_counter"}
			l.mm.pcpuSize = int(dwarfx.Strip(at.Type).Size())
			l.mm.pcpuCount = pb.opt("count")
			l.mm.pcpuCounts = pb.opt("counters")
		}
	}
}

func (k *Kernel) buildRQLayout(l *schedLayout) error {
	rt, err := k.varType("runqueues")
	if err != nil {
		return err
	}
	b := &layoutBuilder{t: rt, name: "struct rq"}
	r := &l.rq
	r.size = int(rt.Size())
	r.curr = b.need("curr")
	r.idle = b.need("idle")
	r.nrRunning = b.opt("nr_running")
	r.clock = b.opt("clock")
	r.cpu = b.opt("cpu")
	r.cfs = b.need("cfs")
	r.rt = b.opt("rt")
	r.dl = b.opt("dl")
	if err := b.err(); err != nil {
		return err
	}
	cb := &layoutBuilder{t: r.cfs.Type, name: "struct cfs_rq"}
	r.cfsSize = r.cfs.Size
	r.cfsTimeline = cb.need("tasks_timeline")
	r.cfsCurr = cb.opt("curr")
	r.cfsNrRunning = cb.opt("nr_running")
	if err := cb.err(); err != nil {
		return err
	}
	r.rtActive, r.rtQueue, r.rtNrRunning = noField, noField, noField
	if r.rt.ok() {
		rb := &layoutBuilder{t: r.rt.Type, name: "struct rt_rq"}
		r.rtSize = r.rt.Size
		r.rtActive = rb.opt("active")
		r.rtQueue = rb.opt("active.queue")
		r.rtNrRunning = rb.opt("rt_nr_running")
		if at, ok := dwarfx.Strip(r.rtQueue.Type).(*dwarf.ArrayType); ok {
			r.rtQueueLen = int(at.Count)
		}
	}
	r.dlRoot, r.dlNrRunning = noField, noField
	if r.dl.ok() {
		db := &layoutBuilder{t: r.dl.Type, name: "struct dl_rq"}
		r.dlRoot = db.opt("root.rb_root.rb_node", "root.rb_node", "rb_root.rb_node")
		r.dlNrRunning = db.opt("dl_nr_running")
	}
	t := &l.task
	r.seRunNode, r.seMyQ, r.seVrun, r.seCfsRq = noField, noField, noField, noField
	if t.se.ok() {
		sb := &layoutBuilder{t: t.se.Type, name: "struct sched_entity"}
		r.seRunNode = sb.need("run_node")
		r.seMyQ = sb.opt("my_q")
		r.seVrun = sb.opt("vruntime")
		r.seCfsRq = sb.opt("cfs_rq")
		if err := sb.err(); err != nil {
			return err
		}
	}
	r.rtRunList, r.rtMyQ = noField, noField
	if t.rt.ok() {
		sb := &layoutBuilder{t: t.rt.Type, name: "struct sched_rt_entity"}
		r.rtRunList = sb.opt("run_list")
		r.rtMyQ = sb.opt("my_q")
	}
	r.dlRBNode, r.dlDeadline = noField, noField
	if t.dl.ok() {
		sb := &layoutBuilder{t: t.dl.Type, name: "struct sched_dl_entity"}
		r.dlRBNode = sb.opt("rb_node")
		r.dlDeadline = sb.opt("deadline")
	}
	r.listHeadSize = 2 * k.PtrSize()
	return nil
}

// buildPidLayout lays out what the pid-namespace cross-check walks:
// init_pid_ns.idr (an xarray since 4.20) and struct pid.
func (k *Kernel) buildPidLayout(l *schedLayout) error {
	v, err := k.Image.Variable("init_pid_ns")
	if err != nil {
		return fmt.Errorf("no init_pid_ns: %w", err)
	}
	l.pid.nsAddr = v.Addr
	nb := &layoutBuilder{t: v.Type, name: "struct pid_namespace"}
	l.pid.nsIDR = nb.opt("idr.idr_rt.xa_head")
	l.pid.idrBase = nb.opt("idr.idr_base")
	if !l.pid.nsIDR.ok() {
		return errors.New("init_pid_ns has no idr.idr_rt.xa_head (a kernel before 4.20 keeps pids in a hash; not walked)")
	}
	// struct pid from the task's thread_pid (4.19+) or pids[].pid.
	tb := &layoutBuilder{t: mustType(k, "init_task"), name: "struct task_struct"}
	pf := tb.opt("thread_pid", "pids[0].pid")
	pt, ok := pointee(pf.Type)
	if !ok || !l.task.pidLink.ok() {
		return errors.New("cannot find struct pid through task_struct.thread_pid")
	}
	pb := &layoutBuilder{t: pt, name: "struct pid"}
	l.pid.tasks0 = pb.need("tasks[0]")
	if err := pb.err(); err != nil {
		return err
	}
	// struct xa_node: from DWARF when the image can name the type, else the
	// layout every kernel since 4.20 uses (shift, offset, count, nr_values
	// bytes, then parent, array, a list_head/rcu_head union, slots[64]).
	x := &l.pid.xaNode
	if xt, err := k.Image.Type("struct xa_node"); err == nil {
		xb := &layoutBuilder{t: xt, name: "struct xa_node"}
		x.shift = xb.need("shift")
		x.slots = xb.need("slots")
		if err := xb.err(); err != nil {
			return err
		}
		if at, ok := dwarfx.Strip(x.slots.Type).(*dwarf.ArrayType); ok {
			x.nslots = int(at.Count)
		}
	} else {
		ps := k.PtrSize()
		x.shift = fixedField(0, 1)
		// 4 bytes, parent, array, then a two-pointer union, padded to a pointer.
		x.slots = fixedField(max(4, ps)+4*ps, 64*ps)
		x.nslots = 64
	}
	if x.nslots <= 0 {
		x.nslots = 64
	}
	return nil
}

func mustType(k *Kernel, varName string) dwarf.Type {
	t, _ := k.varType(varName)
	return t
}

// decodeSpan is how much of a task_struct decodeTask needs: the end of the
// furthest member this layout locates. On x86_64 the last ~6 KB of
// task_struct are the FPU state, which nothing here decodes; skipping them
// halves the pages a task walk reads (and, in compressed dumps,
// decompresses). Computed over every fieldLoc of the layout by reflection,
// so a member added to the layout can never be cut off.
func (t *taskLayout) decodeSpan() int {
	end := 0
	v := reflect.ValueOf(t).Elem()
	locType := reflect.TypeOf(fieldLoc{})
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Type() != locType {
			continue
		}
		// (Unexported fields: read with Int, which reflect allows.)
		off, size := int(v.Field(i).FieldByName("Off").Int()), int(v.Field(i).FieldByName("Size").Int())
		if off < 0 {
			continue // member absent in this kernel
		}
		end = max(end, off+size)
	}
	if end == 0 || end > t.size {
		return t.size
	}
	return end
}
