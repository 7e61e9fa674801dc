package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// kmemNodesResult is kmem -n: the nodes with their zones, the memory
// sections and the memory blocks.
type kmemNodesResult struct {
	Nodes    []kstructs.MemNode
	Sections []kstructs.MemSection
	Blocks   []kstructs.MemoryBlock
	Errors   []string
	sparse   bool
}

type nodeJSON struct {
	ID        int        `json:"node"`
	PGDat     string     `json:"pglist_data"`
	StartPFN  uint64     `json:"start_pfn"`
	Spanned   uint64     `json:"spanned_pages"`
	Present   uint64     `json:"present_pages"`
	MemMap    string     `json:"mem_map"`
	NodeZones string     `json:"node_zones"`
	Zones     []zoneJSON `json:"zones"`
}

type zoneJSON struct {
	Zone     string           `json:"zone"`
	Index    int              `json:"index"`
	Node     int              `json:"node"`
	Name     string           `json:"name"`
	StartPFN uint64           `json:"start_pfn"`
	Spanned  uint64           `json:"spanned_pages"`
	Present  uint64           `json:"present_pages"`
	MemMap   string           `json:"mem_map"`
	Min      uint64           `json:"min"`
	Low      uint64           `json:"low"`
	High     uint64           `json:"high"`
	VMStat   []vmStatItemJSON `json:"vm_stat"`
}

type sectionJSON struct {
	Nr     uint64 `json:"nr"`
	Addr   string `json:"section"`
	Coded  string `json:"coded_mem_map"`
	MemMap string `json:"mem_map"`
	State  string `json:"state"`
	PFN    uint64 `json:"pfn"`
}

type memBlockJSON struct {
	Addr         string `json:"memory_block"`
	Name         string `json:"name"`
	Start        string `json:"start"`
	End          string `json:"end,omitempty"`
	Node         *int   `json:"node,omitempty"`
	State        string `json:"state"`
	StartSection uint64 `json:"start_section_nr"`
}

func toZoneJSON(z kstructs.Zone) zoneJSON {
	j := zoneJSON{Zone: fmt.Sprintf("%x", z.Addr), Index: z.Index, Node: z.Node, Name: z.Name, StartPFN: z.StartPFN,
		Spanned: z.Spanned, Present: z.Present, MemMap: fmt.Sprintf("%x", z.MemMap), Min: z.Min, Low: z.Low, High: z.High,
		VMStat: []vmStatItemJSON{}}
	for _, it := range z.VMStat {
		j.VMStat = append(j.VMStat, vmStatItemJSON{it.Name, it.Value})
	}
	return j
}

func (r kmemNodesResult) MarshalJSON() ([]byte, error) {
	out := struct {
		Nodes    []nodeJSON     `json:"nodes"`
		Sections []sectionJSON  `json:"sections"`
		Blocks   []memBlockJSON `json:"memory_blocks"`
		Errors   []string       `json:"errors,omitempty"`
	}{Nodes: []nodeJSON{}, Sections: []sectionJSON{}, Blocks: []memBlockJSON{}, Errors: r.Errors}
	for _, n := range r.Nodes {
		j := nodeJSON{ID: n.ID, PGDat: fmt.Sprintf("%x", n.PGDat), StartPFN: n.StartPFN, Spanned: n.Spanned, Present: n.Present,
			MemMap: fmt.Sprintf("%x", n.MemMap), NodeZones: fmt.Sprintf("%x", n.NodeZones), Zones: []zoneJSON{}}
		for _, z := range n.Zones {
			j.Zones = append(j.Zones, toZoneJSON(z))
		}
		out.Nodes = append(out.Nodes, j)
	}
	for _, m := range r.Sections {
		out.Sections = append(out.Sections, sectionJSON{Nr: m.Nr, Addr: fmt.Sprintf("%x", m.Addr), Coded: fmt.Sprintf("%x", m.Coded),
			MemMap: fmt.Sprintf("%x", m.MemMap), State: m.State, PFN: m.PFN})
	}
	for _, b := range r.Blocks {
		j := memBlockJSON{Addr: fmt.Sprintf("%x", b.Addr), Name: b.Name, Start: fmt.Sprintf("%x", b.Start), State: b.StateName,
			StartSection: b.StartSection}
		if b.HasEnd {
			j.End = fmt.Sprintf("%x", b.End)
		}
		if b.Node >= 0 {
			n := b.Node
			j.Node = &n
		}
		out.Blocks = append(out.Blocks, j)
	}
	return json.Marshal(out)
}

