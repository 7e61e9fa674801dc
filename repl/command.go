// Package repl is kinspect's user interface: the command table, line parsing
// (crash's conventions: `;`, `|`, `>`, `>>`, `!`), output (crash-style text,
// Trace32 views, JSON Lines), the interactive readline loop and batch mode.
//
// Every command is one *Command in the table returned by commandTable. The
// same table drives dispatch, flag parsing, `help`, tab completion and the
// README's command reference, so they cannot drift apart.
package repl

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Flag describes one command flag. Short is the letter crash uses ("x" for
// -x); Long, if set, is a --long spelling. Arg names the flag's argument
// ("" for a boolean flag).
type Flag struct {
	Short string
	Long  string
	Arg   string
	Help  string
}

// Command is one REPL command.
type Command struct {
	Name        string
	Aliases     []string
	Synopsis    string // "p [-x|-d] EXPR"
	Summary     string // one line, for `help` and the README
	Description string // paragraphs for `help CMD`
	Examples    []string
	Flags       []Flag
	// Complete says what the positional arguments are, for tab completion.
	Complete ArgKind
	// PassFlags: a --flag the command does not know is a positional
	// argument (foreach hands its command's flags on).
	PassFlags bool
	// NeedsKernel is false for commands that work without a dump (help, alias...).
	NoKernel bool
	// Run executes the command. It returns a Result rendered as text or JSON.
	Run func(s *Session, inv *Invocation) (Result, error)

	scripted bool // added by a script (Session.AddCommand)
}

// ArgKind tells completion what a command's positional arguments are.
type ArgKind int

const (
	ArgNone       ArgKind = iota
	ArgExpression         // symbols, member paths
	ArgType               // struct/union/typedef names, then member paths
	ArgSymbol
	ArgCommand
	ArgTask // pids, task addresses, command names
)

// Result is what a command produces: it renders itself as text, and is
// marshalled with encoding/json for --json (so its exported fields and json
// tags are the documented JSON fields).
type Result interface {
	Text(w io.Writer, s *Session) error
}

// preformatted is the text output of a result whose text is built while
// it runs (embedded in the result; JSON comes from the other fields).
type preformatted struct{ text string }

func (p preformatted) Text(w io.Writer, s *Session) error {
	_, err := io.WriteString(w, p.text)
	return err
}

// Invocation is one parsed command: its flags and positional arguments.
type Invocation struct {
	Cmd   *Command
	Name  string            // as typed (may be an alias)
	Line  string            // the command's text after its name, unparsed
	Args  []string          // positional arguments, quotes removed
	Flags map[string]string // by Short (or Long when no Short); "" value for booleans
	JSON  bool              // --json given on this command or globally
}

// Has reports whether flag f was given.
func (inv *Invocation) Has(f string) bool { _, ok := inv.Flags[f]; return ok }

// Flag returns the argument of flag f.
func (inv *Invocation) Flag(f string) string { return inv.Flags[f] }

// RestLine is the positional arguments joined back with spaces: expressions
// such as `(struct task_struct *)(0xF161926C - 0x3EC)` contain blanks.
func (inv *Invocation) RestLine() string { return strings.Join(inv.Args, " ") }

// UsageError is a malformed command line (exit status 2 in batch mode).
type UsageError struct{ Cmd, Msg string }

func (e *UsageError) Error() string {
	if e.Cmd == "" {
		return e.Msg
	}
	return e.Cmd + ": " + e.Msg
}

// table is the command table with its lookup index.
type table struct {
	cmds   []*Command
	byName map[string]*Command
}

func newTable(cmds []*Command) *table {
	t := &table{cmds: cmds, byName: map[string]*Command{}}
	for _, c := range cmds {
		t.byName[c.Name] = c
		for _, a := range c.Aliases {
			t.byName[a] = c
		}
	}
	return t
}

func (t *table) lookup(name string) *Command { return t.byName[name] }

// names returns every command name and alias, sorted.
func (t *table) names() []string {
	var out []string
	for n := range t.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// parseFlags splits args into flags and positional arguments. Flags may come
// anywhere (GNU getopt permutes, and crash users rely on it), "--" ends them,
// and a token like "-1" or "-(x)" that is not a known flag is positional.
func parseFlags(c *Command, args []string) (map[string]string, []string, bool, error) {
	flags := map[string]string{}
	var pos []string
	json := false
	find := func(short, long string) *Flag {
		for i := range c.Flags {
			f := &c.Flags[i]
			if (short != "" && f.Short == short) || (long != "" && f.Long == long) {
				return f
			}
		}
		return nil
	}
	key := func(f *Flag) string {
		if f.Short != "" {
			return f.Short
		}
		return f.Long
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			return flags, pos, json, nil
		case a == "--json":
			json = true
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasVal := strings.Cut(a[2:], "=")
			f := find("", name)
			if f == nil && c.PassFlags {
				pos = append(pos, a)
				continue
			}
			if f == nil {
				return nil, nil, false, &UsageError{c.Name, fmt.Sprintf("unknown flag --%s (see 'help %s')", name, c.Name)}
			}
			if f.Arg != "" && !hasVal {
				if i+1 >= len(args) {
					return nil, nil, false, &UsageError{c.Name, fmt.Sprintf("flag --%s needs %s", name, f.Arg)}
				}
				i++
				val = args[i]
			}
			flags[key(f)] = val
		case len(a) > 1 && a[0] == '-' && len(a) > 2 && find(a[1:], "") != nil && find(a[1:], "").Arg == "":
			// A whole-word short flag such as rd's -16/-32/-64.
			flags[a[1:]] = ""
		case len(a) > 1 && a[0] == '-' && find(a[1:2], "") != nil:
			// One or more short flags: -lm, -y FIFO, -yFIFO.
			for j := 1; j < len(a); j++ {
				f := find(a[j:j+1], "")
				if f == nil {
					return nil, nil, false, &UsageError{c.Name, fmt.Sprintf("unknown flag -%c in %q (see 'help %s')", a[j], a, c.Name)}
				}
				if f.Arg == "" {
					flags[f.Short] = ""
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, nil, false, &UsageError{c.Name, fmt.Sprintf("flag -%s needs %s", f.Short, f.Arg)}
					}
					i++
					val = args[i]
				}
				flags[f.Short] = val
				break
			}
		default:
			pos = append(pos, a)
		}
	}
	return flags, pos, json, nil
}
