package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// kmemAddrJSON is one address of `kmem ADDR --json`.
type kmemAddrJSON struct {
	Addr      string         `json:"addr"`
	Symbol    *symLine       `json:"symbol,omitempty"`
	Vmap      *vmapJSON      `json:"vmalloc,omitempty"`
	Slab      *slabObjJSON   `json:"slab,omitempty"`
	SlabPage  *slabObjJSON   `json:"slab_page,omitempty"` // the address is this slab's struct page
	Task      *contextResult `json:"task,omitempty"`
	InTask    string         `json:"in_task,omitempty"` // "task_struct" or "stack"
	Phys      *string        `json:"phys"`
	Page      *pageJSON      `json:"page,omitempty"`
	PagePtr   bool           `json:"is_page_struct,omitempty"`
	Free      *freeBlockJSON `json:"free_block,omitempty"` // the buddy block holding the page
	PageTable *pageTableJSON `json:"page_table,omitempty"` // the page holds a page table
	PerCPU    *perCPUJSON    `json:"per_cpu,omitempty"`    // a CPU's copy of a static per-cpu variable
	Errors    []string       `json:"errors,omitempty"`
	Physical  bool           `json:"physical,omitempty"` // taken as a physical address, as crash does
}

type freeBlockJSON struct {
	Zone        string `json:"zone"`
	Index       int    `json:"zone_index"`
	Name        string `json:"zone_name"`
	Node        int    `json:"node"`
	Order       int    `json:"order"`
	MigrateType int    `json:"migrate_type"`
	FreeList    string `json:"free_list"`
	Head        string `json:"head_page"` // struct page of the block's first page
	Pages       uint64 `json:"pages"`
	Nth         uint64 `json:"nth"` // the page's position in the block, from 1
	fb          *kstructs.FreeBlock
}

type pageTableJSON struct {
	Level string `json:"level"`
	PID   int    `json:"pid"` // 0: the kernel's (init_mm's) pgd
	Comm  string `json:"comm"`
	MM    string `json:"mm,omitempty"`
	Virt  string `json:"virtual,omitempty"` // the lowest user address a VMA maps through it
}

type perCPUJSON struct {
	Name   string `json:"name"`
	Offset uint64 `json:"offset"`
	CPU    int    `json:"cpu"`
}

type vmapJSON struct {
	VmapArea string `json:"vmap_area"`
	VMStruct string `json:"vm_struct"`
	Start    string `json:"start"`
	End      string `json:"end"`
	Size     uint64 `json:"size"`
	Caller   string `json:"caller,omitempty"`
}

type slabObjJSON struct {
	Cache     string `json:"cache"`
	Name      string `json:"name"`
	Slab      string `json:"slab"`
	Memory    string `json:"memory"`
	Node      int    `json:"node"`
	Total     uint64 `json:"total"`
	Allocated uint64 `json:"allocated"`
	Free      uint64 `json:"free"`
	Object    string `json:"object"`
	ObjSize   uint64 `json:"object_size"`
	Offset    uint64 `json:"offset"`
	IsFree    bool   `json:"is_free"`
	InObject  bool   `json:"in_object"`
	CPU       *int   `json:"cpu,omitempty"` // the slab is this cpu's active slab
	// Objects lists every object of the slab (for a slab page's address).
	Objects []slabObjEntry `json:"objects,omitempty"`
	cache   slabCacheJSON
}

type slabObjEntry struct {
	Addr string `json:"addr"`
	Free bool   `json:"free"`
}

type pageJSON struct {
	Page     string   `json:"page"`
	Phys     string   `json:"phys"`
	PFN      uint64   `json:"pfn"`
	Mapping  string   `json:"mapping"`
	Index    string   `json:"index"`
	Count    int64    `json:"count"`
	Mapcount int64    `json:"mapcount"`
	Flags    string   `json:"flags"`
	Names    []string `json:"flag_names"`
}

type kmemAddrResult []kmemAddrJSON

func (s *Session) kmemAddrs(args []string) (Result, error) {
	var r kmemAddrResult
	for _, arg := range args {
		a, err := s.resolveAddress(arg)
		if err != nil {
			return nil, fmt.Errorf("kmem: %s: %w", arg, err)
		}
		r = append(r, s.kmemAddr(s.K.IdentifyAddr(a)))
	}
	return r, nil
}

