package repl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// walkEntry is one entry of list/tree output.
type walkEntry struct {
	Addr     string            `json:"addr"`
	Position string            `json:"position,omitempty"`
	Members  map[string]string `json:"members,omitempty"`
}

type walkResult struct {
	Entries []walkEntry `json:"entries"`
	Error   string      `json:"error,omitempty"` // the walk stopped early (corruption)
	preformatted
}

// resolveOffset turns "struct.member", "struct_name.a.b" or a number into a
// byte offset.
func (s *Session) resolveOffset(spec string) (uint64, error) {
	if n, err := strconv.ParseUint(spec, 0, 64); err == nil {
		return n, nil
	}
	st, member, ok := strings.Cut(spec, ".")
	if !ok {
		return 0, fmt.Errorf("invalid offset %q: give a number or struct.member", spec)
	}
	for _, prefix := range []string{"struct ", "union ", ""} {
		if off, err := s.K.MemberOffset(prefix+st, member); err == nil {
			return off, nil
		}
	}
	return 0, fmt.Errorf("invalid offset %q: no member %s in struct %s", spec, member, st)
}

// structPrinter prints each entry's -s struct[.m1,m2] block.
type structPrinter struct {
	s       *Session
	name    string
	members []string
	radix   int
}

// structPrinterOf is the struct printer list's and tree's -s/-S and -x/-d
// flags ask for.
func (s *Session) structPrinterOf(inv *Invocation) (*structPrinter, error) {
	spec := inv.Flag("s")
	if inv.Has("S") {
		spec = inv.Flag("S")
	}
	return s.newStructPrinter(spec, flagRadix(inv))
}

func (s *Session) newStructPrinter(spec string, radix int) (*structPrinter, error) {
	if spec == "" {
		return nil, nil
	}
	name, mems, _ := strings.Cut(spec, ".")
	p := &structPrinter{s: s, name: name, radix: radix}
	if mems != "" {
		p.members = strings.Split(mems, ",")
	}
	return p, nil
}

func (p *structPrinter) print(b *strings.Builder, addr uint64, e *walkEntry) error {
	var typ string
	var err error
	for _, prefix := range []string{"struct ", "union ", ""} {
		if t, terr := p.s.K.Image.Type(prefix + p.name); terr == nil {
			typ = prefix
			n := p.s.decoder().decodeAt("", t, addr)
			if len(p.members) > 0 {
				text := p.s.memberBlocks(n, p.members, p.radix)
				b.WriteString(text)
				e.Members = map[string]string{}
				for _, m := range p.members {
					if k, _ := findKid(n, m); k != nil {
						gp := newGDBPrinter(p.s, p.radix)
						gp.value(k, 1)
						e.Members[m] = gp.String()
					}
				}
				return nil
			}
			gp := newGDBPrinter(p.s, p.radix)
			gp.value(n, 0)
			fmt.Fprintf(b, "%s%s %s\n", typ, p.name, gp.String())
			return nil
		} else {
			err = terr
		}
	}
	return fmt.Errorf("invalid structure name %q: %w", p.name, err)
}

func listCmd() *Command {
	return &Command{
		Name:     "list",
		Synopsis: "list [[-o] offset] [-e end] [-s struct[.member[,member]]] [-x|-d] [-r] [-h addr | -H addr | start]",
		Summary:  "walk a linked list",
		Description: "Follows a linked list and prints each entry's address (and, with -s, its contents). " +
			"Without -h/-H, start is the first structure and offset is where its next pointer lies. -h ADDR: " +
			"a structure with an embedded list_head at offset; -H ADDR: a standalone list_head (not printed). " +
			"The offset may be struct.member. -r follows prev. A node met twice (a corrupt list) stops the walk " +
			"with an error after the entries found.",
		Examples: []string{"list task_struct.tasks -H init_task.tasks", "list -H init_task.tasks -o task_struct.tasks -s task_struct.pid,comm",
			"list -h ffff888100a58000 task_struct.children"},
		Flags: joinFlags([]Flag{
			{Short: "o", Arg: "OFFSET", Help: "offset of the next pointer / list_head (number or struct.member)"},
			{Short: "e", Arg: "END", Help: "stop at this address"},
		}, entryFlags, []Flag{
			{Short: "h", Arg: "ADDR", Help: "start at a structure with an embedded list_head"},
			{Short: "H", Arg: "ADDR", Help: "start at a standalone list_head"},
			{Short: "r", Help: "follow prev pointers"},
		}, radixFlags),
		Complete: ArgExpression,
		Run:      runList,
	}
}

