package kstructs_test

// Corrupt memory under the memory walks: every one must end with an error
// naming the address and what was read, never a panic, a hang or a silent
// zero.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// patchMem is the dump with some words replaced and some ranges unreadable.
type patchMem struct {
	k       *kstructs.Kernel
	words   map[uint64]uint64 // address → pointer-sized value
	holes   [][2]uint64       // [start, end) unreadable
	ptrSize int
}

func newPatch(k *kstructs.Kernel) *patchMem {
	return &patchMem{k: k, words: map[uint64]uint64{}, ptrSize: k.PtrSize()}
}

func (m *patchMem) ReadVirt(p []byte, addr uint64) error {
	end := addr + uint64(len(p))
	for _, h := range m.holes {
		if addr < h[1] && h[0] < end {
			return fmt.Errorf("test hole at %#x", h[0])
		}
	}
	if err := m.k.ReadVirt(p, addr); err != nil {
		return err
	}
	for a, v := range m.words {
		if addr <= a && a+uint64(m.ptrSize) <= end {
			b := p[a-addr:]
			if m.ptrSize == 4 {
				binary.LittleEndian.PutUint32(b, uint32(v))
			} else {
				binary.LittleEndian.PutUint64(b, v)
			}
		}
	}
	return nil
}

func mustUint(t *testing.T, k *kstructs.Kernel, format string, args ...any) uint64 {
	t.Helper()
	expr := fmt.Sprintf(format, args...)
	v, err := k.ReadUint(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func mustAddr(t *testing.T, k *kstructs.Kernel, format string, args ...any) uint64 {
	t.Helper()
	expr := fmt.Sprintf(format, args...)
	v, err := k.Env().Eval(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	a, ok := v.Addr()
	if !ok {
		t.Fatalf("%s has no address", expr)
	}
	return a
}

func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}

// TestCorruptVMATree: an unreadable maple tree root node, a node that is
// its own child (6.1+), and a vma list that loops (5.10).
func TestCorruptVMATree(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		task, err := k.TaskByPID(f.GT.RolePID("files"))
		if err != nil {
			t.Fatal(err)
		}
		mm := task.MM
		good, err := k.ReadMM(mm)
		if err != nil || len(good.VMAs) < 4 {
			t.Fatalf("ReadMM: %d vmas, %v", len(good.VMAs), err)
		}
		if _, err := k.Image.Type("struct maple_tree"); err == nil && mustAddr(t, k, "((struct mm_struct *)%#x)->mm_mt", mm) != 0 {
			root := mustUint(t, k, "(unsigned long)((struct mm_struct *)%#x)->mm_mt.ma_root", mm)
			node := root &^ 255
			// 1. the root node unreadable.
			m := newPatch(k)
			m.holes = append(m.holes, [2]uint64{node, node + 8})
			_, err := k.WithMemory(m).ReadMM(mm)
			wantErr(t, "unreadable root node", err, fmt.Sprintf("%#x", node), "maple_node")
			// 2. the root node's first child slot pointing at the root.
			member := "mr64"
			if (root>>3)&15 == 3 {
				member = "ma64"
			}
			slot := mustAddr(t, k, "((struct maple_node *)%#x)->%s.slot[0]", node, member)
			if (root>>3)&15 >= 2 { // an internal node: its slots are nodes
				m = newPatch(k)
				m.words[slot] = root &^ 3
				_, err = k.WithMemory(m).ReadMM(mm)
				wantErr(t, "maple node cycle", err, "maple tree corrupt", fmt.Sprintf("%#x", node), "twice")
			} else {
				// A single leaf: the slot of the second vma names the first.
				m = newPatch(k)
				for i := uint64(0); i < 8; i++ {
					at := slot + i*uint64(k.PtrSize())
					if mustUint(t, k, "*(unsigned long *)%#x", at) == good.VMAs[1].Addr {
						m.words[at] = good.VMAs[0].Addr
						break
					}
				}
				if len(m.words) == 0 {
					t.Fatal("the second vma is not in the root leaf's first slots")
				}
				_, err = k.WithMemory(m).ReadMM(mm)
				wantErr(t, "duplicate vma", err, fmt.Sprintf("%#x", good.VMAs[0].Addr), "overlaps")
			}
			return
		}
		// 5.10: vma[2].vm_next = vma[1].
		next := mustAddr(t, k, "((struct vm_area_struct *)%#x)->vm_next", good.VMAs[2].Addr)
		m := newPatch(k)
		m.words[next] = good.VMAs[1].Addr
		_, err = k.WithMemory(m).ReadMM(mm)
		wantErr(t, "vma list loop", err, "seen twice", fmt.Sprintf("%#x", good.VMAs[2].Addr))
	})
}

