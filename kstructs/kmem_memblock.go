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

// memorySubsysPrivate is the memory bus's subsys_private: memory_subsys.p
// before 6.3, else the kset entry of bus_kset named "memory" (6.3
// removed bus_type.p; drivers/base/bus.c bus_to_subsys).
func (k *Kernel) memorySubsysPrivate() (uint64, error) {
	v, err := k.Image.Variable("memory_subsys")
	if err != nil {
		return 0, nil // no memory hotplug bus: no blocks
	}
	if off, _, err := k.memberOffset("struct bus_type", "p"); err == nil {
		return k.readPointer(v.Addr + off)
	}
	ks, err := k.ReadUint("bus_kset")
	if err != nil {
		return 0, err
	}
	listOff, _, err1 := k.memberOffset("struct kset", "list")
	entryOff, _, err2 := k.memberOffset("struct kobject", "entry")
	subsysOff, _, err3 := k.memberOffset("struct subsys_private", "subsys.kobj")
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			return 0, e
		}
	}
	links, err := WalkList(k, ks+listOff, ListOptions{Head: true, Limit: 1 << 12})
	if err != nil {
		return 0, fmt.Errorf("bus_kset %#x: %w", ks, err)
	}
	for _, l := range links {
		kobj := l - entryOff
		if k.readStruct("kobject", kobj).str("name") == "memory" {
			return kobj - subsysOff, nil
		}
	}
	return 0, fmt.Errorf("bus_kset %#x has no subsystem named memory", ks)
}

// MemoryBlocks lists the memory bus's devices in the order of its klist
// (crash's dump_memory_blocks); nil when the kernel has none.
func (k *Kernel) MemoryBlocks() ([]MemoryBlock, error) {
	priv, err := k.memorySubsysPrivate()
	if err != nil || priv == 0 {
		return nil, err
	}
	klist, _, err1 := k.memberOffset("struct subsys_private", "klist_devices.k_list")
	knode, _, err2 := k.memberOffset("struct device_private", "knode_bus.n_node")
	devOff, _, err3 := k.memberOffset("struct memory_block", "dev")
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			return nil, e
		}
	}
	links, err := WalkList(k, priv+klist, ListOptions{Head: true, Limit: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("memory bus devices at %#x: %w", priv+klist, err)
	}
	size, hasSize := uint64(0), false
	if v, err := k.Image.Variable("memory_block_size_probed"); err == nil {
		size, _ = k.readPointer(v.Addr)
		hasSize = true
	}
	var out []MemoryBlock
	for _, l := range links {
		dev := k.readStruct("device_private", l-knode).u("device")
		if dev == 0 {
			return out, fmt.Errorf("device_private %#x: no device", l-knode)
		}
		out = append(out, k.memoryBlock(dev-devOff, size, hasSize))
	}
	return out, nil
}

// memoryBlock reads one struct memory_block; its physical range ends
// memory_block_size_probed bytes on (where the kernel has it, as crash
// reads it) or at end_section_nr (before 5.12).
func (k *Kernel) memoryBlock(mb, size uint64, hasSize bool) MemoryBlock {
	s := k.readStruct("memory_block", mb)
	var secBytes uint64
	if l, err := k.pageLayout(); err == nil {
		secBytes = k.PageSize() << l.model.secShift
	}
	b := MemoryBlock{Addr: mb, Name: s.str("dev.kobj.name"), StartSection: s.u("start_section_nr"), State: s.u("state"), Node: -1}
	b.Start = b.StartSection * secBytes
	if _, f, err := k.memberOffset("struct memory_block", "state"); err == nil {
		b.StateName = memBlockState(f, b.State)
	}
	if _, _, err := k.memberOffset("struct memory_block", "nid"); err == nil {
		b.Node = int(int32(s.u("nid")))
	}
	switch {
	case hasSize:
		b.End, b.HasEnd = b.Start+size-1, true
	case s.has("end_section_nr"):
		// include/linux/memory.h before 5.12
		b.End, b.HasEnd = (s.u("end_section_nr")+1)*secBytes-1, true
	}
	return b
}

// has reports whether the struct has member path p.
func (s *structAt) has(p string) bool {
	if s.t == nil {
		return false
	}
	_, err := s.k.Image.Member(s.t, p)
	return err == nil
}
