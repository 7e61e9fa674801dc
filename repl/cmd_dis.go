package repl

import (
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/disasm"
	"github.com/kinspect/kinspect/dwarfx"
)

// ---- dis ----

const disUsage = "usage: dis [-l] [-r|-f] ADDR|FUNC [COUNT]"

// disMaxCount bounds COUNT and the size of a function listing.
const disMaxCount = 1 << 16

type disResult struct {
	Insts []disInst
	lines bool
}

// disInst is one instruction; --json gives an array of these.
type disInst struct {
	Address  string `json:"address"`
	Symbol   string `json:"symbol,omitempty"` // the function holding the instruction
	Offset   uint64 `json:"offset"`           // from Symbol
	Bytes    string `json:"bytes"`            // hex, in memory order
	Mnemonic string `json:"mnemonic"`
	Operands string `json:"operands"`
	// Target is a branch target or PC-relative address, TargetSymbol its symbol+offset.
	Target       string `json:"target,omitempty"`
	TargetSymbol string `json:"target_symbol,omitempty"`
	File         string `json:"file,omitempty"` // with -l
	Line         int    `json:"line,omitempty"`
	text         string
	label        string
}

func (r disResult) MarshalJSON() ([]byte, error) {
	if r.Insts == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(r.Insts)
}

func (r disResult) Text(w io.Writer, s *Session) error {
	lastFile, lastLine := "", 0
	for _, in := range r.Insts {
		if r.lines && in.File != "" && (in.File != lastFile || in.Line != lastLine) {
			fmt.Fprintf(w, "%s: %d\n", in.File, in.Line)
			lastFile, lastLine = in.File, in.Line
		}
		// crash prints gdb's listing: the label, a colon and a tab.
		if in.label == "" {
			fmt.Fprintf(w, "%s:\t%s\n", in.Address, in.text)
		} else {
			fmt.Fprintf(w, "%s %s:\t%s\n", in.Address, in.label, in.text)
		}
	}
	return nil
}

func disCmd() *Command {
	return &Command{
		Name:     "dis",
		Synopsis: "dis [-l] [-r|-f] ADDR|FUNC [COUNT]",
		Summary:  "disassemble kernel text (x86-64, arm64, ARM)",
		Description: "Disassembles COUNT instructions (default 1) at ADDR, or the whole of FUNC when a " +
			"function name is given without COUNT (its size comes from the symbol table). -r lists " +
			"from the start of the function containing ADDR up to and including ADDR; -f from ADDR " +
			"to the end of its function. -l shows the source file and line before the instructions " +
			"of each line. The bytes are read from the dump, so the listing shows the text as the " +
			"kernel ran it (alternatives and static keys patched). Branch targets and PC-relative " +
			"operands are shown with their symbol, <sym+off>. x86-64 is printed in AT&T syntax, arm64 " +
			"and ARM in GNU syntax, as objdump and crash print them. Instructions the decoders " +
			"(golang.org/x/arch) do not implement show as .inst (ARM coprocessor and status-register " +
			"instructions, arm64 LSE atomics); Thumb-2 code cannot be disassembled.",
		Examples: []string{"dis schedule", "dis -l schedule 10", "dis -r schedule+0x20", "dis -f ffffffff81a3c2d0"},
		Flags: []Flag{
			{Short: "l", Help: "show source file and line numbers"},
			{Short: "r", Help: "reverse: from the function's start up to and including ADDR"},
			{Short: "f", Help: "forward: from ADDR to the end of its function"},
		},
		Complete: ArgSymbol,
		Run:      runDis,
	}
}

