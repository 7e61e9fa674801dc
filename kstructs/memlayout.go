package kstructs

import (
	"debug/dwarf"
	"fmt"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// memLayouts holds, per Kernel (Kernel.mem), the layouts of the
// memory-management structures (slab, vma, files, mounts), each found once
// from DWARF. It lives beside kcache rather than in it so that the memory
// walks stay independent of the task-walk internals.
type memLayouts struct {
	slabOnce sync.Once
	slab     *slabLayout
	slabErr  error

	vmaOnce sync.Once
	vma     *vmaLayout
	vmaErr  error

	fsOnce sync.Once
	fs     *fsLayout
	fsErr  error
}

func (k *Kernel) memLayouts() *memLayouts { return &k.mem }

// structType is the DWARF type of "struct name" (completed).
func (k *Kernel) structType(name string) (dwarf.Type, error) {
	t, err := k.Image.Type("struct " + name)
	if err != nil {
		return nil, fmt.Errorf("struct %s: %w", name, err)
	}
	t = k.Image.Complete(t)
	if t.Size() <= 0 {
		return nil, fmt.Errorf("struct %s has no definition in the vmlinux's DWARF", name)
	}
	return t, nil
}

// hasMember reports whether struct type t has member path p.
func hasMember(t dwarf.Type, p string) bool {
	_, err := memberPath(t, p)
	return err == nil
}

// memBits is a bit-field (or a whole integer member) located from DWARF.
type memBits struct {
	Bit  int // bit offset from the start of the struct (little-endian numbering)
	Size int // bits
	ok   bool
}

// findBits locates member name of t as a bit range.
func (k *Kernel) findBits(t dwarf.Type, name string) memBits {
	f, ok := k.Image.FindMember(t, name)
	if !ok {
		return memBits{}
	}
	if f.BitSize == 0 {
		return memBits{Bit: int(f.ByteOffset) * 8, Size: int(dwarfx.Strip(f.Type).Size()) * 8, ok: true}
	}
	return memBits{Bit: int(f.BitOffset), Size: int(f.BitSize), ok: true}
}

// get extracts the bit-field from a struct's bytes (little-endian targets;
// on big-endian ones DWARF numbers bits from the most significant end).
func (bf memBits) get(k *Kernel, b []byte) uint64 {
	if !bf.ok {
		return 0
	}
	start := bf.Bit / 8
	end := (bf.Bit + bf.Size + 7) / 8
	if end > len(b) || end-start > 8 {
		return 0
	}
	var v uint64
	if k.Image.ByteOrder().String() == "BigEndian" {
		for i := start; i < end; i++ {
			v = v<<8 | uint64(b[i])
		}
		shift := end*8 - (bf.Bit + bf.Size)
		v >>= uint(shift)
	} else {
		for i := end - 1; i >= start; i-- {
			v = v<<8 | uint64(b[i])
		}
		v >>= uint(bf.Bit % 8)
	}
	if bf.Size < 64 {
		v &= 1<<uint(bf.Size) - 1
	}
	return v
}