func (s *Session) kmemNodes() (Result, error) {
	nodes, err := s.K.MemNodes()
	if err != nil && len(nodes) == 0 {
		return nil, fmt.Errorf("kmem -n: %w", err)
	}
	r := kmemNodesResult{Nodes: nodes, Sections: []kstructs.MemSection{}, Blocks: []kstructs.MemoryBlock{}}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	secs, err := s.K.MemSections()
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	r.sparse = secs != nil
	if secs != nil {
		r.Sections = secs
		blocks, err := s.K.MemoryBlocks()
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		if blocks != nil {
			r.Blocks = blocks
		}
	}
	return r, nil
}

// Text prints crash's dump_memory_nodes, dump_mem_sections and
// dump_memory_blocks (memory.c).
func (r kmemNodesResult) Text(w io.Writer, s *Session) error {
	vw := s.hexWidth()
	flen := max(vw, len("BOOTMEM_DATA"))
	slen := 0
	for i, n := range r.Nodes {
		if i > 0 {
			fmt.Fprintf(w, "\n%s", strings.Repeat("-", slen))
		}
		fmt.Fprintf(w, "%sNODE  %s  %s  %s  %s\n", map[bool]string{true: "\n\n"}[i > 0], crashCenter("SIZE", 8, false),
			crashCenter("PGLIST_DATA", flen, false), crashCenter("BOOTMEM_DATA", flen, false), crashCenter("NODE_ZONES", flen, false))
		b1, b2, b3 := crashCenter(fmt.Sprint(n.Spanned), 8, false), crashCenter(fmt.Sprintf("%x", n.PGDat), flen, false), crashCenter("----", flen, false)
		b4 := crashCenter(fmt.Sprintf("%x", n.NodeZones), flen, false)
		fmt.Fprintf(w, " %2d   %s  %s  %s  %s\n", n.ID, b1, b2, b3, b4)
		indent := 12 + len(b1) + len(b2) + len(b3) + len(b4) - len(strings.TrimLeft(b4, " "))
		for _, z := range n.Zones[min(1, len(n.Zones)):] {
			fmt.Fprintf(w, "%s%x\n", strings.Repeat(" ", indent), z.Addr)
		}
		fmt.Fprintf(w, "%s     START_PADDR    START_MAPNR\n", crashCenter("MEM_MAP", vw, false))
		fmt.Fprintf(w, "%s  %s  %s\n", crashCenter(fmt.Sprintf("%x", n.MemMap), vw, false),
			crashCenter(fmt.Sprintf("%x", n.StartPFN*s.K.PageSize()), 16, true), crashCenter(fmt.Sprint(n.StartPFN), 11, true))
		hdr := fmt.Sprintf("ZONE  NAME         SIZE  %s  START_PADDR  START_MAPNR", crashCenter("MEM_MAP", vw, true))
		slen = len(hdr)
		fmt.Fprintf(w, "\n%s\n", hdr)
		for _, z := range n.Zones {
			r.zoneLine(w, s, &n, &z)
		}
	}
	if r.sparse {
		r.sectionsText(w, s)
		r.blocksText(w, s)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "kmem: %s\n", e)
	}
	return nil
}

// zoneLine is one zone of a node's table. crash's mapnr of a zone is its
// start pfn under SPARSEMEM, its offset in the node's mem_map otherwise.
func (r kmemNodesResult) zoneLine(w io.Writer, s *Session, n *kstructs.MemNode, z *kstructs.Zone) {
	mapnr := uint64(0)
	if z.Spanned != 0 {
		mapnr = z.StartPFN
		if !r.sparse {
			mapnr = z.StartPFN - n.StartPFN
		}
	}
	fmt.Fprintf(w, " %2d   %-9s %7d  %*x  %11x  %11d\n", z.Index, z.Name, z.Spanned, s.hexWidth(), z.MemMap,
		z.StartPFN*s.K.PageSize(), mapnr)
}

func (r kmemNodesResult) sectionsText(w io.Writer, s *Session) {
	vw := s.hexWidth()
	dashes := 67
	if vw == 8 {
		dashes = 59
	}
	cw := max(vw, len("CODED_MEM_MAP"))
	fmt.Fprintf(w, "\n%s\n\nNR  %s  %s  %s  %s PFN\n", strings.Repeat("-", dashes), crashCenter("SECTION", vw, false),
		crashCenter("CODED_MEM_MAP", cw, false), crashCenter("MEM_MAP", vw, false), crashCenter("STATE", 5, false))
	for _, m := range r.Sections {
		fmt.Fprintf(w, "%2d  %s  %s  %s  %s %-*d\n", m.Nr, crashCenter(fmt.Sprintf("%x", m.Addr), vw, false),
			crashCenter(fmt.Sprintf("%x", m.Coded), cw, true), crashCenter(fmt.Sprintf("%x", m.MemMap), vw, true),
			crashCenter(m.State, 5, false), vw, m.PFN)
	}
}

