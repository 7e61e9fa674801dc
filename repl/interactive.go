package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/chzyer/readline"
)

// HistoryFile is where interactive history is kept across sessions:
// $XDG_STATE_HOME/kinspect/history (default ~/.local/state/kinspect/history).
func HistoryFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "kinspect", "history")
}

// RunInteractive reads commands at a `kinspect>` prompt until Ctrl-D or
// q/quit/exit. Ctrl-C at the prompt clears the line; during a command it
// cancels the command and returns to the prompt. History is searchable
// with Ctrl-R.
func (s *Session) RunInteractive() error {
	hist := HistoryFile()
	if hist != "" {
		_ = os.MkdirAll(filepath.Dir(hist), 0o755)
	}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            "kinspect> ",
		HistoryFile:       hist,
		HistoryLimit:      10000,
		AutoComplete:      &completer{s: s},
		InterruptPrompt:   "^C",
		EOFPrompt:         "",
		HistorySearchFold: true,
	})
	if err != nil {
		return fmt.Errorf("starting the line editor: %w", err)
	}
	defer rl.Close()
	s.Interactive = true
	if s.K != nil {
		// Sorting ~100k symbol and type names takes a few hundred ms on a
		// large vmlinux: do it while the user reads the sys summary, so the
		// first Tab is as fast as the rest.
		go s.K.Image.PrepareCompletion()
	}

	for {
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "q", "quit", "exit":
			return nil
		}
		s.execInterruptible(line)
	}
}

// execInterruptible runs a line with SIGINT cancelling it.
func (s *Session) execInterruptible(line string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT)
	defer signal.Stop(sig)
	done := make(chan struct{})
	var interrupted atomic.Bool
	go func() {
		select {
		case <-sig:
			interrupted.Store(true)
			cancel()
		case <-done:
		}
	}()
	err := s.Exec(ctx, line, false)
	close(done)
	// The terminal sends SIGINT to the whole process group, so a shell
	// command may die of it before the runtime has queued the signal for
	// us: check the channel and how the child died.
	select {
	case <-sig:
		interrupted.Store(true)
	default:
	}
	if interrupted.Load() || errors.Is(err, context.Canceled) || killedBySIGINT(err) {
		fmt.Fprintln(s.Stderr, "interrupted")
	}
}

// killedBySIGINT reports whether err comes from a child process (a `!cmd`
// or a pipeline) that died of SIGINT.
func killedBySIGINT(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}
