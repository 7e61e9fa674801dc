package repl

import (
	"debug/dwarf"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// gdbPrinter renders decoded values the way crash's embedded gdb prints
// them (print pretty on, repeats never, 256 elements): what users read from
// p, struct, union and task.
type gdbPrinter struct {
	radix int // 10 or 16
	// symbol names an address in the kernel image: gdb's <sym+off>.
	symbol func(addr uint64) (string, uint64, bool)
	b      strings.Builder
}

func newGDBPrinter(s *Session, radix int) *gdbPrinter {
	if radix == 0 {
		radix = s.Vars.Radix
	}
	return &gdbPrinter{radix: radix, symbol: s.kernelSymbol}
}

// kernelSymbol names addr if it lies in the kernel image (gdb's "print
// symbol" only finds minimal symbols there; per-cpu offsets, the direct map
// and vmalloc addresses stay bare).
func (s *Session) kernelSymbol(addr uint64) (string, uint64, bool) {
	if addr == 0 || !s.K.Image.InKernelImage(addr) {
		return "", 0, false
	}
	sym, off, ok := s.K.Image.SymbolAt(addr)
	if !ok {
		return "", 0, false
	}
	return sym.Name, off, true
}

func (p *gdbPrinter) String() string { return p.b.String() }

func (p *gdbPrinter) indent(depth int) { p.b.WriteString(strings.Repeat("  ", depth)) }

// top renders n as gdb's print does for a whole expression: pointers get a
// "(type) " prefix and functions "{type} ".
func (p *gdbPrinter) top(n *vnode) {
	if n.Err == nil {
		switch n.Kind {
		case vkPtr:
			if !n.CharPtr {
				p.b.WriteString("(" + gdbType(n.Type) + ") ")
			}
		case vkFunc:
			p.b.WriteString("{" + gdbType(n.Type) + "} ")
			if n.HasAddr {
				fmt.Fprintf(&p.b, "%#x", n.Addr)
				p.symbolSuffix(n.Addr)
			}
			return
		}
	}
	p.value(n, 0)
}

// value renders n at nesting depth (its members go at depth+1).
func (p *gdbPrinter) value(n *vnode, depth int) {
	if n.Err != nil {
		p.b.WriteString(gdbError(n))
		return
	}
	switch n.Kind {
	case vkStruct:
		p.structBody(n, depth)
	case vkArray:
		p.array(n, depth)
	case vkString:
		if n.Count == 0 && n.HasAddr {
			// A flexible char array (u8 extended_state_area[]): gdb shows
			// its address, then the (empty) string.
			fmt.Fprintf(&p.b, "%#x ", n.Addr)
		}
		p.b.WriteString(gdbCharArray(n.Str, n.Count))
	case vkPtr:
		p.pointer(n)
	case vkBool:
		switch n.U {
		case 0:
			p.b.WriteString("false")
		case 1:
			p.b.WriteString("true")
		default:
			p.integer(n)
		}
	case vkChar:
		p.integer(n)
		p.b.WriteString(" " + gdbCharLiteral(byte(n.U)))
	case vkEnum:
		p.enum(n)
	case vkFloat:
		p.b.WriteString(strconv.FormatFloat(n.F, 'g', -1, 64))
	case vkFunc:
		p.b.WriteString("{" + gdbType(n.Type) + "}")
		if n.HasAddr {
			fmt.Fprintf(&p.b, " %#x", n.Addr)
			p.symbolSuffix(n.Addr)
		}
	case vkOther:
		fmt.Fprintf(&p.b, "0x%x", n.Str)
	default:
		p.integer(n)
	}
}

func gdbError(n *vnode) string {
	var me memErr
	if e, ok := n.Err.(memErr); ok {
		me = e
		return "<error: " + me.Error() + ">"
	}
	return "<error: " + n.Err.Error() + ">"
}

// integer prints a scalar in the radix: negative values are decimal with a
// sign, or two's complement of the value's width in hex.
func (p *gdbPrinter) integer(n *vnode) {
	if n.Wide != nil {
		if p.radix == 16 {
			p.b.WriteString("0x" + wideUnsigned(n).Text(16))
		} else {
			p.b.WriteString(n.Wide.String())
		}
		return
	}
	if p.radix == 16 {
		v := n.U
		if n.Bits > 0 && n.Bits < 64 {
			v &= 1<<n.Bits - 1
		}
		fmt.Fprintf(&p.b, "%#x", v)
		return
	}
	if n.Signed {
		p.b.WriteString(strconv.FormatInt(int64(n.U), 10))
	} else {
		p.b.WriteString(strconv.FormatUint(n.U, 10))
	}
}

func (p *gdbPrinter) enum(n *vnode) {
	if et, ok := dwarfx.Strip(n.Type).(*dwarf.EnumType); ok {
		for _, ev := range et.Val {
			if ev.Val == int64(n.U) {
				p.b.WriteString(ev.Name)
				return
			}
		}
	}
	p.integer(n)
}

func (p *gdbPrinter) pointer(n *vnode) {
	fmt.Fprintf(&p.b, "%#x", n.U)
	if n.U == 0 {
		return
	}
	if n.CharPtr {
		switch {
		case n.StrOK:
			p.b.WriteString(" " + gdbQuote(n.Str[:min(len(n.Str), printMax)]))
			if len(n.Str) > printMax {
				p.b.WriteString("...")
			}
		case n.StrErr != nil:
			p.b.WriteString(" <error: " + n.StrErr.Error() + ">")
		}
		return
	}
	p.symbolSuffix(n.U)
}

func (p *gdbPrinter) symbolSuffix(addr uint64) {
	if name, off, ok := p.symbol(addr); ok {
		if off == 0 {
			fmt.Fprintf(&p.b, " <%s>", name)
		} else {
			fmt.Fprintf(&p.b, " <%s+%d>", name, off)
		}
	}
}

// structBody prints "{\n  member = value,\n ...\n}" with members at depth+1.
func (p *gdbPrinter) structBody(n *vnode, depth int) {
	if len(n.Kids) == 0 {
		p.b.WriteString("{<No data fields>}")
		return
	}
	p.b.WriteString("{\n")
	for i, k := range n.Kids {
		p.member(k, depth+1)
		if i < len(n.Kids)-1 {
			p.b.WriteString(",")
		}
		p.b.WriteString("\n")
	}
	p.indent(depth)
	p.b.WriteString("}")
}

// member prints "name = value" (or a bare block for an anonymous member)
// at depth, without the separator.
func (p *gdbPrinter) member(k *vnode, depth int) {
	p.indent(depth)
	if !k.Anon {
		p.b.WriteString(k.Name + " = ")
	}
	p.value(k, depth)
}

// array prints {a, b, ...}; arrays of structs nest one level deeper, as
// gdb's {{\n      a = 1\n    }, {...}}.
func (p *gdbPrinter) array(n *vnode, depth int) {
	if len(n.Kids) == 0 {
		if n.Count == 0 && n.HasAddr {
			// gdb shows a flexible array member as its address.
			fmt.Fprintf(&p.b, "%#x", n.Addr)
			return
		}
		p.b.WriteString("{}")
		return
	}
	p.b.WriteString("{")
	for i, k := range n.Kids {
		if i > 0 {
			p.b.WriteString(", ")
		}
		d := depth
		if k.Kind == vkStruct || k.Kind == vkArray {
			d = depth + 1
		}
		p.value(k, d)
	}
	if n.truncated() {
		p.b.WriteString("...")
	}
	p.b.WriteString("}")
}

// gdbCharArray renders a char array as crash's gdb does: every element,
// NULs as \000, except that one trailing NUL is dropped; at most printMax
// characters, then "...". count is the array's length (b may be cut).
func gdbCharArray(b []byte, count int64) string {
	if int64(len(b)) == count && len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	s := gdbQuote(b[:min(len(b), printMax)])
	if len(b) > printMax {
		s += "..."
	}
	return s
}

// gdbQuote quotes bytes as a C string with gdb's escapes (octal for
// others). A digit right after an octal escape is escaped too, as gdb's
// print_wchar does (need_escape), or "\000" "0" would read as "\0000".
func gdbQuote(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	octal := false
	for _, c := range b {
		e := gdbEscape(c, '"')
		if octal && c >= '0' && c <= '9' {
			e = fmt.Sprintf(`\%03o`, c)
		}
		octal = len(e) == 4 && e[0] == '\\' && e[1] >= '0' && e[1] <= '7'
		sb.WriteString(e)
	}
	sb.WriteByte('"')
	return sb.String()
}

func gdbCharLiteral(c byte) string { return "'" + gdbEscape(c, '\'') + "'" }

func gdbEscape(c byte, quote byte) string {
	switch c {
	case '\n':
		return `\n`
	case '\t':
		return `\t`
	case '\r':
		return `\r`
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\v':
		return `\v`
	case 033:
		return `\033`
	case '\\':
		return `\\`
	case quote:
		return `\` + string(quote)
	}
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf(`\%03o`, c)
	}
	return string(c)
}

// wideUnsigned is n.Wide as the unsigned bit pattern (for hex).
func wideUnsigned(n *vnode) *big.Int {
	if n.Wide.Sign() >= 0 {
		return n.Wide
	}
	return new(big.Int).Add(n.Wide, new(big.Int).Lsh(big.NewInt(1), uint(n.Bits)))
}
