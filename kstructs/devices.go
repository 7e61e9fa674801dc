package kstructs

import (
	"debug/dwarf"
	"errors"
	"fmt"

	"github.com/kinspect/kinspect/dwarfx"
)

// CharDev is one registered character device major range (struct
// char_device_struct, fs/char_dev.c) with the file operations of its
// cdev: what /proc/devices lists under "Character devices" and crash's
// `dev` shows.
type CharDev struct {
	Addr      uint64 `json:"char_device_struct"`
	Major     int    `json:"major"`
	BaseMinor int    `json:"baseminor"`
	Name      string `json:"name"`
	CDev      uint64 `json:"cdev"`
	Ops       uint64 `json:"operations"`
}

// BlockDev is one registered block device major (struct blk_major_name,
// block/genhd.c) with a gendisk of that major and its operations.
type BlockDev struct {
	Addr    uint64 `json:"blk_major_name"`
	Major   int    `json:"major"`
	Name    string `json:"name"`
	GenDisk uint64 `json:"gendisk"`
	Ops     uint64 `json:"operations"`
}

// kdevMajor is MAJOR() of a kernel dev_t (include/linux/kdev_t.h: 12-bit
// major above a 20-bit minor).
func kdevMajor(dev uint64) int { return int(dev >> 20) }
func kdevMinor(dev uint64) int { return int(dev & (1<<20 - 1)) }

// devLayout: what dev reads of the character and block device registries
// (fs/char_dev.c, block/genhd.c, drivers/base/map.c, block/bdev.c).
type devLayout struct {
	dec                                               decoder
	chr                                               *structLayout // struct char_device_struct
	chrNext, chrMajor, chrBaseMinor, chrName, chrCdev fieldLoc
	cdevOps                                           fieldLoc // struct cdev.ops
	probes                                            fieldLoc // struct kobj_map.probes[]
	nProbes                                           int
	probe                                             *structLayout // struct probe
	prNext, prDev, prData                             fieldLoc
	blk                                               *structLayout // struct blk_major_name
	blkNext, blkMajor, blkName                        fieldLoc
	gendisk                                           *structLayout
	gdMajor, gdFops                                   fieldLoc
	// bdevMap: the kernel keeps bdev_map (before 5.11) and a major's
	// gendisk is found in its probes; else among the block device inodes
	// of blockdev_superblock: super_block.s_inodes, bdev_inode.vfs_inode,
	// inode.i_sb_list, block_device.bd_disk.
	bdevMap                            bool
	sbInodes, bdevVFS, iSBList, bdDisk fieldLoc
}

func (k *Kernel) devLayout() (*devLayout, error) {
	return layoutOf(k, &k.cache().dev, func(ls *layoutSet, dec decoder) (*devLayout, error) {
		_, err := k.Image.Variable("bdev_map")
		return buildDevLayout(ls, dec, err == nil)
	})
}

func buildDevLayout(ls *layoutSet, dec decoder, bdevMap bool) (*devLayout, error) {
	l := &devLayout{dec: dec, bdevMap: bdevMap}
	l.chr = ls.add("char_device_struct", func(b *layoutBuilder) {
		l.chrNext, l.chrMajor, l.chrBaseMinor = b.need("next"), b.need("major"), b.need("baseminor")
		l.chrName, l.chrCdev = b.need("name"), b.need("cdev")
	})
	ls.add("cdev", func(b *layoutBuilder) { l.cdevOps = b.need("ops") })
	ls.add("kobj_map", func(b *layoutBuilder) { l.probes = b.need("probes") })
	l.probe = ls.add("probe", func(b *layoutBuilder) { l.prNext, l.prDev, l.prData = b.need("next"), b.need("dev"), b.need("data") })
	l.blk = ls.add("blk_major_name", func(b *layoutBuilder) {
		l.blkNext, l.blkMajor, l.blkName = b.need("next"), b.need("major"), b.need("name")
	})
	l.gendisk = ls.add("gendisk", func(b *layoutBuilder) { l.gdMajor, l.gdFops = b.need("major"), b.need("fops") })
	if !bdevMap {
		ls.add("super_block", func(b *layoutBuilder) { l.sbInodes = b.need("s_inodes") })
		ls.add("bdev_inode", func(b *layoutBuilder) { l.bdevVFS = b.need("vfs_inode") })
		ls.add("inode", func(b *layoutBuilder) { l.iSBList = b.need("i_sb_list") })
		ls.add("block_device", func(b *layoutBuilder) { l.bdDisk = b.need("bd_disk") })
	}
	if err := ls.err(); err != nil {
		return nil, err
	}
	// struct probe *probes[255], indexed by MAJOR(dev) % 255 (kobj_lookup).
	at, ok := dwarfx.Strip(l.probes.Type).(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("kobj_map.probes is %s, not an array", typeName(l.probes.Type))
	}
	l.nProbes = int(at.Count)
	return l, nil
}

