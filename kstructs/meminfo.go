package kstructs

import (
	"fmt"
)

// MemInfo is crash's `kmem -i` memory summary, in pages.
type MemInfo struct {
	TotalRAM  uint64 // _totalram_pages
	Free      uint64 // Σ zone NR_FREE_PAGES over every node's zones
	Buffers   uint64 // nr_blockdev_pages(): page cache of the block devices' inodes
	Cached    uint64 // NR_FILE_PAGES - swap cache - buffers
	Slab      uint64 // NR_SLAB_RECLAIMABLE(_B) + NR_SLAB_UNRECLAIMABLE(_B)
	HasHigh   bool   // the kernel has highmem (_totalhigh_pages)
	TotalHigh uint64
	FreeHigh  uint64 // free pages of the zones named HighMem
	HasHuge   bool   // always (crash prints 0 without hugetlbfs)
	HugeTotal uint64 // Σ hstate nr_huge_pages << order
	HugeFree  uint64
	HasSwap   bool
	SwapTotal uint64 // Σ swap_info pages
	SwapUsed  uint64 // Σ swap_info inuse_pages
	HasCommit bool
	// CommitLimit is (totalram - huge) * overcommit_ratio / 100 + swap
	// (or sysctl_overcommit_kbytes); Committed vm_committed_as.count.
	CommitLimit uint64
	Committed   uint64
}

// enumValue is the value of an enumerator (NR_FILE_PAGES...).
func (k *Kernel) enumValue(name string) (int64, bool) {
	v, _, ok := k.Image.EnumConstant(name)
	return v, ok
}

// vmStat reads global counter name from the array sym (vm_zone_stat,
// vm_node_stat); ok is false when the enumerator does not exist.
func (k *Kernel) vmStat(sym, name string) (uint64, bool, error) {
	idx, ok := k.enumValue(name)
	if !ok {
		return 0, false, nil
	}
	v, err := k.Image.Variable(sym)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", sym, err)
	}
	ps := uint64(k.PtrSize())
	n, err := k.readPointer(v.Addr + uint64(idx)*ps)
	if err != nil {
		return 0, false, fmt.Errorf("reading %s[%s] at %#x: %w", sym, name, v.Addr+uint64(idx)*ps, err)
	}
	if int64(n) < 0 || (ps == 4 && int32(n) < 0) {
		n = 0 // per-cpu drift can leave a global counter slightly negative
	}
	return n, true, nil
}

// nodeStat is a vm_node_stat counter, 0 if the kernel has no such item.
func (k *Kernel) nodeStat(names ...string) (uint64, bool, error) {
	for _, n := range names {
		if v, ok, err := k.vmStat("vm_node_stat", n); ok || err != nil {
			return v, ok, err
		}
		if v, ok, err := k.vmStat("vm_zone_stat", n); ok || err != nil {
			return v, ok, err
		}
	}
	return 0, false, nil
}

// zones returns the address of every struct zone of every node.
func (k *Kernel) zones() ([]uint64, error) {
	pg, err := k.structType("pglist_data")
	if err != nil {
		return nil, err
	}
	nz, err := memberPath(pg, "node_zones")
	if err != nil {
		return nil, err
	}
	zt, err := k.structType("zone")
	if err != nil {
		return nil, err
	}
	zsize := uint64(zt.Size())
	nzones := uint64(nz.Size) / zsize
	nodes, err := k.nodes()
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, n := range nodes {
		for i := uint64(0); i < nzones; i++ {
			out = append(out, n+uint64(nz.Off)+i*zsize)
		}
	}
	return out, nil
}

