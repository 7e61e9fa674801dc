package kstructs

import "fmt"

// PCIBus is one PCI bus (struct pci_bus, include/linux/pci.h): a root bus
// from pci_root_buses or a child bus behind a bridge, with its devices.
type PCIBus struct {
	Addr    uint64      `json:"pci_bus"`
	Name    string      `json:"name"` // dev_name: "0000:00"
	Parent  uint64      `json:"parent,omitempty"`
	Self    *PCIDevice  `json:"self,omitempty"` // the bridge the bus is behind
	Devices []PCIDevice `json:"devices"`
	Buses   []PCIBus    `json:"buses,omitempty"` // children, depth first
}

// PCIDevice is one struct pci_dev.
type PCIDevice struct {
	Addr   uint64 `json:"pci_dev"`
	Name   string `json:"name"`  // "0000:00:01.0"
	Class  uint32 `json:"class"` // class >> 8: base class and subclass
	Vendor uint16 `json:"vendor"`
	Device uint16 `json:"device"`
	// PCIeType is the PCI Express port type (PCI_EXP_FLAGS_TYPE of the
	// capability, include/uapi/linux/pci_regs.h) by name; empty for a
	// conventional PCI device.
	PCIeType string `json:"pcie_type,omitempty"`
	Bridge   bool   `json:"bridge,omitempty"` // header type bridge or CardBus
}

// pcieTypes names PCI_EXP_TYPE_* (include/uapi/linux/pci_regs.h).
var pcieTypes = map[uint64]string{0x0: "ENDPOINT", 0x1: "LEG_END", 0x4: "ROOT_PORT", 0x5: "UPSTREAM",
	0x6: "DOWNSTREAM", 0x7: "PCI_BRIDGE", 0x8: "PCIE_BRIDGE", 0x9: "RC_END", 0xa: "RC_EC"}

// PCIBuses walks pci_root_buses and, under each, its devices and child
// buses, as crash's dev -p does.
func (k *Kernel) PCIBuses() ([]PCIBus, error) {
	v, err := k.Image.Variable("pci_root_buses")
	if err != nil {
		return nil, fmt.Errorf("no PCI in this kernel: %w", err)
	}
	return k.pciBusList(v.Addr, "node", 0)
}

// pciBusList reads the pci_bus entries (linked by member link) of the
// list_head at head.
func (k *Kernel) pciBusList(head uint64, link string, depth int) ([]PCIBus, error) {
	bt, err := k.structType("pci_bus")
	if err != nil {
		return nil, err
	}
	lf, err := k.Image.Member(bt, link)
	if err != nil {
		return nil, err
	}
	if depth > 32 {
		return nil, fmt.Errorf("PCI buses nested deeper than 32 at %#x", head)
	}
	nodes, err := WalkList(k, head, ListOptions{Head: true, Limit: 4096})
	var out []PCIBus
	for _, n := range nodes {
		b, berr := k.pciBus(n-uint64(lf.ByteOffset), depth)
		out = append(out, b)
		if berr != nil && err == nil {
			err = berr
		}
	}
	return out, err
}

func (k *Kernel) pciBus(addr uint64, depth int) (PCIBus, error) {
	s := k.readStruct("pci_bus", addr)
	if s.err != nil {
		return PCIBus{Addr: addr}, s.err
	}
	b := PCIBus{Addr: addr, Name: s.str("dev.kobj.name"), Parent: s.u("parent"), Devices: []PCIDevice{}}
	if self := s.u("self"); self != 0 {
		d := k.pciDevice(self)
		b.Self = &d
	}
	dt, err := k.structType("pci_dev")
	if err != nil {
		return b, err
	}
	df, err1 := k.Image.Member(dt, "bus_list")
	devs, err2 := k.Image.Member(s.t, "devices")
	kids, err3 := k.Image.Member(s.t, "children")
	if err1 != nil || err2 != nil || err3 != nil {
		return b, fmt.Errorf("struct pci_bus/pci_dev lack devices, children or bus_list")
	}
	nodes, err := WalkList(k, addr+uint64(devs.ByteOffset), ListOptions{Head: true, Limit: 4096})
	for _, n := range nodes {
		b.Devices = append(b.Devices, k.pciDevice(n-uint64(df.ByteOffset)))
	}
	buses, berr := k.pciBusList(addr+uint64(kids.ByteOffset), "node", depth+1)
	b.Buses = buses
	if err == nil {
		err = berr
	}
	return b, err
}

func (k *Kernel) pciDevice(addr uint64) PCIDevice {
	s := k.readStruct("pci_dev", addr)
	d := PCIDevice{Addr: addr, Name: s.str("dev.kobj.name"), Class: uint32(s.u("class") >> 8),
		Vendor: uint16(s.u("vendor")), Device: uint16(s.u("device"))}
	if s.u("pcie_cap") != 0 {
		d.PCIeType = pcieTypes[(s.u("pcie_flags_reg")&0xf0)>>4]
	}
	ht := s.u("hdr_type") & 0x7f
	d.Bridge = ht == 1 || ht == 2 // PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS
	return d
}