// kmemZonesResult is kmem -z: each zone's size, watermarks and vm_stat.
type kmemZonesResult struct {
	Zones  []kstructs.Zone
	Errors []string
}

func (r kmemZonesResult) MarshalJSON() ([]byte, error) {
	out := struct {
		Zones  []zoneJSON `json:"zones"`
		Errors []string   `json:"errors,omitempty"`
	}{Zones: []zoneJSON{}, Errors: r.Errors}
	for _, z := range r.Zones {
		out.Zones = append(out.Zones, toZoneJSON(z))
	}
	return json.Marshal(out)
}

func (s *Session) kmemZones() (Result, error) {
	nodes, err := s.K.MemNodes()
	if err != nil && len(nodes) == 0 {
		return nil, fmt.Errorf("kmem -z: %w", err)
	}
	r := kmemZonesResult{Zones: []kstructs.Zone{}}
	for _, n := range nodes {
		r.Zones = append(r.Zones, n.Zones...)
	}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	return r, nil
}

// Text prints crash's dump_zone_stats (memory.c): on kernels without
// zone nr_active/nr_inactive members, SIZE, PRESENT where it is below
// SIZE, MIN/LOW/HIGH and every vm_stat counter of the zone, right-aligned
// on the longest name.
func (r kmemZonesResult) Text(w io.Writer, s *Session) error {
	for _, z := range r.Zones {
		fmt.Fprintf(w, "NODE: %d  ZONE: %d  ADDR: %x  NAME: \"%s\"\n", z.Node, z.Index, z.Addr, z.Name)
		if z.Spanned == 0 {
			fmt.Fprintf(w, "  [unpopulated]\n\n")
			continue
		}
		fmt.Fprintf(w, "  SIZE: %d", z.Spanned)
		if z.Present < z.Spanned {
			fmt.Fprintf(w, "  PRESENT: %d", z.Present)
		}
		fmt.Fprintf(w, "  MIN/LOW/HIGH: %d/%d/%d\n  VM_STAT:\n", z.Min, z.Low, z.High)
		wd := 0
		for _, it := range z.VMStat {
			wd = max(wd, len(it.Name))
		}
		for _, it := range z.VMStat {
			fmt.Fprintf(w, "%*s: %d\n", wd, it.Name, it.Value)
		}
		fmt.Fprintf(w, "\n\n")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "kmem: %s\n", e)
	}
	return nil
}

// blocksText is crash's dump_memory_blocks: the NODE column where struct
// memory_block has a nid, the physical range where the block size is known.
func (r kmemNodesResult) blocksText(w io.Writer, s *Session) {
	if len(r.Blocks) == 0 {
		return
	}
	vw, pw := s.hexWidth(), s.paddrWidth()
	withNode, hdr := r.Blocks[0].Node >= 0, "PHYSICAL START"
	if r.Blocks[0].HasEnd {
		hdr = "PHYSICAL RANGE"
	}
	if withNode {
		fmt.Fprintf(w, "\n%s %s   %s   %s  %-7s %-12s\n", crashCenter("MEM_BLOCK", vw, false), crashCenter("NAME", 10, false),
			crashCenter(hdr, pw*2+2, false), "NODE", "STATE", "START_SECTION_NO")
	} else {
		fmt.Fprintf(w, "\n%s %s   %s    %-7s %-12s\n", crashCenter("MEM_BLOCK", vw, false), crashCenter("NAME", 10, false),
			crashCenter(hdr, pw*2, false), "STATE", "START_SECTION_NO")
	}
	for _, b := range r.Blocks {
		rng := crashCenter(fmt.Sprintf("%x", b.Start), pw*2+3, false)
		if b.HasEnd {
			rng = fmt.Sprintf("%*x - %*x", pw, b.Start, pw, b.End)
		}
		state := b.StateName
		if withNode {
			fmt.Fprintf(w, " %-*x %s %s %s  %-7s %-12d\n", vw, b.Addr, crashCenter(b.Name, 12, false), rng,
				crashCenter(fmt.Sprint(b.Node), 4, false), state, b.StartSection)
		} else {
			fmt.Fprintf(w, " %-*x %s %s  %-7s %-12d\n", vw, b.Addr, crashCenter(b.Name, 10, false), rng, state, b.StartSection)
		}
	}
}

// paddrWidth is crash's PADDR_PRLEN: the hex digits of max_pfn's
// physical address (crash: max_mapnr pages).
func (s *Session) paddrWidth() int {
	n, err := s.K.ReadUint("max_pfn")
	if err != nil {
		return 2 * s.K.PtrSize()
	}
	return len(fmt.Sprintf("%x", n*s.K.PageSize()))
}
