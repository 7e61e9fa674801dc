// Package dwarfx reads a Linux kernel image (vmlinux): its ELF symbol table,
// its DWARF types, variables, functions and enumerators, and offers a typed
// value model (Value) over the target's memory plus a gdb/crash-like C
// expression evaluator (Env.Eval).
//
// Layering follows drgn: an Image (the program's static description) gives
// types and addresses; a Value is an object of some type at some address (or
// a constant), read through a Memory supplied by the caller; the evaluator
// builds Values from C expressions.
//
// Opening is fast: the file is mapped read-only and a hand-written DIE
// scanner indexes the names of all top-level types, variables, functions and
// enumerators of every compile unit in parallel, without decoding any type.
// Types are decoded lazily, one compile unit at a time, with the standard
// library's debug/dwarf (which decodes GCC's DW_AT_data_bit_offset bit-fields
// correctly).
//
// Addresses: DWARF and ELF give link-time addresses. SetKASLROffset shifts
// every address reported afterwards (symbols, variables, functions) and
// un-shifts every address taken as input (SymbolAt, FunctionAt, InText). The
// x86-64 zero-based per-cpu section and absolute symbols are never shifted.
//
// The package imports nothing else of kinspect; target memory comes in
// through the Memory interface.
package dwarfx
