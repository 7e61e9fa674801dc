package repl

// The extension points the Starlark scripting package (kinspect/star) uses:
// it imports repl, so repl reaches it only through the ScriptEngine it
// installs. Everything here is additive: commands, printers and walks stay
// where they are and are only exposed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// ScriptEngine runs the `source` and `star` commands; package star installs
// one with SetScriptEngine (cmd/kinspect links it in).
type ScriptEngine interface {
	Source(s *Session, inv *Invocation) (Result, error)
	Star(s *Session, inv *Invocation) (Result, error)
}

var scriptEngine ScriptEngine

// SetScriptEngine installs the engine behind `source` and `star`.
func SetScriptEngine(e ScriptEngine) { scriptEngine = e }

func noEngine() error {
	return fmt.Errorf("scripting is not available in this build (package star is not linked in)")
}

func sourceCmd() *Command {
	return &Command{
		Name:     "source",
		Synopsis: "source [--main] FILE.star [ARGS...]",
		Summary:  "run a Starlark script; its command_NAME functions become commands",
		Description: "Runs a Starlark script (https://github.com/bazelbuild/starlark/blob/master/spec.md) with " +
			"kinspect's built-ins (see Scripting in the README). A top-level function command_NAME(args) becomes " +
			"the REPL command NAME, its docstring the command's help. With --main, main(args) is then called with " +
			"the arguments after FILE and its return value printed (kinspect --script FILE -- ARGS does this). Scripts cannot write files unless kinspect runs with --allow-write. A script " +
			"error prints a Starlark traceback (file:line); Ctrl-C stops a running script.",
		Examples: []string{"source examples/pstree.star", "source --main examples/dstate.star IN"},
		Flags:    []Flag{{Long: "main", Help: "call the script's main(args) and print what it returns"}},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			if scriptEngine == nil {
				return nil, noEngine()
			}
			return scriptEngine.Source(s, inv)
		},
	}
}

func starCmd() *Command {
	return &Command{
		Name:     "star",
		Synopsis: "star EXPR|STATEMENTS",
		Summary:  "evaluate one line of Starlark",
		Description: "Evaluates a Starlark expression and prints its value (or runs statements), with the " +
			"same built-ins as scripts and the globals of the scripts sourced in this session. --json prints the " +
			"value as JSON.",
		Examples: []string{`star kernel.init_task.comm`, `star len(for_each_task())`, `star per_cpu(kernel["runqueues"], 0).nr_running`},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			if scriptEngine == nil {
				return nil, noEngine()
			}
			return scriptEngine.Star(s, inv)
		},
	}
}

// AddCommand adds a command to this session only (a script's command_NAME).
// It may replace an earlier script command but never a built-in one.
func (s *Session) AddCommand(c *Command) error {
	if old := s.table.lookup(c.Name); old != nil && !old.scripted {
		return fmt.Errorf("command %q already exists", c.Name)
	}
	c.scripted = true
	for i, old := range s.table.cmds {
		if old.Name == c.Name {
			s.table.cmds[i] = c
			s.table.byName[c.Name] = c
			return nil
		}
	}
	s.table.cmds = append(s.table.cmds, c)
	s.table.byName[c.Name] = c
	return nil
}

// RunJSON runs one command line (no ';', pipes, redirections or '!') with
// --json and returns its JSON document. ctx is the command's context.
func (s *Session) RunJSON(ctx context.Context, line string) (json.RawMessage, error) {
	segs, err := splitLine(line)
	if err != nil {
		return nil, err
	}
	if len(segs) != 1 || segs[0].shell != "" || segs[0].pipe != "" || segs[0].file != "" {
		return nil, fmt.Errorf("%q: give one command, without ';', '|', '>' or '!'", line)
	}
	inv, err := s.parse(segs[0].text)
	if err != nil {
		return nil, err
	}
	if inv == nil {
		return nil, fmt.Errorf("empty command")
	}
	inv.JSON = true
	prevCtx := s.ctx
	s.ctx = ctx
	defer func() { s.ctx = prevCtx }()
	res, err := s.runProtected(inv)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, fmt.Errorf("encoding JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// Env is the session's expression environment (p's: value history included).
func (s *Session) Env() *dwarfx.Env { return s.env() }

// FormatValue renders v as `p` does after "$N = " (crash/gdb style, the
// session's radix), without adding it to the value history.
func (s *Session) FormatValue(v dwarfx.Value) (string, error) {
	n := s.decoder().decodeValue(v, "")
	if n.Err != nil && len(n.Kids) == 0 {
		return "", n.Err
	}
	p := newGDBPrinter(s, s.Vars.Radix)
	p.top(n)
	return p.String(), nil
}

// FormatT32 renders v as `v.v` does, labelled label, with v.v's format
// flags ("%t", "%h", "%e2", ...; none gives v.v's default view).
func (s *Session) FormatT32(label string, v dwarfx.Value, flags ...string) (string, error) {
	var o t32Opts
	for _, f := range flags {
		if ok, err := o.parse(f); err != nil {
			return "", err
		} else if !ok {
			return "", fmt.Errorf("%q is not a v.v format flag", f)
		}
	}
	res, err := s.vviewValue(label, v, o, nil, false)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := res.Text(&b, s); err != nil {
		return "", err
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// ScriptResult is what `source`, `star` and script commands return: the
// script's printed output and its value (main's or the expression's
// return value, converted to JSON; null for None).
type ScriptResult struct {
	Output string `json:"output"`
	Value  any    `json:"value"`
	Body   string `json:"-"` // the text view: output, then the value
}

func (r ScriptResult) Text(w io.Writer, s *Session) error {
	_, err := io.WriteString(w, r.Body)
	return err
}

// ValueJSON is v as p --json shows it (the decoded value tree).
func (s *Session) ValueJSON(v dwarfx.Value) any {
	return s.jsonNode(s.decoder().decodeValue(v, ""), s.Vars.Radix)
}
