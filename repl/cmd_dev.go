package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

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
			fmt.Fprintf(&b, " %3d      %-13s  %s\n", major, name, center(hw, "(none)", false))
			return
		}
		fmt.Fprintf(&b, " %3d      %-13s  %0*x  %s\n", major, name, hw, addr, symOrHex(s, ops))
	}
	fmt.Fprintf(&b, "CHRDEV    NAME           %s  OPERATIONS\n", center(hw, "CDEV", false))
	for _, c := range r.Char {
		row(c.Major, c.Name, c.CDev, c.Ops)
	}
	fmt.Fprintf(&b, "\nBLKDEV    NAME           %s  OPERATIONS\n", center(hw, "GENDISK", false))
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

// symOrHex is the symbol at addr (with +off), or addr in hex.
func symOrHex(s *Session, addr uint64) string {
	if sym, off, ok := s.K.Image.SymbolAt(addr); ok {
		if off == 0 {
			return sym.Name
		}
		return fmt.Sprintf("%s+%d", sym.Name, off)
	}
	return fmt.Sprintf("%x", addr)
}

func devCmd() *Command {
	return &Command{
		Name:     "dev",
		Synopsis: "dev",
		Summary:  "character and block device majors with their operations",
		Description: "Lists the registered character devices (chrdevs[] and each slot's chain: major, name, the " +
			"cdev and its file operations, found through cdev_map when the range has no cdev of its own) and " +
			"block devices (major_names[]: major, name, a gendisk of that major and its block operations), as " +
			"crash's dev does and /proc/devices lists them. --json gives the same.",
		Examples: []string{"dev", "dev --json"},
		Run:      runDev,
	}
}

func runDev(s *Session, inv *Invocation) (Result, error) {
	if len(inv.Args) > 0 {
		return nil, &UsageError{"dev", fmt.Sprintf("unexpected argument %q", inv.Args[0])}
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
