package kstructs

import (
	"fmt"
)

// Zone is one struct zone (include/linux/mmzone.h) as kmem -n, -z and -f
// read it: its name, node, pfn span, watermarks and vm_stat counters.
type Zone struct {
	Addr                       uint64
	Index                      int // in its node's node_zones[]
	Node                       int
	Name                       string
	StartPFN, Spanned, Present uint64
	MemMap                     uint64 // struct page of StartPFN, 0 for an empty zone or a pfn without one
	Min, Low, High             uint64 // _watermark[WMARK_MIN/LOW/HIGH] (watermark[] before 5.0)
	VMStat                     []VMStatItem
}

// MemNode is one pglist_data: a memory node and its zones.
type MemNode struct {
	ID                         int
	PGDat                      uint64
	StartPFN, Spanned, Present uint64
	MemMap                     uint64 // node_mem_map (FLATMEM), else the struct page of StartPFN
	NodeZones                  uint64 // &node_zones[0]
	Zones                      []Zone
}

type zoneLayout struct {
	size                                         int
	name, start, spanned, present, vmstat, pgdat fieldLoc
	wmark                                        fieldLoc
	wmIdx                                        [3]int64 // WMARK_MIN, WMARK_LOW, WMARK_HIGH
	statNames                                    []string
	nodeID, nodeStart, nodeSpanned, nodePresent  fieldLoc
	nodeMemMap, nodeZones                        fieldLoc
	pgdatSize                                    int
}

func (k *Kernel) zoneLayout() (*zoneLayout, error) {
	zt, err := k.structType("zone")
	if err != nil {
		return nil, err
	}
	b := &layoutBuilder{t: zt, name: "struct zone"}
	l := &zoneLayout{size: int(zt.Size()), wmIdx: [3]int64{0, 1, 2}}
	l.name, l.start, l.spanned, l.present = b.need("name"), b.need("zone_start_pfn"), b.need("spanned_pages"), b.need("present_pages")
	l.vmstat, l.pgdat, l.wmark = b.need("vm_stat"), b.need("zone_pgdat"), b.opt("_watermark", "watermark")
	if err := b.err(); err != nil {
		return nil, err
	}
	for i, n := range []string{"WMARK_MIN", "WMARK_LOW", "WMARK_HIGH"} {
		if v, ok := k.enumValue(n); ok {
			l.wmIdx[i] = v
		}
	}
	if l.statNames, err = k.enumNames("zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"); err != nil {
		return nil, err
	}
	pt, err := k.structType("pglist_data")
	if err != nil {
		return nil, err
	}
	pb := &layoutBuilder{t: pt, name: "struct pglist_data"}
	l.pgdatSize = int(pt.Size())
	l.nodeID, l.nodeStart, l.nodeSpanned = pb.need("node_id"), pb.need("node_start_pfn"), pb.need("node_spanned_pages")
	l.nodePresent, l.nodeZones, l.nodeMemMap = pb.need("node_present_pages"), pb.need("node_zones"), pb.opt("node_mem_map")
	return l, pb.err()
}

// nodes is every memory node's pglist_data: node_data[] (NUMA) or
// contig_page_data.
func (k *Kernel) nodes() ([]uint64, error) {
	if v, err := k.Image.Variable("node_data"); err == nil {
		n := uint64(1)
		if c, err := k.ReadUint("nr_node_ids"); err == nil && c > 0 {
			n = c
		}
		var nodes []uint64
		for i := uint64(0); i < n; i++ {
			p, err := k.readPointer(v.Addr + i*uint64(k.PtrSize()))
			if err != nil {
				return nil, fmt.Errorf("reading node_data[%d]: %w", i, err)
			}
			if p != 0 {
				nodes = append(nodes, p)
			}
		}
		return nodes, nil
	}
	if v, err := k.Image.Variable("contig_page_data"); err == nil {
		return []uint64{v.Addr}, nil
	}
	return nil, fmt.Errorf("neither node_data nor contig_page_data in the vmlinux")
}

