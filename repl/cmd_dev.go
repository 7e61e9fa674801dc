package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// pciResult is `dev -p`: the PCI buses and their devices.
type pciResult struct {
	Buses []kstructs.PCIBus `json:"buses"`
	Error string            `json:"error,omitempty"`
}

func (r pciResult) Text(w io.Writer, s *Session) error {
	hw := s.hexWidth()
	var b strings.Builder
	for _, bus := range r.Buses {
		fmt.Fprintf(&b, "%s %s\n%-*x %s\n", crashCenter("ROOT BUS", hw, false), crashCenter("BUSNAME", 7, false), hw, bus.Addr, bus.Name)
		pciDevices(&b, hw, bus)
		pciChildren(&b, hw, bus.Buses)
		b.WriteString("\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "dev: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// pciDevices prints a bus's bridge (self) and devices, as crash's
// walk_devices.
func pciDevices(b *strings.Builder, hw int, bus kstructs.PCIBus) {
	fmt.Fprintf(b, "  %s %s %s %s %s\n", crashCenter("PCI DEV", hw, false), crashCenter("DO:BU:SL.FN", 12, false),
		crashCenter("CLASS", 6, false), crashCenter("PCI_ID", 9, false), crashCenter("TYPE", 10, false))
	row := func(d kstructs.PCIDevice) {
		typ := d.PCIeType
		if d.Bridge {
			typ += " [BRIDGE]"
		}
		fmt.Fprintf(b, "  %-*x %s %s %s %s\n", hw, d.Addr, crashCenter(d.Name, 12, false), crashCenter(fmt.Sprintf("%04x", d.Class), 6, false),
			crashCenter(fmt.Sprintf("%x:%x", d.Vendor, d.Device), 9, false), crashCenter(strings.TrimSpace(typ), 10, false))
	}
	if bus.Self != nil {
		row(*bus.Self)
	}
	for _, d := range bus.Devices {
		row(d)
	}
}

func pciChildren(b *strings.Builder, hw int, buses []kstructs.PCIBus) {
	for _, c := range buses {
		fmt.Fprintf(b, "  %s %s\n  %-*x %-*x\n", crashCenter("PCI BUS", hw, false), crashCenter("PARENT BUS", hw, false), hw, c.Addr, hw, c.Parent)
		pciDevices(b, hw, c)
		b.WriteString("\n")
		pciChildren(b, hw, c.Buses)
	}
}

// devResult is `dev`: the character and block device majors.
type devResult struct {
	Char  []kstructs.CharDev  `json:"chrdevs"`
	Block []kstructs.BlockDev `json:"blkdevs"`
	Error string              `json:"error,omitempty"`
}

func (r devResult) Text(w io.Writer, s *Session) error {
	hw := s.hexWidth()
	var b strings.Builder
	row := func(major int, name string, addr, ops uint64) {
		if ops == 0 {
			fmt.Fprintf(&b, " %3d      %-13s  %s\n", major, name, crashCenter("(none)", hw, false))
			return
		}
		op, ok := s.symOff(ops)
		if !ok {
			op = fmt.Sprintf("%x", ops)
		}
		fmt.Fprintf(&b, " %3d      %-13s  %0*x  %s\n", major, name, hw, addr, op)
	}
	fmt.Fprintf(&b, "CHRDEV    NAME           %s  OPERATIONS\n", crashCenter("CDEV", hw, false))
	for _, c := range r.Char {
		row(c.Major, c.Name, c.CDev, c.Ops)
	}
	fmt.Fprintf(&b, "\nBLKDEV    NAME           %s  OPERATIONS\n", crashCenter("GENDISK", hw, false))
	for _, d := range r.Block {
		name := d.Name
		if name == "" {
			name = "(unknown)"
		}
		row(d.Major, name, d.GenDisk, d.Ops)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "dev: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func devCmd() *Command {
	return &Command{
		Name:     "dev",
		Synopsis: "dev [-p]",
		Summary:  "character and block device majors with their operations",
		Description: "Lists the registered character devices (chrdevs[] and each slot's chain: major, name, the " +
			"cdev and its file operations, found through cdev_map when the range has no cdev of its own) and " +
			"block devices (major_names[]: major, name, a gendisk of that major and its block operations), as " +
			"crash's dev does and /proc/devices lists them. -p lists the PCI buses instead (pci_root_buses, then " +
			"each bus's bridge, devices and child buses: pci_dev, domain:bus:slot.function, class, vendor:device, " +
			"PCI Express port type). --json gives the same.",
		Examples: []string{"dev", "dev -p", "dev --json"},
		Flags:    []Flag{{Short: "p", Help: "PCI buses and devices"}},
		Run:      runDev,
	}
}

func runDev(s *Session, inv *Invocation) (Result, error) {
	if len(inv.Args) > 0 {
		return nil, &UsageError{"dev", fmt.Sprintf("unexpected argument %q", inv.Args[0])}
	}
	if inv.Has("p") {
		buses, err := s.K.PCIBuses()
		if buses == nil && err != nil {
			return nil, err
		}
		r := pciResult{Buses: buses}
		if err != nil {
			r.Error = err.Error()
		}
		return r, nil
	}
	var r devResult
	var err error
	r.Char, err = s.K.CharDevs()
	if err != nil && r.Char == nil {
		return nil, err
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Block, err = s.K.BlockDevs()
	if err != nil {
		r.Error = strings.TrimPrefix(r.Error+"; "+err.Error(), "; ")
	}
	return r, nil
}
