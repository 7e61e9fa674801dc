package repl

import (
	"debug/dwarf"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// hexWidth is the address width crash uses: 8 digits on 32-bit targets, 16 on 64-bit.
func (s *Session) hexWidth() int { return 2 * s.K.PtrSize() }

// addr formats a target address as crash does (lower-case, zero-padded).
func (s *Session) addr(a uint64) string { return fmt.Sprintf("%0*x", s.hexWidth(), a) }

// resolveAddress turns a command argument into an address: a hex number
// (with or without 0x, as crash accepts), a symbol, or an expression whose
// value (pointer/integer) or address (object) is the address.
func (s *Session) resolveAddress(arg string) (uint64, error) {
	if a, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(arg), "0x"), 16, 64); err == nil {
		return a, nil
	}
	if sym, ok := s.K.Image.Lookup(arg); ok {
		return sym.Addr, nil
	}
	v, err := s.K.Env().Eval(arg)
	if err != nil {
		return 0, err
	}
	switch dwarfx.Strip(v.Type()).(type) {
	case *dwarf.PtrType, *dwarf.IntType, *dwarf.UintType:
		return v.Uint(s.K.Memory())
	}
	if a, ok := v.Addr(); ok {
		return a, nil
	}
	return v.Uint(s.K.Memory())
}

// ---- sym ----

type symResult struct {
	Symbols []symLine `json:"symbols"`
}

type symLine struct {
	Addr   string `json:"addr"`
	Kind   string `json:"type"`
	Name   string `json:"name"`
	Offset uint64 `json:"offset,omitempty"`
	Module string `json:"module,omitempty"` // a module's symbol ("" for vmlinux)
}

func (r symResult) Text(w io.Writer, s *Session) error {
	for _, l := range r.Symbols {
		name := l.Name
		if l.Offset != 0 {
			name += fmt.Sprintf("+%d", l.Offset)
		}
		if l.Module != "" {
			name += " [" + l.Module + "]"
		}
		fmt.Fprintf(w, "%s (%s) %s\n", l.Addr, l.Kind, name)
	}
	return nil
}

func symCmd() *Command {
	return &Command{
		Name:     "sym",
		Synopsis: "sym [-q STRING] [ADDR|SYMBOL ...]",
		Summary:  "translate a symbol to its address or an address to its symbol",
		Description: "For each symbol, prints its address and type letter (as nm prints them: T text, " +
			"D data, B bss, R read-only, lower case for local); for each address, the symbol that " +
			"contains it with the offset. -q lists every symbol whose name contains STRING.",
		Examples: []string{"sym schedule", "sym ffffffff81a3c2d0", "sym -q sched_class"},
		Flags:    []Flag{{Short: "q", Arg: "STRING", Help: "search for symbols containing STRING"}},
		Complete: ArgSymbol,
		Run: func(s *Session, inv *Invocation) (Result, error) {
			var r symResult
			add := func(sym dwarfx.Symbol, off uint64) {
				r.Symbols = append(r.Symbols, symLine{s.addr(sym.Addr + off), string(sym.Kind), sym.Name, off, sym.Module})
			}
			if inv.Has("q") {
				for _, sym := range s.K.Image.SearchSymbols(inv.Flag("q")) {
					add(sym, 0)
				}
			}
			if !inv.Has("q") && len(inv.Args) == 0 {
				return nil, &UsageError{"sym", "usage: " + "sym [-q STRING] [ADDR|SYMBOL ...]"}
			}
			for _, a := range inv.Args {
				if sym, ok := s.K.Image.Lookup(a); ok {
					add(sym, 0)
					continue
				}
				addr, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(a), "0x"), 16, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: no such symbol", a)
				}
				sym, off, ok := s.K.Image.SymbolAt(addr)
				if !ok {
					return nil, fmt.Errorf("%s: no symbol contains this address", s.addr(addr))
				}
				add(sym, off)
			}
			return r, nil
		},
	}
}

// ---- rd ----

type rdResult struct {
	Addr     string   `json:"addr"`
	Physical bool     `json:"physical"`
	Size     int      `json:"size"` // bytes per value
	Values   []uint64 `json:"values"`
	Bytes    []byte   `json:"-"`
	Symbols  bool     `json:"-"`
	// Slabs (rd -S): values pointing into slab objects show their cache.
	Slabs bool `json:"-"`
	// Annotations are rd -s/-S's symbol or [cache] per value ("" for none).
	Annotations []string `json:"annotations,omitempty"`
	start       uint64
	// Error says why the values stop short of COUNT: crash's rd prints the
	// readable values, then names the first address it could not read.
	Error string `json:"error,omitempty"`
	err   error
}

func (r rdResult) Partial() error { return r.err }

