package repl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// Session is one kinspect session: a kernel, the user's settings and the
// output streams. Interactive and batch mode both drive it through Exec.
type Session struct {
	K      *kstructs.Kernel
	Stdout io.Writer
	Stderr io.Writer
	// JSON makes every command print one JSON document (JSON Lines).
	JSON bool
	// Interactive is set when stdin and stdout are a terminal: enables the pager.
	Interactive bool

	Vars    Vars
	aliases map[string]string
	history []HistoryEntry // p's $N values
	table   *table
	frame   *frameSel // frame N's choice (cmd_frame.go)

	// ctx is the running command's context, cancelled by Ctrl-C.
	ctx context.Context
	// startupSummary: sys is printing the REPL's opening summary
	// (StartupSummary).
	startupSummary bool
}

// Vars are the `set` variables.
type Vars struct {
	Radix  int  // 10 or 16: default output radix of p/struct
	Scroll bool // page long output on a terminal
	// Context is the current task (crash's `set`): 0 until set or opened.
	ContextTask uint64
}

// NewSession makes a session on k (k may be nil for help-only use).
func NewSession(k *kstructs.Kernel, stdout, stderr io.Writer) *Session {
	return &Session{
		K:       k,
		Stdout:  stdout,
		Stderr:  stderr,
		Vars:    Vars{Radix: 10, Scroll: true},
		aliases: map[string]string{},
		table:   newTable(commandTable()),
		ctx:     context.Background(),
	}
}

// Context is the running command's context: long walks check it so Ctrl-C
// returns to the prompt.
func (s *Session) Context() context.Context { return s.ctx }

// CommandError is a failed command, as reported to the user.
type CommandError struct {
	Command string
	Err     error
}

func (e *CommandError) Error() string { return e.Command + ": " + e.Err.Error() }
func (e *CommandError) Unwrap() error { return e.Err }

// Exec runs one input line (possibly several ';'-separated commands). It
// reports each failure on stderr (and as a JSON error document with --json)
// and returns the first error; keepGoing continues past failures.
func (s *Session) Exec(ctx context.Context, line string, keepGoing bool) error {
	segs, err := splitLine(line)
	if err != nil {
		s.report(strings.TrimSpace(line), err)
		return &CommandError{Command: strings.TrimSpace(line), Err: err}
	}
	var first error
	for _, seg := range segs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := s.execSegment(ctx, seg)
		s.warnModuleSymbols()
		if err != nil {
			name := seg.text
			if seg.shell != "" {
				name = "!" + seg.shell
			}
			s.report(name, err)
			if first == nil {
				first = &CommandError{Command: name, Err: err}
			}
			if !keepGoing {
				return first
			}
		}
	}
	return first
}

// warnModuleSymbols gives, once, the error reading the module list and
// symbols, after the command whose lookups first needed them (they are read
// then, not at open: kstructs.Kernel.ModuleSymbolsWarning). A bt or sym
// that cannot name a module address thus never hides a broken module list.
func (s *Session) warnModuleSymbols() {
	if s.K == nil {
		return
	}
	if err := s.K.ModuleSymbolsWarning(); err != nil {
		fmt.Fprintf(s.Stderr, "warning: module symbols: %v\n", err)
	}
}