// MemInfo computes crash's kmem -i summary.
func (k *Kernel) MemInfo() (*MemInfo, error) {
	mi := &MemInfo{}
	var err error
	if mi.TotalRAM, err = k.ReadUint("_totalram_pages.counter"); err != nil {
		if mi.TotalRAM, err = k.ReadUint("totalram_pages"); err != nil {
			return nil, fmt.Errorf("total RAM: %w", err)
		}
	}
	if mi.TotalRAM == 0 {
		return nil, fmt.Errorf("_totalram_pages is 0")
	}
	if err := k.memFree(mi); err != nil {
		return nil, err
	}
	if v, err := k.ReadUint("_totalhigh_pages.counter"); err == nil {
		mi.HasHigh, mi.TotalHigh = true, v
	} else if v, err := k.ReadUint("totalhigh_pages"); err == nil {
		mi.HasHigh, mi.TotalHigh = true, v
	}
	// Buffers: the block devices' page cache (nr_blockdev_pages).
	if mi.Buffers, err = k.blockdevPages(); err != nil {
		return nil, err
	}
	for _, step := range []func(*MemInfo) error{k.memCached, k.memSlab, k.memHuge, k.memSwap, k.memCommit} {
		if err := step(mi); err != nil {
			return nil, err
		}
	}
	return mi, nil
}

// memFree sums the zones' free pages (vm_stat[NR_FREE_PAGES]), and those
// of the HighMem zone apart.
func (k *Kernel) memFree(mi *MemInfo) error {
	zt, err := k.structType("zone")
	if err != nil {
		return err
	}
	nrFree, ok := k.enumValue("NR_FREE_PAGES")
	if !ok {
		return fmt.Errorf("no NR_FREE_PAGES enumerator")
	}
	vs, err := memberPath(zt, "vm_stat")
	if err != nil {
		return err
	}
	name, err := memberPath(zt, "name")
	if err != nil {
		return err
	}
	zones, err := k.zones()
	if err != nil {
		return err
	}
	for _, z := range zones {
		at := z + uint64(vs.Off) + uint64(nrFree)*uint64(k.PtrSize())
		f, err := k.readPointer(at)
		if err != nil {
			return fmt.Errorf("zone %#x: reading vm_stat[NR_FREE_PAGES] at %#x: %w", z, at, err)
		}
		mi.Free += f
		if np, err := k.readPointer(z + uint64(name.Off)); err == nil && np != 0 {
			if n, _ := k.readCString(np, 32); n == "HighMem" {
				mi.FreeHigh += f
			}
		}
	}
	return nil
}

// memCached is the file pages less the swap cache and the buffers.
func (k *Kernel) memCached(mi *MemInfo) error {
	file, ok, err := k.nodeStat("NR_FILE_PAGES")
	if err != nil || !ok {
		return fmt.Errorf("NR_FILE_PAGES: %v", err)
	}
	swapCache, _, err := k.nodeStat("NR_SWAPCACHE")
	if err != nil {
		return err
	}
	if c := int64(file) - int64(swapCache) - int64(mi.Buffers); c > 0 {
		mi.Cached = uint64(c)
	}
	return nil
}

// memSlab is the reclaimable and unreclaimable slab pages.
func (k *Kernel) memSlab(mi *MemInfo) error {
	for _, pair := range [][]string{{"NR_SLAB_RECLAIMABLE_B", "NR_SLAB_RECLAIMABLE"}, {"NR_SLAB_UNRECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE"}} {
		v, _, err := k.nodeStat(pair...)
		if err != nil {
			return err
		}
		mi.Slab += v
	}
	return nil
}

// memHuge counts the huge pages: every hstate of the array (as crash:
// entries of order 0 are unused); a kernel without hugetlbfs has none.
func (k *Kernel) memHuge(mi *MemInfo) error {
	mi.HasHuge = true
	hs, err := k.Image.Variable("hstates")
	if err != nil {
		return nil
	}
	ht, err := k.structType("hstate")
	if err != nil {
		return err
	}
	b := &layoutBuilder{t: ht, name: "struct hstate"}
	order, nr, free := b.need("order"), b.need("nr_huge_pages"), b.need("free_huge_pages")
	if err := b.err(); err != nil {
		return err
	}
	n := uint64(hs.Type.Size()) / uint64(ht.Size())
	d := k.decoder()
	for i := uint64(0); i < n; i++ {
		hb, err := k.readBytes(hs.Addr+i*uint64(ht.Size()), int(ht.Size()), "struct hstate")
		if err != nil {
			return err
		}
		o := d.uint(hb, order)
		if o == 0 {
			continue
		}
		mi.HugeTotal += d.uint(hb, nr) << o
		mi.HugeFree += d.uint(hb, free) << o
	}
	return nil
}