// The flags list and tree share: what to print of each entry, and the
// radix.
var (
	entryFlags = []Flag{
		{Short: "s", Arg: "STRUCT", Help: "print struct[.member,...] of each entry"},
		{Short: "S", Arg: "STRUCT", Help: "same as -s"},
	}
	radixFlags = []Flag{{Short: "x", Help: "hexadecimal"}, {Short: "d", Help: "decimal"}}
)

// joinFlags concatenates flag groups in order.
func joinFlags(groups ...[]Flag) []Flag {
	var out []Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func runList(s *Session, inv *Invocation) (Result, error) {
	args := inv.Args
	offSpec := inv.Flag("o")
	startSpec := ""
	headMode := ""
	switch {
	case inv.Has("H"):
		startSpec, headMode = inv.Flag("H"), "H"
	case inv.Has("h"):
		startSpec, headMode = inv.Flag("h"), "h"
	}
	switch {
	case startSpec == "" && len(args) == 1:
		startSpec = args[0]
	case startSpec == "" && len(args) == 2 && offSpec == "":
		offSpec, startSpec = args[0], args[1]
	case startSpec != "" && len(args) == 1 && offSpec == "":
		offSpec = args[0]
	case startSpec != "" && len(args) == 0:
	default:
		return nil, &UsageError{"list", "usage: list [[-o] offset] [-s struct] [-h|-H] start"}
	}
	var off uint64
	var err error
	if offSpec != "" {
		if off, err = s.resolveOffset(offSpec); err != nil {
			return nil, err
		}
	}
	start, err := s.resolveAddress(startSpec)
	if err != nil {
		return nil, fmt.Errorf("invalid start %q: %w", startSpec, err)
	}
	var end uint64
	if inv.Has("e") {
		if end, err = s.resolveAddress(inv.Flag("e")); err != nil {
			return nil, err
		}
	}
	sp, err := s.structPrinterOf(inv)
	if err != nil {
		return nil, err
	}
	if inv.Has("r") && headMode == "" {
		headMode = "h"
	}

	var nodes []uint64
	var werr error
	sub := uint64(0) // what to subtract from a node to get the entry
	switch headMode {
	case "H":
		nodes, werr = kstructs.WalkList(s.K, start, kstructs.ListOptions{Head: true, Reverse: inv.Has("r"), End: end + off*boolU(end != 0)})
		sub = off
	case "h":
		nodes, werr = kstructs.WalkList(s.K, start+off, kstructs.ListOptions{Reverse: inv.Has("r"), End: end + off*boolU(end != 0)})
		sub = off
	default:
		// The next pointer at offset points to the next structure itself.
		nodes, werr = kstructs.WalkList(s.K, start, kstructs.ListOptions{LinkOffset: off, End: end})
	}
	res := walkResult{Entries: []walkEntry{}}
	var b strings.Builder
	if headMode == "H" && len(nodes) == 0 && werr == nil {
		b.WriteString("(empty)\n")
	}
	for _, n := range nodes {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		e := walkEntry{Addr: fmt.Sprintf("%x", n-sub)}
		fmt.Fprintf(&b, "%x\n", n-sub)
		if sp != nil {
			if err := sp.print(&b, n-sub, &e); err != nil {
				return nil, err
			}
		}
		res.Entries = append(res.Entries, e)
	}
	if werr != nil {
		res.Error = listErrorText(werr, sub)
		fmt.Fprintf(&b, "list: %s\n", res.Error)
	}
	res.text = b.String()
	return res, nil
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// listErrorText is crash's "duplicate list entry" wording plus where.
func listErrorText(err error, sub uint64) string {
	var le *kstructs.ListError
	if errors.As(err, &le) && le.Reason == "seen twice" {
		return fmt.Sprintf("duplicate list entry: %x (list corrupt at %x)", le.Next-sub, le.At-sub)
	}
	return err.Error()
}

func treeCmd() *Command {
	return &Command{
		Name:     "tree",
		Synopsis: "tree -t rbtree [-r offset] [-o offset] [-s struct[.member[,member]]] [-x|-d] [-l] [-N] [-p] root",
		Summary:  "walk a red-black tree",
		Description: "Prints the nodes of an rb tree (pre-order like crash; -l in order) as the addresses of the " +
			"structures that contain them (-o gives the rb_node's offset, as a number or struct.member). root is " +
			"a struct rb_root (or, with -r, a structure containing one at that offset; with -N an rb_node). " +
			"-p adds each node's position. Only rbtree is supported.",
		Examples: []string{"tree -t rbtree -o vmap_area.rb_node vmap_area_root", "tree -t rbtree -o sched_entity.run_node -l -p runqueues"},
		Flags: joinFlags([]Flag{
			{Short: "t", Arg: "TYPE", Help: "tree type: rbtree"},
			{Short: "r", Arg: "OFFSET", Help: "offset of the rb_root inside root"},
			{Short: "o", Arg: "OFFSET", Help: "offset of the rb_node in each entry"},
		}, entryFlags, []Flag{
			{Short: "l", Help: "in-order (sorted) instead of pre-order"},
			{Short: "N", Help: "root is an rb_node"},
			{Short: "p", Help: "show each node's position"},
		}, radixFlags),
		Complete: ArgExpression,
		Run:      runTree,
	}
}

func runTree(s *Session, inv *Invocation) (Result, error) {
	if t := inv.Flag("t"); t != "" && t != "rbtree" && t != "rb" {
		return nil, fmt.Errorf("tree type %q is not supported (only rbtree)", t)
	}
	if len(inv.Args) != 1 {
		return nil, &UsageError{"tree", "usage: tree -t rbtree [-o offset] [-s struct] root"}
	}
	root, err := s.resolveAddress(inv.Args[0])
	if err != nil {
		return nil, fmt.Errorf("invalid root %q: %w", inv.Args[0], err)
	}
	var roff, noff uint64
	if inv.Has("r") {
		if roff, err = s.resolveOffset(inv.Flag("r")); err != nil {
			return nil, err
		}
	}
	if inv.Has("o") {
		if noff, err = s.resolveOffset(inv.Flag("o")); err != nil {
			return nil, err
		}
	}
	sp, err := s.structPrinterOf(inv)
	if err != nil {
		return nil, err
	}
	order := kstructs.PreOrder
	if inv.Has("l") {
		order = kstructs.InOrder
	}
	var nodes []kstructs.RBNode
	var werr error
	if inv.Has("N") {
		nodes, werr = kstructs.WalkRBNode(s.K, root+roff, order)
	} else {
		nodes, werr = kstructs.WalkRBTree(s.K, root+roff, order)
	}
	res := walkResult{Entries: []walkEntry{}}
	var b strings.Builder
	for _, n := range nodes {
		e := walkEntry{Addr: fmt.Sprintf("%x", n.Addr-noff)}
		fmt.Fprintf(&b, "%x\n", n.Addr-noff)
		if inv.Has("p") {
			e.Position = n.Position
			fmt.Fprintf(&b, "  position: %s\n", n.Position)
		}
		if sp != nil {
			if err := sp.print(&b, n.Addr-noff, &e); err != nil {
				return nil, err
			}
		}
		res.Entries = append(res.Entries, e)
	}
	if werr != nil {
		res.Error = werr.Error()
		fmt.Fprintf(&b, "tree: %s\n", res.Error)
	}
	res.text = b.String()
	return res, nil
}