func runDis(s *Session, inv *Invocation) (Result, error) {
	if len(inv.Args) == 0 || len(inv.Args) > 2 {
		return nil, &UsageError{"dis", disUsage}
	}
	if inv.Has("r") && inv.Has("f") {
		return nil, &UsageError{"dis", "-r and -f exclude each other"}
	}
	count := 0
	if len(inv.Args) == 2 {
		if inv.Has("r") || inv.Has("f") {
			return nil, &UsageError{"dis", "-r and -f list to a function boundary and take no COUNT"}
		}
		n, err := strconv.ParseUint(inv.Args[1], 0, 31)
		if err != nil || n == 0 {
			return nil, &UsageError{"dis", fmt.Sprintf("count %q is not a positive number", inv.Args[1])}
		}
		if n > disMaxCount {
			return nil, &UsageError{"dis", fmt.Sprintf("count too large (at most %d instructions)", disMaxCount)}
		}
		count = int(n)
	}
	arch := disasm.Arch(s.K.Arch)
	if !disasm.Supported(arch) {
		return nil, fmt.Errorf("no disassembler for %s", s.K.Arch)
	}
	im := s.K.Image

	// The start address, and the function when the argument names one.
	arg := inv.Args[0]
	var addr uint64
	sym, named := im.Lookup(arg)
	if named {
		if !isFunction(im, sym) {
			return nil, fmt.Errorf("%s is not a function (symbol type %c)", arg, sym.Kind)
		}
		addr = sym.Addr
	} else if a, ok := symPlusOffset(im, arg); ok {
		addr = a
	} else {
		a, err := s.resolveAddress(arg)
		if err != nil {
			if isIdentifier(arg) {
				return nil, fmt.Errorf("%s: no such symbol", arg)
			}
			return nil, err
		}
		addr = a
	}
	// 32-bit ARM marks Thumb functions with the low bit of the symbol;
	// elsewhere an odd address is a real one (module functions need not
	// be aligned).
	entry := func(a uint64) uint64 {
		if arch == disasm.ARM || arch == disasm.Thumb {
			return a &^ 1
		}
		return a
	}
	thumb := func(fn dwarfx.Symbol) {
		if arch == disasm.ARM && fn.Addr&1 != 0 {
			arch = disasm.Thumb
		}
	}
	if named {
		thumb(sym)
		addr = entry(addr)
	} else if fn, err := disFunction(im, addr); err == nil {
		thumb(fn) // an address inside a Thumb function
	}

	var start, end uint64 // [start, end): the bytes to decode
	limit := 0            // instruction limit (0: up to end)
	switch {
	case inv.Has("r") || inv.Has("f"):
		fn, err := disFunction(im, addr)
		if err != nil {
			return nil, err
		}
		thumb(fn)
		if inv.Has("r") {
			start, end = entry(fn.Addr), addr+1
		} else {
			start, end = addr, entry(fn.Addr)+fn.Size
		}
	case named && count == 0:
		if sym.Size == 0 {
			return nil, fmt.Errorf("%s has no size in the symbol table: give a COUNT", arg)
		}
		start, end = addr, entry(sym.Addr)+sym.Size
	default:
		limit = max(count, 1)
		start, end = addr, addr+uint64(limit*disasm.MaxLen(arch))
	}
	if end-start > disMaxCount*uint64(disasm.MaxLen(arch)) {
		return nil, fmt.Errorf("%#x-%#x is too large to disassemble", start, end)
	}

	// -r decodes from the function start through the instruction holding
	// ADDR, which may end past ADDR: read up to one instruction more.
	readEnd := end
	if inv.Has("r") {
		readEnd = end - 1 + uint64(disasm.MaxLen(arch))
	}
	code, readErr := readText(s, start, readEnd-start)
	if len(code) == 0 && readErr != nil {
		return nil, readErr
	}
	insts, used, err := disasm.DecodeAll(arch, code, start, limit)
	if err != nil {
		if errors.Is(err, disasm.ErrThumb) {
			return nil, fmt.Errorf("%#x is Thumb code: %w", start, err)
		}
		return nil, err
	}
	if inv.Has("r") {
		for i, in := range insts {
			if in.Addr+uint64(in.Len) > addr {
				insts = insts[:i+1]
				break
			}
		}
	}
	// Stopped short of what was asked because memory was unreadable?
	if readErr != nil {
		short := (limit > 0 && len(insts) < limit) || (limit == 0 && start+uint64(used) < end)
		if short {
			return nil, readErr
		}
	}
	if limit == 0 && !inv.Has("r") {
		// Keep only instructions starting inside [start, end).
		for len(insts) > 0 && insts[len(insts)-1].Addr >= end {
			insts = insts[:len(insts)-1]
		}
	}

	symz := s.disSymbolizer()
	r := disResult{lines: inv.Has("l")}
	for _, in := range insts {
		d := disInst{
			Address:  fmt.Sprintf("0x%0*x", s.hexWidth(), in.Addr),
			Bytes:    hex.EncodeToString(in.Bytes),
			Mnemonic: in.Mnemonic,
			Operands: in.Operands,
			text:     in.Text(symz),
		}
		if name, off, ok := symz(in.Addr); ok {
			d.Symbol, d.Offset = name, off
			d.label = "<" + disasm.SymbolText(symz, in.Addr) + ">"
		}
		if in.Kind != disasm.NoTarget {
			d.Target = fmt.Sprintf("%#x", in.Target)
			d.TargetSymbol = in.TargetSymbol(symz)
		}
		if r.lines {
			d.File, d.Line, _ = im.LineAt(in.Addr)
		}
		r.Insts = append(r.Insts, d)
	}
	return r, nil
}

