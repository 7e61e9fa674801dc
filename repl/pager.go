package repl

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// terminalRows is the height of the terminal on stdout (24 if unknown).
func terminalRows() int {
	if ws, err := unix.IoctlGetWinsize(int(os.Stdout.Fd()), unix.TIOCGWINSZ); err == nil && ws.Row > 0 {
		return int(ws.Row)
	}
	if n, err := strconv.Atoi(os.Getenv("LINES")); err == nil && n > 0 {
		return n
	}
	return 24
}

// page shows out through $PAGER (default "less -FRX", as crash does). If the
// pager cannot be started the text goes straight to stdout.
func page(ctx context.Context, out []byte, stdout, stderr io.Writer) error {
	pager := os.Getenv("PAGER")
	if pager == "" {
		pager = "less -FRX"
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", pager)
	cmd.Stdin = bytes.NewReader(out)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return nil // the user quit the pager
		}
		_, werr := stdout.Write(out)
		return werr
	}
	return nil
}
