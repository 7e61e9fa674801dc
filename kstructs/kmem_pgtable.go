package kstructs

import (
	"sort"
)

// PageTable says which page table a physical page holds: a level of a
// process's tables (the first user address it maps) or the kernel's pgd.
type PageTable struct {
	Level string // pgd, p4d, pud, pmd, pte as Linux names the level
	PID   int    // 0 for the kernel's (init_mm's) pgd
	Comm  string
	MM    uint64
	Virt  uint64 // the lowest user address of a VMA the table maps
}

// pageTableStep is how far apart pageTableIndex probes a VMA: 1 MiB, the
// least any last-level table spans (arm's hardware pte tables; 2 MiB
// with x86_64's and arm64's 4 KiB pages).
const pageTableStep = 1 << 20

// pageTableIndex maps each page-table page of every process to its
// PageTable: each mm's tables are walked (dump.PageTables) at every
// pageTableStep of its VMAs, the kernel's pgd added. Built once per Kernel.
func (k *Kernel) pageTableIndex() map[uint64]PageTable {
	m := k.memLayouts()
	m.ptOnce.Do(func() { m.pt = k.buildPageTableIndex() })
	return m.pt
}

func (k *Kernel) buildPageTableIndex() map[uint64]PageTable {
	ps := k.PageSize()
	idx := map[uint64]PageTable{}
	if pgd := k.Trans.Layout().PGDPhys; pgd != 0 {
		idx[pgd&^(ps-1)] = PageTable{Level: "pgd", Comm: "init_mm"}
	}
	tasks, _ := k.Tasks()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].PID < tasks[j].PID })
	seen := map[uint64]bool{}
	for _, t := range tasks {
		if t.MM == 0 || seen[t.MM] {
			continue
		}
		seen[t.MM] = true
		us, _ := k.UserSpace(t.MM)
		if us == nil {
			continue
		}
		for _, v := range us.MM.VMAs {
			for va := v.Start; va < v.End; va = (va + pageTableStep) &^ (pageTableStep - 1) {
				_ = us.Tables(va, func(level string, table uint64) {
					if _, ok := idx[table&^(ps-1)]; !ok {
						idx[table&^(ps-1)] = PageTable{Level: level, PID: t.PID, Comm: t.Comm, MM: t.MM, Virt: va}
					}
				})
			}
		}
	}
	return idx
}

// PageTableOf is the page table physical page pa holds, nil if none of
// the walked tables is there.
func (k *Kernel) PageTableOf(pa uint64) *PageTable {
	if pt, ok := k.pageTableIndex()[pa&^(k.PageSize()-1)]; ok {
		return &pt
	}
	return nil
}

// PerCPUVar is the static per-cpu variable a CPU's copy of which holds an
// address.
type PerCPUVar struct {
	Name string
	Off  uint64
	CPU  int
}

// PerCPUVarOf finds the static per-cpu variable (.data..percpu) whose copy
// of some possible CPU (__per_cpu_offset[cpu] on) contains addr; nil if
// addr is in none.
func (k *Kernel) PerCPUVarOf(addr uint64) *PerCPUVar {
	lo, hi, zero := k.Image.PerCPURange()
	if hi <= lo {
		return nil
	}
	if !zero {
		lo, hi = lo+k.Image.KASLROffset(), hi+k.Image.KASLROffset()
	}
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil
	}
	for _, cpu := range pc.possible {
		off, err := k.PerCPUOffset(cpu)
		if err != nil || addr-off < lo || addr-off >= hi {
			continue
		}
		if s, o, ok := k.Image.SymbolAt(addr - off); ok {
			if v, err := k.Image.Variable(s.Name); err == nil && v.PerCPU {
				if size := v.Type.Size(); size > 0 && o >= uint64(size) {
					return nil // between variables
				}
			}
			return &PerCPUVar{Name: s.Name, Off: o, CPU: cpu}
		}
	}
	return nil
}