// disFunction is the function (text symbol with a size) containing addr.
func disFunction(im *dwarfx.Image, addr uint64) (dwarfx.Symbol, error) {
	sym, off, ok := im.SymbolAt(addr)
	if !ok || !isFunction(im, sym) || sym.Size == 0 || off >= sym.Size {
		// A Thumb symbol's address has its low bit set.
		if s2, off2, ok2 := im.SymbolAt(addr | 1); ok2 && isFunction(im, s2) && s2.Addr&1 != 0 && off2 < s2.Size {
			return s2, nil
		}
		return dwarfx.Symbol{}, fmt.Errorf("%#x is not in any function of the symbol table", addr)
	}
	return sym, nil
}

// isFunction: a text symbol, or a weak one (W) defined in the kernel's text.
func isFunction(im *dwarfx.Image, sym dwarfx.Symbol) bool {
	return sym.IsText() || (sym.Kind == 'W' && im.InText(sym.Addr))
}

// disSymbolizer names addresses within the kernel image and the loaded
// modules, as crash does.
func (s *Session) disSymbolizer() disasm.Symbolizer {
	im := s.K.Image
	lo, hi, zeroBased := im.PerCPURange()
	return func(a uint64) (string, uint64, bool) {
		// x86-64 per-cpu variables are offsets (%gs:sym) below the image.
		perCPU := zeroBased && a >= lo && a < hi
		if !im.InLoadedCode(a) && !perCPU {
			return "", 0, false
		}
		sym, off, ok := im.SymbolAt(a)
		if !ok {
			return "", 0, false
		}
		return sym.Name, off, true
	}
}

// readText reads n bytes of kernel virtual memory at addr, a page at a
// time. It returns the bytes read before the first unreadable page and,
// if it stopped early, an error naming that address.
func readText(s *Session, addr, n uint64) ([]byte, error) {
	const page = 4096
	buf := make([]byte, 0, n)
	for uint64(len(buf)) < n {
		a := addr + uint64(len(buf))
		chunk := min(n-uint64(len(buf)), page-a%page)
		p := make([]byte, chunk)
		if err := s.K.ReadVirt(p, a); err != nil {
			return buf, fmt.Errorf("cannot read kernel text at %#x: %w", a, err)
		}
		buf = append(buf, p...)
	}
	return buf, nil
}

// isIdentifier reports whether arg is a plain C identifier (a would-be
// symbol name rather than an expression or a number).
func isIdentifier(arg string) bool {
	for i, c := range arg {
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(i > 0 && (c >= '0' && c <= '9' || c == '.')) {
			return false
		}
	}
	return arg != ""
}

// symPlusOffset resolves "SYM+OFF" (OFF decimal or 0x hex) from the ELF
// symbol's address, as crash does. (An expression would take a function's
// address from DWARF, which is not the symbol's when the kernel is built
// with -fpatchable-function-entry: arm64 puts NOPs before DW_AT_low_pc.)
func symPlusOffset(im *dwarfx.Image, arg string) (uint64, bool) {
	i := strings.LastIndexAny(arg, "+-")
	if i <= 0 {
		return 0, false
	}
	name, offText := strings.TrimSpace(arg[:i]), strings.TrimSpace(arg[i+1:])
	off, err := strconv.ParseUint(offText, 0, 64)
	if err != nil || !isIdentifier(name) {
		return 0, false
	}
	sym, ok := im.Lookup(name)
	if !ok {
		return 0, false
	}
	base := sym.Addr
	if im.Machine() == elf.EM_ARM {
		base &^= 1 // the Thumb bit
	}
	if arg[i] == '-' {
		return base - off, true
	}
	return base + off, true
}
