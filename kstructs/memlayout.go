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

	ptOnce sync.Once
	pt     map[uint64]PageTable // page-table pages by physical address (kmem_pgtable.go)
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

// findBits locates member name of t (a bit-field or a whole integer),
// decoded by dwarfx's one decoder (Field.Extract); absent: !Found().
func (k *Kernel) findBits(t dwarf.Type, name string) dwarfx.Field {
	f, _ := k.Image.FindMember(t, name)
	return f
}
