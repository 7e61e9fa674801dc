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
	"github.com/kinspect/kinspect/kstructs"
)

// Live mode: `kinspect` with no dump, `kinspect /proc/kcore [VMLINUX]` or
// `kinspect /dev/mem [VMLINUX]` reads the running kernel through
// /proc/kcore (dump/kcore.go) or, where the kernel has none (32-bit ARM),
// /dev/mem (dump/devmem.go).

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
// /boot/vmlinux-*; its error lists every place it looked and how to give
// it with the memory src (/proc/kcore, /dev/mem).
func (l liveFiles) findVmlinux(src string) (string, error) {
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
	return "", fmt.Errorf("no vmlinux with debug information for the running kernel %s: looked at %s and %s (install linux-image-%s-dbg, or give it: kinspect %s VMLINUX)",
		rel, strings.Join(cands, ", "), glob, rel, src)
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
		return fmt.Errorf("%s does not exist: the running kernel is built without CONFIG_PROC_KCORE (as 32-bit ARM kernels are) or this /proc is not the kernel's own (a container), and there is no %s (CONFIG_DEVMEM) to read instead; give a dump and its vmlinux", p, l.path(dump.DevMemPath))
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
// running kernel's memory through src (what kstructs.Open checked the
// vmlinux against): the kernel formats /proc/version from the same
// strings.
func (l liveFiles) checkVersion(banner, src string) error {
	b, err := os.ReadFile(l.path("/proc/version"))
	if err != nil || banner == "" {
		return nil
	}
	if got, want := strings.TrimSpace(string(b)), strings.TrimSpace(banner); got != want {
		return fmt.Errorf("the linux_banner read through %s is %q but /proc/version says %q", src, want, got)
	}
	return nil
}

// liveSource is the running kernel's memory: /proc/kcore, or /dev/mem
// where there is none (32-bit ARM: dump/devmem.go).
type liveSource struct {
	path   string
	devMem bool
}

// source tells whether arg names the running kernel's memory.
func (l liveFiles) source(arg string) (liveSource, bool) {
	switch {
	case arg == l.path(kcorePath):
		return liveSource{path: arg}, true
	case arg == l.path(dump.DevMemPath) || dump.IsDevMem(arg):
		return liveSource{path: arg, devMem: true}, true
	}
	return liveSource{}, false
}

// defaultSource is /proc/kcore, else /dev/mem when the kernel has no
// kcore but has /dev/mem; with neither, /proc/kcore (whose check says
// why).
func (l liveFiles) defaultSource() liveSource {
	if _, err := os.Stat(l.path(kcorePath)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(l.path(dump.DevMemPath)); err == nil {
			return liveSource{path: l.path(dump.DevMemPath), devMem: true}
		}
	}
	return liveSource{path: l.path(kcorePath)}
}

// liveArgs resolves the command line's dump and vmlinux in live mode:
// none, or the memory (/proc/kcore, /dev/mem) with or without a VMLINUX
// in either order. ok is false when args name no live memory (an
// ordinary dump session).
func (l liveFiles) liveArgs(args []string) (src liveSource, vmlinux string, ok bool, err error) {
	switch len(args) {
	case 0:
		src, ok = l.defaultSource(), true
	case 1:
		src, ok = l.source(args[0])
	case 2:
		if src, ok = l.source(args[0]); ok {
			vmlinux = args[1]
		} else if src, ok = l.source(args[1]); ok {
			vmlinux = args[0]
		}
	}
	if !ok {
		return liveSource{}, "", false, nil
	}
	if !src.devMem {
		if err := l.openKcoreCheck(); err != nil {
			return src, "", true, err
		}
	}
	if vmlinux == "" {
		if vmlinux, err = l.findVmlinux(src.path); err != nil {
			return src, "", true, err
		}
	}
	return src, vmlinux, true, nil
}

// openDevMem opens the running kernel through /dev/mem, reading only
// /proc/iomem's System RAM.
func (l liveFiles) openDevMem(path, vmlinux string, opts kstructs.Options) (*kstructs.Kernel, error) {
	iomem := l.path("/proc/iomem")
	b, err := os.ReadFile(iomem)
	if err != nil {
		return nil, fmt.Errorf("reading the System RAM map for %s: %w", path, err)
	}
	ram, err := dump.SystemRAM(b)
	if errors.Is(err, dump.ErrIOMemHidden) {
		return nil, fmt.Errorf("%s: %w: reading the live kernel through %s needs root", iomem, err, path)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", iomem, err)
	}
	d, err := dump.OpenDevMem(path, ram)
	var fe *dump.DevMemFilteredError
	if errors.As(err, &fe) {
		if _, kerr := os.Stat(l.path(kcorePath)); kerr == nil {
			return nil, fmt.Errorf("%w; read %s instead", err, l.path(kcorePath))
		}
		return nil, fmt.Errorf("%w, and there is no %s (CONFIG_PROC_KCORE): the running kernel cannot be read", err, l.path(kcorePath))
	} else if err != nil {
		return nil, err
	}
	return kstructs.OpenDump(d, vmlinux, opts)
}
