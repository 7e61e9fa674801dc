package kstructs

import (
	"debug/dwarf"
	"fmt"

	"github.com/kinspect/kinspect/dwarfx"
)

// VMStatGroup is one of crash's kmem -V sections: the global counters of
// vm_zone_stat, vm_node_stat and vm_numa_stat (mm/vmstat.c), or the
// per-cpu vm_event_states summed over the cpus.
type VMStatGroup struct {
	Name  string // VM_ZONE_STAT, VM_NODE_STAT, VM_NUMA_STAT, VM_EVENT_STATES
	Items []VMStatItem
}

// VMStatItem is one counter, named by its enumerator.
type VMStatItem struct {
	Name  string
	Value int64
}

// enumNames lists enum typ's names by value for the values below limit;
// where enumerators share a value the last one names it (as crash's
// vm_stat_init keeps it).
func (k *Kernel) enumNames(typ, limit string) ([]string, error) {
	n, ok := k.enumValue(limit)
	if !ok || n <= 0 || n > 4096 {
		return nil, fmt.Errorf("enum %s: no %s", typ, limit)
	}
	t, err := k.Image.Type("enum " + typ)
	if err != nil {
		return nil, err
	}
	et, ok := dwarfx.Strip(t).(*dwarf.EnumType)
	if !ok {
		return nil, fmt.Errorf("enum %s is not an enum in DWARF", typ)
	}
	names := make([]string, n)
	for _, v := range et.Val {
		if v.Val >= 0 && v.Val < n {
			names[v.Val] = v.Name
		}
	}
	return names, nil
}

// VMStats reads kmem -V's counters. A group the kernel does not have is
// left out.
func (k *Kernel) VMStats() ([]VMStatGroup, error) {
	var out []VMStatGroup
	for _, g := range []struct{ group, sym, enum, limit string }{
		{"VM_ZONE_STAT", "vm_zone_stat", "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"},
		{"VM_NODE_STAT", "vm_node_stat", "node_stat_item", "NR_VM_NODE_STAT_ITEMS"},
		{"VM_NUMA_STAT", "vm_numa_stat", "numa_stat_item", "NR_VM_NUMA_STAT_ITEMS"},
	} {
		v, err := k.Image.Variable(g.sym)
		if err != nil {
			continue
		}
		names, err := k.enumNames(g.enum, g.limit)
		if err != nil {
			return out, err
		}
		b, err := k.readBytes(v.Addr, len(names)*k.PtrSize(), g.sym)
		if err != nil {
			return out, err
		}
		out = append(out, k.statGroup(g.group, names, b))
	}
	ev, err := k.vmEvents()
	if err != nil {
		return out, err
	}
	if ev != nil {
		out = append(out, *ev)
	}
	return out, nil
}

func (k *Kernel) statGroup(name string, names []string, b []byte) VMStatGroup {
	g := VMStatGroup{Name: name}
	d := k.decoder()
	for i, n := range names {
		v := int64(d.ptrAt(b, i*k.PtrSize()))
		if k.PtrSize() == 4 {
			v = int64(int32(v))
		}
		g.Items = append(g.Items, VMStatItem{n, v})
	}
	return g
}

// vmEvents sums the per-cpu vm_event_states over the possible cpus
// (include/linux/vmstat.h, CONFIG_VM_EVENT_COUNTERS).
func (k *Kernel) vmEvents() (*VMStatGroup, error) {
	v, err := k.Image.Variable("vm_event_states")
	if err != nil {
		return nil, nil
	}
	names, err := k.enumNames("vm_event_item", "NR_VM_EVENT_ITEMS")
	if err != nil {
		return nil, err
	}
	cpus, err := k.PossibleCPUs()
	if err != nil {
		return nil, err
	}
	sum := make([]uint64, len(names))
	d := k.decoder()
	for _, cpu := range cpus {
		off, err := k.PerCPUOffset(cpu)
		if err != nil {
			return nil, err
		}
		b, err := k.readBytes(v.Addr+off, len(names)*k.PtrSize(), fmt.Sprintf("vm_event_states of cpu %d", cpu))
		if err != nil {
			return nil, err
		}
		for i := range names {
			sum[i] += d.ptrAt(b, i*k.PtrSize())
		}
	}
	g := &VMStatGroup{Name: "VM_EVENT_STATES"}
	for i, n := range names {
		g.Items = append(g.Items, VMStatItem{n, int64(sum[i])})
	}
	return g, nil
}
