package repl

import (
	"fmt"
	"strings"
)

// crashCenter is crash's mkstring(s, width, CENTER|LJUST or RJUST): s
// centred in width, the odd space on the right (ljust) or the left.
func crashCenter(s string, width int, rjust bool) string {
	extra := width - len(s)
	if extra <= 0 {
		return s
	}
	left := extra / 2
	if extra%2 == 1 && rjust {
		left++
	}
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", extra-left)
}

// symOff names addr as crash does a code or data address: the symbol
// holding it, "+offset" in decimal unless it is the symbol's start; false
// where no symbol holds it.
func (s *Session) symOff(addr uint64) (string, bool) {
	sym, off, ok := s.K.Image.SymbolAt(addr)
	switch {
	case !ok:
		return "", false
	case off == 0:
		return sym.Name, true
	}
	return fmt.Sprintf("%s+%d", sym.Name, off), true
}
