package kstructs

import (
	"errors"
	"fmt"
)

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

// pciLayout: struct pci_bus and struct pci_dev (include/linux/pci.h).
type pciLayout struct {
	dec                                        decoder
	bus                                        *structLayout
	busNode, busChildren, busDevices           fieldLoc
	busSelf, busParent, busName                fieldLoc
	dev                                        *structLayout
	devBusList, devName, class, vendor, device fieldLoc
	hdrType, pcieCap, pcieFlags                fieldLoc
}

func (k *Kernel) pciLayout() (*pciLayout, error) {
	return layoutOf(k, &k.cache().pci, buildPCILayout)
}

func buildPCILayout(ls *layoutSet, dec decoder) (*pciLayout, error) {
	l := &pciLayout{dec: dec}
	l.bus = ls.add("pci_bus", func(b *layoutBuilder) {
		l.busNode, l.busChildren, l.busDevices = b.need("node"), b.need("children"), b.need("devices")
		l.busSelf, l.busParent, l.busName = b.need("self"), b.need("parent"), b.need("dev.kobj.name")
	})
	l.dev = ls.add("pci_dev", func(b *layoutBuilder) {
		l.devBusList, l.devName = b.need("bus_list"), b.need("dev.kobj.name")
		l.class, l.vendor, l.device = b.need("class"), b.need("vendor"), b.need("device")
		l.hdrType, l.pcieCap, l.pcieFlags = b.need("hdr_type"), b.need("pcie_cap"), b.need("pcie_flags_reg")
	})
	return l, ls.err()
}

// PCIBuses walks pci_root_buses and, under each, its devices and child
// buses, as crash's dev -p does.
func (k *Kernel) PCIBuses() ([]PCIBus, error) {
	v, err := k.Image.Variable("pci_root_buses")
	if err != nil {
		return nil, fmt.Errorf("no PCI in this kernel: %w", err)
	}
	l, err := k.pciLayout()
	if err != nil {
		return nil, err
	}
	return k.pciBusList(l, v.Addr, l.busNode, 0)
}

// pciBusList reads the pci_bus entries (linked by member link) of the
// list_head at head.
func (k *Kernel) pciBusList(l *pciLayout, head uint64, link fieldLoc, depth int) ([]PCIBus, error) {
	if depth > 32 {
		return nil, fmt.Errorf("PCI buses nested deeper than 32 at %#x", head)
	}
	nodes, err := WalkList(k, head, ListOptions{Head: true, Limit: 4096})
	errs := []error{err}
	var out []PCIBus
	for _, n := range nodes {
		b, berr := k.pciBus(l, n-uint64(link.Off), depth)
		out = append(out, b)
		errs = append(errs, berr)
	}
	return out, errors.Join(errs...)
}

func (k *Kernel) pciBus(l *pciLayout, addr uint64, depth int) (PCIBus, error) {
	s, err := l.bus.read(k, addr)
	if err != nil {
		return PCIBus{Addr: addr}, err
	}
	b := PCIBus{Addr: addr, Parent: l.dec.uint(s, l.busParent), Devices: []PCIDevice{}}
	b.Name, err = k.cstring(s, l.busName, "pci_bus.dev.kobj.name")
	errs := []error{err}
	if self := l.dec.uint(s, l.busSelf); self != 0 {
		d, err := k.pciDevice(l, self)
		b.Self = &d
		errs = append(errs, err)
	}
	nodes, err := WalkList(k, addr+uint64(l.busDevices.Off), ListOptions{Head: true, Limit: 4096})
	errs = append(errs, err)
	for _, n := range nodes {
		d, err := k.pciDevice(l, n-uint64(l.devBusList.Off))
		b.Devices = append(b.Devices, d)
		errs = append(errs, err)
	}
	b.Buses, err = k.pciBusList(l, addr+uint64(l.busChildren.Off), l.busNode, depth+1)
	return b, errors.Join(append(errs, err)...)
}

func (k *Kernel) pciDevice(l *pciLayout, addr uint64) (PCIDevice, error) {
	s, err := l.dev.read(k, addr)
	if err != nil {
		return PCIDevice{Addr: addr}, err
	}
	d := l.dec
	p := PCIDevice{Addr: addr, Class: uint32(d.uint(s, l.class) >> 8), Vendor: uint16(d.uint(s, l.vendor)),
		Device: uint16(d.uint(s, l.device))}
	if d.uint(s, l.pcieCap) != 0 {
		p.PCIeType = pcieTypes[(d.uint(s, l.pcieFlags)&0xf0)>>4]
	}
	ht := d.uint(s, l.hdrType) & 0x7f
	p.Bridge = ht == 1 || ht == 2 // PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS
	p.Name, err = k.cstring(s, l.devName, "pci_dev.dev.kobj.name")
	return p, err
}
