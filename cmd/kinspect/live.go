package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// Live mode: `kinspect` with no dump, or `kinspect /proc/kcore [VMLINUX]`,
// reads the running kernel through /proc/kcore (dump/kcore.go).

// kcorePath is the running kernel's memory as an ELF core file.
const kcorePath = "/proc/kcore"

// liveFiles are the running system's files live mode reads; tests point
// them elsewhere.
type liveFiles struct {
	root string // prefix of every path ("" on the running system)
}

func (l liveFiles) path(p string) string { return l.root + p }

func (l liveFiles) release() (string, error) {
	b, err := os.ReadFile(l.path("/proc/sys/kernel/osrelease"))
	if err != nil {
		return "", fmt.Errorf("reading the running kernel's release: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// vmlinuxCandidates are where Debian and kernel builds put the running
// kernel's debug vmlinux, in the order they are tried.
func (l liveFiles) vmlinuxCandidates(rel string) []string {
	c := []string{
		"/usr/lib/debug/boot/vmlinux-" + rel, // linux-image-*-dbg
		"/usr/lib/debug/lib/modules/" + rel + "/vmlinux",
		"/boot/vmlinux-" + rel,
		"/lib/modules/" + rel + "/build/vmlinux", // a kernel built from source
	}
	for i := range c {
		c[i] = l.path(c[i])
	}
	return c
}

// findVmlinux returns the first candidate that exists, then any
// /boot/vmlinux-*; its error lists every place it looked.
func (l liveFiles) findVmlinux() (string, error) {
	rel, err := l.release()
	if err != nil {
		return "", err
	}
	cands := l.vmlinuxCandidates(rel)
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	glob := l.path("/boot/vmlinux-*")
	if m, _ := filepath.Glob(glob); len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("no vmlinux with debug information for the running kernel %s: looked at %s and %s (install linux-image-%s-dbg, or give it: kinspect /proc/kcore VMLINUX)",
		rel, strings.Join(cands, ", "), glob, rel)
}

// openKcoreCheck says clearly why /proc/kcore cannot be read.
func (l liveFiles) openKcoreCheck() error {
	p := l.path(kcorePath)
	f, err := os.Open(p)
	switch {
	case err == nil:
		f.Close()
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist: the running kernel is built without CONFIG_PROC_KCORE (as Debian's armhf armmp kernels are) or this /proc is not the kernel's own (a container), so it cannot be read live; give a dump and its vmlinux instead", p)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot open %s: %w: reading the live kernel needs root (CAP_SYS_RAWIO)", p, err)
	}
	return fmt.Errorf("cannot open %s: %w", p, err)
}

// checkBuildID compares the vmlinux's build-id with the running kernel's:
// VMCOREINFO's BUILD-ID (kernel/crash_core.c, Linux 5.9+) in kcore's note,
// else /sys/kernel/notes (the kernel's own .notes section). It returns
// nil when either is unknown: the banner check of kstructs.Open remains.
func (l liveFiles) checkBuildID(img *dwarfx.Image, vmci *dump.VMCoreInfo) error {
	if img.BuildID() == "" {
		return nil
	}
	running, from := "", "VMCOREINFO BUILD-ID"
	if vmci != nil {
		running, _ = vmci.Get("BUILD-ID")
	}
	if running == "" {
		from = l.path("/sys/kernel/notes")
		if notes, err := os.ReadFile(from); err == nil {
			running = dwarfx.BuildIDFromNotes(notes, binary.NativeEndian)
		}
	}
	if running == "" || running == img.BuildID() {
		return nil
	}
	return fmt.Errorf("%s is not the running kernel's vmlinux: its build-id is %s, the running kernel's (%s) is %s (use --force to open anyway)",
		img.Path(), img.BuildID(), from, running)
}

// checkVersion compares /proc/version with the banner read from the
// running kernel's memory (what kstructs.Open checked the vmlinux
// against): the kernel formats /proc/version from the same strings.
func (l liveFiles) checkVersion(banner string) error {
	b, err := os.ReadFile(l.path("/proc/version"))
	if err != nil || banner == "" {
		return nil
	}
	if got, want := strings.TrimSpace(string(b)), strings.TrimSpace(banner); got != want {
		return fmt.Errorf("the linux_banner read through /proc/kcore is %q but /proc/version says %q", want, got)
	}
	return nil
}

// liveArgs resolves the command line's dump and vmlinux in live mode:
// none, "/proc/kcore" or "/proc/kcore VMLINUX" (either order). ok is
// false when args name no kcore (an ordinary dump session).
func (l liveFiles) liveArgs(args []string) (kcore, vmlinux string, ok bool, err error) {
	kc := l.path(kcorePath)
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == kc:
	case len(args) == 2 && args[0] == kc:
		vmlinux = args[1]
	case len(args) == 2 && args[1] == kc:
		vmlinux = args[0]
	default:
		return "", "", false, nil
	}
	if err := l.openKcoreCheck(); err != nil {
		return "", "", true, err
	}
	if vmlinux == "" {
		if vmlinux, err = l.findVmlinux(); err != nil {
			return "", "", true, err
		}
	}
	return kc, vmlinux, true, nil
}
