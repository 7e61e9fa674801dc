// Package oracle runs Red Hat's crash utility — Debian trixie's 8.0.6,
// installed into private roots by testdata/install-oracle.sh — on the
// fixture dumps, so that tests can compare kinspect's output with crash's
// field by field.
//
// Why trixie's: bookworm's crash 8.0.2 does not know the struct pid change
// backported to the fixtures' 6.1.176 kernels and finds only the idle and
// running tasks. Why cached: under qemu-user (arm64, arm) one crash run takes
// minutes, so outputs are kept per process and on disk next to the fixture
// (<fixture>/oracle/<dump>/), keyed by the dump's identity (name, size,
// mtime), crash's version and the command: a warm test run starts no crash.
package oracle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinspect/kinspect/internal/fixture"
)

// Dir is the oracle root: $KINSPECT_ORACLE or ~/.cache/kinspect/oracle.
func Dir() string {
	if d := os.Getenv("KINSPECT_ORACLE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "kinspect", "oracle")
}

// debArchs maps kinspect's (and Debian's, and uname's) arch names to
// Debian's.
var debArchs = map[string]string{
	"x86_64": "amd64", "amd64": "amd64",
	"arm64": "arm64", "aarch64": "arm64",
	"arm": "armhf", "armhf": "armhf",
}

// debArch maps kinspect's arch names to Debian's, which name the roots.
func debArch(arch string) (string, error) {
	if da, ok := debArchs[arch]; ok {
		return da, nil
	}
	return "", fmt.Errorf("oracle: unknown arch %q (want x86_64, arm64 or arm)", arch)
}

// Root is the private root crash for arch is installed in.
func Root(arch string) (string, error) {
	da, err := debArch(arch)
	if err != nil {
		return "", err
	}
	return filepath.Join(Dir(), "trixie-"+da), nil
}

// Version returns the installed crash's stamp ("crash 8.0.6-1 <date>"), or
// an error saying how to install it.
func Version(arch string) (string, error) {
	root, err := Root(arch)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, ".complete"))
	if err != nil {
		da, _ := debArch(arch)
		return "", fmt.Errorf("oracle crash for %s not installed in %s (run testdata/install-oracle.sh %s): %w",
			arch, root, da, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Require skips the test when the oracle for arch is not installed, unless
// $CI or $KINSPECT_FIXTURES is set: then the comparison must run and the
// test fails.
func Require(t testing.TB, arch string) {
	t.Helper()
	if _, err := Version(arch); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("KINSPECT_FIXTURES") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// Dumps lists, per arch, the fixture dumps trixie's crash reads, best first.
// What works with crash 8.0.6 on the QEMU dumps of the 6.1.176 fixtures:
//
//   - x86_64: vmcore.elf natively; everything, bt included (registers from
//     the ELF notes).
//   - arm64: vmcore.elf (and vmcore.mkdf-*-d31) under qemu-aarch64; sys, ps,
//     runq, log, p, struct, sym, rd work, but bt prints task headers only:
//     crash warns "invalid NT_PRSTATUS note" and "cannot find NT_PRSTATUS
//     note" for every CPU (it looks for the registers in the kernel's
//     crash_notes, which only a kdump kernel fills), so it has none.
//   - arm: vmcore.elf under qemu-arm, without VMCOREINFO and without
//     --machdep (crash finds phys_offset from the ELF load segment); bt
//     unwinds the CPUs stopped by IPI but not the panic task ("cannot find
//     unwind table").
var Dumps = map[string][]string{
	"x86_64": {"vmcore.elf"},
	"arm64":  {"vmcore.elf", "vmcore.mkdf-zlib-d31"},
	"arm":    {"vmcore.elf"},
}

// DefaultDump is the dump the comparison tests give crash for arch.
func DefaultDump(arch string) string {
	if d := Dumps[arch]; len(d) > 0 {
		return d[0]
	}
	return "vmcore.elf"
}

// ExtraArgs are crash options arch's fixtures need (crash-oracle passes them
// before vmlinux and the dump).
var ExtraArgs = map[string][]string{}

// runMu: one crash at a time (each takes ~0.5 GB and minutes under qemu).
var runMu sync.Mutex

// marker separates the commands' outputs in one crash run (crash's echo).
const marker = "==KINSPECT-ORACLE-CMD "

// Unreadable lists the fixtures crash 8.0.6 cannot open at all ("arch/
// suite"), and why: RunFixture skips the test there at once (kinspect's own
// ground-truth tests still run on them) instead of spending minutes under
// qemu-user to reach the same failure.
var Unreadable = map[string]string{
	"arm64/trixie": "Linux 6.12 built for 52-bit VAs running 48-bit: crash stops at " +
		`"seek error: kernel virtual address: … type: \"memory section root table\"" (also with --machdep vabits_actual=48)`,
	// Keyed "arch/suite/kind" for a fixture kind other than sysrq.
	"arm64/bookworm/raspi": "a KASLR kernel on raspi3b with no VMCOREINFO: crash warns \"kimage_voffset cannot be " +
		"determined from the dumpfile\" and stops at \"vmlinux and vmcore.elf do not match!\" (the offset would have " +
		"to come from kinspect itself: --machdep kimage_voffset= is no independent oracle)",
}

// RunFixture runs each command on fixture f's dump dumpFile and returns the
// outputs in order. Commands whose output is cached next to the fixture are
// not run; the others run in ONE crash process, since starting crash is most
// of the cost. It skips or fails like Require when crash is missing.
func RunFixture(t testing.TB, f *fixture.Fixture, dumpFile string, commands []string) ([]string, error) {
	t.Helper()
	arch := f.Arch
	Require(t, arch)
	key := arch + "/" + f.Suite
	if f.Meta.Kind != "" && f.Meta.Kind != fixture.KindSysrq {
		key += "/" + f.Meta.Kind
	}
	if why, ok := Unreadable[key]; ok {
		t.Skipf("crash 8.0.6 cannot read the %s dumps: %s", key, why)
	}
	ver, err := Version(arch)
	if err != nil {
		return nil, err
	}
	ver = strings.Join(strings.Fields(ver)[:min(2, len(strings.Fields(ver)))], " ")
	dumpPath := f.Path(dumpFile)
	st, err := os.Stat(dumpPath)
	if err != nil {
		return nil, fmt.Errorf("oracle: %s fixture dump: %w", arch, err)
	}
	args := ExtraArgs[arch]
	// The dump's size and mtime are in the key: a rebuilt fixture of the
	// same kernel (same build-id) is a different crash.
	id := fmt.Sprintf("%s|%d|%d|%s|%s", dumpFile, st.Size(), st.ModTime().UnixNano(), ver, strings.Join(args, " "))
	return runCached(t, filepath.Join(f.Dir, "oracle", dumpFile), id, commands, func(todo []string) (string, error) {
		var in strings.Builder
		for n, c := range todo {
			fmt.Fprintf(&in, "echo %s%d==\n%s\n", marker, n, strings.TrimSpace(c))
		}
		fmt.Fprintf(&in, "echo %s%d==\n", marker, len(todo))
		t.Logf("oracle: running crash (%s) on %s %s for %d command(s); under qemu-user this takes minutes",
			ver, filepath.Base(f.Dir), dumpFile, len(todo))
		return runCrash(arch, f.Vmlinux(), dumpPath, args, in.String())
	})
}

// runCached returns each command's output from the cache directory dir
// (files named by a hash of id and the command) and runs the others in
// one call of run, which gets them in order and returns their outputs
// separated by the markers (see split). Outputs are written via rename:
// a killed test never leaves a truncated one.
func runCached(t testing.TB, dir, id string, commands []string, run func(todo []string) (string, error)) ([]string, error) {
	t.Helper()
	outs := make([]string, len(commands))
	keys := make([]string, len(commands))
	var todo []int
	var todoCmds []string
	for i, c := range commands {
		if strings.Contains(c, marker) {
			return nil, fmt.Errorf("oracle: command %q contains the output marker", c)
		}
		h := sha256.Sum256([]byte(id + "\x00" + c))
		keys[i] = hex.EncodeToString(h[:12])
		if b, err := os.ReadFile(filepath.Join(dir, keys[i]+".out")); err == nil {
			outs[i] = string(b)
			continue
		}
		todo = append(todo, i)
		todoCmds = append(todoCmds, c)
	}
	if len(todo) == 0 {
		return outs, nil
	}
	start := time.Now()
	out, err := run(todoCmds)
	if err != nil {
		return nil, err
	}
	t.Logf("oracle: %d command(s) took %v", len(todo), time.Since(start).Round(time.Second))
	parts, err := split(out, len(todo))
	if err != nil {
		return nil, fmt.Errorf("oracle: %s: %w\n%s", dir, err, tail(out, 2000))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("oracle: cache: %w", err)
	}
	for n, i := range todo {
		outs[i] = parts[n]
		// The command is kept next to its output for whoever reads the cache.
		_ = os.WriteFile(filepath.Join(dir, keys[i]+".cmd"), []byte(commands[i]+"\n"), 0o644)
		tmp := filepath.Join(dir, keys[i]+".out.tmp")
		if err := os.WriteFile(tmp, []byte(parts[n]), 0o644); err == nil {
			_ = os.Rename(tmp, filepath.Join(dir, keys[i]+".out"))
		}
	}
	return outs, nil
}

// split cuts crash's output at the markers: part n is what follows marker n
// up to marker n+1. Anything before marker 0 (crash's start-up chatter) is
// dropped.
func split(out string, n int) ([]string, error) {
	parts := make([]string, n)
	cur := -1
	var b strings.Builder
	seen := 0
	for _, line := range strings.SplitAfter(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), marker); ok {
			k, err := strconv.Atoi(strings.TrimSuffix(rest, "=="))
			if err != nil || k != cur+1 {
				return nil, fmt.Errorf("marker %q out of order (after %d)", strings.TrimSpace(line), cur)
			}
			if cur >= 0 {
				parts[cur] = b.String()
			}
			b.Reset()
			cur = k
			seen++
			continue
		}
		if cur >= 0 {
			b.WriteString(line)
		}
	}
	if seen != n+1 {
		return nil, fmt.Errorf("crash stopped after command %d of %d (saw %d of %d markers)", cur, n, seen, n+1)
	}
	return parts, nil
}

// timeout bounds one crash run: $KINSPECT_ORACLE_TIMEOUT (a Go duration) or 30m.
func timeout() time.Duration {
	if s := os.Getenv("KINSPECT_ORACLE_TIMEOUT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return 30 * time.Minute
}

// Script is the path of testdata/crash-oracle in the module (tests run in
// their package directory).
func Script() (string, error) {
	dir, err := fixture.RepoDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "testdata", "crash-oracle")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("oracle: %w", err)
	}
	return p, nil
}

func runCrash(arch, vmlinux, dump string, extra []string, input string) (string, error) {
	runMu.Lock()
	defer runMu.Unlock()
	script, err := Script()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	args := append([]string{arch, vmlinux, dump}, extra...)
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("oracle: crash on %s %s timed out after %v (KINSPECT_ORACLE_TIMEOUT)", arch, dump, timeout())
	}
	if err != nil {
		return "", fmt.Errorf("oracle: crash on %s %s: %v\nstderr:\n%s\nstdout:\n%s", arch, dump, err,
			tail(stderr.String(), 2000), tail(stdout.String(), 2000))
	}
	return stdout.String(), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
