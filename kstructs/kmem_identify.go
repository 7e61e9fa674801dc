package kstructs

import (
	"fmt"
	"sort"
)

// AddrInfo is what kinspect knows of one kernel address: crash's kmem ADDR
// (memory.c kmem_search), each part nil or zero when it does not apply.
type AddrInfo struct {
	Addr uint64
	// Symbol: the kernel image symbol at or before Addr (Addr in
	// _stext.._end), or the loaded module's (SymModule its name).
	Symbol    string
	SymOff    uint64
	SymKind   byte
	SymModule string
	// Vmap: the vmalloc area containing Addr.
	Vmap *VmapArea
	// Slab: the slab object containing Addr; SlabPage: the slab whose
	// struct page Addr is.
	Slab, SlabPage *SlabObject
	// Physical: Addr was taken as a physical address (below the kernel's
	// virtual range and not mapped by its page tables), as crash does.
	Physical bool
	// Task: the task whose task_struct (InTaskStruct) or kernel stack
	// contains Addr.
	Task         *Task
	InTaskStruct bool
	// Phys is Addr's physical address (HasPhys false: no translation).
	Phys    uint64
	HasPhys bool
	// Page is the struct page crash shows: Addr itself when it is a struct
	// page of the page array (IsPagePtr), else the page of Phys.
	Page      *Page
	IsPagePtr bool
	// Free: the buddy allocator's free block holding Page.
	Free *FreeBlock
	// PageTable: the page table Phys's page holds.
	PageTable *PageTable
	// PerCPU: the static per-cpu variable whose copy holds Addr.
	PerCPU *PerCPUVar
	// Errs are the walks that failed on the way (the answer is partial).
	Errs []error
}

// IdentifyAddr identifies a kernel virtual address as crash's kmem ADDR
// does: symbol, vmalloc area (and vmapped stack), slab object, task_struct
// or kernel stack, and the struct page.
func (k *Kernel) IdentifyAddr(addr uint64) *AddrInfo {
	a := &AddrInfo{Addr: addr}
	if addr < k.Layout.PageOffset {
		if _, err := k.Trans.Translate(addr); err != nil {
			return k.identifyPhys(a)
		}
	}
	// crash names symbols from _stext on (kmem_search: kt->stext..kt->end),
	// not from _text: arm's and arm64's head code lies before it.
	lo, hi := k.Image.KernelImageRange()
	if s, ok := k.Image.Lookup("_stext"); ok && s.Addr > lo {
		lo = s.Addr
	}
	if addr >= lo && addr <= hi || k.Image.ModuleOf(addr) != "" {
		if s, off, ok := k.Image.SymbolAt(addr); ok {
			a.Symbol, a.SymOff, a.SymKind, a.SymModule = s.Name, off, s.Kind, s.Module
		}
	}
	if pa, err := k.Trans.Translate(addr); err == nil {
		a.Phys, a.HasPhys = pa, true
	}
	// arm64 maps the kernel image with vmap areas of its own (vmlinux
	// segments, arch/arm64/mm/mmu.c); crash does not take image addresses
	// as vmalloc ones.
	v, err := k.VmapAreaOf(addr)
	a.note(err)
	if ilo, ihi := k.Image.KernelImageRange(); addr >= ilo && addr < ihi {
		v = nil
	}
	if v != nil && a.HasPhys {
		a.Vmap = v
		a.Task = k.stackOwner(addr, a)
		a.page(k, a.Phys)
		return a
	}
	if a.HasPhys {
		s, err := k.SlabObjectOf(addr)
		a.note(err)
		a.Slab = s
	}
	a.Task, a.InTaskStruct = k.taskStructOwner(addr, a), true
	if a.Task == nil {
		a.Task, a.InTaskStruct = k.stackOwner(addr, a), false
	}
	if _, ok := k.IsPagePtr(addr); ok {
		p, err := k.ReadPage(addr)
		a.note(err)
		a.Page, a.IsPagePtr = p, p != nil
		a.SlabPage, err = k.SlabOfPage(addr)
		a.note(err)
	} else if a.HasPhys {
		a.page(k, a.Phys)
	}
	a.PerCPU = k.PerCPUVarOf(addr)
	a.pageUse(k)
	return a
}

// pageUse finds what the page holds beyond crash's page line: a free
// buddy block (as crash's kmem_search) or a page table.
func (a *AddrInfo) pageUse(k *Kernel) {
	if a.Page == nil {
		return
	}
	fb, err := k.FreeBlockOf(a.Page.Addr)
	a.note(err)
	a.Free = fb
	// A slab's, a free block's or a task's page holds no page table: the
	// walk of every mm's tables (once per Kernel) is left for the others.
	if a.Slab == nil && a.SlabPage == nil && a.Free == nil && a.Task == nil && !a.Page.Slab {
		a.PageTable = k.PageTableOf(a.Page.Phys)
	}
}

