package kstructs

import "github.com/kinspect/kinspect/dwarfx"

// Every read of the target this package makes goes through Kernel.ReadVirt
// (or memory(), for the expression evaluator): the one seam where an
// overlay — injected corruption in tests, patched memory, a future live or
// remote target — applies to all walks alike: tasks, lists and trees,
// per-cpu data, the printk ring, panic state and the unwinders. Nothing in
// kstructs reads k.Mem directly.

// VirtReader reads target virtual memory.
type VirtReader interface {
	ReadVirt(p []byte, addr uint64) error
}

// WithMemory returns a Kernel that shares k's dump, image and layout but
// reads the target through m: every walk of the returned Kernel (tasks,
// runqueues, lists, trees, per-cpu data, printk, panic state, backtraces)
// sees m's bytes. Its caches start empty, so nothing read through k leaks
// in. Tests inject corruption this way; a tool can overlay patched memory.
func (k *Kernel) WithMemory(m VirtReader) *Kernel {
	return &Kernel{Dump: k.Dump, Image: k.Image, Layout: k.Layout, Trans: k.Trans, Mem: k.Mem, Arch: k.Arch,
		Warnings: k.Warnings, overlay: m}
}

// memory is the reader behind ReadVirt: the overlay if there is one, else
// the dump.
func (k *Kernel) memory() dwarfx.Memory {
	if k.overlay != nil {
		return k.overlay
	}
	return k.Mem
}

// Memory is the reader behind ReadVirt, for layers above (repl, star) that
// hand target memory to dwarfx values: the overlay applies to them too.
func (k *Kernel) Memory() dwarfx.Memory { return k.memory() }

// ReadVirt reads kernel virtual memory: the dump's, or WithMemory's overlay.
func (k *Kernel) ReadVirt(p []byte, addr uint64) error { return k.memory().ReadVirt(p, addr) }