// readPrefix reads n bytes at addr; where that fails it reads page by page
// and returns the readable prefix (whole values of size bytes) with the
// error of the first page it could not read.
func readPrefix(read func([]byte, uint64) error, addr uint64, n, size int) ([]byte, error) {
	buf := make([]byte, n)
	if err := read(buf, addr); err == nil {
		return buf, nil
	}
	const page = 4096
	got := 0
	for got < n {
		chunk := min(n-got, page-int((addr+uint64(got))%page))
		if err := read(buf[got:got+chunk], addr+uint64(got)); err != nil {
			return buf[:got/size*size], err
		}
		got += chunk
	}
	return buf, nil
}

func (r rdResult) Text(w io.Writer, s *Session) error {
	perLine := 16 / r.Size
	for i := 0; i < len(r.Values); i += perLine {
		end := min(i+perLine, len(r.Values))
		// crash right-justifies the address (short physical ones are space-padded).
		fmt.Fprintf(w, "%*x:  ", s.hexWidth(), r.start+uint64(i*r.Size))
		var cells []string
		for _, v := range r.Values[i:end] {
			cells = append(cells, r.cell(s, v))
		}
		line := strings.Join(cells, " ")
		if !r.Symbols {
			// Pad a short last line so the ASCII column lines up.
			full := perLine*(2*r.Size+1) - 1
			line += strings.Repeat(" ", max(0, full-len(line)))
			line += "   " + asciiColumn(r.Bytes[i*r.Size:end*r.Size])
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	return nil
}

func (r rdResult) cell(s *Session, v uint64) string {
	if a := r.annotation(s, v); a != "" {
		return fmt.Sprintf("%-*s", 2*r.Size, a)
	}
	return fmt.Sprintf("%0*x", 2*r.Size, v)
}

// annotation is what rd -s shows for a value pointing into the kernel
// image (symbol+offset) and rd -S also for one pointing into a slab object
// ([cache], memory.c display_memory).
func (r rdResult) annotation(s *Session, v uint64) string {
	if !r.Symbols || r.Size != s.K.PtrSize() {
		return ""
	}
	if n, ok := s.symOff(v); ok && s.K.Image.InLoadedCode(v) {
		return n
	}
	if r.Slabs {
		if name, ok := s.K.SlabCacheOf(v); ok {
			return "[" + name + "]"
		}
	}
	return ""
}

func asciiColumn(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			out[i] = c
		} else {
			out[i] = '.'
		}
	}
	return string(out)
}

func rdCmd() *Command {
	return &Command{
		Name:     "rd",
		Synopsis: "rd [-8|-16|-32|-64] [-p] [-s|-S] ADDR|SYMBOL [COUNT]",
		Summary:  "read memory, as hex words with an ASCII column",
		Description: "Reads COUNT values (default 1) of kernel virtual memory, or physical memory with -p, " +
			"starting at ADDR (hex) or a symbol's address. The value size is the pointer size unless " +
			"-8, -16, -32 or -64 is given. -s shows values that point into the kernel image as symbol+offset; " +
			"-S also shows values that point into a slab object as [cache] (the cache of the slab page they lie in).",
		Examples: []string{"rd linux_banner 8", "rd -8 linux_banner 64", "rd -p 40000000 4", "rd -s init_task 8"},
		Flags: []Flag{
			{Short: "8", Help: "display 8-bit values"},
			{Short: "16", Help: "display 16-bit values"},
			{Short: "32", Help: "display 32-bit values"},
			{Short: "64", Help: "display 64-bit values"},
			{Short: "p", Help: "ADDR is a physical address"},
			{Short: "s", Help: "show symbols for values pointing into the kernel"},
			{Short: "S", Help: "as -s, and [cache] for values pointing into slab objects"},
		},
		Complete: ArgSymbol,
		Run:      runRd,
	}
}

func runRd(s *Session, inv *Invocation) (Result, error) {
	size := s.K.PtrSize()
	switch {
	case inv.Has("8"):
		size = 1
	case inv.Has("16"):
		size = 2
	case inv.Has("32"):
		size = 4
	case inv.Has("64"):
		size = 8
	}
	if len(inv.Args) == 0 || len(inv.Args) > 2 {
		return nil, &UsageError{"rd", "usage: rd [-8|-16|-32|-64] [-p] [-s] ADDR|SYMBOL [COUNT]"}
	}
	var addr uint64
	var err error
	if inv.Has("p") {
		addr, err = strconv.ParseUint(strings.TrimPrefix(strings.ToLower(inv.Args[0]), "0x"), 16, 64)
		if err != nil {
			return nil, &UsageError{"rd", fmt.Sprintf("physical address %q is not hex", inv.Args[0])}
		}
	} else if addr, err = s.resolveAddress(inv.Args[0]); err != nil {
		return nil, err
	}
	count := 1
	if len(inv.Args) == 2 {
		n, err := strconv.ParseUint(inv.Args[1], 0, 31)
		if err != nil || n == 0 {
			return nil, &UsageError{"rd", fmt.Sprintf("count %q is not a positive number", inv.Args[1])}
		}
		count = int(n)
	}
	if count > 1<<20 {
		return nil, &UsageError{"rd", "count too large (at most 1048576 values)"}
	}
	read := s.K.ReadVirt
	if inv.Has("p") {
		read = s.K.Dump.ReadPhys
	}
	buf, err := readPrefix(read, addr, count*size, size)
	if len(buf) == 0 {
		return nil, err
	}
	bo := s.K.Image.ByteOrder()
	r := rdResult{Addr: s.addr(addr), Physical: inv.Has("p"), Size: size, Bytes: buf, Symbols: inv.Has("s") || inv.Has("S"),
		Slabs: inv.Has("S"), start: addr, err: err}
	if err != nil {
		r.Error = err.Error()
	}
	for i := 0; i < len(buf)/size; i++ {
		r.Values = append(r.Values, dwarfx.DecodeUint(bo, buf[i*size:][:size]))
	}
	if r.Symbols {
		for _, v := range r.Values {
			r.Annotations = append(r.Annotations, r.annotation(s, v))
		}
	}
	return r, nil
}

