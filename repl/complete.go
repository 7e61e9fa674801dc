package repl

import (
	"debug/dwarf"
	"sort"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// completer answers readline's Tab: command names first, then the command's
// flags, then by ArgKind symbols, type names and member paths. Everything
// comes from the lazy DWARF name index, so it stays fast on a 600 MB vmlinux.
type completer struct{ s *Session }

// maxCandidates keeps a Tab on a short prefix from listing 100k symbols.
const maxCandidates = 200

func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	text := string(line[:pos])
	// Complete only the last command of a ';' line.
	if i := strings.LastIndexByte(text, ';'); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimLeft(text, " \t")
	word := text
	if i := strings.LastIndexAny(text, " \t"); i >= 0 {
		word = text[i+1:]
	}
	cands := c.s.Completions(text, word)
	out := make([][]rune, 0, len(cands))
	for _, cand := range cands {
		out = append(out, []rune(cand[len(word):]))
	}
	return out, len([]rune(word))
}

// Completions returns the full words that complete word, the last word of the
// command text typed so far. Exported for tests and the benchmark.
func (s *Session) Completions(text, word string) []string {
	fields := strings.Fields(text)
	if len(fields) == 0 || (len(fields) == 1 && !strings.HasSuffix(text, " ")) {
		return prefixed(s.table.names(), word)
	}
	cmd := s.table.lookup(fields[0])
	if cmd == nil {
		return nil
	}
	if strings.HasPrefix(word, "-") {
		var flags []string
		for _, f := range cmd.Flags {
			if f.Short != "" {
				flags = append(flags, "-"+f.Short)
			}
			if f.Long != "" {
				flags = append(flags, "--"+f.Long)
			}
		}
		return prefixed(append(flags, "--json"), word)
	}
	switch cmd.Complete {
	case ArgCommand:
		return prefixed(s.table.names(), word)
	case ArgExpression, ArgSymbol:
		if s.K == nil {
			return nil
		}
		if base, sep, partial, ok := splitMemberPath(word); ok && cmd.Complete == ArgExpression {
			return s.memberCompletions(base, sep, partial)
		}
		return limit(s.K.Image.SymbolNames(word))
	case ArgType:
		if s.K == nil {
			return nil
		}
		if base, sep, partial, ok := splitMemberPath(word); ok {
			t, err := s.K.Image.Type(base)
			if err != nil {
				return nil
			}
			return withPrefix(base+sep, prefixed(s.K.Image.MemberNames(t), partial))
		}
		// The index names types "struct task_struct"; struct/union take the bare tag.
		var names []string
		for _, n := range s.K.Image.TypeNames(word) {
			for _, kind := range []string{"struct ", "union ", "enum "} {
				n = strings.TrimPrefix(n, kind)
			}
			if strings.HasPrefix(n, word) {
				names = append(names, n)
			}
		}
		return limit(dedup(names))
	}
	return nil
}

func dedup(words []string) []string {
	sort.Strings(words)
	out := words[:0]
	for i, w := range words {
		if i == 0 || w != words[i-1] {
			out = append(out, w)
		}
	}
	return out
}

// splitMemberPath splits "init_task.se.vr" into ("init_task.se", ".", "vr").
func splitMemberPath(word string) (base, sep, partial string, ok bool) {
	i := strings.LastIndexByte(word, '.')
	j := strings.LastIndex(word, "->")
	switch {
	case j >= 0 && j+1 > i:
		return word[:j], "->", word[j+2:], true
	case i >= 0:
		return word[:i], ".", word[i+1:], true
	}
	return "", "", "", false
}

// memberCompletions completes a member of the expression base.
func (s *Session) memberCompletions(base, sep, partial string) []string {
	v, err := s.K.Env().Eval(base)
	if err != nil {
		return nil
	}
	t := v.Type()
	if sep == "->" {
		if pt, ok := dwarfx.Strip(t).(*dwarf.PtrType); ok {
			t = pt.Type
		}
	}
	return withPrefix(base+sep, prefixed(s.K.Image.MemberNames(t), partial))
}

func prefixed(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return limit(out)
}

func withPrefix(p string, words []string) []string {
	for i := range words {
		words[i] = p + words[i]
	}
	return words
}

func limit(words []string) []string {
	if len(words) > maxCandidates {
		return words[:maxCandidates]
	}
	return words
}
