// Command gendocs regenerates the command reference in README.md from the
// REPL's command table, and the Starlark built-ins' table from star's:
// go run ./internal/gendocs README.md
package main

import (
	"fmt"
	"os"

	"github.com/kinspect/kinspect/repl"
	"github.com/kinspect/kinspect/star"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs README.md")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := repl.SpliceReference(string(b))
	if err == nil {
		out, err = star.SpliceBuiltins(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], []byte(out), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