// hashHeads reads the pointer array variable name (chrdevs[], major_names[]).
func (k *Kernel) hashHeads(name string) ([]uint64, error) {
	v, err := k.Image.Variable(name)
	if err != nil {
		return nil, err
	}
	at, ok := dwarfx.Strip(v.Type).(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("%s is not an array", name)
	}
	ps := k.PtrSize()
	b, err := k.readBytes(v.Addr, int(at.Count)*ps, name)
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	out := make([]uint64, at.Count)
	for i := range out {
		out[i] = d.ptrAt(b, i*ps)
	}
	return out, nil
}

// hashChains follows each slot of the pointer array variable name
// (chrdevs[], major_names[]) along its chain of struct s, linked by member
// next, calling visit with each entry's address and bytes. A chain that
// loops or an entry that cannot be read ends the walk with its error.
func (k *Kernel) hashChains(name string, s *structLayout, next fieldLoc, visit func(p uint64, b []byte)) error {
	heads, err := k.hashHeads(name)
	if err != nil {
		return err
	}
	d := k.decoder()
	for i, p := range heads {
		for seen := map[uint64]bool{}; p != 0; {
			if seen[p] || len(seen) > 4096 {
				return fmt.Errorf("%s[%d] chain loops at %#x", name, i, p)
			}
			seen[p] = true
			b, err := s.read(k, p)
			if err != nil {
				return err
			}
			visit(p, b)
			p = d.uint(b, next)
		}
	}
	return nil
}

// CharDevs lists chrdevs[] and each slot's ->next chain in crash's order.
// A device whose operations cannot be read is listed without them and its
// error joined to the one returned.
func (k *Kernel) CharDevs() ([]CharDev, error) {
	l, err := k.devLayout()
	if err != nil {
		return nil, err
	}
	var out []CharDev
	var errs []error
	err = k.hashChains("chrdevs", l.chr, l.chrNext, func(p uint64, b []byte) {
		d := l.dec
		c := CharDev{Addr: p, Major: int(d.uint(b, l.chrMajor)), BaseMinor: int(d.uint(b, l.chrBaseMinor)),
			Name: d.str(b, l.chrName), CDev: d.uint(b, l.chrCdev)}
		if err := k.charDevOps(l, &c); err != nil {
			errs = append(errs, err)
		}
		out = append(out, c)
	})
	return out, errors.Join(append(errs, err)...)
}

// charDevOps fills c's operations from its cdev, or from the cdev that
// cdev_add registered for the range in cdev_map (fs/char_dev.c).
func (k *Kernel) charDevOps(l *devLayout, c *CharDev) error {
	if c.CDev != 0 {
		ops, err := k.readPtrMember(c.CDev, l.cdevOps, "cdev.ops")
		if err != nil {
			return fmt.Errorf("chrdev %d %s: %w", c.Major, c.Name, err)
		}
		c.Ops = ops
	}
	if c.Ops != 0 {
		return nil
	}
	cd, ops, err := k.mapProbe(l, "cdev_map", c.Major, c.BaseMinor, l.cdevOps, "cdev.ops")
	if ops != 0 {
		c.CDev, c.Ops = cd, ops
	}
	return err
}

