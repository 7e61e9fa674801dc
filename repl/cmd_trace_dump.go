package repl

import "fmt"

func runTraceDump(s *Session, inv *Invocation, rest []string) (Result, error) {
	return nil, fmt.Errorf("trace dump: not implemented")
}
