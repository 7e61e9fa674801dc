package dwarfx

import (
	"fmt"
	"strings"
)

// AST of an expression.
type node interface{ position() int }

type (
	numNode struct {
		pos int
		tok token
	}
	charNode struct {
		pos int
		val uint64
	}
	identNode struct {
		pos  int
		name string
	}
	histNode struct {
		pos int
		n   int64
	}
	memberNode struct {
		pos   int
		x     node
		name  string
		arrow bool
	}
	indexNode struct {
		pos  int
		x, i node
	}
	unaryNode struct {
		pos int
		op  string
		x   node
	}
	castNode struct {
		pos  int
		spec typeSpec
		x    node
	}
	sizeofTypeNode struct {
		pos  int
		spec typeSpec
	}
	sizeofExprNode struct {
		pos int
		x   node
	}
	binaryNode struct {
		pos  int
		op   string
		l, r node
	}
	condNode struct {
		pos     int
		c, a, b node
	}
	perCPUNode struct {
		pos int
		x   node
		cpu node
		ptr bool // per_cpu_ptr: x is a pointer
	}
	containerOfNode struct {
		pos    int
		x      node
		spec   typeSpec
		member string
	}
	offsetofNode struct {
		pos    int
		spec   typeSpec
		member string
	}
)

func (n *numNode) position() int         { return n.pos }
func (n *charNode) position() int        { return n.pos }
func (n *identNode) position() int       { return n.pos }
func (n *histNode) position() int        { return n.pos }
func (n *memberNode) position() int      { return n.pos }
func (n *indexNode) position() int       { return n.pos }
func (n *unaryNode) position() int       { return n.pos }
func (n *castNode) position() int        { return n.pos }
func (n *sizeofTypeNode) position() int  { return n.pos }
func (n *sizeofExprNode) position() int  { return n.pos }
func (n *binaryNode) position() int      { return n.pos }
func (n *condNode) position() int        { return n.pos }
func (n *perCPUNode) position() int      { return n.pos }
func (n *containerOfNode) position() int { return n.pos }
func (n *offsetofNode) position() int    { return n.pos }

const maxDepth = 200

type parser struct {
	expr    string
	toks    []token
	i       int
	isType  func(string) bool
	depth   int
	ternary int
}

// parseExpr parses a whole expression. isType tells whether a bare
// identifier names a type (for casts and sizeof); nil means never.
func parseExpr(expr string, isType func(string) bool) (node, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks, isType: isType}
	if toks[0].kind == tEOF {
		return nil, &ExprError{Expr: expr, Col: 1, Msg: "empty expression"}
	}
	n, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tPunct && t.text == ")" {
			return nil, p.errAt(t, "unbalanced ')'")
		}
		return nil, p.errAt(t, "unexpected %s", t)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isPunct(s string) bool {
	t := p.toks[p.i]
	return t.kind == tPunct && t.text == s
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &ExprError{Expr: p.expr, Col: t.pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) expect(s string) (token, error) {
	t := p.peek()
	if t.kind != tPunct || t.text != s {
		return t, p.errAt(t, "expected '%s', found %s", s, t)
	}
	return p.next(), nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek(), "expression too deeply nested")
	}
	return nil
}

func (p *parser) parseCond() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	c, err := p.parseBinary(1)
	if err != nil {
		return nil, err
	}
	if !p.isPunct("?") {
		return c, nil
	}
	q := p.next()
	p.ternary++
	a, err := p.condThen(":")
	p.ternary--
	if err != nil {
		return nil, err
	}
	b, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	return &condNode{pos: q.pos, c: c, a: a, b: b}, nil
}

var binPrec = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
	"<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

func (p *parser) parseBinary(minPrec int) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tPunct {
			return l, nil
		}
		prec, ok := binPrec[t.text]
		if !ok || prec < minPrec {
			return l, nil
		}
		p.next()
		r, err := p.parseBinary(prec + 1)
		if err != nil {
			return nil, err
		}
		l = &binaryNode{pos: t.pos, op: t.text, l: l, r: r}
	}
}

func (p *parser) parseUnary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.peek()
	if t.kind == tPunct {
		switch t.text {
		case "-", "+", "!", "~", "*", "&":
			p.next()
			x, err := p.parseUnary()
			if err != nil {
				return nil, err
			}
			return &unaryNode{pos: t.pos, op: t.text, x: x}, nil
		case "(":
			if p.i+1 < len(p.toks) && startsTypeName(p.toks, p.i+1, p.isType) {
				p.next()
				spec, j, err := parseTypeName(p.expr, p.toks, p.i)
				if err != nil {
					return nil, err
				}
				p.i = j
				if _, err := p.expect(")"); err != nil {
					return nil, err
				}
				x, err := p.parseUnary()
				if err != nil {
					return nil, err
				}
				return &castNode{pos: t.pos, spec: spec, x: x}, nil
			}
		}
	}
	if t.kind == tIdent && t.text == "sizeof" {
		p.next()
		if p.isPunct("(") && p.i+1 < len(p.toks) && startsTypeName(p.toks, p.i+1, p.isType) {
			p.next()
			spec, j, err := parseTypeName(p.expr, p.toks, p.i)
			if err != nil {
				return nil, err
			}
			p.i = j
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			return &sizeofTypeNode{pos: t.pos, spec: spec}, nil
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &sizeofExprNode{pos: t.pos, x: x}, nil
	}
	return p.parsePostfix()
}

