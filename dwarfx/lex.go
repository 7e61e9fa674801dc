package dwarfx

import (
	"fmt"
	"strconv"
	"strings"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // identifier or keyword
	tNum            // integer literal
	tChar           // character literal (val holds the value)
	tPunct          // operator or punctuation
	tHist           // $N, $, $$, $$N (val holds N, 0, -1, -N)
	tQuoted         // 'symbol.with.dots' (text holds the name)
)

type token struct {
	kind     tokKind
	text     string // source text (punctuation, identifier, literal)
	pos      int    // byte offset in the expression
	val      uint64 // numbers, chars, history index
	unsigned bool   // numeric literal with a U suffix
	long     int    // number of L suffixes
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	default:
		return "'" + t.text + "'"
	}
}

// ExprError is an error in an expression, naming the column (1-based) where
// it was found.
type ExprError struct {
	Expr string
	Col  int // 1-based column; 0 if unknown
	Msg  string
	Err  error // underlying cause (a memory read failure, ...), may be nil
}

func (e *ExprError) Error() string {
	s := e.Msg
	if e.Col > 0 {
		s = fmt.Sprintf("%s at column %d", s, e.Col)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ExprError) Unwrap() error { return e.Err }

// lex splits expr into tokens. It is the expression reader's hot switch,
// one case per lexical class, kept whole on purpose.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	errAt := func(pos int, format string, args ...any) error {
		return &ExprError{Expr: expr, Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
	}
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(expr) && isIdentChar(expr[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: expr[i:j], pos: i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			base := 10
			if c == '0' && j+1 < len(expr) && (expr[j+1] == 'x' || expr[j+1] == 'X') {
				base = 16
				j += 2
			} else if c == '0' && j+1 < len(expr) && (expr[j+1] == 'b' || expr[j+1] == 'B') && j+2 < len(expr) && (expr[j+2] == '0' || expr[j+2] == '1') {
				base = 2
				j += 2
			}
			ds := j
			for j < len(expr) && isDigit(expr[j], base) {
				j++
			}
			digits := expr[ds:j]
			if digits == "" {
				return nil, errAt(i, "malformed number '%s'", expr[i:min(j+1, len(expr))])
			}
			t := token{kind: tNum, pos: i}
			for j < len(expr) {
				switch expr[j] {
				case 'u', 'U':
					t.unsigned = true
					j++
					continue
				case 'l', 'L':
					t.long++
					j++
					continue
				}
				break
			}
			if j < len(expr) && isIdentChar(expr[j]) {
				k := j
				for k < len(expr) && isIdentChar(expr[k]) {
					k++
				}
				return nil, errAt(i, "malformed number '%s'", expr[i:k])
			}
			v, err := strconv.ParseUint(digits, base, 64)
			if err != nil {
				return nil, errAt(i, "number '%s' out of range", expr[i:j])
			}
			t.val, t.text = v, expr[i:j]
			toks = append(toks, t)
			i = j
		case c == '\'':
			// 'c', '\n', '\x41', '\0' are characters; 'name.with.dots' quotes a symbol.
			j := strings.IndexByte(expr[i+1:], '\'')
			if j < 0 {
				return nil, errAt(i, "unterminated quote")
			}
			body := expr[i+1 : i+1+j]
			if body == "\\" { // '\''
				if i+1+j+1 < len(expr) && expr[i+1+j+1] == '\'' {
					toks = append(toks, token{kind: tChar, text: expr[i : i+j+3], pos: i, val: '\''})
					i += j + 3
					continue
				}
			}
			if v, ok := charValue(body); ok {
				toks = append(toks, token{kind: tChar, text: expr[i : i+j+2], pos: i, val: v})
			} else if body == "" {
				return nil, errAt(i, "empty character constant")
			} else {
				toks = append(toks, token{kind: tQuoted, text: body, pos: i})
			}
			i += j + 2
		case c == '$':
			// $N is history entry N; $ the last value, $$ the one before,
			// $$N the Nth before the last (gdb). val holds N, 0 or -N.
			j := i + 1
			neg := false
			if j < len(expr) && expr[j] == '$' {
				neg = true
				j++
			}
			ds := j
			for j < len(expr) && expr[j] >= '0' && expr[j] <= '9' {
				j++
			}
			var n int64
			if j > ds {
				v, err := strconv.ParseUint(expr[ds:j], 10, 31)
				if err != nil {
					return nil, errAt(i, "bad history reference '%s'", expr[i:j])
				}
				n = int64(v)
			} else if neg {
				n = 1
			}
			if neg {
				n = -n
			}
			toks = append(toks, token{kind: tHist, text: expr[i:j], pos: i, val: uint64(n)})
			i = j
		default:
			if i+1 < len(expr) {
				switch two := expr[i : i+2]; two {
				case "->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||":
					toks = append(toks, token{kind: tPunct, text: two, pos: i})
					i += 2
					continue
				}
			}
			if strings.IndexByte(".[](),:*/%+-&^|~!<>?", c) >= 0 {
				toks = append(toks, token{kind: tPunct, text: expr[i : i+1], pos: i})
				i++
				continue
			}
			return nil, errAt(i, "unexpected character %q", string(rune(c)))
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(expr)})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isDigit(c byte, base int) bool {
	switch base {
	case 16:
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	case 2:
		return c == '0' || c == '1'
	}
	return c >= '0' && c <= '9'
}

// charValue decodes the body of a character literal.
func charValue(b string) (uint64, bool) {
	switch {
	case len(b) == 1 && b[0] != '\\':
		return uint64(b[0]), true
	case len(b) == 2 && b[0] == '\\':
		switch b[1] {
		case 'n':
			return '\n', true
		case 't':
			return '\t', true
		case 'r':
			return '\r', true
		case '0':
			return 0, true
		case 'a':
			return 7, true
		case 'b':
			return 8, true
		case 'f':
			return 12, true
		case 'v':
			return 11, true
		case 'e':
			return 27, true
		case '\\', '\'', '"', '?':
			return uint64(b[1]), true
		}
	case len(b) >= 3 && b[0] == '\\' && b[1] == 'x':
		v, err := strconv.ParseUint(b[2:], 16, 8)
		return v, err == nil
	case len(b) >= 2 && len(b) <= 4 && b[0] == '\\' && b[1] >= '0' && b[1] <= '7':
		v, err := strconv.ParseUint(b[1:], 8, 8)
		return v, err == nil
	}
	return 0, false
}
