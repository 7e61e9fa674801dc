package repl

import (
	"fmt"
	"strings"
)

// segment is one command of a line, with its output redirection.
type segment struct {
	text   string // the command and its arguments
	pipe   string // shell pipeline after '|', or ""
	file   string // file after '>' or '>>', or ""
	append bool   // '>>'
	shell  string // for "!cmd": the shell command
}

// splitLine splits a line into commands on ';' outside quotes and
// parentheses, and peels off each command's "| pipeline" or "> file".
// Quotes are kept in the text; tokenize removes them later.
func splitLine(line string) ([]segment, error) {
	// As in crash, a line starting with '!' belongs to the shell whole,
	// ';' and '|' included.
	if t := strings.TrimSpace(line); strings.HasPrefix(t, "!") {
		return []segment{{shell: strings.TrimSpace(t[1:])}}, nil
	}
	var segs []segment
	for _, part := range splitOutside(line, ';') {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.HasPrefix(part, "!") {
			segs = append(segs, segment{shell: strings.TrimSpace(part[1:])})
			continue
		}
		seg := segment{text: part}
		if i := indexOutside(part, '|'); i >= 0 {
			seg.text = strings.TrimSpace(part[:i])
			seg.pipe = strings.TrimSpace(part[i+1:])
			if seg.pipe == "" {
				return nil, &UsageError{"", fmt.Sprintf("empty pipeline after '|' in %q", part)}
			}
		} else if i := indexOutside(part, '>'); i >= 0 && !isArrow(part, i) {
			seg.text = strings.TrimSpace(part[:i])
			rest := part[i+1:]
			if strings.HasPrefix(rest, ">") {
				seg.append = true
				rest = rest[1:]
			}
			seg.file = strings.TrimSpace(rest)
			if seg.file == "" {
				return nil, &UsageError{"", fmt.Sprintf("missing file name after '>' in %q", part)}
			}
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// isArrow reports whether the '>' at i is part of "->" (member access) or a
// comparison inside an expression, not a redirection.
func isArrow(s string, i int) bool {
	return i > 0 && (s[i-1] == '-' || s[i-1] == '>')
}

// splitOutside splits s on sep where sep is outside quotes and brackets.
func splitOutside(s string, sep byte) []string {
	var out []string
	start := 0
	walkOutside(s, func(i int) bool {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
		return true
	})
	return append(out, s[start:])
}

// indexOutside is the index of the first c outside quotes and brackets, or -1.
func indexOutside(s string, c byte) int {
	found := -1
	walkOutside(s, func(i int) bool {
		if s[i] == c {
			found = i
			return false
		}
		return true
	})
	return found
}

// walkOutside calls f for each byte index of s that lies outside quotes,
// parentheses and square brackets, until f returns false.
func walkOutside(s string, f func(i int) bool) {
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(s) {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		case c == '"' || c == '\'':
			quote = c
			continue
		case c == '(' || c == '[':
			depth++
			continue
		case c == ')' || c == ']':
			if depth > 0 {
				depth--
			}
			continue
		}
		if depth == 0 && !f(i) {
			return
		}
	}
}

// tokenize splits a command into words on blanks outside quotes and
// brackets, removing one level of quotes. A bracketed expression such as
// "(struct task_struct *)0x1234" stays one word.
func tokenize(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		quote byte
		depth int
		inTok bool
	)
	flush := func() {
		if inTok {
			words = append(words, cur.String())
			cur.Reset()
			inTok = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(s) && (s[i+1] == quote || s[i+1] == '\\') {
				i++
				cur.WriteByte(s[i])
			} else if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case (c == '"' || c == '\'') && depth == 0:
			quote = c
			inTok = true
		case c == '(' || c == '[':
			depth++
			cur.WriteByte(c)
			inTok = true
		case c == ')' || c == ']':
			if depth > 0 {
				depth--
			}
			cur.WriteByte(c)
			inTok = true
		case (c == ' ' || c == '\t') && depth == 0:
			flush()
		default:
			cur.WriteByte(c)
			inTok = true
		}
	}
	if quote != 0 {
		return nil, &UsageError{"", fmt.Sprintf("unterminated %c quote in %q", quote, s)}
	}
	flush()
	return words, nil
}