// report prints an error on stderr, and as a JSON document on stdout in JSON mode.
func (s *Session) report(cmd string, err error) {
	name, msg := firstWord(cmd), err.Error()
	if !strings.HasPrefix(msg, name+": ") { // a UsageError names its command already
		msg = name + ": " + msg
	}
	fmt.Fprintln(s.Stderr, msg)
	if s.JSON {
		b, _ := json.Marshal(map[string]string{"error": err.Error(), "command": cmd})
		fmt.Fprintf(s.Stdout, "%s\n", b)
	}
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func (s *Session) execSegment(ctx context.Context, seg segment) (err error) {
	if seg.shell != "" {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", seg.shell)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, s.Stdout, s.Stderr
		return cmd.Run()
	}
	inv, err := s.parse(seg.text)
	if err != nil {
		return err
	}
	if inv == nil {
		return nil
	}
	if !inv.Cmd.NoKernel && s.K == nil {
		return fmt.Errorf("no dump is open")
	}

	// Run the command into a buffer: output goes to its destination only
	// once the command has produced it, so a failing command in a pipeline
	// leaves no half-written file, and the pager sees the whole text.
	var buf bytes.Buffer
	prevCtx := s.ctx
	s.ctx = ctx
	defer func() { s.ctx = prevCtx }()
	res, err := s.runProtected(inv)
	if err != nil {
		return err
	}
	if res != nil {
		if inv.JSON {
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(res); err != nil {
				return fmt.Errorf("encoding JSON: %w", err)
			}
		} else if err := res.Text(&buf, s); err != nil {
			return err
		}
	}
	if err := s.deliver(ctx, seg, buf.Bytes(), inv.JSON); err != nil {
		return err
	}
	// A result that stopped part way (rd at an unreadable page) is shown,
	// then its error is the command's, as crash does.
	if p, ok := res.(partialResult); ok {
		return p.Partial()
	}
	return nil
}

// partialResult is a Result that holds what could be read before an error.
type partialResult interface {
	Partial() error
}

// runProtected runs the command, turning a panic into an internal error so
// the session survives it.
func (s *Session) runProtected(inv *Invocation) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (please report with the command and dump): %v\n%s", r, trimStack(debug.Stack()))
		}
	}()
	return inv.Cmd.Run(s, inv)
}

func trimStack(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	return strings.Join(lines, "\n")
}

// parse resolves aliases and the command name and parses flags.
func (s *Session) parse(text string) (*Invocation, error) {
	words, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, nil
	}
	if exp, ok := s.aliases[words[0]]; ok {
		// Substitute the alias in the text itself: commands that parse their
		// raw line (foreach, p) must see the expansion too.
		text = exp + strings.TrimPrefix(strings.TrimSpace(text), words[0])
		if words, err = tokenize(text); err != nil {
			return nil, err
		}
	}
	c := s.table.lookup(words[0])
	if c == nil {
		return nil, &UsageError{"", fmt.Sprintf("unknown command %q (try 'help')", words[0])}
	}
	flags, args, js, err := parseFlags(c, words[1:])
	if err != nil {
		return nil, err
	}
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), words[0]))
	return &Invocation{Cmd: c, Name: words[0], Line: rest, Args: args, Flags: flags, JSON: js || s.JSON}, nil
}

// deliver sends a command's output to a pipeline, a file, the pager or stdout.
func (s *Session) deliver(ctx context.Context, seg segment, out []byte, isJSON bool) error {
	switch {
	case seg.pipe != "":
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", seg.pipe)
		cmd.Stdin = bytes.NewReader(out)
		cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("pipeline %q: %w", seg.pipe, err)
		}
		return nil
	case seg.file != "":
		flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if seg.append {
			flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(seg.file, flag, 0o644)
		if err != nil {
			return err
		}
		_, werr := f.Write(out)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		return werr
	case s.Interactive && s.Vars.Scroll && !isJSON && bytes.Count(out, []byte("\n")) > terminalRows():
		return page(ctx, out, s.Stdout, s.Stderr)
	}
	_, err := s.Stdout.Write(out)
	return err
}

// RunScript runs commands read line by line from r (a -i file or stdin).
func (s *Session) RunScript(ctx context.Context, r io.Reader, keepGoing bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var first error
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "q" || line == "quit" || line == "exit" {
			break
		}
		if err := s.Exec(ctx, line, keepGoing); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			if first == nil {
				first = err
			}
			if !keepGoing {
				return first
			}
		}
	}
	if err := sc.Err(); err != nil && first == nil {
		first = fmt.Errorf("reading commands: %w", err)
	}
	return first
}