// ---- vtop / ptov ----

type addrPair struct {
	Virtual  string    `json:"virtual"`
	Physical string    `json:"physical"`
	Page     *pageJSON `json:"page,omitempty"` // vtop: the struct page of the physical page, as crash shows it
}

type addrPairs struct {
	Pairs []addrPair `json:"translations"`
}

func (r addrPairs) Text(w io.Writer, s *Session) error {
	for i, p := range r.Pairs {
		if i == 0 || p.Page != nil {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%-*s  %s\n", s.hexWidth(), "VIRTUAL", "PHYSICAL")
		}
		fmt.Fprintf(w, "%-*s  %s\n", s.hexWidth(), p.Virtual, p.Physical)
		if p.Page != nil {
			fmt.Fprintln(w)
			p.Page.vtopLines(w, s)
		}
	}
	return nil
}

// vtopLines is the struct page under vtop's translation. On 32-bit targets
// crash's vtop spaces the columns by two (memory.c's vtop path), unlike its
// kmem -p; on 64-bit ones both print alike.
func (p pageJSON) vtopLines(w io.Writer, s *Session) {
	if s.hexWidth() != 8 {
		pageHeader(w, s)
		p.line(w, s)
		return
	}
	flags := p.Flags
	if len(p.Names) > 0 {
		flags += " " + strings.Join(p.Names, ",")
	}
	fmt.Fprintf(w, "  PAGE    PHYSICAL   MAPPING    INDEX CNT FLAGS\n%-8s  %8s  %8s  %8s %2d %s\n", p.Page, p.Phys, p.Mapping, p.Index, p.Count, flags)
}

func vtopCmd() *Command {
	return &Command{
		Name:     "vtop",
		Synopsis: "vtop ADDR|SYMBOL ...",
		Summary:  "translate kernel virtual addresses to physical",
		Description: "Translates each kernel virtual address through the kernel's page tables (or the linear map), " +
			"and shows the struct page of the physical page (PAGE, PHYSICAL, MAPPING, INDEX, CNT, FLAGS) as crash does.",
		Examples: []string{"vtop init_task", "vtop ffff888003a8c000"},
		Complete: ArgSymbol,
		Run: func(s *Session, inv *Invocation) (Result, error) {
			if len(inv.Args) == 0 {
				return nil, &UsageError{"vtop", "usage: vtop ADDR|SYMBOL ..."}
			}
			var r addrPairs
			for _, a := range inv.Args {
				va, err := s.resolveAddress(a)
				if err != nil {
					return nil, err
				}
				pa, err := s.K.Trans.Translate(va)
				if err != nil {
					return nil, err
				}
				r.Pairs = append(r.Pairs, addrPair{Virtual: s.addr(va), Physical: fmt.Sprintf("%x", pa), Page: s.pageOfPhys(pa)})
			}
			return r, nil
		},
	}
}

// pageOfPhys is the struct page of pa for display, nil when pa has none.
func (s *Session) pageOfPhys(pa uint64) *pageJSON {
	pp, err := s.K.PageOfPhys(pa)
	if err != nil {
		return nil
	}
	p, err := s.K.ReadPage(pp)
	if err != nil {
		return nil
	}
	j := toPageJSON(p)
	return &j
}

func ptovCmd() *Command {
	return &Command{
		Name:        "ptov",
		Synopsis:    "ptov PHYSADDR ...",
		Summary:     "translate physical addresses to their linear-map kernel virtual address",
		Description: "Prints the kernel's direct-map (linear map) virtual address of each physical address.",
		Examples:    []string{"ptov 1000000"},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			if len(inv.Args) == 0 {
				return nil, &UsageError{"ptov", "usage: ptov PHYSADDR ..."}
			}
			var r addrPairs
			for _, a := range inv.Args {
				pa, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(a), "0x"), 16, 64)
				if err != nil {
					return nil, &UsageError{"ptov", fmt.Sprintf("%q is not a hex physical address", a)}
				}
				va, err := s.K.PhysToVirt(pa)
				if err != nil {
					return nil, err
				}
				r.Pairs = append(r.Pairs, addrPair{Virtual: s.addr(va), Physical: fmt.Sprintf("%x", pa)})
			}
			return r, nil
		},
	}
}
