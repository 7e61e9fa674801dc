package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// kmemPagesResult is kmem -p: struct pages as crash's dump_mem_map lists them.
type kmemPagesResult []pageJSON

func (r kmemPagesResult) Text(w io.Writer, s *Session) error {
	pageHeader(w, s)
	for _, p := range r {
		p.line(w, s)
	}
	return nil
}

func pageHeader(w io.Writer, s *Session) {
	hw := s.hexWidth()
	fmt.Fprintf(w, "%s %8s %s %sCNT FLAGS\n", crashCenter("PAGE", hw, false), "PHYSICAL", crashCenter("MAPPING", hw, true), crashCenter("INDEX", 8, true))
}

// line is one page in crash's style4 of dump_mem_map.
func (p pageJSON) line(w io.Writer, s *Session) {
	hw := s.hexWidth()
	flags := p.Flags
	if len(p.Names) > 0 {
		flags += " " + strings.Join(p.Names, ",")
	}
	fmt.Fprintf(w, "%-*s %8s %*s %8s %2d %s\n", hw, p.Page, p.Phys, hw, p.Mapping, p.Index, p.Count, flags)
}

func toPageJSON(p *kstructs.Page) pageJSON {
	j := pageJSON{Page: fmt.Sprintf("%x", p.Addr), Phys: fmt.Sprintf("%x", p.Phys), PFN: p.PFN,
		Mapping: fmt.Sprintf("%x", p.Mapping), Index: fmt.Sprintf("%x", p.Index), Count: p.Refcount,
		Mapcount: p.Mapcount, Flags: fmt.Sprintf("%x", p.Flags), Names: p.Names}
	if j.Names == nil {
		j.Names = []string{}
	}
	return j
}

func (s *Session) kmemPages(args []string) (Result, error) {
	r := kmemPagesResult{}
	if len(args) == 0 {
		err := s.K.WalkPages(func(p *kstructs.Page) error {
			r = append(r, toPageJSON(p))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("kmem -p: %w", err)
		}
		return r, nil
	}
	for _, a := range args {
		pa, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(a), "0x"), 16, 64)
		if err != nil {
			return nil, &UsageError{"kmem", fmt.Sprintf("-p takes physical addresses in hex: %q", a)}
		}
		pp, err := s.K.PageOfPhys(pa)
		if err != nil {
			return nil, fmt.Errorf("kmem -p: %w", err)
		}
		p, err := s.K.ReadPage(pp)
		if err != nil {
			return nil, fmt.Errorf("kmem -p: %#x: %w", pa, err)
		}
		r = append(r, toPageJSON(p))
	}
	return r, nil
}

// kmemVmallocResult is kmem -v.
type kmemVmallocResult struct {
	Areas []vmapJSON `json:"areas"`
	Error string     `json:"error,omitempty"` // the walk stopped early
}

func (r kmemVmallocResult) Text(w io.Writer, s *Session) error {
	vmapHeader(w, s)
	for _, v := range r.Areas {
		v.line(w, s)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "kmem: %s\n", r.Error)
	}
	return nil
}

func vmapHeader(w io.Writer, s *Session) {
	hw := s.hexWidth()
	fmt.Fprintf(w, "%s  %s  %s     SIZE\n", crashCenter("VMAP_AREA", hw, false), crashCenter("VM_STRUCT", hw, false), crashCenter("ADDRESS RANGE", 2*hw+3, false))
}

// line is one area as crash's dump_vmap_area prints it.
func (v vmapJSON) line(w io.Writer, s *Session) {
	hw := s.hexWidth()
	fmt.Fprintf(w, "%-*s  %-*s  %*s - %-*s  %7d\n", hw, v.VmapArea, hw, v.VMStruct, hw, v.Start, hw, v.End, v.Size)
}

