package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// kmemAddrJSON is one address of `kmem ADDR --json`.
type kmemAddrJSON struct {
	Addr     string         `json:"addr"`
	Symbol   *symLine       `json:"symbol,omitempty"`
	Vmap     *vmapJSON      `json:"vmalloc,omitempty"`
	Slab     *slabObjJSON   `json:"slab,omitempty"`
	SlabPage *slabObjJSON   `json:"slab_page,omitempty"` // the address is this slab's struct page
	Task     *contextResult `json:"task,omitempty"`
	InTask   string         `json:"in_task,omitempty"` // "task_struct" or "stack"
	Phys     *string        `json:"phys"`
	Page     *pageJSON      `json:"page,omitempty"`
	PagePtr  bool           `json:"is_page_struct,omitempty"`
	Errors   []string       `json:"errors,omitempty"`
	Physical bool           `json:"physical,omitempty"` // taken as a physical address, as crash does
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
	for _, e := range a.Errs {
		j.Errors = append(j.Errors, e.Error())
	}
	return j
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
	if j.Task != nil && j.Vmap == nil {
		j.Task.Text(w, s)
		fmt.Fprintln(w)
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
	t, err := s.contextTask()
	if err != nil {
		return nil, err
	}
	if t.MM == 0 {
		return nil, fmt.Errorf("kmem -a: pid %d (%s) is a kernel thread: no user address space", t.PID, t.Comm)
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
