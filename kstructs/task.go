package kstructs

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// Scheduling policies (include/uapi/linux/sched.h).
const (
	SchedNormal   = 0
	SchedFIFO     = 1
	SchedRR       = 2
	SchedBatch    = 3
	SchedISO      = 4
	SchedIdle     = 5
	SchedDeadline = 6
)

var policyNames = []string{"NORMAL", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE"}

// PolicyName is the short name crash and ps -y use (NORMAL, FIFO, ...).
func PolicyName(p int) string {
	if p >= 0 && p < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("POLICY%d", p)
}

// ParsePolicy accepts a policy name (any case, with or without SCHED_) or number.
func ParsePolicy(s string) (int, bool) {
	u := strings.TrimPrefix(strings.ToUpper(s), "SCHED_")
	if u == "OTHER" {
		return SchedNormal, true
	}
	for i, n := range policyNames {
		if n == u {
			return i, true
		}
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n >= 0 && n < len(policyNames) && fmt.Sprint(n) == s {
		return n, true
	}
	return 0, false
}

// PF_KTHREAD (include/linux/sched.h): the flag crash and procps use to call
// a task a kernel thread.
const pfKthread = 0x00200000

// Task is one task_struct (a thread), decoded from one read of the struct.
type Task struct {
	Addr      uint64 // the task_struct
	PID, TGID int
	PPID      int // pid of ->parent, as crash shows it
	Comm      string
	CPU       int
	// State is __state (or state) ORed with exit_state, as crash uses it.
	State     uint64
	RawState  uint64 // __state alone
	ExitState uint64
	StateCode string // crash's RU/IN/UN/ZO/ST/TR/DE/WA/PA/ID/NE
	StateChar byte   // the /proc (ps) letter: R S D T t X Z P I
	Flags     uint64
	// KernelThread is PF_KTHREAD (set on the idle tasks too).
	KernelThread bool
	Policy       int
	Prio         int
	StaticPrio   int
	NormalPrio   int
	RTPriority   int
	Nice         int // static_prio - 120
	SchedClass   uint64
	// SchedClassName is the symbol sched_class points to (fair_sched_class...).
	SchedClassName string
	// Times in the kernel's units: nanoseconds on every kernel this reads.
	LastArrival  uint64 // sched_info.last_arrival
	LastRun      uint64 // what ps -l sorts by (last_run, timestamp or last_arrival)
	Utime, Stime uint64
	StartTime    uint64 // start_time (monotonic), what crash's ps -t shows
	// StartBoottime is start_boottime (real_start_time before 5.5): the
	// boot-based time /proc/PID/stat's start_time field is made from.
	StartBoottime  uint64
	SumExecRuntime uint64
	VRuntime       uint64
	OnRQ           int
	// RSS and VSZ in KB, from the mm counters as crash computes them
	// (with the threads' SPLIT_RSS_COUNTING caches added).
	RSS, VSZ uint64
	// MMRSS is the mm counters alone (KB): get_mm_rss(), what /proc's
	// VmRSS shows (fs/proc/task_mmu.c task_mem).
	MMRSS uint64
	// Active is set when the task is rq->curr of its CPU; Panic for the
	// task of the crashing CPU.
	Active bool
	Panic  bool
	// Idle is set for the per-cpu idle tasks (pid 0, swapper/N).
	Idle               bool
	Parent, RealParent uint64
	MM                 uint64
	Stack              uint64
	Signal             uint64

	splitRSS int64 // task_struct.rss_stat.count[file+anon+shmem], positive terms only
	// tasks.next and the thread link's next, as read with the struct.
	tasksNext, threadNext uint64
}

// mmPages is an mm's resident pages (see mmRSS).
type mmPages struct{ pages, procPages int64 }

// IsLeader reports whether the task leads its thread group.
func (t *Task) IsLeader() bool { return t.PID == t.TGID }

// PolicyName is the task's policy as crash names it.
func (t *Task) PolicyName() string { return PolicyName(t.Policy) }

// taskTable is the task list read once: by address and sorted as crash sorts.
type taskTable struct {
	sorted   []*Task
	byAddr   map[uint64]*Task
	byPID    map[int][]*Task
	active   map[int]*Task // cpu → rq->curr
	idle     map[int]*Task
	panic    *Task
	problems []string
	mmPages  map[uint64]mmPages // per mm, once (threads share it)
}

// Tasks returns every task: thread-group leaders from init_task.tasks,
// their threads, and each CPU's idle task, sorted by PID (pid 0 by CPU).
// Tasks the pid namespace knows but the lists miss (or the other way round)
// are included and reported by TaskListProblems. The table is read once.
func (k *Kernel) Tasks() ([]*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	return tt.sorted, nil
}

// TaskListProblems describes corruption or inconsistencies met while
// reading the task list (cycles, unreadable links, tasks missing from the
// pid namespace or from the lists). Empty when all is well.
func (k *Kernel) TaskListProblems() []string {
	tt, err := k.taskTable()
	if err != nil {
		return []string{err.Error()}
	}
	return tt.problems
}

// TaskByPID returns the tasks with that pid (several for pid 0: the idle
// task of each CPU; the first is CPU 0's).
func (k *Kernel) TaskByPID(pid int) (*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	if ts := tt.byPID[pid]; len(ts) > 0 {
		return ts[0], nil
	}
	return nil, fmt.Errorf("no task has pid %d", pid)
}

// TasksByPID returns every task with that pid.
func (k *Kernel) TasksByPID(pid int) []*Task {
	tt, err := k.taskTable()
	if err != nil {
		return nil
	}
	return tt.byPID[pid]
}

// TaskByAddr returns the task whose task_struct is at addr. An address
// that is not in the task list is read as a task_struct anyway (with a
// marker error) when it decodes plausibly, since a task can be missing from
// corrupted lists.
func (k *Kernel) TaskByAddr(addr uint64) (*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	if t, ok := tt.byAddr[addr]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%#x is not the address of a task in the task list", addr)
}

// ReadTask decodes the task_struct at addr without consulting the task list.
func (k *Kernel) ReadTask(addr uint64) (*Task, error) {
	l, err := k.schedLayout()
	if err != nil {
		return nil, err
	}
	t, err := k.decodeTask(l, addr)
	if err != nil {
		return nil, err
	}
	// The parent's pid needs one more read here (Tasks resolves it from the table).
	if t.Parent != 0 {
		if p, err := k.decodeTask(l, t.Parent); err == nil {
			t.PPID = p.PID
		}
	}
	return t, nil
}

// ActiveTasks returns rq->curr of every possible CPU, in CPU order.
func (k *Kernel) ActiveTasks() ([]*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	cpus := make([]int, 0, len(tt.active))
	for c := range tt.active {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	out := make([]*Task, 0, len(cpus))
	for _, c := range cpus {
		out = append(out, tt.active[c])
	}
	return out, nil
}

// ActiveTask returns rq->curr of cpu.
func (k *Kernel) ActiveTask(cpu int) (*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	if t, ok := tt.active[cpu]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("no active task known for cpu %d", cpu)
}

// IdleTask returns the idle task (swapper/N) of cpu.
func (k *Kernel) IdleTask(cpu int) (*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	if t, ok := tt.idle[cpu]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("no idle task known for cpu %d", cpu)
}

// PanicTask is the task that was running on the crashing CPU.
func (k *Kernel) PanicTask() (*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	if tt.panic == nil && k.Live() {
		return nil, errLiveNoPanic
	}
	if tt.panic == nil {
		return nil, fmt.Errorf("cannot tell which CPU crashed (panic_cpu is unset and the dump's CPU notes do not name a task)")
	}
	return tt.panic, nil
}

// Children returns the children of t (its children list, linked through
// the children's sibling members), sorted by pid.
func (k *Kernel) Children(t *Task) ([]*Task, error) {
	l, err := k.schedLayout()
	if err != nil {
		return nil, err
	}
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	head := t.Addr + uint64(l.task.children.Off)
	nodes, werr := WalkList(k, head, ListOptions{Head: true})
	var out []*Task
	for _, n := range nodes {
		addr := n - uint64(l.task.sibling.Off)
		if c, ok := tt.byAddr[addr]; ok {
			out = append(out, c)
		} else if c, err := k.ReadTask(addr); err == nil {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	if werr != nil {
		return out, fmt.Errorf("children of pid %d (task %#x): %w", t.PID, t.Addr, werr)
	}
	return out, nil
}

// TaskNode is one task of the process tree with its children.
type TaskNode struct {
	Task     *Task
	Children []*TaskNode
}

// TaskTree is the process hierarchy from children/sibling, rooted at the
// idle task of CPU 0 (init_task), whose children are init and kthreadd.
func (k *Kernel) TaskTree() (*TaskNode, error) {
	root, err := k.IdleTask(0)
	if err != nil {
		if root, err = k.TaskByPID(0); err != nil {
			return nil, err
		}
	}
	seen := map[uint64]bool{}
	var errs []string
	var build func(t *Task, depth int) *TaskNode
	build = func(t *Task, depth int) *TaskNode {
		n := &TaskNode{Task: t}
		if seen[t.Addr] || depth > 4096 {
			errs = append(errs, fmt.Sprintf("process tree loops at task %#x (pid %d)", t.Addr, t.PID))
			return n
		}
		seen[t.Addr] = true
		kids, err := k.Children(t)
		if err != nil {
			errs = append(errs, err.Error())
		}
		for _, c := range kids {
			n.Children = append(n.Children, build(c, depth+1))
		}
		return n
	}
	tree := build(root, 0)
	if len(errs) > 0 {
		return tree, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return tree, nil
}

// ThreadsOf returns the threads of t's thread group (t's leader first).
func (k *Kernel) ThreadsOf(t *Task) ([]*Task, error) {
	tt, err := k.taskTable()
	if err != nil {
		return nil, err
	}
	var out []*Task
	for _, x := range tt.sorted {
		if x.TGID == t.TGID && !x.Idle && x.PID != 0 {
			out = append(out, x)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].IsLeader() != out[j].IsLeader() {
			return out[i].IsLeader()
		}
		return out[i].PID < out[j].PID
	})
	return out, nil
}

// decodeTask reads one task_struct with a single read and decodes it.
func (k *Kernel) decodeTask(l *schedLayout, addr uint64) (*Task, error) {
	tl := &l.task
	b, err := k.readBytes(addr, tl.span, "task_struct")
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	t := &Task{Addr: addr}
	t.RawState = d.uint(b, tl.state)
	t.ExitState = d.uint(b, tl.exitState)
	t.State = t.RawState | t.ExitState
	t.Flags = d.uint(b, tl.flags)
	t.KernelThread = t.Flags&pfKthread != 0
	t.PID = int(d.int(b, tl.pid))
	t.TGID = int(d.int(b, tl.tgid))
	t.Comm = d.str(b, tl.comm)
	t.Policy = int(d.uint(b, tl.policy))
	t.Prio = int(d.int(b, tl.prio))
	t.StaticPrio = int(d.int(b, tl.staticPrio))
	t.NormalPrio = int(d.int(b, tl.normalPrio))
	t.RTPriority = int(d.uint(b, tl.rtPriority))
	t.Nice = t.StaticPrio - 120
	t.SchedClass = d.uint(b, tl.schedClass)
	if t.SchedClass != 0 {
		if sym, off, ok := k.Image.SymbolAt(t.SchedClass); ok && off == 0 {
			t.SchedClassName = sym.Name
		}
	}
	t.OnRQ = int(d.int(b, tl.onRQ))
	t.LastArrival = d.uint(b, tl.lastArrival)
	t.LastRun = d.uint(b, tl.lastRun)
	t.Utime = d.uint(b, tl.utime)
	t.Stime = d.uint(b, tl.stime)
	t.StartTime = d.uint(b, tl.startTime)
	t.StartBoottime = d.uint(b, tl.startBoot)
	t.SumExecRuntime = d.uint(b, tl.sumExec)
	t.VRuntime = d.uint(b, tl.vrun)
	t.MM = d.uint(b, tl.mm)
	t.Parent = d.uint(b, tl.parent)
	t.RealParent = d.uint(b, tl.realParent)
	t.Stack = d.uint(b, tl.stack)
	t.Signal = d.uint(b, tl.signal)
	if tl.cpu.ok() {
		t.CPU = int(d.uint(b, tl.cpu))
	} else {
		t.CPU = k.stackCPU(t.Stack)
	}
	if f := tl.rssStat; f.ok() {
		for _, i := range l.rssIdx {
			if off := f.Off + 4*i; 4*i+4 <= f.Size && off+4 <= len(b) {
				if v := int64(int32(k.Image.ByteOrder().Uint32(b[off:]))); v > 0 {
					t.splitRSS += v
				}
			}
		}
	}
	// The list links, so the task-list walks need not read them again.
	if tl.tasks.ok() {
		t.tasksNext = d.ptrAt(b, tl.tasks.Off)
	}
	if tl.threadNode.ok() {
		t.threadNext = d.ptrAt(b, tl.threadNode.Off)
	} else if tl.threadGroup.ok() {
		t.threadNext = d.ptrAt(b, tl.threadGroup.Off)
	}
	st := k.stateBits()
	t.StateCode = st.Code(t.State)
	t.StateChar = st.Letter(t.RawState, t.ExitState)
	return t, nil
}

// stackCPU reads thread_info.cpu at the base of the kernel stack: kernels
// without THREAD_INFO_IN_TASK keep thread_info there. -1 if unreadable.
func (k *Kernel) stackCPU(stack uint64) int {
	ti, err := k.Image.Type("struct thread_info")
	if err != nil || stack == 0 {
		return -1
	}
	f, err := memberPath(ti, "cpu")
	if err != nil {
		return -1
	}
	b, err := k.readBytes(stack+uint64(f.Off), f.Size, "thread_info.cpu")
	if err != nil {
		return -1
	}
	return int(dwarfx.DecodeUint(k.Image.ByteOrder(), b))
}

// taskRSS fills RSS and VSZ (KB) from the task's mm the way crash's
// get_task_mem_usage does.
func (k *Kernel) taskMem(l *schedLayout, tt *taskTable, t *Task, threadRSS map[int]int64) {
	if t.MM == 0 || t.ExitState&k.stateBits().exitZombie != 0 || t.Idle {
		return
	}
	page := k.PageSize()
	c, ok := tt.mmPages[t.MM]
	if !ok {
		c.pages, c.procPages = k.mmRSS(l, t.MM)
		tt.mmPages[t.MM] = c
	}
	pages := c.pages
	t.MMRSS = uint64(max(c.procPages, 0)) * page / 1024
	rss := pages
	if l.task.rssStat.ok() {
		rss += threadRSS[t.TGID]
	}
	if rss < 0 {
		rss = 0
	}
	t.RSS = uint64(rss) * page / 1024
	if l.mm.totalVM.ok() {
		b, err := k.readBytes(t.MM+uint64(l.mm.totalVM.Off), l.mm.totalVM.Size, "mm_struct.total_vm")
		if err == nil {
			t.VSZ = dwarfx.DecodeUint(k.Image.ByteOrder(), b) * page / 1024
		}
	}
}

// mmRSS sums the mm's file, anon and shmem page counters: procPages as
// get_mm_counter() reads them for /proc (each clamped at 0; on 6.2+ the
// percpu_counter's shared count alone, percpu_counter_read_positive), and
// pages with 6.2+'s per-cpu deltas added (percpu_counter_sum, as crash and
// drgn count them). Before 6.2 both are the atomic counters.
func (k *Kernel) mmRSS(l *schedLayout, mm uint64) (pages, procPages int64) {
	d := k.decoder()
	switch {
	case l.mm.rssCount.ok():
		b, err := k.readBytes(mm+uint64(l.mm.rssCount.Off), l.mm.rssCount.Size, "mm_struct.rss_stat")
		if err != nil {
			return 0, 0
		}
		esz := k.PtrSize()
		for _, i := range l.rssIdx {
			if (i+1)*esz <= len(b) {
				v := int64(d.ptrAt(b, i*esz))
				if esz == 4 {
					v = int64(int32(v))
				}
				if v > 0 {
					pages += v
				}
			}
		}
		return pages, pages
	case l.mm.rssPCPU.ok() && l.mm.pcpuCount.ok():
		for _, i := range l.rssIdx {
			count, sum := k.percpuCounter(l, mm+uint64(l.mm.rssPCPU.Off+i*l.mm.pcpuSize))
			procPages += max(count, 0)
			pages += max(sum, 0)
		}
	}
	return pages, procPages
}

// percpuCounter reads a struct percpu_counter: its shared count and the
// sum with every possible cpu's delta (lib/percpu_counter.c
// __percpu_counter_sum). An unreadable per-cpu slot is left out.
func (k *Kernel) percpuCounter(l *schedLayout, addr uint64) (count, sum int64) {
	b, err := k.readBytes(addr, l.mm.pcpuSize, "struct percpu_counter")
	if err != nil {
		return 0, 0
	}
	d := k.decoder()
	count = d.int(b, l.mm.pcpuCount)
	sum = count
	ptr := d.uint(b, l.mm.pcpuCounts)
	cpus, err := k.PossibleCPUs()
	if ptr == 0 || err != nil {
		return count, sum
	}
	for _, cpu := range cpus {
		off, err := k.PerCPUOffset(cpu)
		if err != nil {
			continue
		}
		if cb, err := k.readBytes(ptr+off, 4, "percpu_counter.counters"); err == nil {
			sum += int64(int32(dwarfx.DecodeUint(k.Image.ByteOrder(), cb)))
		}
	}
	return count, sum
}

// threadRSSCounts sums task_struct.rss_stat.count[] (SPLIT_RSS_COUNTING's
// per-thread caches) per thread group.
func threadRSSCounts(tasks []*Task) map[int]int64 {
	out := map[int]int64{}
	for _, t := range tasks {
		if t.MM != 0 && !t.Idle {
			out[t.TGID] += t.splitRSS
		}
	}
	return out
}

// StateVerbose is crash's `set` STATE text (TASK_RUNNING, TASK_INTERRUPTIBLE,
// TASK_UNINTERRUPTIBLE|TASK_NOLOAD, ...).
func (k *Kernel) StateVerbose(t *Task) string { return k.stateBits().Verbose(t.State) }

// StateCode decodes a state value into crash's two-letter code.
func (k *Kernel) StateCode(state uint64) string { return k.stateBits().Code(state) }

// TaskMemberOffset is the offset of a task_struct member (a path such as
// "se.vruntime" works too); false if this kernel has no such member.
func (k *Kernel) TaskMemberOffset(path string) (uint64, bool) {
	t, err := k.varType("init_task")
	if err != nil {
		return 0, false
	}
	f, err := memberPath(t, path)
	if err != nil {
		return 0, false
	}
	return uint64(f.Off), true
}

// MemberOffset is the offset of a member path inside a struct type named
// like "struct task_struct" (as the list and tree commands take it).
func (k *Kernel) MemberOffset(typeName, path string) (uint64, error) {
	t, err := k.Image.Type(typeName)
	if err != nil {
		return 0, err
	}
	f, err := memberPath(t, path)
	if err != nil {
		return 0, err
	}
	return uint64(f.Off), nil
}

// TaskUID is the task's real uid (cred->uid).
func (k *Kernel) TaskUID(t *Task) (int, error) {
	tt, err := k.varType("init_task")
	if err != nil {
		return 0, err
	}
	cf, err := memberPath(tt, "cred")
	if err != nil {
		return 0, err
	}
	ct, ok := pointee(cf.Type)
	if !ok {
		return 0, fmt.Errorf("task_struct.cred is not a pointer")
	}
	uf, err := memberPath(ct, "uid")
	if err != nil {
		return 0, err
	}
	cred, err := k.readPointer(t.Addr + uint64(cf.Off))
	if err != nil {
		return 0, fmt.Errorf("reading cred of task %#x: %w", t.Addr, err)
	}
	b, err := k.readBytes(cred+uint64(uf.Off), 4, "cred.uid")
	if err != nil {
		return 0, err
	}
	return int(k.Image.ByteOrder().Uint32(b)), nil
}
