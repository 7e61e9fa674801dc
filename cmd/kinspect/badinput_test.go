package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/internal/fixture"
)

// Bad input end to end: each case must fail with a message that names what
// was being read and why — never a panic, never a silent zero — and, in a
// session, leave the session usable (--keep-going runs the next command).
func TestBadInputMessages(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	dumpf, vml := f.Path("vmcore.elf"), f.Vmlinux()
	cases := []struct {
		name, cmd string
		want      []string // all must appear in stderr
	}{
		// In the module area, far above the one module the fixture loads.
		{"unmapped address", "rd fffffffff0000000", []string{"fffffffff0000000", "not mapped"}},
		// In the direct map's window but beyond RAM: translated, not in the dump.
		{"beyond RAM", "rd ffff800000000000", []string{"ffff800000000000"}},
		{"unknown symbol", "p no_such_symbol_xyz", []string{"no_such_symbol_xyz"}},
		{"unknown member", "p init_task.no_such_member", []string{"no_such_member", "task_struct"}},
		{"malformed expression", "p (1 +)", []string{"column"}},
		{"malformed cast", "p (struct task_struct *)", []string{"column"}},
		{"unknown type", "struct no_such_struct_xyz", []string{"no_such_struct_xyz"}},
		{"bad count", "rd linux_banner zero", []string{"zero"}},
		{"unreadable value", "p *(int *)0", []string{"0x0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := kinspectRun(t, "", dumpf, vml, "--keep-going", "-c", c.cmd+"; sym linux_banner")
			if code == 0 {
				t.Fatalf("%s succeeded: %s", c.cmd, out)
			}
			if strings.Contains(errs, "internal error") || strings.Contains(errs, "panic") {
				t.Fatalf("%s panicked: %s", c.cmd, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("%s: error lacks %q: %s", c.cmd, w, errs)
				}
			}
			if !strings.Contains(out, "linux_banner") {
				t.Errorf("the session did not go on after %q", c.cmd)
			}
		})
	}
}

// TestExcludedPage reads a page makedumpfile -d 31 left out: the error
// says so, like crash's "page excluded".
func TestExcludedPage(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	d, err := dump.Open(f.Path("vmcore.mkdf-zlib-d31"), dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A gap between dumped ranges in the middle of RAM (above the
	// firmware holes of the first MiBs) is a page -d 31 excluded.
	r := d.Ranges()
	d.Close()
	var gap uint64
	for i := 1; i < len(r); i++ {
		if r[i].Start > r[i-1].End() && r[i-1].End() >= 16<<20 {
			gap = r[i-1].End()
			break
		}
	}
	if gap == 0 {
		t.Fatal("the -d 31 dump has no excluded page between its ranges")
	}
	code, _, errs := kinspectRun(t, "", f.Path("vmcore.mkdf-zlib-d31"), f.Vmlinux(), "-c", "rd -p "+strings.TrimPrefix(hex(gap), "0x"))
	if code != 1 || !strings.Contains(errs, "excluded") {
		t.Errorf("rd -p of an excluded page: exit %d, %q", code, errs)
	}
}

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

// TestTruncatedDump cuts a kdump file after its headers: opening works (the
// headers are intact), reading memory past the cut fails naming the
// truncation, and nothing panics.
func TestTruncatedDump(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	src, err := os.Open(f.Path("vmcore.kdump-zlib-rearranged"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cut := filepath.Join(t.TempDir(), "vmcore.cut")
	dst, err := os.Create(cut)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := src.Stat()
	if _, err := io.CopyN(dst, src, st.Size()/3); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	code, out, errs := kinspectRun(t, "", cut, f.Vmlinux(), "--keep-going", "-c", "sys; ps")
	if strings.Contains(errs, "internal error") || strings.Contains(errs, "goroutine") {
		t.Fatalf("truncated dump panicked: %s", errs)
	}
	if code == 0 && !strings.Contains(out+errs, "truncated") {
		t.Errorf("a dump cut to a third read without any error or warning")
	}
	if !strings.Contains(errs, "truncated") {
		t.Errorf("errors do not say the dump is truncated: %s", errs)
	}
}

// TestVmlinuxWithoutDWARF gives an ELF executable with no debug info as the
// kernel image.
func TestVmlinuxWithoutDWARF(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	code, _, errs := kinspectRun(t, "", f.Path("vmcore.elf"), "/bin/true", "-c", "sys")
	if code == 0 {
		t.Fatal("opened a dump with /bin/true as vmlinux")
	}
	if !strings.Contains(errs, "DWARF") && !strings.Contains(errs, "debug") {
		t.Errorf("error does not say the image lacks debug info: %s", errs)
	}
	if strings.Contains(errs, "goroutine") {
		t.Fatalf("panicked: %s", errs)
	}
}