// MemNodes reads every node and its zones.
func (k *Kernel) MemNodes() ([]MemNode, error) {
	l, err := k.zoneLayout()
	if err != nil {
		return nil, err
	}
	pgdats, err := k.nodes()
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	var out []MemNode
	for _, pg := range pgdats {
		b, err := k.readBytes(pg, l.pgdatSize, "struct pglist_data")
		if err != nil {
			return out, err
		}
		n := MemNode{ID: int(d.int(b, l.nodeID)), PGDat: pg, StartPFN: d.uint(b, l.nodeStart),
			Spanned: d.uint(b, l.nodeSpanned), Present: d.uint(b, l.nodePresent), NodeZones: pg + uint64(l.nodeZones.Off)}
		n.MemMap = d.uint(b, l.nodeMemMap)
		if !l.nodeMemMap.ok() {
			n.MemMap, _ = k.PageOfPhys(n.StartPFN * k.PageSize())
		}
		for i := 0; i < l.nodeZones.Size/l.size; i++ {
			off := l.nodeZones.Off + i*l.size
			z := k.decodeZone(l, pg+uint64(off), b[off:off+l.size])
			z.Index = i
			n.Zones = append(n.Zones, z)
		}
		out = append(out, n)
	}
	return out, nil
}

// decodeZone reads a struct zone's bytes zb (at za).
func (k *Kernel) decodeZone(l *zoneLayout, za uint64, zb []byte) Zone {
	d := k.decoder()
	z := Zone{Addr: za, StartPFN: d.uint(zb, l.start), Spanned: d.uint(zb, l.spanned), Present: d.uint(zb, l.present)}
	if np := d.uint(zb, l.name); np != 0 {
		z.Name, _ = k.readCString(np, 32)
	}
	if z.Spanned != 0 {
		z.MemMap, _ = k.PageOfPhys(z.StartPFN * k.PageSize())
	}
	if pg := d.uint(zb, l.pgdat); pg != 0 {
		if n, err := k.readBytes(pg+uint64(l.nodeID.Off), 4, "pglist_data.node_id"); err == nil {
			z.Node = int(int32(d.bo.Uint32(n)))
		}
	}
	if l.wmark.ok() {
		ps := k.PtrSize()
		z.Min = d.ptrAt(zb, l.wmark.Off+int(l.wmIdx[0])*ps)
		z.Low = d.ptrAt(zb, l.wmark.Off+int(l.wmIdx[1])*ps)
		z.High = d.ptrAt(zb, l.wmark.Off+int(l.wmIdx[2])*ps)
	}
	if l.vmstat.Off+len(l.statNames)*k.PtrSize() <= len(zb) {
		z.VMStat = k.statGroup("", l.statNames, zb[l.vmstat.Off:]).Items
	}
	return z
}

// MemSection is one present SPARSEMEM section (crash's kmem -n table).
type MemSection struct {
	Nr, Addr uint64
	Coded    uint64 // section_mem_map without its flag bits
	MemMap   uint64 // the struct page of the section's first pfn
	PFN      uint64 // the section's first pfn
	State    string // the flag bits crash names: P(resent) M(em map) O(nline) E(arly) D(evice)
}

// sectionFlags are the section_mem_map flag bits (include/linux/mmzone.h:
// an enum of *_BIT since 5.12, the same values as #defines before).
var sectionFlags = []struct {
	enum   string
	bit    int64
	letter string
}{
	{"SECTION_MARKED_PRESENT_BIT", 0, "P"}, {"SECTION_HAS_MEM_MAP_BIT", 1, "M"}, {"SECTION_IS_ONLINE_BIT", 2, "O"},
	{"SECTION_IS_EARLY_BIT", 3, "E"}, {"SECTION_TAINT_ZONE_DEVICE_BIT", 4, "D"},
}

// MemSections lists the present memory sections; nil without SPARSEMEM.
func (k *Kernel) MemSections() ([]MemSection, error) {
	l, err := k.pageLayout()
	if err != nil {
		return nil, err
	}
	if l.model.flat {
		return nil, nil
	}
	_, enumBits := k.enumValue("SECTION_MAP_LAST_BIT")
	var out []MemSection
	for _, s := range l.model.sections {
		pfn := s.nr << l.model.secShift
		ms := MemSection{Nr: s.nr, Addr: s.addr, Coded: s.mapBase, MemMap: s.mapBase + pfn*uint64(l.size), PFN: pfn}
		for _, f := range sectionFlags {
			bit, ok := k.enumValue(f.enum)
			if !ok && (enumBits || f.bit >= 4) {
				continue // a flag this kernel does not have
			}
			if !ok {
				bit = f.bit
			}
			if s.coded&(1<<uint(bit)) != 0 {
				ms.State += f.letter
			}
		}
		out = append(out, ms)
	}
	return out, nil
}
