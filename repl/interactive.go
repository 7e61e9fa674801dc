package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
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
	go func() {
		select {
		case <-sig:
			cancel()
		case <-done:
		}
	}()
	err := s.Exec(ctx, line, false)
	close(done)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		fmt.Fprintln(s.Stderr, "interrupted")
	}
}
