// Package dump gives access to a crashed target's memory: it opens a dump
// file (ELF vmcore, kdump-compressed including the flattened variant, or raw
// RAM images), exposes its physical memory, its notes (VMCOREINFO, per-CPU
// register sets) and, given a kernel memory layout, translates kernel virtual
// addresses to physical ones.
//
// The package knows nothing of vmlinux or DWARF: whatever it needs from the
// kernel image (symbol addresses for the page tables, say) is handed to it by
// the caller in a KernelLayout.
//
// A Dump only ever reads its files.
//
// Open tells formats apart by content:
//   - ELF32/ELF64 core files: /proc/vmcore copies, QEMU dump-guest-memory
//     (including QEMU 7.2's PN_XNUM and odd e_phentsize), makedumpfile -E.
//     PT_LOAD p_paddr gives physical addresses; bytes past p_filesz read as
//     zeros.
//   - kdump-compressed ("KDUMP   ", header versions 1 to 6 and later, 32-
//     and 64-bit, both 32-bit sub-header layouts): zlib, LZO, snappy, zstd
//     or uncompressed pages; pages makedumpfile filtered out fail with
//     ErrExcluded. Decompressed pages are cached (Options.CacheBytes).
//   - makedumpfile's flattened form of either (makedumpfile -F, QEMU's
//     -z/-l/-s), indexed and read in place.
//   - raw RAM images placed at physical addresses: "DDR0.bin@0x0,...".
//
// Files are memory-mapped where possible.
package dump

import (
	"errors"
	"fmt"
)

// PhysMemory is anything that can read the target's physical memory.
// ReadPhys fills all of p from physical address addr or returns an error
// (normally a *ReadError) saying why it could not.
type PhysMemory interface {
	ReadPhys(p []byte, addr uint64) error
}

// PhysRange is one contiguous range of physical memory held by a dump.
type PhysRange struct {
	Start uint64 // first physical address
	Size  uint64 // bytes
}

// End is one past the last address of r.
func (r PhysRange) End() uint64 { return r.Start + r.Size }

// Errors that a ReadError wraps; test with errors.Is.
var (
	// ErrNotInDump: the address lies outside every range the dump holds.
	ErrNotInDump = errors.New("address not in dump")
	// ErrExcluded: the page was filtered out when the dump was written
	// (makedumpfile -d), as crash says "page excluded".
	ErrExcluded = errors.New("page excluded from dump")
	// ErrTruncated: the dump describes the page but its data lies past the
	// end of the file (an incomplete or cut dump).
	ErrTruncated = errors.New("dump file truncated")
	// ErrCorrupt: the page's descriptor or data is malformed
	// (bad compressed data, impossible offsets or sizes).
	ErrCorrupt = errors.New("corrupt dump data")
	// ErrNotMapped: a virtual address has no valid translation.
	ErrNotMapped = errors.New("virtual address not mapped")
)

// ReadError reports a failed read of the target's memory, naming where.
type ReadError struct {
	Space  string // "physical" or "virtual"
	Addr   uint64 // address that failed (the first failing byte)
	Size   int    // bytes requested
	Offset int64  // file offset involved, -1 if none
	Err    error  // one of the Err* sentinels above, possibly wrapped with detail
}

func (e *ReadError) Error() string {
	s := fmt.Sprintf("reading %d bytes of %s memory at %#x: %v", e.Size, e.Space, e.Addr, e.Err)
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (file offset %#x)", e.Offset)
	}
	return s
}

func (e *ReadError) Unwrap() error { return e.Err }

// FormatError reports a dump file whose structure cannot be parsed.
type FormatError struct {
	File   string
	Offset int64  // file offset of the offending structure
	What   string // the structure being read, e.g. "kdump sub-header"
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: %s at file offset %#x: %v", e.File, e.What, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// formatErrors makes the FormatErrors of one file's parser.
func formatErrors(name string) func(off int64, what string, err error) error {
	return func(off int64, what string, err error) error {
		return &FormatError{File: name, Offset: off, What: what, Err: err}
	}
}
