// Package kstructs is kinspect's kernel awareness: it joins a dump (target
// memory) with a vmlinux (symbol and type knowledge) into a Kernel, and on top
// of that walks the kernel's own data structures — tasks, threads, per-cpu
// data, runqueues, scheduler classes, the printk log, stacks.
//
// Every walk that more than one command needs lives here once; the repl
// package only formats what these functions return.
package kstructs

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// Options are the user's overrides for facts that cannot always be detected.
type Options struct {
	// Force opens the pair even when the vmlinux does not match the dump.
	Force bool
	// PhysOffset and KASLR override discovery (flags --phys-offset, --kaslr).
	PhysOffset *uint64
	KASLR      *uint64
	// Arch overrides the architecture (needed for raw dumps if the vmlinux
	// cannot tell, which in practice it always can).
	Arch dump.Arch
	// Progress, if set, is told what the open is doing (for a progress line).
	Progress func(stage string)
	// IndexCache configures the persistent vmlinux index cache (off when
	// its Dir is empty).
	IndexCache dwarfx.CacheOptions
}

// Kernel is an opened dump together with its vmlinux: the "program" in drgn's
// terms. It is safe for use by one goroutine at a time.
type Kernel struct {
	Dump   *dump.Dump
	Image  *dwarfx.Image
	Layout dump.KernelLayout
	Trans  dump.Translator
	Mem    *dump.VirtMemory
	Arch   dump.Arch

	// Warnings collected while opening (mismatch overridden with --force,
	// missing VMCOREINFO, ...), shown by sys and at start-up.
	Warnings []string

	percpu     *perCPU
	percpuOnce sync.Once
	percpuErr  error

	// Caches of this package's walks, built on first use: task table and
	// layouts (task_layout.go), the unwinder (stack.go).
	kcMu     sync.Mutex
	kc       *kcache
	unwind   unwinderOnce
	mem      memLayouts    // slab, vma, files layouts (memlayout.go)
	ft       ftLayoutOnce  // ftrace layout, cmdlines, events (ftrace_layout.go)
	mods     modState      // module list and symbols (module.go)
	modDebug modDebugState // modules' .ko debug info (module_debug.go)

	// overlay, if set, replaces Mem for every read this package makes
	// (WithMemory; memory.go).
	overlay VirtReader
}

// MismatchError says the vmlinux is not the kernel that wrote the dump.
type MismatchError struct {
	DumpBanner, ImageBanner string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("vmlinux does not match the dump:\n  dump:    %s\n  vmlinux: %s\n(use --force to open anyway)",
		e.DumpBanner, e.ImageBanner)
}

// Open opens the dump (a path or a raw "file@addr,..." spec) and the vmlinux
// and joins them. Either may be given first: Open sniffs the contents.
func Open(a, b string, opts Options) (*Kernel, error) {
	dumpSpec, vmlinux, err := orderInputs(a, b)
	if err != nil {
		return nil, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}

	// The vmlinux index and the dump's own index (flattened kdump files need
	// one pass) are independent: build them at the same time.
	var (
		img    *dwarfx.Image
		imgErr error
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		img, imgErr = dwarfx.OpenCached(vmlinux, opts.IndexCache)
	}()
	progress("opening dump " + dumpSpec)
	d, dErr := dump.Open(dumpSpec, dump.Options{})
	progress("indexing " + vmlinux)
	wg.Wait()
	if dErr != nil {
		if img != nil {
			img.Close()
		}
		return nil, fmt.Errorf("opening dump: %w", dErr)
	}
	return join(d, img, imgErr, opts)
}

// OpenDump joins a dump the caller opened (the running kernel's /dev/mem,
// whose System RAM map Open cannot know: dump.OpenDevMem) with the
// vmlinux. It owns d: d is closed if opening fails.
func OpenDump(d *dump.Dump, vmlinux string, opts Options) (*Kernel, error) {
	if opts.Progress != nil {
		opts.Progress("indexing " + vmlinux)
	}
	img, err := dwarfx.OpenCached(vmlinux, opts.IndexCache)
	return join(d, img, err, opts)
}

// join makes the Kernel of an open dump and the vmlinux's image (or the
// error opening it), closing both on failure.
func join(d *dump.Dump, img *dwarfx.Image, imgErr error, opts Options) (*Kernel, error) {
	if imgErr != nil {
		d.Close()
		return nil, fmt.Errorf("opening vmlinux: %w", imgErr)
	}
	k := &Kernel{Dump: d, Image: img}
	if err := k.setup(opts); err != nil {
		k.Close()
		return nil, err
	}
	// Module symbols are read when a lookup first needs them: most
	// commands never do, and on a cold open finding the modules list's
	// DWARF costs more than the rest of the open. Their error is given
	// then (ModuleSymbolsWarning).
	k.mods.installed = true
	img.SetExtraSymbolsLoader(k.moduleSymbols)
	return k, nil
}