// TestCorruptSlabLists: a node partial list broken by a NULL next, a cache
// whose kmem_cache_cpu is unreadable, and slab_caches looping back.
func TestCorruptSlabLists(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		caches, err := k.SlabCaches()
		if err != nil {
			t.Fatal(err)
		}
		// A node partial list broken by a NULL next where a cache has a
		// partial slab on node 0, else that cache's kmem_cache_node
		// unreadable.
		var victim *kstructs.SlabCache
		var first, head uint64
		for _, c := range caches {
			n0 := mustUint(t, k, "(unsigned long)((struct kmem_cache *)%#x)->node[0]", c.Addr)
			if n0 == 0 || c.Total == 0 {
				continue
			}
			h := mustAddr(t, k, "((struct kmem_cache_node *)%#x)->partial", n0)
			if victim == nil {
				victim, head = c, h
			}
			if p := mustUint(t, k, "(unsigned long)((struct kmem_cache_node *)%#x)->partial.next", n0); p != h {
				victim, first, head = c, p, h
				break
			}
		}
		if victim == nil {
			t.Fatal("no cache with objects")
		}
		// The first partial slab's slab_list.next, or where no cache has a
		// partial slab the list head's own next, becomes NULL. (A hole in
		// memory could also fail the whole-struct reads of neighbouring
		// caches, which is not what this tests.)
		m := newPatch(k)
		want := []string{victim.Name, "partial list", "NULL"}
		if first != 0 {
			m.words[first] = 0
			want = append(want, fmt.Sprintf("%#x", first))
		} else {
			m.words[head] = 0
		}
		got, err := k.WithMemory(m).SlabCaches()
		if err != nil {
			t.Fatalf("one bad cache failed the whole list: %v", err)
		}
		for _, c := range got {
			if c.Addr == victim.Addr {
				wantErr(t, "corrupt cache", c.Err, want...)
			} else if c.Err != nil {
				t.Errorf("%s: %v (only %s was corrupted)", c.Name, c.Err, victim.Name)
			}
		}
		// kmem -s shows the bad cache with "?" and says why.
		var out, errb bytes.Buffer
		s := repl.NewSession(k.WithMemory(m), &out, &errb)
		if err := s.Exec(context.Background(), "kmem -s "+victim.Name, false); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "cannot gather relevant slab data") || !strings.Contains(out.String(), "?") {
			t.Errorf("kmem -s %s on the corrupt cache:\n%s", victim.Name, out.String())
		}
		// slab_caches: the 5th cache's list.next back to the 2nd.
		lnk := mustAddr(t, k, "((struct kmem_cache *)%#x)->list", caches[4].Addr)
		back := mustAddr(t, k, "((struct kmem_cache *)%#x)->list", caches[1].Addr)
		m = newPatch(k)
		m.words[lnk] = back
		got, err = k.WithMemory(m).SlabCaches()
		wantErr(t, "slab_caches loop", err, "slab_caches", "seen twice")
		if len(got) != 5 {
			t.Errorf("slab_caches loop: %d caches returned, want the 5 before it", len(got))
		}
	})
}