func (p *parser) parsePostfix() (node, error) {
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tPunct {
			return x, nil
		}
		switch t.text {
		case ".", "->":
			p.next()
			n := p.peek()
			if n.kind != tIdent {
				return nil, p.errAt(n, "expected a member name after '%s', found %s", t.text, n)
			}
			p.next()
			x = &memberNode{pos: t.pos, x: x, name: n.text, arrow: t.text == "->"}
		case "[":
			p.next()
			p.ternary++ // a ':' inside brackets is never per-cpu of the outer expression
			i, err := p.condThen("]")
			p.ternary--
			if err != nil {
				return nil, err
			}
			x = &indexNode{pos: t.pos, x: x, i: i}
		case ":":
			// crash's per-cpu suffix: runqueues:1. Not inside ?: .
			if p.ternary > 0 {
				return x, nil
			}
			p.next()
			c := p.peek()
			if c.kind != tNum && c.kind != tHist && !(c.kind == tPunct && c.text == "(") && c.kind != tIdent {
				return nil, p.errAt(c, "expected a cpu number after ':', found %s", c)
			}
			cpu, err := p.parsePrimary()
			if err != nil {
				return nil, err
			}
			x = &perCPUNode{pos: t.pos, x: x, cpu: cpu}
		default:
			return x, nil
		}
	}
}

func (p *parser) parsePrimary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.next()
	switch t.kind {
	case tNum:
		return &numNode{pos: t.pos, tok: t}, nil
	case tChar:
		return &charNode{pos: t.pos, val: t.val}, nil
	case tHist:
		return &histNode{pos: t.pos, n: int64(t.val)}, nil
	case tQuoted:
		return &identNode{pos: t.pos, name: t.text}, nil
	case tIdent:
		if p.isPunct("(") {
			switch t.text {
			case "container_of", "per_cpu", "per_cpu_ptr", "offsetof":
				return p.parseBuiltin(t)
			}
			if !p.isTypeish(t.text) {
				return nil, p.errAt(p.peek(), "function calls are not supported ('%s(...)')", t.text)
			}
		}
		switch t.text {
		case "struct", "union", "enum", "sizeof":
			return nil, p.errAt(t, "unexpected '%s' (a type name is only allowed in a cast or sizeof)", t.text)
		}
		return &identNode{pos: t.pos, name: t.text}, nil
	case tPunct:
		if t.text == "(" {
			return p.condThen(")")
		}
		return nil, p.errAt(t, "unexpected %s", t)
	}
	return nil, p.errAt(t, "unexpected %s", t)
}

func (p *parser) isTypeish(name string) bool { return p.isType != nil && p.isType(name) }

// parseMemberPath reads a member designator: a.b[2].c
func (p *parser) parseMemberPath() (string, error) {
	var b strings.Builder
	t := p.peek()
	if t.kind != tIdent {
		return "", p.errAt(t, "expected a member name, found %s", t)
	}
	b.WriteString(p.next().text)
	for {
		switch {
		case p.isPunct("."):
			p.next()
			n := p.peek()
			if n.kind != tIdent {
				return "", p.errAt(n, "expected a member name after '.', found %s", n)
			}
			b.WriteString("." + p.next().text)
		case p.isPunct("["):
			p.next()
			n := p.peek()
			if n.kind != tNum {
				return "", p.errAt(n, "expected a constant index, found %s", n)
			}
			p.next()
			if _, err := p.expect("]"); err != nil {
				return "", err
			}
			b.WriteString(fmt.Sprintf("[%d]", n.val))
		default:
			return b.String(), nil
		}
	}
}

// condThen parses a conditional expression followed by the token sep.
func (p *parser) condThen(sep string) (node, error) {
	x, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(sep); err != nil {
		return nil, err
	}
	return x, nil
}

// parseTypeMember parses "TYPE, MEMBER-PATH)", the tail of offsetof and
// container_of.
func (p *parser) parseTypeMember() (typeSpec, string, error) {
	spec, j, err := parseTypeName(p.expr, p.toks, p.i)
	if err != nil {
		return typeSpec{}, "", err
	}
	p.i = j
	if _, err := p.expect(","); err != nil {
		return typeSpec{}, "", err
	}
	m, err := p.parseMemberPath()
	if err != nil {
		return typeSpec{}, "", err
	}
	if _, err := p.expect(")"); err != nil {
		return typeSpec{}, "", err
	}
	return spec, m, nil
}

func (p *parser) parseBuiltin(name token) (node, error) {
	p.next() // (
	switch name.text {
	case "container_of":
		x, err := p.condThen(",")
		if err != nil {
			return nil, err
		}
		spec, m, err := p.parseTypeMember()
		if err != nil {
			return nil, err
		}
		return &containerOfNode{pos: name.pos, x: x, spec: spec, member: m}, nil
	case "offsetof":
		spec, m, err := p.parseTypeMember()
		if err != nil {
			return nil, err
		}
		return &offsetofNode{pos: name.pos, spec: spec, member: m}, nil
	default: // per_cpu, per_cpu_ptr
		x, err := p.condThen(",")
		if err != nil {
			return nil, err
		}
		cpu, err := p.condThen(")")
		if err != nil {
			return nil, err
		}
		return &perCPUNode{pos: name.pos, x: x, cpu: cpu, ptr: name.text == "per_cpu_ptr"}, nil
	}
}