func (s *Session) vmapJSON(v *kstructs.VmapArea) *vmapJSON {
	j := &vmapJSON{VmapArea: fmt.Sprintf("%x", v.Addr), VMStruct: fmt.Sprintf("%x", v.VM),
		Start: fmt.Sprintf("%x", v.Start), End: fmt.Sprintf("%x", v.End), Size: v.End - v.Start}
	if sym, off, ok := s.K.Image.SymbolAt(v.Caller); ok && v.Caller != 0 {
		j.Caller = fmt.Sprintf("%s+%#x", sym.Name, off)
	}
	return j
}

func (s *Session) kmemVmalloc() (Result, error) {
	areas, err := s.K.VmapAreas()
	if areas == nil && err != nil {
		return nil, fmt.Errorf("kmem -v: %w", err)
	}
	r := kmemVmallocResult{Areas: []vmapJSON{}}
	for i := range areas {
		if areas[i].VM != 0 {
			r.Areas = append(r.Areas, *s.vmapJSON(&areas[i]))
		}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

// sharedRow is kmem -i's SHARED, counted over the page array.
func (s *Session) sharedRow(total uint64) kmemInfoRow {
	row := kmemInfoRow{Name: "SHARED", Of: "TOTAL MEM"}
	n, err := s.K.SharedPages()
	if err != nil {
		return row
	}
	b, pct := n*s.K.PageSize(), uint64(0)
	if total != 0 {
		pct = n * 100 / total
	}
	row.Pages, row.Bytes, row.Percent = &n, &b, &pct
	return row
}

// kmemVMStatResult is kmem -V.
type kmemVMStatResult struct {
	Groups []kstructs.VMStatGroup `json:"-"`
	Error  string                 `json:"error,omitempty"`
}

type vmStatGroupJSON struct {
	Name  string           `json:"name"`
	Items []vmStatItemJSON `json:"items"`
}

type vmStatItemJSON struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

func (r kmemVMStatResult) MarshalJSON() ([]byte, error) {
	out := struct {
		Groups []vmStatGroupJSON `json:"groups"`
		Error  string            `json:"error,omitempty"`
	}{Groups: []vmStatGroupJSON{}, Error: r.Error}
	for _, g := range r.Groups {
		j := vmStatGroupJSON{Name: g.Name, Items: []vmStatItemJSON{}}
		for _, it := range g.Items {
			j.Items = append(j.Items, vmStatItemJSON{it.Name, it.Value})
		}
		out.Groups = append(out.Groups, j)
	}
	return json.Marshal(out)
}

// Text prints the groups as crash's dump_vm_stat and dump_page_states do:
// the stat groups aligned together, the events on their own.
func (r kmemVMStatResult) Text(w io.Writer, s *Session) error {
	width := func(gs []kstructs.VMStatGroup) int {
		n := 0
		for _, g := range gs {
			for _, it := range g.Items {
				n = max(n, len(it.Name))
			}
		}
		return n
	}
	statW, evW := 0, 0
	for _, g := range r.Groups {
		if g.Name == "VM_EVENT_STATES" {
			evW = width([]kstructs.VMStatGroup{g})
		} else {
			statW = max(statW, width([]kstructs.VMStatGroup{g}))
		}
	}
	for i, g := range r.Groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %s:\n", g.Name)
		wd := statW
		if g.Name == "VM_EVENT_STATES" {
			wd = evW
		}
		for _, it := range g.Items {
			fmt.Fprintf(w, "%*s: %d\n", wd, it.Name, it.Value)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(w, "kmem: %s\n", r.Error)
	}
	return nil
}

func (s *Session) kmemVMStat() (Result, error) {
	gs, err := s.K.VMStats()
	if gs == nil && err != nil {
		return nil, fmt.Errorf("kmem -V: %w", err)
	}
	r := kmemVMStatResult{Groups: gs}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

// kmemFreeResult is kmem -f: each zone's free areas, per order and
// migrate type, as crash's dump_free_pages_zones_v2 lays them out.
type kmemFreeResult struct {
	Zones []kstructs.ZoneFree `json:"-"`
}

type zoneFreeJSON struct {
	Zone      string          `json:"zone"`
	Node      int             `json:"node"`
	Name      string          `json:"name"`
	StartPFN  uint64          `json:"start_pfn"`
	Spanned   uint64          `json:"spanned_pages"`
	Present   uint64          `json:"present_pages"`
	FreePages int64           `json:"free_pages"` // vm_stat[NR_FREE_PAGES]
	Orders    []orderFreeJSON `json:"orders"`
	Error     string          `json:"error,omitempty"`
}

type orderFreeJSON struct {
	Order  int            `json:"order"`
	NrFree uint64         `json:"nr_free"`
	Lists  []freeListJSON `json:"free_lists"` // by migrate type
}

type freeListJSON struct {
	List   string `json:"free_list"`
	Blocks uint64 `json:"blocks"`
}

func (r kmemFreeResult) MarshalJSON() ([]byte, error) {
	out := struct {
		Zones []zoneFreeJSON `json:"zones"`
	}{Zones: []zoneFreeJSON{}}
	for _, z := range r.Zones {
		j := zoneFreeJSON{Zone: fmt.Sprintf("%x", z.Addr), Node: z.Node, Name: z.Name, StartPFN: z.StartPFN,
			Spanned: z.Spanned, Present: z.Present, FreePages: z.FreePages, Orders: []orderFreeJSON{}}
		if z.Err != nil {
			j.Error = z.Err.Error()
		}
		for _, o := range z.Orders {
			oj := orderFreeJSON{Order: o.Order, NrFree: o.NrFree, Lists: []freeListJSON{}}
			for _, l := range o.Lists {
				oj.Lists = append(oj.Lists, freeListJSON{fmt.Sprintf("%x", l.Addr), l.Blocks})
			}
			j.Orders = append(j.Orders, oj)
		}
		out.Zones = append(out.Zones, j)
	}
	return json.Marshal(out)
}

func (r kmemFreeResult) Text(w io.Writer, s *Session) error {
	hw := s.hexWidth()
	var total uint64
	var first uint64 = ^uint64(0)
	for _, z := range r.Zones {
		if z.Spanned > 0 {
			first = min(first, z.StartPFN)
		}
	}
	for i, z := range r.Zones {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "ZONE  NAME        SIZE    FREE  %s  START_PADDR  START_MAPNR\n", crashCenter("MEM_MAP", hw, false))
		mm, paddr, mapnr := "0", "0", "0"
		if z.Spanned > 0 {
			if pp, err := s.K.PageOfPhys(z.StartPFN * s.K.PageSize()); err == nil {
				mm = fmt.Sprintf("%x", pp)
			}
			paddr, mapnr = fmt.Sprintf("%x", z.StartPFN*s.K.PageSize()), fmt.Sprintf("%d", z.StartPFN-first)
		}
		fmt.Fprintf(w, "%3d   %-9s %6d  %6d  %*s  %11s  %11s\n", i%len(r.Zones), z.Name, z.Spanned, z.FreePages, hw, mm, paddr, mapnr)
		if z.Spanned == 0 {
			continue
		}
		fmt.Fprintf(w, "AREA    SIZE  FREE_AREA_STRUCT  BLOCKS  PAGES\n")
		for _, o := range z.Orders {
			for _, l := range o.Lists {
				pages := l.Blocks << uint(o.Order)
				total += pages
				fmt.Fprintf(w, "%3d  %6dk  %*x  %6d %6d\n", o.Order, (s.K.PageSize()<<uint(o.Order))/1024, hw, l.Addr, l.Blocks, pages)
			}
		}
		if z.Err != nil {
			fmt.Fprintf(w, "kmem: %v\n", z.Err)
		}
	}
	fmt.Fprintf(w, "\nnr_free_pages: %d\n", total)
	return nil
}

func (s *Session) kmemFree() (Result, error) {
	zs, err := s.K.FreeAreas()
	if zs == nil && err != nil {
		return nil, fmt.Errorf("kmem -f: %w", err)
	}
	return kmemFreeResult{Zones: zs}, err
}
