package kstructs

import (
	"debug/dwarf"
	"fmt"

	"github.com/kinspect/kinspect/dwarfx"
)

// This file holds the small DWARF layout queries the unwinders need: the
// offset of a member path and the size of a type.
// Every layout the unwinders use is read from the vmlinux's DWARF, so kernel
// version differences show up as "member exists or not", never as version
// checks.

// lookupType finds a type by C name ("struct pt_regs").
func (k *Kernel) lookupType(name string) (dwarf.Type, error) {
	t, err := k.Image.Type(name)
	if err != nil {
		return nil, fmt.Errorf("type %s: %w", name, err)
	}
	return dwarfx.Strip(t), nil
}

// typeSize is sizeof(name).
func (k *Kernel) typeSize(name string) (uint64, error) {
	t, err := k.lookupType(name)
	if err != nil {
		return 0, err
	}
	if t.Size() <= 0 {
		return 0, fmt.Errorf("type %s has no size in DWARF", name)
	}
	return uint64(t.Size()), nil
}

// memberOffset returns offsetof(typeName, path) for a member path
// ("thread.cpu_context.fp") and the member, resolved by dwarfx.
func (k *Kernel) memberOffset(typeName, path string) (uint64, dwarfx.Field, error) {
	t, err := k.lookupType(typeName)
	if err != nil {
		return 0, dwarfx.Field{}, err
	}
	f, err := k.Image.Member(t, path)
	if err != nil {
		return 0, dwarfx.Field{}, err
	}
	return uint64(f.ByteOffset), f, nil
}
