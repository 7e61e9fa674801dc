package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kinspect/kinspect/internal/fixture"
)

// ptySession drives the real kinspect binary in a pseudo-terminal, as a
// person at a terminal would.
type ptySession struct {
	t    testing.TB
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kinspect")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startPTY(t testing.TB, bin string, env []string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, cmd: cmd, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		tty.Close()
	})
	return s
}

// screen is everything printed so far, without escape sequences.
func (s *ptySession) screen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.ReplaceAllString(s.buf.String(), "")
}

// waitFor waits until the output printed after mark contains want.
func (s *ptySession) waitFor(mark int, want string, timeout time.Duration) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if sc := s.screen(); len(sc) >= mark && strings.Contains(sc[mark:], want) {
			return sc[mark:]
		}
		time.Sleep(50 * time.Millisecond)
	}
	sc := s.screen()
	sc = sc[min(mark, len(sc)):]
	s.t.Fatalf("timed out waiting for %q; output since mark (last 2000 bytes):\n%s", want, sc[max(0, len(sc)-2000):])
	return ""
}

func (s *ptySession) mark() int { return len(s.screen()) }

func (s *ptySession) send(keys string) {
	if _, err := s.tty.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

func TestInteractiveREPL(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	bin := buildBinary(t)
	state := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + state, "PAGER=cat", "TERM=xterm"}
	s := startPTY(t, bin, env, f.Path("vmcore.elf"), f.Vmlinux())

	// Start-up: the sys summary, then the prompt.
	out := s.waitFor(0, "kinspect> ", 60*time.Second)
	if !strings.Contains(out, "RELEASE: "+f.GT.Release) {
		t.Errorf("start-up did not print sys:\n%s", out)
	}

	// Tab completion of a member path lists real members of sched_entity.
	m := s.mark()
	s.send("p init_task.se.\t\t")
	out = s.waitFor(m, "init_task.se.vruntime", 10*time.Second)
	if !strings.Contains(out, "init_task.se.sum_exec_runtime") {
		t.Errorf("completion of init_task.se. lacks sum_exec_runtime:\n%s", out)
	}
	s.send("\x15") // Ctrl-U: clear the line

	// A failing command reports an error and the session goes on.
	m = s.mark()
	s.send("p no_such_symbol_xyz\r")
	s.waitFor(m, "no_such_symbol_xyz", 10*time.Second)
	m = s.mark()
	s.send("sym linux_banner\r")
	s.waitFor(m, "linux_banner", 10*time.Second)

	// Ctrl-C stops a long-running command and the prompt comes back.
	m = s.mark()
	// (A short line: readline redraws the whole line per keystroke.)
	s.send("!sleep 30; sym init_task\r")
	time.Sleep(1500 * time.Millisecond)
	s.send("\x03")
	s.waitFor(m, "interrupted", 20*time.Second)
	m = s.mark()
	s.send("sym init_task\r")
	s.waitFor(m, "init_task", 10*time.Second)

	// (That Ctrl-C stops kinspect's own long commands — foreach bt — through
	// the same cancellation is tested in-process: repl.TestInterruptForeach.)
	m = s.mark()
	s.send("sym init_task\r")
	s.waitFor(m, "init_task", 10*time.Second)

	s.send("quit\r")
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("quit did not end the session")
	}

	// History survives a restart: Ctrl-P recalls the last command.
	hist, err := os.ReadFile(filepath.Join(state, "kinspect", "history"))
	if err != nil || !strings.Contains(string(hist), "sym init_task") {
		t.Fatalf("history file: %v %q", err, hist)
	}
	s2 := startPTY(t, bin, env, f.Path("vmcore.elf"), f.Vmlinux())
	s2.waitFor(0, "kinspect> ", 60*time.Second)
	m = s2.mark()
	s2.send("\x10\x10") // Ctrl-P twice: past "quit" to the command before it
	s2.waitFor(m, "sym init_task", 10*time.Second)
}

// TestPagerOnlyOnTerminal: long output goes through $PAGER at a terminal,
// never when stdout is not one.
func TestPagerOnlyOnTerminal(t *testing.T) {
	f := fixture.Require(t, "arm64")
	bin := buildBinary(t)
	// A "pager" that marks what passes through it.
	pager := filepath.Join(t.TempDir(), "pager")
	if err := os.WriteFile(pager, []byte("#!/bin/sh\necho PAGER-START\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"XDG_STATE_HOME=" + t.TempDir(), "PAGER=" + pager, "TERM=xterm"}
	s := startPTY(t, bin, env, f.Path("vmcore.elf"), f.Vmlinux())
	s.waitFor(0, "kinspect> ", 60*time.Second)
	m := s.mark()
	s.send("rd -8 linux_banner 4096\r")
	s.waitFor(m, "PAGER-START", 20*time.Second)
	s.send("quit\r")

	// Not a terminal: no pager.
	cmd := exec.Command(bin, f.Path("vmcore.elf"), f.Vmlinux(), "-c", "rd -8 linux_banner 4096")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("PAGER-START")) {
		t.Error("the pager ran although stdout was not a terminal")
	}
}

// BenchmarkFirstPrompt measures `kinspect VMCORE VMLINUX` to the first
// `kinspect>` prompt (sys summary included) in a pseudo-terminal, on each
// fixture's ELF dump.
func BenchmarkFirstPrompt(b *testing.B) {
	for _, arch := range []string{"arm", "arm64", "x86_64"} {
		b.Run(arch, func(b *testing.B) {
			f := fixture.Require(b, arch)
			bin := filepath.Join(b.TempDir(), "kinspect")
			if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
				b.Fatalf("go build: %v\n%s", err, out)
			}
			env := []string{"XDG_STATE_HOME=" + b.TempDir(), "TERM=xterm"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := startPTY(b, bin, env, f.Path("vmcore.elf"), f.Vmlinux())
				deadline := time.Now().Add(2 * time.Minute)
				for !strings.Contains(s.screen(), "kinspect> ") {
					if time.Now().After(deadline) {
						b.Fatal("no prompt within 2 minutes")
					}
					time.Sleep(5 * time.Millisecond)
				}
				b.StopTimer()
				_ = s.cmd.Process.Kill()
				_ = s.cmd.Wait()
				s.tty.Close()
				b.StartTimer()
			}
		})
	}
}