func (s *Session) kmemAddr(a *kstructs.AddrInfo) kmemAddrJSON {
	j := kmemAddrJSON{Addr: fmt.Sprintf("%x", a.Addr), Physical: a.Physical}
	if a.Symbol != "" {
		j.Symbol = &symLine{Addr: fmt.Sprintf("%x", a.Addr), Kind: string(a.SymKind), Name: crashSymName(a.Symbol), Offset: a.SymOff, Module: a.SymModule}
	}
	if a.Vmap != nil {
		j.Vmap = s.vmapJSON(a.Vmap)
	}
	if a.Slab != nil {
		j.Slab = s.slabObjJSON(a.Slab, a.Addr, false)
	}
	if a.SlabPage != nil {
		j.SlabPage = s.slabObjJSON(a.SlabPage, a.Addr, true)
	}
	if a.Task != nil {
		c := s.contextOf(a.Task)
		j.Task = &c
		j.InTask = "stack"
		if a.InTaskStruct {
			j.InTask = "task_struct"
		}
	}
	if a.HasPhys {
		p := fmt.Sprintf("%x", a.Phys)
		j.Phys = &p
	}
	if a.Page != nil {
		pj := toPageJSON(a.Page)
		j.Page, j.PagePtr = &pj, a.IsPagePtr
	}
	if f := a.Free; f != nil {
		j.Free = &freeBlockJSON{Zone: fmt.Sprintf("%x", f.Zone.Addr), Index: f.Zone.Index, Name: f.Zone.Name, Node: f.Zone.Node,
			Order: f.Order, MigrateType: f.MType, FreeList: fmt.Sprintf("%x", f.List), Head: fmt.Sprintf("%x", f.Head),
			Pages: 1 << uint(f.Order), Nth: f.Index + 1, fb: f}
	}
	if p := a.PageTable; p != nil {
		j.PageTable = &pageTableJSON{Level: p.Level, PID: p.PID, Comm: p.Comm}
		if p.MM != 0 {
			j.PageTable.MM, j.PageTable.Virt = fmt.Sprintf("%x", p.MM), fmt.Sprintf("%x", p.Virt)
		}
	}
	if p := a.PerCPU; p != nil {
		j.PerCPU = &perCPUJSON{Name: p.Name, Offset: p.Off, CPU: p.CPU}
	}
	for _, e := range a.Errs {
		j.Errors = append(j.Errors, e.Error())
	}
	return j
}

// text is crash's kmem ADDR lines for a page of the buddy allocator
// (memory.c dump_free_pages_zones_v2 with an address): the zone, the
// free area's order and free list, and the block's first page.
func (f *freeBlockJSON) text(w io.Writer, s *Session, addr string, physical bool) {
	hw, z := s.hexWidth(), f.fb.Zone
	free := int64(0)
	if len(z.VMStat) > 0 {
		free = z.VMStat[0].Value
	}
	fmt.Fprintf(w, "ZONE  NAME        SIZE    FREE  %s  START_PADDR  START_MAPNR\n", crashCenter("MEM_MAP", hw, false))
	fmt.Fprintf(w, "%3d   %-9s %6d  %6d  %s  %s  %s\n", z.Index, z.Name, z.Spanned, free, crashCenter(fmt.Sprintf("%x", f.fb.MemMap), hw, false),
		crashCenter(fmt.Sprintf("%x", z.StartPFN*s.K.PageSize()), 11, true), crashCenter(fmt.Sprint(f.fb.MapNr), 11, true))
	fmt.Fprintf(w, "AREA    SIZE  FREE_AREA_STRUCT\n")
	fmt.Fprintf(w, "%3d  %7s  %s  \n", f.Order, fmt.Sprintf("%dk", (s.K.PageSize()<<uint(f.Order))/1024),
		crashCenter(f.FreeList, max(hw, len("FREE_AREA_STRUCT")), false))
	fmt.Fprintf(w, "%s  ", f.Head)
	if f.Order > 0 {
		in := ""
		if physical && addrPageOffset(addr, s.K.PageSize()) != 0 {
			in = "in "
		}
		fmt.Fprintf(w, "(%s is %s%s of %d pages)", addr, in, crashOrdinal(f.Nth), f.Pages)
	}
	fmt.Fprintf(w, "\n\n")
}

