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
//	im, err := dwarfx.Open("vmlinux")               // mmap + parallel name index
//	t, _ := im.Type("struct task_struct")            // decoded on first use
//	v, _ := im.Variable("init_task")                 // Var{Name, Addr, Type, Decl, PerCPU}
//	env := &dwarfx.Env{Img: im, Mem: mem, PerCPU: perCPU}
//	x, err := env.Eval("container_of(init_task.tasks.next, struct task_struct, tasks)->comm")
//	s, err := x.CString(nil, 16)
//
// # Opening
//
// The file is mapped read-only. A hand-written DIE scanner walks every unit
// of .debug_info in parallel, skipping subtrees by
// DW_AT_sibling and attributes by form size, and records only the names of
// top-level struct/union/enum/typedef/base types, variable definitions and
// declarations, functions with code (low_pc/high_pc or DW_AT_ranges) and
// enumerators. Enumerations repeated byte-for-byte in many units (header
// enums) are indexed once. No type is decoded while opening.
//
// For each type name the index keeps the definition (never a declaration
// when a definition exists) first in file order, so that a lookup made
// before the index is complete is answered by scanning units in order up to
// the first one defining the name (lazy.go), with the answer the index will
// give. Types are decoded
// by the standard library's debug/dwarf, one unit at a time (a reader per
// unit: its cost and its cache stay per unit), which decodes GCC's
// DW_AT_data_bit_offset bit-fields correctly. An opaque struct (a pointer's
// target declared but not defined in that unit) is completed by name through
// the index (Complete), so a->b->c works across units.
//
// DWARF 2 to 5 are handled, 32- and 64-bit DWARF, little- and big-endian
// ELF32/ELF64, DW_FORM_strx*/addrx*/implicit_const/line_strp/rnglistx,
// .debug_ranges and .debug_rnglists.
//
// # Addresses
//
// DWARF and ELF give link-time addresses. SetKASLROffset shifts every address
// reported afterwards (symbols, variables, functions) and un-shifts every
// address taken as input (SymbolAt, FunctionAt, LineAt, InText). The x86-64
// zero-based per-cpu section and absolute symbols are never shifted.
//
// # Values and expressions
//
// A Value is lazy: an lvalue is read only when asked (Uint, Int, Bytes,
// CString, Load) or when an operation must follow a pointer. Memory errors
// come back wrapped with what was being read ("reading init_task.mm->pgd
// (8 bytes at 0x...): ..."), so errors.Is works on the Memory's own errors.
// Env.Eval parses C expressions with casts, member access through pointers
// and anonymous members, pointer arithmetic, sizeof, offsetof, container_of,
// per_cpu/per_cpu_ptr and crash's sym:cpu suffix, and value history ($N);
// errors are *ExprError values that name the column.
//
// The package imports nothing else of kinspect.
package dwarfx
