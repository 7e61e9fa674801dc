package kstructs

import (
	"debug/dwarf"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// MemoryBlock is one memory block device of the memory bus
// (drivers/base/memory.c: /sys/devices/system/memory/memoryN).
type MemoryBlock struct {
	Addr         uint64
	Name         string
	StartSection uint64
	Start        uint64
	End          uint64 // last byte; valid when HasEnd
	HasEnd       bool   // the block size is known (memory_block_size_probed or end_section_nr)
	Node         int    // -1 when struct memory_block has no nid
	State        uint64 // MEM_ONLINE (1), MEM_OFFLINE (4)...
	StateName    string // ONLINE, OFFLINE...; UNKNOWN for a value the kernel does not name
}

// memBlockStates names memory_block.state where it is a set of #defines
// (include/linux/memory.h before 6.9: MEM_ONLINE (1<<0)...); kernels that
// make it an enum memory_block_state are named from the DWARF enumerators.
var memBlockStates = map[uint64]string{1: "ONLINE", 2: "GOING_OFFLINE", 4: "OFFLINE", 8: "GOING_ONLINE",
	16: "CANCEL_ONLINE", 32: "CANCEL_OFFLINE"}

// memBlockState names state v of struct memory_block's state member f.
func memBlockState(f dwarfx.Field, v uint64) string {
	if et, ok := dwarfx.Strip(f.Type).(*dwarf.EnumType); ok {
		for _, e := range et.Val {
			if uint64(e.Val) == v {
				return strings.TrimPrefix(e.Name, "MEM_")
			}
		}
		return "UNKNOWN"
	}
	if n, ok := memBlockStates[v]; ok {
		return n
	}
	return "UNKNOWN"
}

// memBlockLayout: the memory bus's structs (drivers/base/memory.c,
// drivers/base/base.h).
type memBlockLayout struct {
	dec                      decoder
	kobj                     *structLayout
	kobjName                 fieldLoc // kobject.name
	devPriv                  *structLayout
	privDevice               fieldLoc // device_private.device
	block                    *structLayout
	name, startSec, state    fieldLoc // memory_block.dev.kobj.name, start_section_nr, state
	nid, endSec              fieldLoc // optional: nid (5.x+), end_section_nr (before 5.12)
	ksetList, kobjEntry      fieldLoc // kset.list, kobject.entry (bus_kset, 6.3+)
	subsysKobj, klistDevices fieldLoc // subsys_private.subsys.kobj, klist_devices.k_list
	knodeBus, blockDev, busP fieldLoc // device_private.knode_bus.n_node, memory_block.dev, bus_type.p (before 6.3)
}

func (k *Kernel) memBlockLayout() (*memBlockLayout, error) {
	return layoutOf(k, &k.cache().memBlock, buildMemBlockLayout)
}

func buildMemBlockLayout(ls *layoutSet, dec decoder) (*memBlockLayout, error) {
	l := &memBlockLayout{dec: dec}
	l.kobj = ls.add("kobject", func(b *layoutBuilder) { l.kobjName, l.kobjEntry = b.need("name"), b.need("entry") })
	ls.add("kset", func(b *layoutBuilder) { l.ksetList = b.need("list") })
	ls.add("subsys_private", func(b *layoutBuilder) {
		l.subsysKobj, l.klistDevices = b.need("subsys.kobj"), b.need("klist_devices.k_list")
	})
	ls.add("bus_type", func(b *layoutBuilder) { l.busP = b.opt("p") })
	l.devPriv = ls.add("device_private", func(b *layoutBuilder) {
		l.privDevice, l.knodeBus = b.need("device"), b.need("knode_bus.n_node")
	})
	l.block = ls.add("memory_block", func(b *layoutBuilder) {
		l.name, l.startSec, l.state = b.need("dev.kobj.name"), b.need("start_section_nr"), b.need("state")
		l.blockDev, l.nid, l.endSec = b.need("dev"), b.opt("nid"), b.opt("end_section_nr")
	})
	return l, ls.err()
}

// memorySubsysPrivate is the memory bus's subsys_private (subsys: the
// address of memory_subsys): memory_subsys.p
// before 6.3, else the kset entry of bus_kset named "memory" (6.3
// removed bus_type.p; drivers/base/bus.c bus_to_subsys).
func (k *Kernel) memorySubsysPrivate(l *memBlockLayout, subsys uint64) (uint64, error) {
	if l.busP.ok() {
		return k.readPointer(subsys + uint64(l.busP.Off))
	}
	ks, err := k.ReadUint("bus_kset")
	if err != nil {
		return 0, err
	}
	links, err := WalkList(k, ks+uint64(l.ksetList.Off), ListOptions{Head: true, Limit: 1 << 12})
	if err != nil {
		return 0, fmt.Errorf("bus_kset %#x: %w", ks, err)
	}
	for _, e := range links {
		kobj := e - uint64(l.kobjEntry.Off)
		b, err := l.kobj.read(k, kobj)
		if err != nil {
			return 0, fmt.Errorf("bus_kset %#x: %w", ks, err)
		}
		if name, err := k.cstring(b, l.kobjName, "kobject.name"); err == nil && name == "memory" {
			return kobj - uint64(l.subsysKobj.Off), nil
		}
	}
	return 0, fmt.Errorf("bus_kset %#x has no subsystem named memory", ks)
}

// MemoryBlocks lists the memory bus's devices in the order of its klist
// (crash's dump_memory_blocks); nil when the kernel has none.
func (k *Kernel) MemoryBlocks() ([]MemoryBlock, error) {
	v, err := k.Image.Variable("memory_subsys")
	if err != nil {
		return nil, nil // no memory hotplug bus (and maybe no struct memory_block): no blocks
	}
	l, err := k.memBlockLayout()
	if err != nil {
		return nil, err
	}
	priv, err := k.memorySubsysPrivate(l, v.Addr)
	if err != nil || priv == 0 {
		return nil, err
	}
	head := priv + uint64(l.klistDevices.Off)
	links, err := WalkList(k, head, ListOptions{Head: true, Limit: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("memory bus devices at %#x: %w", head, err)
	}
	size, hasSize := uint64(0), false
	if v, err := k.Image.Variable("memory_block_size_probed"); err == nil {
		size, _ = k.readPointer(v.Addr)
		hasSize = true
	}
	var out []MemoryBlock
	for _, n := range links {
		p := n - uint64(l.knodeBus.Off)
		b, err := l.devPriv.read(k, p)
		if err != nil {
			return out, err
		}
		dev := l.dec.uint(b, l.privDevice)
		if dev == 0 {
			return out, fmt.Errorf("device_private %#x: no device", p)
		}
		mb, err := k.memoryBlock(l, dev-uint64(l.blockDev.Off), size, hasSize)
		if err != nil {
			return out, err
		}
		out = append(out, mb)
	}
	return out, nil
}

// memoryBlock reads one struct memory_block; its physical range ends
// memory_block_size_probed bytes on (where the kernel has it, as crash
// reads it) or at end_section_nr (before 5.12).
func (k *Kernel) memoryBlock(l *memBlockLayout, mb, size uint64, hasSize bool) (MemoryBlock, error) {
	s, err := l.block.read(k, mb)
	if err != nil {
		return MemoryBlock{}, err
	}
	name, err := k.cstring(s, l.name, "memory_block.dev.kobj.name")
	if err != nil {
		return MemoryBlock{}, err
	}
	var secBytes uint64
	if pl, err := k.pageLayout(); err == nil {
		secBytes = k.PageSize() << pl.model.secShift
	}
	b := MemoryBlock{Addr: mb, Name: name, StartSection: l.dec.uint(s, l.startSec), State: l.dec.uint(s, l.state), Node: -1}
	b.Start = b.StartSection * secBytes
	b.StateName = memBlockState(l.state.field, b.State)
	if l.nid.ok() {
		b.Node = int(int32(l.dec.uint(s, l.nid)))
	}
	switch {
	case hasSize:
		b.End, b.HasEnd = b.Start+size-1, true
	case l.endSec.ok():
		// include/linux/memory.h before 5.12
		b.End, b.HasEnd = (l.dec.uint(s, l.endSec)+1)*secBytes-1, true
	}
	return b, nil
}
