package main

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// TestRawRAMDump turns a fixture's ELF vmcore into what Trace32's
// data.save.binary or a Qualcomm ramdump gives: bare RAM images, here two
// banks split at an arbitrary boundary, with no notes and no VMCOREINFO.
// kinspect must find the layout from vmlinux and memory alone, with the
// vmlinux given first as Trace32 users write it.
func TestRawRAMDump(t *testing.T) {
	for _, arch := range []string{"arm", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			f := fixture.Require(t, arch)
			ef, err := elf.Open(f.Path("vmcore.elf"))
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			var specs []string
			dir := t.TempDir()
			for _, p := range ef.Progs {
				if p.Type != elf.PT_LOAD || p.Filesz == 0 {
					continue
				}
				// Two banks per segment, as if RAM were two chips.
				half := p.Filesz / 2 &^ 0xfffff
				for i, part := range [][2]uint64{{0, half}, {half, p.Filesz - half}} {
					name := filepath.Join(dir, fmt.Sprintf("DDR%d-%x.bin", i, p.Paddr))
					out, err := os.Create(name)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.Copy(out, io.NewSectionReader(p, int64(part[0]), int64(part[1]))); err != nil {
						t.Fatal(err)
					}
					out.Close()
					specs = append(specs, fmt.Sprintf("%s@%#x", name, p.Paddr+part[0]))
				}
			}
			spec := strings.Join(specs, ",")
			code, out, errs := kinspectRun(t, "", f.Vmlinux(), spec, "-c", "sys; ps raspbian_proc; bt -p")
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, errs)
			}
			if !strings.Contains(out, "RELEASE: "+f.GT.Release) {
				t.Errorf("sys from raw RAM lacks RELEASE %s:\n%s", f.GT.Release, out)
			}
			if !strings.Contains(out, "raspbian_proc") {
				t.Errorf("ps from raw RAM does not find raspbian_proc:\n%s", out)
			}
			if !strings.Contains(out, "sysrq_handle_crash") {
				// Raw RAM has no CPU registers: the panic task's stack is
				// unwound from what the scheduler or panic saved.
				t.Logf("bt -p from raw RAM:\n%s", out)
			}
		})
	}
}
