package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kinspect/kinspect/internal/fixture"
)

// TestMain keeps every test of this package off the user's index cache.
// The tests call run in this process: a cold run's background indexer
// (indexer.go) is this test binary started as `kinspect index VMLINUX`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "index" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "kinspect-cache-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cacheCommands are answered from the index (names, types, offsets,
// symbols) and from the task list; their outputs are checked against crash
// and gdb elsewhere: here they must only not depend on the cache's state.
const cacheCommands = "p init_task.comm; p &init_task; whatis struct task_struct; struct list_head; " +
	"struct -o task_struct.tasks; sym schedule; sym init_task; whatis jiffies; p sizeof(struct task_struct); ps; bt -a"

// TestIndexCacheStates: a fresh index (--no-cache), a cold cache (written),
// a warm one (read), a truncated and a byte-flipped file (each reported on
// stderr in one line, ignored and rewritten) give the same answers.
func TestIndexCacheStates(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dumpf, vml := f.Path("vmcore.elf"), f.Vmlinux()
	runCmds := func(extra ...string) (string, string) {
		t.Helper()
		args := append([]string{dumpf, vml, "-c", cacheCommands}, extra...)
		code, out, errs := kinspectRun(t, "", args...)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, errs)
		}
		return out, errs
	}
	want, _ := runCmds("--no-cache")
	dir := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "kinspect", "index")
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("--no-cache wrote %s", dir)
	}
	check := func(state string, wantWarning bool) {
		t.Helper()
		out, errs := runCmds()
		waitIndexer(t, vml)
		if out != want {
			t.Errorf("%s cache: output differs from a fresh index:\n%s", state, firstDiff(out, want))
		}
		warned := strings.Contains(errs, "warning: ") && strings.Contains(errs, "index")
		if warned != wantWarning || strings.Count(errs, "\n") > 1 {
			t.Errorf("%s cache: stderr %q, want a one-line warning: %v", state, errs, wantWarning)
		}
	}
	check("cold", false)
	files, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
	if len(files) != 1 {
		t.Fatalf("cache files after the cold run: %q, want one", files)
	}
	check("warm", false)
	good, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for state, bad := range map[string][]byte{
		"truncated": good[:len(good)/3],
		"flipped":   flipByte(good, len(good)/2),
	} {
		if err := os.WriteFile(files[0], bad, 0o600); err != nil {
			t.Fatal(err)
		}
		check(state, true)
		check(state+", then rewritten", false)
	}
	t.Setenv("KINSPECT_CACHE", "off")
	os.RemoveAll(dir)
	check("KINSPECT_CACHE=off", false)
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("KINSPECT_CACHE=off wrote %s", dir)
	}
}

// waitIndexer waits until no background indexer of vml runs (it holds an
// exclusive flock on the vmlinux from before the run that starts it exits).
func waitIndexer(t *testing.T, vml string) {
	t.Helper()
	f, err := os.Open(vml)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waiting for the indexer of %s: %v", vml, err)
		}
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
	case <-time.After(2 * time.Minute):
		t.Fatalf("the background indexer of %s still runs after 2 minutes", vml)
	}
}

func flipByte(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

// firstDiff shows the first differing line of two outputs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(g), len(w))
}

// TestColdRunLeavesCache: a cold run done before its index (one quick
// command) leaves the cache all the same, written by the background indexer
// it hands off to or by itself, and `kinspect index` then finds it valid.
func TestColdRunLeavesCache(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	vml := f.Vmlinux()
	code, out, errs := kinspectRun(t, "", f.Path("vmcore.mkdf-zlib-d31"), vml, "-c", "p init_task.comm")
	if code != 0 || !strings.Contains(out, `"swapper/0`) || errs != "" {
		t.Fatalf("cold run: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	waitIndexer(t, vml)
	code, out, errs = kinspectRun(t, "", "index", vml)
	if code != 0 || !strings.Contains(out, ": valid (") {
		t.Fatalf("kinspect index after the cold run: exit %d, stdout %q, stderr %q; want the cache valid", code, out, errs)
	}
	t.Setenv("KINSPECT_CACHE", "off")
	if code, _, errs = kinspectRun(t, "", "index", vml); code != exitUsage || !strings.Contains(errs, "cache is off") {
		t.Errorf("kinspect index with KINSPECT_CACHE=off: exit %d, stderr %q; want a usage error", code, errs)
	}
}