// crashOrdinal is crash's ordinal (tools.c): the suffix follows the last
// digit alone ("11st").
func crashOrdinal(n uint64) string {
	s := fmt.Sprint(n)
	switch s[len(s)-1] {
	case '1':
		return s + "st"
	case '2':
		return s + "nd"
	case '3':
		return s + "rd"
	}
	return s + "th"
}

func addrPageOffset(hexAddr string, pageSize uint64) uint64 {
	var a uint64
	fmt.Sscanf(hexAddr, "%x", &a)
	return a & (pageSize - 1)
}

func (s *Session) slabObjJSON(o *kstructs.SlabObject, addr uint64, all bool) *slabObjJSON {
	c := o.Cache
	j := &slabObjJSON{Cache: fmt.Sprintf("%x", c.Addr), Name: c.Name, Slab: fmt.Sprintf("%x", o.Slab),
		Memory: fmt.Sprintf("%x", o.Base), Node: o.Node, Total: o.Objects, Allocated: o.Allocated,
		Free: o.Free, Object: fmt.Sprintf("%x", o.Obj), ObjSize: c.Size, Offset: addr - o.Obj,
		IsFree: o.IsFree, InObject: o.InObject && !all}
	if all {
		j.Object, j.Offset = "", 0
		addrs, free := o.ObjectAddrs()
		for i, a := range addrs {
			j.Objects = append(j.Objects, slabObjEntry{Addr: fmt.Sprintf("%x", a), Free: free[i]})
		}
	}
	if o.CPU >= 0 {
		cpu := o.CPU
		j.CPU = &cpu
	}
	j.cache = slabCacheJSON{Cache: s.addr(c.Addr), Name: c.Name, ObjSize: c.ObjectSize, Allocated: c.Allocated,
		Total: c.Total, Slabs: c.Slabs, SlabSize: c.SlabSize}
	return j
}

// crashSymName strips the endings gcc gives cloned functions, as crash
// shows them (symbols.c strip_symbol_end).
func crashSymName(n string) string {
	for _, e := range []string{".isra.", ".part.", ".llvm."} {
		if i := strings.Index(n, e); i > 0 {
			return n[:i]
		}
	}
	return n
}

func (r kmemAddrResult) Text(w io.Writer, s *Session) error {
	for _, j := range r {
		j.text(w, s)
	}
	return nil
}

// text prints one address in the order crash's kmem_search prints it.
func (j kmemAddrJSON) text(w io.Writer, s *Session) {
	if j.Symbol != nil {
		symResult{Symbols: []symLine{*j.Symbol}}.Text(w, s)
		fmt.Fprintln(w)
	}
	if j.Vmap != nil {
		if j.Task != nil {
			j.Task.Text(w, s)
			fmt.Fprintln(w)
		}
		vmapHeader(w, s)
		j.Vmap.line(w, s)
		fmt.Fprintln(w)
	}
	for _, o := range []*slabObjJSON{j.Slab, j.SlabPage} {
		if o != nil {
			o.text(w, s)
		}
	}
	if j.Free != nil {
		j.Free.text(w, s, j.Addr, j.Physical)
	}
	if j.Task != nil && j.Vmap == nil {
		j.Task.Text(w, s)
		fmt.Fprintln(w)
	}
	if p := j.PerCPU; p != nil {
		fmt.Fprintf(w, "PER-CPU VARIABLE: %s+%d  CPU: %d\n\n", p.Name, p.Offset, p.CPU)
	}
	if p := j.PageTable; p != nil {
		if p.PID == 0 {
			fmt.Fprintf(w, "PAGE TABLE: %s of %s\n\n", p.Level, p.Comm)
		} else {
			fmt.Fprintf(w, "PAGE TABLE: %s  PID: %d  COMMAND: \"%s\"  MM: %s  VIRTUAL: %s\n\n", p.Level, p.PID, p.Comm, p.MM, p.Virt)
		}
	}
	if j.Page != nil {
		pageHeader(w, s)
		j.Page.line(w, s)
	} else {
		what := "kernel virtual"
		if j.Physical {
			what = "physical"
		}
		fmt.Fprintf(w, "%s: %s address not found in mem map\n", j.Addr, what)
	}
	for _, e := range j.Errors {
		fmt.Fprintf(w, "kmem: %s\n", e)
	}
}