// orderInputs returns (dump, vmlinux) whichever order they came in.
func orderInputs(a, b string) (string, string, error) {
	aIsImage, errA := dwarfx.IsELFImage(a)
	bIsImage, errB := dwarfx.IsELFImage(b)
	switch {
	case errA == nil && aIsImage && !(errB == nil && bIsImage):
		return b, a, nil
	case errB == nil && bIsImage:
		return a, b, nil
	case errA != nil && !isRawSpec(a):
		return "", "", fmt.Errorf("reading %s: %w", a, errA)
	case errB != nil && !isRawSpec(b):
		return "", "", fmt.Errorf("reading %s: %w", b, errB)
	}
	return "", "", fmt.Errorf("neither %s nor %s is a vmlinux (an ELF executable with symbols)", a, b)
}

func isRawSpec(s string) bool { return bytes.ContainsRune([]byte(s), '@') }

// symbolsAdapter gives dump.DiscoverLayout link-time addresses.
type symbolsAdapter struct{ img *dwarfx.Image }

func (s symbolsAdapter) LinkAddr(name string) (uint64, bool) {
	sym, ok := s.img.Lookup(name)
	if !ok {
		return 0, false
	}
	return sym.Addr - s.img.KASLROffset(), true
}

func (s symbolsAdapter) PtrSize() int { return s.img.PtrSize() }

func (k *Kernel) setup(opts Options) error {
	k.Arch = archOf(k.Image)
	if opts.Arch != dump.ArchUnknown {
		k.Arch = opts.Arch
	}
	if da := k.Dump.Arch(); da != dump.ArchUnknown && da != k.Arch && !opts.Force {
		return fmt.Errorf("the dump is %s but the vmlinux is %s (use --force to open anyway)", da, k.Arch)
	}
	hints := dump.LayoutHints{PhysOffset: opts.PhysOffset, KASLROffset: opts.KASLR, Arch: k.Arch}
	if b, err := k.Image.LinkBytes("linux_banner", 512); err == nil {
		hints.Banner = cString(b)
	}
	layout, err := dump.DiscoverLayout(k.Dump, symbolsAdapter{k.Image}, hints)
	if err != nil {
		// Discovery failed because the dump is another kernel's: say
		// that, not which page-table entry the wrong kernel's layout hit.
		var dm *dump.MismatchError
		if errors.As(err, &dm) && !opts.Force {
			return &MismatchError{DumpBanner: dm.DumpBanner, ImageBanner: dm.ImageBanner}
		}
		return fmt.Errorf("discovering the kernel's memory layout: %w", err)
	}
	k.Layout = layout
	k.Image.SetKASLROffset(layout.KASLROffset)
	t, err := dump.NewTranslator(k.Dump, layout)
	if err != nil {
		return fmt.Errorf("setting up address translation: %w", err)
	}
	k.Trans = t
	k.Mem = dump.NewVirtMemory(k.Dump, t)
	if k.Dump.VMCoreInfo() == nil {
		k.Warnings = append(k.Warnings, "the dump has no VMCOREINFO note: layout derived from vmlinux and the dump's memory")
	}
	return k.checkBanner(opts.Force)
}

// checkBanner compares linux_banner in the dump's memory with the vmlinux's.
func (k *Kernel) checkBanner(force bool) error {
	want, err := k.Image.LinkBytes("linux_banner", 512)
	if err != nil {
		k.Warnings = append(k.Warnings, "cannot verify that vmlinux matches the dump: "+err.Error())
		return nil
	}
	want = cString(want)
	sym, _ := k.Image.Lookup("linux_banner")
	got := make([]byte, len(want))
	if err := k.ReadVirt(got, sym.Addr); err != nil {
		if force {
			k.Warnings = append(k.Warnings, "cannot read linux_banner from the dump: "+err.Error())
			return nil
		}
		return fmt.Errorf("reading linux_banner at %#x to check that vmlinux matches the dump: %w (use --force to open anyway)", sym.Addr, err)
	}
	if !bytes.Equal(got, want) {
		me := &MismatchError{DumpBanner: printable(cString(got)), ImageBanner: printable(want)}
		if force {
			k.Warnings = append(k.Warnings, me.Error())
			return nil
		}
		return me
	}
	return nil
}

// Close releases the dump and the vmlinux.
func (k *Kernel) Close() error {
	var errs []error
	if k.Dump != nil {
		errs = append(errs, k.Dump.Close())
	}
	if k.Image != nil {
		errs = append(errs, k.Image.Close())
	}
	return errors.Join(errs...)
}

// PtrSize is the target's pointer size in bytes.
func (k *Kernel) PtrSize() int { return k.Image.PtrSize() }

func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func printable(b []byte) string {
	return string(bytes.TrimRight(b, "\n"))
}
