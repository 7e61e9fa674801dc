package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// TestReleaseBinaries builds the Raspberry Pi release binaries with
// scripts/release.sh (what `make release` runs), checks SHA256SUMS, and
// runs them under qemu-user: each prints its stamped version, and the
// 32-bit ARMv6 one (Raspberry Pi 1/Zero; the oldest the release targets)
// reads the arm fixture's dump and prints exactly the process list the
// host build prints.
func TestReleaseBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cross binaries")
	}
	emu := map[string]string{"kinspect-linux-armv6": "qemu-arm-static", "kinspect-linux-arm64": "qemu-aarch64-static"}
	for _, q := range emu {
		if _, err := exec.LookPath(q); err != nil {
			if os.Getenv("KINSPECT_FIXTURES") != "" {
				t.Fatalf("%s not installed (testdata/install-deps.sh installs qemu-user-static)", q)
			}
			t.Skipf("%s not installed", q)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("../../scripts/release.sh", out, "linux/arm/6", "linux/arm64")
	cmd.Env = append(os.Environ(), "KINSPECT_VERSION=test-1.2.3")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}
	checkSums(t, out, len(emu))
	for name, q := range emu {
		b, err := exec.Command(q, filepath.Join(out, name), "version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(b)) != "kinspect test-1.2.3" {
			t.Errorf("%s version: %v %q", name, err, b)
		}
	}
	f := fixture.Require(t, "arm")
	args := []string{f.Path("vmcore.elf"), f.Vmlinux(), "-c", "ps"}
	code, want, errs := kinspectRun(t, "", args...)
	if code != 0 {
		t.Fatalf("host ps: exit %d: %s", code, errs)
	}
	got, err := exec.Command("qemu-arm-static", append([]string{filepath.Join(out, "kinspect-linux-armv6")}, args...)...).Output()
	if err != nil {
		t.Fatalf("armv6 ps: %v", err)
	}
	if string(got) != want {
		t.Errorf("the armv6 build's ps differs from the host build's:\n%s\n---\n%s", got, want)
	}
}

func checkSums(t *testing.T, dir string, n int) {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	lines := 0
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		b, err := os.ReadFile(filepath.Join(dir, name))
		if !ok || err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != sum {
			t.Errorf("SHA256SUMS line %q does not match the file (%v)", sc.Text(), err)
		}
		lines++
	}
	if lines != n {
		t.Errorf("SHA256SUMS has %d lines, want %d", lines, n)
	}
}