// text is crash's dump_kmem_cache block for one slab (memory.c
// do_slab_slub): the cache, the slab, and the object (or every object).
func (o *slabObjJSON) text(w io.Writer, s *Session) {
	kmemSlabResult{caches: []slabCacheJSON{o.cache}}.Text(w, s)
	hw := s.hexWidth()
	gap1, gap2 := 14, 12
	if hw <= 8 {
		gap1, gap2 = 6, 4
	}
	fmt.Fprintf(w, "  SLAB%sMEMORY%sNODE  TOTAL  ALLOCATED  FREE\n", strings.Repeat(" ", gap1), strings.Repeat(" ", gap2))
	fmt.Fprintf(w, "  %-*s  %-*s  %4d  %5d  %9d  %4d\n", hw, o.Slab, hw, o.Memory, o.Node, o.Total, o.Allocated, o.Free)
	fmt.Fprintf(w, "  FREE / [ALLOCATED]\n")
	objs := o.Objects
	if o.InObject {
		objs = []slabObjEntry{{o.Object, o.IsFree}}
	}
	for _, e := range objs {
		if !e.Free {
			fmt.Fprintf(w, "  [%s]\n", e.Addr)
			continue
		}
		fmt.Fprintf(w, "   %s  ", e.Addr)
		if o.CPU != nil {
			fmt.Fprintf(w, "(cpu %d cache)", *o.CPU)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// kmemUserResult is kmem -a: user addresses of the context task, each with
// the VMA that contains it.
type kmemUserResult struct {
	PID   int           `json:"pid"`
	Task  string        `json:"task"`
	Addrs []kmemUserVMA `json:"addrs"`
	head  string
}

type kmemUserVMA struct {
	Addr string `json:"addr"`
	VMA  *vmVMA `json:"vma"` // null: in no VMA
}

func (r kmemUserResult) Text(w io.Writer, s *Session) error {
	io.WriteString(w, r.head)
	wd, sp, uw := s.hexWidth(), s.minSpace(), s.uvaddrWidth()
	for _, a := range r.Addrs {
		if a.VMA == nil {
			fmt.Fprintf(w, "%s: user virtual address not in any VMA of pid %d\n", a.Addr, r.PID)
			continue
		}
		v := a.VMA
		fmt.Fprintf(w, "%s%s%s%s%s  FLAGS%sFILE\n", crashCenter("VMA", wd, false), sp, crashCenter("START", uw, true), sp, crashCenter("END", uw, true), sp)
		fmt.Fprintf(w, "%s%s%*s%s%*s %6s%s%s\n", crashCenter(v.VMA, wd, false), sp, uw, v.Start, sp, uw, v.End, v.Flags, sp, v.File)
	}
	return nil
}

// kmemUser identifies user addresses in the context task's mm (set PID
// chooses the task, as crash's context does).
func (s *Session) kmemUser(args []string) (Result, error) {
	t, err := s.contextUserTask()
	if err != nil {
		return nil, fmt.Errorf("kmem -a: %w", err)
	}
	mm, err := s.K.ReadMM(t.MM)
	if mm == nil {
		return nil, fmt.Errorf("kmem -a: pid %d: mm_struct %#x: %w", t.PID, t.MM, err)
	}
	r := kmemUserResult{PID: t.PID, Task: s.addr(t.Addr), head: s.taskHeader(t, false)}
	for _, arg := range args {
		a, err := s.resolveAddress(arg)
		if err != nil {
			return nil, fmt.Errorf("kmem -a: %s: %w", arg, err)
		}
		u := kmemUserVMA{Addr: fmt.Sprintf("%x", a)}
		if v := mm.VMAOf(a); v != nil {
			u.VMA = &vmVMA{VMA: s.addr(v.Addr), Start: fmt.Sprintf("%x", v.Start), End: fmt.Sprintf("%x", v.End),
				Flags: fmt.Sprintf("%x", v.Flags), Pgoff: v.PgOff, File: v.Path}
		}
		r.Addrs = append(r.Addrs, u)
	}
	return r, nil
}
