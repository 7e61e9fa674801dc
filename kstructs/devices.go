package kstructs

import (
	"debug/dwarf"
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

// structAt reads struct name at addr and decodes its members by path.
type structAt struct {
	k   *Kernel
	t   dwarf.Type
	b   []byte
	err error
}

func (k *Kernel) readStruct(name string, addr uint64) *structAt {
	s := &structAt{k: k}
	if s.t, s.err = k.structType(name); s.err == nil {
		s.b, s.err = k.readBytes(addr, int(s.t.Size()), "struct "+name)
	}
	return s
}

// u is member path p as an unsigned integer (0 if absent or unreadable).
func (s *structAt) u(p string) uint64 {
	if s.err != nil {
		return 0
	}
	f, err := s.k.Image.Member(s.t, p)
	if err != nil {
		return 0
	}
	v, _ := f.Extract(s.b, s.k.Image.ByteOrder())
	return v
}

// str is a char array member, or the string a char * member points to.
func (s *structAt) str(p string) string {
	if s.err != nil {
		return ""
	}
	f, err := s.k.Image.Member(s.t, p)
	if err != nil {
		return ""
	}
	if _, ok := dwarfx.Strip(f.Type).(*dwarf.ArrayType); ok && f.ByteOffset+f.ByteSize <= int64(len(s.b)) {
		return string(cString(s.b[f.ByteOffset : f.ByteOffset+f.ByteSize]))
	}
	v, _ := f.Extract(s.b, s.k.Image.ByteOrder())
	if v == 0 {
		return ""
	}
	str, _ := s.k.readCString(v, 256)
	return str
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

// CharDevs lists chrdevs[] and each slot's ->next chain in crash's order.
func (k *Kernel) CharDevs() ([]CharDev, error) {
	heads, err := k.hashHeads("chrdevs")
	if err != nil {
		return nil, err
	}
	var out []CharDev
	for _, p := range heads {
		for seen := map[uint64]bool{}; p != 0; {
			if seen[p] || len(seen) > 4096 {
				return out, fmt.Errorf("chrdevs chain loops at %#x", p)
			}
			seen[p] = true
			s := k.readStruct("char_device_struct", p)
			if s.err != nil {
				return out, s.err
			}
			c := CharDev{Addr: p, Major: int(s.u("major")), BaseMinor: int(s.u("baseminor")), Name: s.str("name"), CDev: s.u("cdev")}
			if c.CDev != 0 {
				c.Ops = k.readStruct("cdev", c.CDev).u("ops")
			}
			if c.Ops == 0 {
				if cd, ops := k.mapProbe("cdev_map", c.Major, c.BaseMinor, "cdev", "ops"); ops != 0 {
					c.CDev, c.Ops = cd, ops
				}
			}
			out = append(out, c)
			p = s.u("next")
		}
	}
	return out, nil
}

// mapProbe searches a kobj_map's probes[major] chain (drivers/base/map.c;
// cdev_map, and bdev_map before 5.11) for dev major:minor; data is then a
// struct dataType whose member ops holds the operations.
func (k *Kernel) mapProbe(mapVar string, major, minor int, dataType, ops string) (data, fops uint64) {
	m, err := k.ReadUint(mapVar)
	if err != nil || m == 0 {
		return 0, 0
	}
	km := k.readStruct("kobj_map", m)
	f, err := k.Image.Member(km.t, "probes")
	if km.err != nil || err != nil {
		return 0, 0
	}
	p, err := k.readPointer(m + uint64(f.ByteOffset) + uint64(major*k.PtrSize()))
	for n := 0; err == nil && p != 0 && n < 4096; n++ {
		pr := k.readStruct("probe", p)
		if pr.err != nil {
			return 0, 0
		}
		if dev := pr.u("dev"); kdevMajor(dev) == major && (minor < 0 || kdevMinor(dev) == minor) {
			data = pr.u("data")
			return data, k.readStruct(dataType, data).u(ops)
		}
		p = pr.u("next")
	}
	return 0, 0
}

// BlockDevs lists major_names[] and each slot's ->next chain (block/
// genhd.c; crash reads only each slot's head, which differs only when two
// block majors share a slot) with a gendisk of each major: from bdev_map's
// probes before 5.11, else from the block device inodes of
// blockdev_superblock.
func (k *Kernel) BlockDevs() ([]BlockDev, error) {
	heads, err := k.hashHeads("major_names")
	if err != nil {
		return nil, err
	}
	var disks map[int]uint64
	_, oldMap := k.Image.Variable("bdev_map")
	var out []BlockDev
	for i, p := range heads {
		for seen := map[uint64]bool{}; p != 0; {
			if seen[p] || len(seen) > 4096 {
				return out, fmt.Errorf("major_names[%d] chain loops at %#x", i, p)
			}
			seen[p] = true
			s := k.readStruct("blk_major_name", p)
			if s.err != nil {
				return out, s.err
			}
			b := BlockDev{Addr: p, Major: int(s.u("major")), Name: s.str("name")}
			if oldMap == nil {
				b.GenDisk, b.Ops = k.mapProbe("bdev_map", b.Major, -1, "gendisk", "fops")
			} else {
				if disks == nil {
					disks = k.blockDisks()
				}
				if b.GenDisk = disks[b.Major]; b.GenDisk != 0 {
					b.Ops = k.readStruct("gendisk", b.GenDisk).u("fops")
				}
			}
			out = append(out, b)
			p = s.u("next")
		}
	}
	return out, nil
}

// blockDisks maps each major to the first gendisk found among the block
// device inodes (struct bdev_inode: block_device then vfs_inode,
// block/bdev.c) on blockdev_superblock's s_inodes list.
func (k *Kernel) blockDisks() map[int]uint64 {
	out := map[int]uint64{}
	sb, err := k.ReadUint("blockdev_superblock")
	if err != nil || sb == 0 {
		return out
	}
	sbs := k.readStruct("super_block", sb)
	bi, err1 := k.structType("bdev_inode")
	inodes, err2 := k.Image.Member(sbs.t, "s_inodes")
	vfs, err3 := k.Image.Member(bi, "vfs_inode")
	link, err4 := k.Image.Member(vfs.Type, "i_sb_list")
	if sbs.err != nil || err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return out
	}
	nodes, _ := WalkList(k, sb+uint64(inodes.ByteOffset), ListOptions{Head: true})
	for _, n := range nodes {
		bdev := n - uint64(link.ByteOffset) - uint64(vfs.ByteOffset) // bdev is bdev_inode's first member
		disk := k.readStruct("block_device", bdev).u("bd_disk")
		if disk == 0 {
			continue
		}
		g := k.readStruct("gendisk", disk)
		if major := int(g.u("major")); out[major] == 0 && g.u("fops") != 0 {
			out[major] = disk
		}
	}
	return out
}