// TestCorruptFiles: a d_parent cycle under an open file's path, and an
// unreadable fd table.
func TestCorruptFiles(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		task, err := k.TaskByPID(f.GT.RolePID("files"))
		if err != nil {
			t.Fatal(err)
		}
		tf, err := k.Files(task)
		if err != nil {
			t.Fatal(err)
		}
		var kt kstructs.OpenFile
		for _, of := range tf.Files {
			if of.Path == "/tmp/kt_file" {
				kt = of
			}
		}
		if kt.Dentry == 0 {
			t.Fatal("no /tmp/kt_file descriptor")
		}
		// kt_file's parent (tmpfs root) gets kt_file as its parent, and
		// kt_file a parent of its own: kt_file ↔ root.
		parent := mustUint(t, k, "(unsigned long)((struct dentry *)%#x)->d_parent", kt.Dentry)
		m := newPatch(k)
		m.words[mustAddr(t, k, "((struct dentry *)%#x)->d_parent", parent)] = kt.Dentry
		ck := k.WithMemory(m)
		_, err = ck.Pathname(kt.Dentry, 0)
		wantErr(t, "d_parent cycle", err, fmt.Sprintf("%#x", kt.Dentry), "cycle")
		// The fd array unreadable.
		files := mustUint(t, k, "(unsigned long)((struct task_struct *)%#x)->files", task.Addr)
		fdt := mustUint(t, k, "(unsigned long)((struct files_struct *)%#x)->fdt", files)
		fd := mustUint(t, k, "(unsigned long)((struct fdtable *)%#x)->fd", fdt)
		m = newPatch(k)
		m.holes = append(m.holes, [2]uint64{fd, fd + uint64(k.PtrSize())})
		_, err = k.WithMemory(m).Files(task)
		wantErr(t, "unreadable fd array", err, fmt.Sprintf("%#x", fdt), "fd[0]")
	})
}

// TestCorruptUserTablesAndBlocks: an mm whose pgd is no kernel address
// (vm -p, search -u), a memory bus device list cut by a NULL next
// (kmem -n), and a free list whose first block's next is NULL (kmem ADDR
// of a free page).
func TestCorruptUserTablesAndBlocks(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		task, err := k.TaskByPID(f.GT.RolePID("files"))
		if err != nil {
			t.Fatal(err)
		}
		m := newPatch(k)
		m.words[mustAddr(t, k, "((struct mm_struct *)%#x)->pgd", task.MM)] = 0x10
		us, err := k.WithMemory(m).UserSpace(task.MM)
		if us != nil {
			t.Errorf("UserSpace with pgd 0x10: %v", us)
		}
		wantErr(t, "pgd 0x10", err, fmt.Sprintf("mm %#x", task.MM), "pgd 0x10")

		if blocks, err := k.MemoryBlocks(); err == nil && len(blocks) > 1 {
			// the first block's device_private: its bus node's next is cut
			dp := mustUint(t, k, "(unsigned long)((struct memory_block *)%#x)->dev.p", blocks[0].Addr)
			m = newPatch(k)
			m.words[mustAddr(t, k, "((struct device_private *)%#x)->knode_bus.n_node.next", dp)] = 0
			_, err := k.WithMemory(m).MemoryBlocks()
			wantErr(t, "memory bus list cut", err, "memory bus devices", "NULL")
		} else if err != nil {
			t.Fatal(err)
		}

		zones, err := k.FreeAreas()
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zones {
			for _, o := range z.Orders {
				for _, l := range o.Lists {
					if l.Blocks < 2 {
						continue
					}
					first := mustUint(t, k, "*(unsigned long *)%#x", l.Addr)
					m = newPatch(k)
					m.words[first] = 0
					_, err := k.WithMemory(m).FreeBlockOf(^uint64(0) - 4096)
					wantErr(t, "free list cut", err, fmt.Sprintf("%#x", l.Addr), "NULL")
					return
				}
			}
		}
		t.Fatal("no free list with two blocks")
	})
}
