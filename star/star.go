// Package star makes kinspect programmable in Starlark
// (https://github.com/bazelbuild/starlark/blob/master/spec.md): kernel
// objects are lazy Starlark values over dwarfx.Value, the iteration helpers
// are kstructs's own walks, and run() calls any REPL command and returns its
// --json document. It installs the engine behind the REPL's `source` and
// `star` commands when linked in (cmd/kinspect imports it).
package star

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

func init() { repl.SetScriptEngine(engine{}) }

// Options are a session's scripting permissions.
type Options struct {
	// AllowWrite lets scripts write files (write_file); off by default.
	AllowWrite bool
}

// state is one session's scripting state: its options and the globals of
// the scripts sourced so far (visible to `star`). A session runs one
// command at a time, and so one script at a time (runs may nest).
type state struct {
	sess    *repl.Session
	opts    Options
	globals starlark.StringDict

	// the running call's context and output (set per run)
	ctx context.Context
	out *bytes.Buffer
}

var sessions sync.Map // *repl.Session -> *state

func stateOf(s *repl.Session) *state {
	if v, ok := sessions.Load(s); ok {
		return v.(*state)
	}
	v, _ := sessions.LoadOrStore(s, &state{sess: s, globals: starlark.StringDict{}})
	return v.(*state)
}

// Configure sets a session's scripting options (kinspect --allow-write).
func Configure(s *repl.Session, o Options) { stateOf(s).opts = o }

func (st *state) k() *kstructs.Kernel { return st.sess.K }

// fileOptions are Starlark's dialect options for kinspect scripts: while
// loops, top-level if/for, recursion and set() are allowed.
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}

// run executes fn on a fresh thread whose prints go to st.out, cancelled
// when ctx is (Ctrl-C).
//
// Runs nest: a script's run("cmd") may run a script command, or source
// another script; the outer run's context and output come back after.
func (st *state) run(ctx context.Context, name string, fn func(th *starlark.Thread) error) (string, error) {
	var out bytes.Buffer
	prevCtx, prevOut := st.ctx, st.out
	st.ctx, st.out = ctx, &out
	defer func() { st.ctx, st.out = prevCtx, prevOut }()
	th := &starlark.Thread{
		Name:  name,
		Print: func(_ *starlark.Thread, msg string) { out.WriteString(msg); out.WriteByte('\n') },
		Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
			return nil, fmt.Errorf("load(%q): kinspect scripts have no load(); use `source` for each file", module)
		},
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			th.Cancel("interrupted")
		case <-done:
		}
	}()
	err := fn(th)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("script interrupted: %w", err)
	}
	return out.String(), traceback(err)
}

// traceback gives a Starlark error its call stack (file:line per frame).
func traceback(err error) error {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return &ScriptError{Msg: ee.Backtrace(), Err: err}
	}
	return err
}

// ScriptError is a failed script: Msg is Starlark's traceback.
type ScriptError struct {
	Msg string
	Err error
}

func (e *ScriptError) Error() string { return e.Msg }
func (e *ScriptError) Unwrap() error { return e.Err }

// predeclared is the script environment: kinspect's built-ins, then the
// globals of earlier sourced scripts.
func (st *state) predeclared() starlark.StringDict {
	env := starlark.StringDict{}
	for k, v := range st.globals {
		env[k] = v
	}
	for k, v := range st.builtins() {
		env[k] = v
	}
	return env
}

type engine struct{}

// Source is the `source FILE [ARGS]` command.
func (engine) Source(s *repl.Session, inv *repl.Invocation) (repl.Result, error) {
	if len(inv.Args) == 0 {
		return nil, &repl.UsageError{Cmd: "source", Msg: "usage: source FILE.star [ARGS...]"}
	}
	return RunFile(s.Context(), s, inv.Args[0], inv.Args[1:], inv.Has("main"))
}

