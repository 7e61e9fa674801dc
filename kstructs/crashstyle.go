package kstructs

import "io"

// CrashStyle says how crash prints one architecture's frames and saved
// registers, for front ends that reproduce its output.
type CrashStyle struct {
	// FromLines: a frame prints as "#N [<pc>] (fn) from [<caller pc>]"
	// (arm's dump_backtrace_entry) rather than "#N [sp] fn at pc".
	FromLines bool
	// CallSiteBack is subtracted from a return address to show the call
	// instruction rather than the one after it (arm64: 4).
	CallSiteBack uint64
	// EframeIndent precedes bt -e's "KERNEL-MODE EXCEPTION FRAME AT"
	// lines (x86_64_exception_frame indents them, arm64_eframe_search not).
	EframeIndent string
	// writeRegs prints a pt_regs; symOff names a code address.
	writeRegs func(w io.Writer, r *Regs, symOff func(uint64) string)
}

// WriteRegs prints the register set r the way crash prints an exception
// frame's pt_regs; symOff names a code address ("func+off").
func (c CrashStyle) WriteRegs(w io.Writer, r *Regs, symOff func(uint64) string) {
	if c.writeRegs != nil {
		c.writeRegs(w, r, symOff)
	}
}

// CrashStyle returns how crash prints the kernel's architecture (the zero
// value, which prints no registers, for an unknown one).
func (k *Kernel) CrashStyle() CrashStyle {
	if a, err := opsFor(k.Arch); err == nil {
		return a.crashStyle
	}
	return CrashStyle{}
}
