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
			"and ARM in GNU syntax, as objdump and crash print them. The decoders are golang.org/x/arch's, " +
			"with a small supplement for the families it lacks (arm64 LSE atomics, ARM coprocessor and " +
			"status-register instructions); words neither decodes show as .inst. Thumb-2 code cannot " +
			"be disassembled.",
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
	count, err := disCount(inv)
	if err != nil {
		return nil, err
	}
	arch := disasm.Arch(s.K.Arch)
	if !disasm.Supported(arch) {
		return nil, fmt.Errorf("no disassembler for %s", s.K.Arch)
	}
	t, err := s.disTarget(inv.Args[0], arch)
	if err != nil {
		return nil, err
	}
	sp, err := t.span(s.K.Image, inv, count)
	if err != nil {
		return nil, err
	}
	insts, err := sp.decode(s, inv.Has("r"), t.addr)
	if err != nil {
		return nil, err
	}
	return s.disResultOf(insts, inv.Has("l")), nil
}

// disCount checks dis's arguments and returns its COUNT (0: none).
func disCount(inv *Invocation) (int, error) {
	if len(inv.Args) == 0 || len(inv.Args) > 2 {
		return 0, &UsageError{"dis", disUsage}
	}
	if inv.Has("r") && inv.Has("f") {
		return 0, &UsageError{"dis", "-r and -f exclude each other"}
	}
	if len(inv.Args) < 2 {
		return 0, nil
	}
	if inv.Has("r") || inv.Has("f") {
		return 0, &UsageError{"dis", "-r and -f list to a function boundary and take no COUNT"}
	}
	n, err := strconv.ParseUint(inv.Args[1], 0, 31)
	if err != nil || n == 0 {
		return 0, &UsageError{"dis", fmt.Sprintf("count %q is not a positive number", inv.Args[1])}
	}
	if n > disMaxCount {
		return 0, &UsageError{"dis", fmt.Sprintf("count too large (at most %d instructions)", disMaxCount)}
	}
	return int(n), nil
}

// disTarget is what dis's argument names: the start address, and the
// function symbol when the argument names one.
type disTarget struct {
	arg   string
	addr  uint64
	sym   dwarfx.Symbol
	named bool
	arch  disasm.Arch
}

func (s *Session) disTarget(arg string, arch disasm.Arch) (*disTarget, error) {
	im := s.K.Image
	t := &disTarget{arg: arg, arch: arch}
	t.sym, t.named = im.Lookup(arg)
	if t.named {
		if !isFunction(im, t.sym) {
			return nil, fmt.Errorf("%s is not a function (symbol type %c)", arg, t.sym.Kind)
		}
		t.thumb(t.sym)
		t.addr = t.entry(t.sym.Addr)
		return t, nil
	}
	if a, ok := symPlusOffset(im, arg); ok {
		t.addr = a
	} else {
		a, err := s.resolveAddress(arg)
		if err != nil {
			if isIdentifier(arg) {
				return nil, fmt.Errorf("%s: no such symbol", arg)
			}
			return nil, err
		}
		t.addr = a
	}
	if fn, err := disFunction(im, t.addr); err == nil {
		t.thumb(fn) // an address inside a Thumb function
	}
	return t, nil
}

// thumb switches to Thumb when fn is one: 32-bit ARM marks Thumb functions
// with the low bit of the symbol.
func (t *disTarget) thumb(fn dwarfx.Symbol) {
	if t.arch == disasm.ARM && fn.Addr&1 != 0 {
		t.arch = disasm.Thumb
	}
}

// entry is a function's first instruction: 32-bit ARM marks Thumb
// functions with the low bit of the symbol; elsewhere an odd address is a
// real one (module functions need not be aligned).
func (t *disTarget) entry(a uint64) uint64 {
	if t.arch == disasm.ARM || t.arch == disasm.Thumb {
		return a &^ 1
	}
	return a
}

// disSpan is the bytes to decode, [start, end), and the instruction limit
// (0: up to end).
type disSpan struct {
	arch       disasm.Arch
	start, end uint64
	limit      int
}

func (t *disTarget) span(im *dwarfx.Image, inv *Invocation, count int) (*disSpan, error) {
	addr := t.addr
	switch {
	case inv.Has("r") || inv.Has("f"):
		fn, err := disFunction(im, addr)
		if err != nil {
			return nil, err
		}
		t.thumb(fn)
		if inv.Has("r") {
			return t.checked(t.entry(fn.Addr), addr+1, 0)
		}
		return t.checked(addr, t.entry(fn.Addr)+fn.Size, 0)
	case t.named && count == 0:
		if t.sym.Size == 0 {
			return nil, fmt.Errorf("%s has no size in the symbol table: give a COUNT", t.arg)
		}
		return t.checked(addr, t.entry(t.sym.Addr)+t.sym.Size, 0)
	default:
		limit := max(count, 1)
		return t.checked(addr, addr+uint64(limit*disasm.MaxLen(t.arch)), limit)
	}
}

func (t *disTarget) checked(start, end uint64, limit int) (*disSpan, error) {
	if end-start > disMaxCount*uint64(disasm.MaxLen(t.arch)) {
		return nil, fmt.Errorf("%#x-%#x is too large to disassemble", start, end)
	}
	return &disSpan{arch: t.arch, start: start, end: end, limit: limit}, nil
}

// decode reads and decodes the span; toAddr (-r) keeps the instructions
// through the one holding addr.
func (sp *disSpan) decode(s *Session, toAddr bool, addr uint64) ([]disasm.Inst, error) {
	// -r decodes from the function start through the instruction holding
	// ADDR, which may end past ADDR: read up to one instruction more.
	readEnd := sp.end
	if toAddr {
		readEnd = sp.end - 1 + uint64(disasm.MaxLen(sp.arch))
	}
	code, readErr := readText(s, sp.start, readEnd-sp.start)
	if len(code) == 0 && readErr != nil {
		return nil, readErr
	}
	insts, used, err := disasm.DecodeAll(sp.arch, code, sp.start, sp.limit)
	if err != nil {
		if errors.Is(err, disasm.ErrThumb) {
			return nil, fmt.Errorf("%#x is Thumb code: %w", sp.start, err)
		}
		return nil, err
	}
	if toAddr {
		for i, in := range insts {
			if in.Addr+uint64(in.Len) > addr {
				insts = insts[:i+1]
				break
			}
		}
	}
	// Stopped short of what was asked because memory was unreadable?
	if readErr != nil {
		short := (sp.limit > 0 && len(insts) < sp.limit) || (sp.limit == 0 && sp.start+uint64(used) < sp.end)
		if short {
			return nil, readErr
		}
	}
	if sp.limit == 0 && !toAddr {
		// Keep only instructions starting inside [start, end).
		for len(insts) > 0 && insts[len(insts)-1].Addr >= sp.end {
			insts = insts[:len(insts)-1]
		}
	}
	return insts, nil
}

// disResultOf symbolizes the instructions (and their source lines, -l).
func (s *Session) disResultOf(insts []disasm.Inst, lines bool) disResult {
	symz := s.disSymbolizer()
	r := disResult{lines: lines}
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
		if lines {
			d.File, d.Line, _ = s.K.Image.LineAt(in.Addr)
		}
		r.Insts = append(r.Insts, d)
	}
	return r
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