// RunFile runs a script: its top level, then registers its command_NAME
// functions as commands of s, then, with callMain, calls main(args) (a
// script run with --script must define main).
func RunFile(ctx context.Context, s *repl.Session, path string, args []string, callMain bool) (repl.ScriptResult, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return repl.ScriptResult{}, err
	}
	st := stateOf(s)
	var ret starlark.Value = starlark.None
	var cmds []string
	out, err := st.run(ctx, path, func(th *starlark.Thread) error {
		globals, err := starlark.ExecFileOptions(fileOptions, th, path, src, st.predeclared())
		if err != nil {
			return err
		}
		for name, v := range globals {
			st.globals[name] = v
		}
		if cmds, err = st.registerCommands(globals); err != nil {
			return err
		}
		if !callMain {
			return nil
		}
		m, ok := globals["main"].(starlark.Callable)
		if !ok {
			return fmt.Errorf("%s defines no main(args)", path)
		}
		ret, err = starlark.Call(th, m, starlark.Tuple{stringList(args)}, nil)
		return err
	})
	if err != nil {
		return repl.ScriptResult{}, st.withOutput(out, err)
	}
	res := st.result(out, ret)
	if len(cmds) > 0 && ret == starlark.None {
		// Say what sourcing added when the script prints nothing else.
		if out == "" {
			res.Body = fmt.Sprintf("new commands: %s\n", strings.Join(cmds, ", "))
		}
	}
	return res, nil
}

// withOutput shows what a failed script printed before failing (on
// stdout, before the error on stderr; not in JSON mode, where stdout holds
// only the error document).
func (st *state) withOutput(out string, err error) error {
	if out != "" && !st.sess.JSON {
		fmt.Fprint(st.sess.Stdout, out)
	}
	return err
}

func stringList(args []string) *starlark.List {
	l := make([]starlark.Value, len(args))
	for i, a := range args {
		l[i] = starlark.String(a)
	}
	return starlark.NewList(l)
}

// registerCommands turns the script's command_NAME functions into commands.
func (st *state) registerCommands(globals starlark.StringDict) ([]string, error) {
	var names []string
	for name, v := range globals {
		fn, ok := v.(*starlark.Function)
		if !ok || !strings.HasPrefix(name, "command_") || len(name) == len("command_") {
			continue
		}
		cmdName := strings.TrimPrefix(name, "command_")
		doc := strings.TrimSpace(fn.Doc())
		summary, _, _ := strings.Cut(doc, "\n")
		if summary == "" {
			summary = "script command from " + fn.Position().Filename()
		}
		c := &repl.Command{
			Name:        cmdName,
			Synopsis:    cmdName + " [ARGS...]",
			Summary:     summary,
			Description: doc + fmt.Sprintf("\n\n(defined at %s)", fn.Position()),
			Run: func(s *repl.Session, inv *repl.Invocation) (repl.Result, error) {
				var ret starlark.Value
				out, err := st.run(s.Context(), cmdName, func(th *starlark.Thread) error {
					var err error
					ret, err = starlark.Call(th, fn, starlark.Tuple{stringList(inv.Args)}, nil)
					return err
				})
				if err != nil {
					return nil, st.withOutput(out, err)
				}
				return st.result(out, ret), nil
			},
		}
		if err := st.sess.AddCommand(c); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		names = append(names, cmdName)
	}
	sort.Strings(names)
	return names, nil
}

// result is a script's output and returned value as a command result.
func (st *state) result(out string, v starlark.Value) repl.ScriptResult {
	res := repl.ScriptResult{Body: out, Output: out, Value: st.toJSON(v)}
	if v != nil && v != starlark.None {
		if s, ok := starlark.AsString(v); ok {
			res.Body += s + "\n"
		} else {
			res.Body += v.String() + "\n"
		}
	}
	return res
}

// Star is the `star EXPR|STATEMENTS` command.
func (engine) Star(s *repl.Session, inv *repl.Invocation) (repl.Result, error) {
	src := strings.TrimSpace(inv.Line)
	src = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(" "+src+" ", " --json "), " --json "))
	if src == "" {
		return nil, &repl.UsageError{Cmd: "star", Msg: "usage: star EXPR"}
	}
	return Eval(s.Context(), s, src)
}

// Eval evaluates one line: an expression's value, or statements (whose
// new globals stay for later lines).
func Eval(ctx context.Context, s *repl.Session, src string) (repl.ScriptResult, error) {
	st := stateOf(s)
	var ret starlark.Value = starlark.None
	out, err := st.run(ctx, "star", func(th *starlark.Thread) error {
		if _, perr := fileOptions.ParseExpr("<star>", src, 0); perr == nil {
			v, err := starlark.EvalOptions(fileOptions, th, "<star>", src, st.predeclared())
			ret = v
			return err
		}
		globals, err := starlark.ExecFileOptions(fileOptions, th, "<star>", src, st.predeclared())
		for name, v := range globals {
			st.globals[name] = v
		}
		return err
	})
	if err != nil {
		return repl.ScriptResult{}, st.withOutput(out, err)
	}
	return st.result(out, ret), nil
}