// identifyPhys is kmem of a physical address: its direct-map address's
// slab object and task, and its struct page (memory.c kmem_search: PTOV
// when below high_memory).
func (k *Kernel) identifyPhys(a *AddrInfo) *AddrInfo {
	a.Physical, a.Phys, a.HasPhys = true, a.Addr, true
	if va, err := k.PhysToVirt(a.Addr); err == nil {
		// only memory of the direct map: crash's PTOV below high_memory
		// (arm's highmem has no fixed virtual address)
		if back, err := k.Trans.Translate(va); err == nil && back == a.Addr {
			s, err := k.SlabObjectOf(va)
			a.note(err)
			a.Slab = s
			a.Task, a.InTaskStruct = k.taskStructOwner(va, a), true
			if a.Task == nil {
				a.Task, a.InTaskStruct = k.stackOwner(va, a), false
			}
		}
	}
	a.page(k, a.Addr)
	a.pageUse(k)
	return a
}

func (a *AddrInfo) note(err error) {
	if err != nil {
		a.Errs = append(a.Errs, err)
	}
}

func (a *AddrInfo) page(k *Kernel, pa uint64) {
	pp, err := k.PageOfPhys(pa)
	if err != nil {
		return // memory with no struct page (a hole, or not RAM): crash prints no page either
	}
	p, err := k.ReadPage(pp)
	a.note(err)
	a.Page = p
}

// taskIndex sorts the tasks by task_struct and by stack for lookups.
type taskIndex struct {
	byAddr, byStack []*Task
	structSize      uint64
	threadSize      uint64
}

func (k *Kernel) taskIndex() (*taskIndex, error) {
	st := k.slabObjState()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tasks != nil {
		return st.tasks, nil
	}
	tasks, err := k.Tasks()
	if err != nil {
		return nil, err
	}
	// x86 sizes task_struct at boot for the CPU's FPU state
	// (arch/x86/kernel/fpu/init.c arch_task_struct_size): the DWARF size
	// overlaps the next object.
	size, err := k.ReadUint("arch_task_struct_size")
	if err != nil || size == 0 {
		if size, err = k.typeSize("struct task_struct"); err != nil {
			return nil, err
		}
	}
	ts, err := threadSize(k)
	if err != nil {
		return nil, err
	}
	ti := &taskIndex{structSize: size, threadSize: ts}
	ti.byAddr = append([]*Task(nil), tasks...)
	sort.Slice(ti.byAddr, func(i, j int) bool { return ti.byAddr[i].Addr < ti.byAddr[j].Addr })
	for _, t := range tasks {
		if t.Stack != 0 {
			ti.byStack = append(ti.byStack, t)
		}
	}
	sort.Slice(ti.byStack, func(i, j int) bool { return ti.byStack[i].Stack < ti.byStack[j].Stack })
	st.tasks = ti
	return ti, nil
}

// taskStructOwner is the task whose task_struct contains addr.
func (k *Kernel) taskStructOwner(addr uint64, a *AddrInfo) *Task {
	ti, err := k.taskIndex()
	if err != nil {
		a.note(fmt.Errorf("task list: %w", err))
		return nil
	}
	i := sort.Search(len(ti.byAddr), func(i int) bool { return ti.byAddr[i].Addr > addr }) - 1
	if i >= 0 && addr < ti.byAddr[i].Addr+ti.structSize {
		return ti.byAddr[i]
	}
	return nil
}

// stackOwner is the task whose THREAD_SIZE kernel stack contains addr.
func (k *Kernel) stackOwner(addr uint64, a *AddrInfo) *Task {
	ti, err := k.taskIndex()
	if err != nil {
		a.note(fmt.Errorf("task list: %w", err))
		return nil
	}
	i := sort.Search(len(ti.byStack), func(i int) bool { return ti.byStack[i].Stack > addr }) - 1
	if i >= 0 && addr < ti.byStack[i].Stack+ti.threadSize {
		return ti.byStack[i]
	}
	return nil
}

// VMAOf is the VMA of mm that contains user address addr, nil if none
// (the VMAs are in address order).
func (mm *MM) VMAOf(addr uint64) *VMA {
	i := sort.Search(len(mm.VMAs), func(i int) bool { return mm.VMAs[i].End > addr })
	if i < len(mm.VMAs) && mm.VMAs[i].Start <= addr {
		return &mm.VMAs[i]
	}
	return nil
}