// mapProbe searches a kobj_map's probes[major % 255] chain (drivers/base/
// map.c kobj_lookup; cdev_map, and bdev_map before 5.11) for dev
// major:minor (any minor if minor < 0); its data is then a struct whose
// member ops (named what) holds the operations.
func (k *Kernel) mapProbe(l *devLayout, mapVar string, major, minor int, ops fieldLoc, what string) (data, fops uint64, err error) {
	m, err := k.ReadUint(mapVar)
	if err != nil || m == 0 {
		return 0, 0, err
	}
	slot := m + uint64(l.probes.Off) + uint64(major%l.nProbes*k.PtrSize())
	p, err := k.readPointer(slot)
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s->probes[%d] at %#x: %w", mapVar, major%l.nProbes, slot, err)
	}
	for n := 0; p != 0; n++ {
		if n >= 4096 {
			return 0, 0, fmt.Errorf("%s->probes[%d] chain loops at %#x", mapVar, major%l.nProbes, p)
		}
		b, err := l.probe.read(k, p)
		if err != nil {
			return 0, 0, err
		}
		if dev := l.dec.uint(b, l.prDev); kdevMajor(dev) == major && (minor < 0 || kdevMinor(dev) == minor) {
			if data = l.dec.uint(b, l.prData); data == 0 {
				return 0, 0, nil
			}
			fops, err = k.readPtrMember(data, ops, what)
			return data, fops, err
		}
		p = l.dec.uint(b, l.prNext)
	}
	return 0, 0, nil
}

// BlockDevs lists major_names[] and each slot's ->next chain (block/
// genhd.c; crash reads only each slot's head, which differs only when two
// block majors share a slot) with a gendisk of each major: from bdev_map's
// probes before 5.11, else from the block device inodes of
// blockdev_superblock.
func (k *Kernel) BlockDevs() ([]BlockDev, error) {
	l, err := k.devLayout()
	if err != nil {
		return nil, err
	}
	var out []BlockDev
	var errs []error
	var disks map[int]uint64
	if !l.bdevMap {
		disks, err = k.blockDisks(l)
		errs = append(errs, err)
	}
	err = k.hashChains("major_names", l.blk, l.blkNext, func(p uint64, b []byte) {
		bd := BlockDev{Addr: p, Major: int(l.dec.uint(b, l.blkMajor)), Name: l.dec.str(b, l.blkName)}
		var err error
		if l.bdevMap {
			bd.GenDisk, bd.Ops, err = k.mapProbe(l, "bdev_map", bd.Major, -1, l.gdFops, "gendisk.fops")
		} else if bd.GenDisk = disks[bd.Major]; bd.GenDisk != 0 {
			bd.Ops, err = k.readPtrMember(bd.GenDisk, l.gdFops, "gendisk.fops")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("blkdev %d %s: %w", bd.Major, bd.Name, err))
		}
		out = append(out, bd)
	})
	return out, errors.Join(append(errs, err)...)
}

// blockDisks maps each major to the first gendisk found among the block
// device inodes (struct bdev_inode: block_device then vfs_inode,
// block/bdev.c) on blockdev_superblock's s_inodes list.
func (k *Kernel) blockDisks(l *devLayout) (map[int]uint64, error) {
	out := map[int]uint64{}
	sb, err := k.ReadUint("blockdev_superblock")
	if err != nil || sb == 0 {
		return out, err
	}
	nodes, err := WalkList(k, sb+uint64(l.sbInodes.Off), ListOptions{Head: true})
	errs := []error{err}
	for _, n := range nodes {
		bdev := n - uint64(l.iSBList.Off) - uint64(l.bdevVFS.Off) // bdev is bdev_inode's first member
		disk, err := k.readPtrMember(bdev, l.bdDisk, "block_device.bd_disk")
		if err != nil || disk == 0 {
			errs = append(errs, err)
			continue
		}
		g, err := l.gendisk.read(k, disk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if major := int(l.dec.uint(g, l.gdMajor)); out[major] == 0 && l.dec.uint(g, l.gdFops) != 0 {
			out[major] = disk
		}
	}
	return out, errors.Join(errs...)
}
