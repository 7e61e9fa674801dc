package oracle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// GDBProgram is the second DWARF reader the layout tests trust: Debian's
// gdb-multiarch (make deps installs it), which reads every fixture arch's
// vmlinux.
const GDBProgram = "gdb-multiarch"

// RequireGDB skips the test when gdb-multiarch is missing, unless $CI or
// $KINSPECT_FIXTURES is set: then it fails.
func RequireGDB(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(GDBProgram); err != nil {
		err = fmt.Errorf("%s not found (make deps installs it): %w", GDBProgram, err)
		if os.Getenv("CI") != "" || os.Getenv("KINSPECT_FIXTURES") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// GDB runs `gdb-multiarch -batch` on the fixture's vmlinux (no dump: types,
// symbols and disassembly) with each command and returns their outputs in
// order. Like crash's, the outputs are cached next to the fixture
// (<fixture>/oracle/gdb/), keyed by the vmlinux's identity, gdb's version
// and the command; the commands not cached run in one gdb process (loading
// a 600 MB vmlinux is most of the cost).
func GDB(t testing.TB, f *fixture.Fixture, commands []string) ([]string, error) {
	t.Helper()
	RequireGDB(t)
	st, err := os.Stat(f.Vmlinux())
	if err != nil {
		return nil, err
	}
	return runGDB(t, gdbRun{dir: filepath.Join(f.Dir, "oracle", "gdb"), target: f.Vmlinux(), label: filepath.Base(f.Dir),
		id: fmt.Sprintf("%s|%d|%d", f.BuildID, st.Size(), st.ModTime().UnixNano()), tail: []string{f.Vmlinux()}}, commands)
}

// gdbRun is one cached gdb-multiarch batch: its cache directory and key
// (id, gdb's version, idTail), the arguments before and after the commands,
// and what it reads (for messages).
type gdbRun struct {
	dir, id, idTail, target, label string
	head, tail                     []string
}

// runGDB runs the commands not cached yet in one gdb process, each after
// a marker, and returns every command's output in order.
func runGDB(t testing.TB, r gdbRun, commands []string) ([]string, error) {
	ver, err := exec.Command(GDBProgram, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", GDBProgram, err)
	}
	first, _, _ := strings.Cut(string(ver), "\n")
	return runCached(t, r.dir, r.id+"|"+first+r.idTail, commands, func(todo []string) (string, error) {
		args := append([]string{"-batch", "-nx", "-ex", "set width 0", "-ex", "set height 0"}, r.head...)
		for n, c := range todo {
			args = append(args, "-ex", fmt.Sprintf(`echo %s%d==\n`, marker, n), "-ex", c)
		}
		args = append(args, "-ex", fmt.Sprintf(`echo %s%d==\n`, marker, len(todo)))
		args = append(args, r.tail...)
		t.Logf("oracle: running gdb on %s for %d command(s)", r.label, len(todo))
		ctx, cancel := context.WithTimeout(context.Background(), timeout())
		defer cancel()
		cmd := exec.CommandContext(ctx, GDBProgram, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("oracle: gdb on %s: %v\n%s", r.target, err, tail(stderr.String(), 2000))
		}
		return stdout.String(), nil
	})
}