// memSwap sums the swap areas in use (SWP_USED) of swap_info.
func (k *Kernel) memSwap(mi *MemInfo) error {
	si, err := k.Image.Variable("swap_info")
	if err != nil {
		return nil
	}
	mi.HasSwap = true
	n, err := k.ReadUint("nr_swapfiles")
	if err != nil {
		return err
	}
	st, err := k.structType("swap_info_struct")
	if err != nil {
		return err
	}
	b := &layoutBuilder{t: st, name: "struct swap_info_struct"}
	flags, pages, inuse := b.need("flags"), b.need("pages"), b.need("inuse_pages")
	if err := b.err(); err != nil {
		return err
	}
	d := k.decoder()
	for i := uint64(0); i < n && i < 64; i++ {
		p, err := k.readPointer(si.Addr + i*uint64(k.PtrSize()))
		if err != nil || p == 0 {
			continue
		}
		sb, err := k.readBytes(p, int(st.Size()), "struct swap_info_struct")
		if err != nil {
			return err
		}
		if d.uint(sb, flags)&1 == 0 { // SWP_USED
			continue
		}
		mi.SwapTotal += d.uint(sb, pages)
		mi.SwapUsed += d.uint(sb, inuse)
	}
	return nil
}

// memCommit is the commit limit and the committed memory (mm/util.c
// vm_commit_limit); it needs the huge and swap totals.
func (k *Kernel) memCommit(mi *MemInfo) error {
	if _, err := k.Image.Variable("sysctl_overcommit_memory"); err != nil {
		return nil
	}
	mi.HasCommit = true
	kb, _ := k.ReadUint("sysctl_overcommit_kbytes")
	if kb != 0 {
		mi.CommitLimit = kb * 1024 / k.PageSize()
	} else {
		ratio, err := k.ReadUint("sysctl_overcommit_ratio")
		if err != nil {
			return err
		}
		mi.CommitLimit = (mi.TotalRAM - mi.HugeTotal) * ratio / 100
	}
	mi.CommitLimit += mi.SwapTotal
	c, err := k.ReadInt("vm_committed_as.count")
	if err != nil {
		return err
	}
	if c > 0 {
		mi.Committed = uint64(c)
	}
	return nil
}

// blockdevPages is nr_blockdev_pages(): the page cache pages of the inodes
// of blockdev_superblock.
func (k *Kernel) blockdevPages() (uint64, error) {
	sb, err := k.ReadUint("(unsigned long)blockdev_superblock")
	if err != nil || sb == 0 {
		return 0, nil // no block device layer
	}
	st, err := k.structType("super_block")
	if err != nil {
		return 0, err
	}
	it, err := k.structType("inode")
	if err != nil {
		return 0, err
	}
	sInodes, err := memberPath(st, "s_inodes")
	if err != nil {
		return 0, err
	}
	iList, err := memberPath(it, "i_sb_list")
	if err != nil {
		return 0, err
	}
	nr, err := memberPath(it, "i_data.nrpages")
	if err != nil {
		return 0, err
	}
	links, err := WalkList(k, sb+uint64(sInodes.Off), ListOptions{Head: true, Limit: 1 << 20})
	if err != nil {
		return 0, fmt.Errorf("blockdev_superblock s_inodes: %w", err)
	}
	var total uint64
	for _, l := range links {
		n, err := k.readPointer(l - uint64(iList.Off) + uint64(nr.Off))
		if err != nil {
			return 0, fmt.Errorf("block device inode %#x: reading nrpages: %w", l-uint64(iList.Off), err)
		}
		total += n
	}
	return total, nil
}
