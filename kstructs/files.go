package kstructs

import (
	"fmt"
	"strings"
)

type fsLayout struct {
	taskFiles, taskFS, taskNsproxy fieldLoc

	dentrySize                                   int
	dNameLen, dNameName, dParent, dInode, dIname fieldLoc
	dSB, iSB                                     fieldLoc

	mountSize                                                      int
	mntParent, mntMountpoint, mntMnt, mntDevname, mntList, mntNode fieldLoc
	vfsRoot, vfsSB                                                 fieldLoc

	sbType, fstName fieldLoc

	fileSize                                       int
	fDentry, fMnt                                  fieldLoc
	inodeSize                                      int
	iMode, iOp, iFop, iIno                         fieldLoc
	filesFdt                                       fieldLoc
	fdtMaxFds, fdtFd, fdtOpenFds                   fieldLoc
	fsRootMnt, fsRootDentry, fsPwdMnt, fsPwdDentry fieldLoc

	nsMnt                              fieldLoc
	mnsRoot, mnsList, mnsMounts, mnsNr fieldLoc
}

func (k *Kernel) fsLayout() (*fsLayout, error) {
	m := k.memLayouts()
	m.fsOnce.Do(func() { m.fs, m.fsErr = k.buildFSLayout() })
	return m.fs, m.fsErr
}

func (k *Kernel) buildFSLayout() (*fsLayout, error) {
	l := &fsLayout{}
	var errs []string
	layout := func(name string, f func(b *layoutBuilder, size int)) {
		t, err := k.structType(name)
		if err != nil {
			errs = append(errs, err.Error())
			return
		}
		b := &layoutBuilder{t: t, name: "struct " + name}
		f(b, int(t.Size()))
		if err := b.err(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	layout("task_struct", func(b *layoutBuilder, _ int) {
		l.taskFiles, l.taskFS, l.taskNsproxy = b.need("files"), b.need("fs"), b.need("nsproxy")
	})
	layout("dentry", func(b *layoutBuilder, n int) {
		l.dentrySize = n
		l.dNameLen, l.dNameName = b.need("d_name.len"), b.need("d_name.name")
		l.dParent, l.dInode, l.dIname = b.need("d_parent"), b.need("d_inode"), b.need("d_iname")
		l.dSB = b.need("d_sb")
	})
	layout("mount", func(b *layoutBuilder, n int) {
		l.mountSize = n
		l.mntParent, l.mntMountpoint, l.mntMnt = b.need("mnt_parent"), b.need("mnt_mountpoint"), b.need("mnt")
		l.mntDevname, l.mntList, l.mntNode = b.need("mnt_devname"), b.need("mnt_list"), b.opt("mnt_node")
		l.vfsRoot, l.vfsSB = b.need("mnt.mnt_root"), b.need("mnt.mnt_sb")
	})
	layout("super_block", func(b *layoutBuilder, _ int) { l.sbType = b.need("s_type") })
	layout("file_system_type", func(b *layoutBuilder, _ int) { l.fstName = b.need("name") })
	layout("file", func(b *layoutBuilder, n int) {
		l.fileSize = n
		l.fDentry, l.fMnt = b.need("f_path.dentry"), b.need("f_path.mnt")
	})
	layout("inode", func(b *layoutBuilder, n int) {
		l.inodeSize = n
		l.iMode, l.iOp, l.iFop, l.iIno = b.need("i_mode"), b.need("i_op"), b.need("i_fop"), b.need("i_ino")
		l.iSB = b.need("i_sb")
	})
	layout("files_struct", func(b *layoutBuilder, _ int) { l.filesFdt = b.need("fdt") })
	layout("fdtable", func(b *layoutBuilder, _ int) {
		l.fdtMaxFds, l.fdtFd, l.fdtOpenFds = b.need("max_fds"), b.need("fd"), b.need("open_fds")
	})
	layout("fs_struct", func(b *layoutBuilder, _ int) {
		l.fsRootMnt, l.fsRootDentry = b.need("root.mnt"), b.need("root.dentry")
		l.fsPwdMnt, l.fsPwdDentry = b.need("pwd.mnt"), b.need("pwd.dentry")
	})
	layout("nsproxy", func(b *layoutBuilder, _ int) { l.nsMnt = b.need("mnt_ns") })
	layout("mnt_namespace", func(b *layoutBuilder, _ int) {
		l.mnsRoot, l.mnsList = b.need("root"), b.opt("list")
		l.mnsMounts, l.mnsNr = b.opt("mounts"), b.opt("nr_mounts")
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return l, nil
}

// maxPathDepth bounds a dentry/mount walk (PATH_MAX / 2 components).
const maxPathDepth = 2048

// dentryName reads a dentry's name and parent; ok is false when the name
// is empty or unreadable, as crash's get_pathname_component fails.
func (k *Kernel) dentryName(l *fsLayout, dentry uint64) (name string, parent uint64, ok bool, err error) {
	b, err := k.readBytes(dentry, l.dentrySize, "struct dentry")
	if err != nil {
		return "", 0, false, err
	}
	d := k.decoder()
	n, np := int(d.uint(b, l.dNameLen)), d.uint(b, l.dNameName)
	parent = d.uint(b, l.dParent)
	if n == 0 || np == 0 {
		return "", parent, false, nil
	}
	if np == dentry+uint64(l.dIname.Off) {
		s := string(cString(b[l.dIname.Off : l.dIname.Off+l.dIname.Size]))
		return s, parent, len(s) == n, nil
	}
	s, err := k.readCString(np, 4096)
	if err != nil {
		return "", parent, false, nil
	}
	return s, parent, len(s) == n, nil
}

// Pathname builds a dentry's path the way crash's get_pathname does:
// components up to the file system's root, then across mount points
// through mnt_mountpoint/mnt_parent (vfsmnt is a struct vfsmount, 0 to
// stay inside the file system).
func (k *Kernel) Pathname(dentry, vfsmnt uint64) (string, error) {
	l, err := k.fsLayout()
	if err != nil {
		return "", err
	}
	path := ""
	parent := dentry
	mnt := vfsmnt
	for steps := 0; ; steps++ {
		if steps > maxPathDepth {
			return path, fmt.Errorf("path of dentry %#x: more than %d components (a d_parent/mnt_parent cycle?)", dentry, maxPathDepth)
		}
		tmp := parent
		name, p, ok, err := k.dentryName(l, tmp)
		if err != nil {
			return path, fmt.Errorf("path of dentry %#x: %w", dentry, err)
		}
		if !ok {
			break
		}
		switch {
		case tmp == dentry:
			path = name
		case (len(name) > 1 || name != "/") && !strings.HasPrefix(path, "/"):
			path = name + "/" + path
		default:
			path = name + path
		}
		parent = p
		if tmp == parent && mnt != 0 {
			if strings.HasPrefix(path, "//") {
				path = path[1:]
			}
			m := mnt - uint64(l.mntMnt.Off)
			mb, err := k.readBytes(m, l.mountSize, "struct mount")
			if err != nil {
				return path, fmt.Errorf("path of dentry %#x: %w", dentry, err)
			}
			d := k.decoder()
			parent = d.uint(mb, l.mntMountpoint)
			mp := d.uint(mb, l.mntParent)
			if mp == m {
				break
			}
			mnt = mp + uint64(l.mntMnt.Off)
		}
		if tmp == parent || parent == 0 {
			break
		}
	}
	return path, nil
}

// FilePath is the path of a struct file as crash's vm shows it.
func (k *Kernel) FilePath(file uint64) (string, error) {
	l, err := k.fsLayout()
	if err != nil {
		return "", err
	}
	b, err := k.readBytes(file, l.fileSize, "struct file")
	if err != nil {
		return "", err
	}
	d := k.decoder()
	dentry := d.uint(b, l.fDentry)
	if dentry == 0 {
		return "", nil
	}
	return k.Pathname(dentry, d.uint(b, l.fMnt))
}

// OpenFile is one open file descriptor.
type OpenFile struct {
	FD                  int
	File, Dentry, Inode uint64
	Mode                uint32 // inode i_mode
	Ino                 uint64 // inode i_ino
	Type                string // crash's TYPE column: REG, DIR, CHR, BLK, FIFO, PIPE, SOCK, LNK, UNKN, "?"
	Path                string
	Err                 error // why this descriptor could not be fully read
}

// TaskFiles is a task's root, cwd and open files.
type TaskFiles struct {
	Root, CWD string
	Files     []OpenFile
	NoFiles   bool // the task has no files_struct (or no fd table)
}

// Files reads the fd table of task t (crash's `files`).
func (k *Kernel) Files(t *Task) (*TaskFiles, error) {
	l, err := k.fsLayout()
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	ps := uint64(k.PtrSize())
	filesPtr, err := k.readPointer(t.Addr + uint64(l.taskFiles.Off))
	if err != nil {
		return nil, fmt.Errorf("task %#x: reading files: %w", t.Addr, err)
	}
	fsPtr, err := k.readPointer(t.Addr + uint64(l.taskFS.Off))
	if err != nil {
		return nil, fmt.Errorf("task %#x: reading fs: %w", t.Addr, err)
	}
	out := &TaskFiles{}
	if fsPtr != 0 {
		rd, err1 := k.readPointer(fsPtr + uint64(l.fsRootDentry.Off))
		rm, err2 := k.readPointer(fsPtr + uint64(l.fsRootMnt.Off))
		pd, err3 := k.readPointer(fsPtr + uint64(l.fsPwdDentry.Off))
		pm, err4 := k.readPointer(fsPtr + uint64(l.fsPwdMnt.Off))
		for _, e := range []error{err1, err2, err3, err4} {
			if e != nil {
				return nil, fmt.Errorf("task %#x: fs_struct %#x: %w", t.Addr, fsPtr, e)
			}
		}
		if rd != 0 {
			if out.Root, err = k.Pathname(rd, rm); err != nil {
				return nil, fmt.Errorf("root: %w", err)
			}
		}
		if pd != 0 {
			if out.CWD, err = k.Pathname(pd, pm); err != nil {
				return nil, fmt.Errorf("cwd: %w", err)
			}
		}
	}
	if filesPtr == 0 {
		out.NoFiles = true
		return out, nil
	}
	fdt, err := k.readPointer(filesPtr + uint64(l.filesFdt.Off))
	if err != nil {
		return nil, fmt.Errorf("files_struct %#x: reading fdt: %w", filesPtr, err)
	}
	if fdt == 0 {
		out.NoFiles = true
		return out, nil
	}
	fb, err := k.readBytes(fdt, l.fdtOpenFds.Off+int(ps), "struct fdtable")
	if err != nil {
		return nil, err
	}
	maxFDs := d.uint(fb, l.fdtMaxFds)
	fdArr, openFds := d.uint(fb, l.fdtFd), d.uint(fb, l.fdtOpenFds)
	if maxFDs == 0 || fdArr == 0 || openFds == 0 {
		out.NoFiles = true
		return out, nil
	}
	if maxFDs > 1<<20 {
		return nil, fmt.Errorf("fdtable %#x: max_fds %d is implausible (over 1048576)", fdt, maxFDs)
	}
	bits, err := k.readBytes(openFds, int((maxFDs+7)/8), "fdtable open_fds bitmap")
	if err != nil {
		return nil, fmt.Errorf("fdtable %#x: %w", fdt, err)
	}
	for i := uint64(0); i < maxFDs; i++ {
		if bits[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		fp, err := k.readPointer(fdArr + i*ps)
		if err != nil {
			return out, fmt.Errorf("fdtable %#x: reading fd[%d] at %#x: %w", fdt, i, fdArr+i*ps, err)
		}
		if fp == 0 {
			continue
		}
		out.Files = append(out.Files, k.openFile(l, int(i), fp))
	}
	return out, nil
}

// S_IFMT values.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

func (k *Kernel) openFile(l *fsLayout, fd int, file uint64) OpenFile {
	of := OpenFile{FD: fd, File: file, Type: "?"}
	d := k.decoder()
	fb, err := k.readBytes(file, l.fileSize, "struct file")
	if err != nil {
		of.Err = err
		return of
	}
	of.Dentry = d.uint(fb, l.fDentry)
	if of.Dentry == 0 {
		return of
	}
	of.Inode, err = k.readPointer(of.Dentry + uint64(l.dInode.Off))
	if err != nil {
		of.Err = fmt.Errorf("dentry %#x: reading d_inode: %w", of.Dentry, err)
		return of
	}
	if of.Inode == 0 {
		return of
	}
	ib, err := k.readBytes(of.Inode, l.inodeSize, "struct inode")
	if err != nil {
		of.Err = err
		return of
	}
	vfsmnt := k.rootVfsmount(l, d.uint(fb, l.fMnt))
	of.Path, of.Err = k.Pathname(of.Dentry, vfsmnt)
	of.Mode = uint32(d.uint(ib, l.iMode))
	of.Ino = d.uint(ib, l.iIno)
	of.Type, of.Path = k.inodeType(l, ib, of.Path)
	return of
}

// inodeType is crash's inode_type: the type name of an inode's i_mode,
// PIPE (path dropped) for a FIFO of pipefs, no "/" path for a socket.
func (k *Kernel) inodeType(l *fsLayout, ib []byte, path string) (string, string) {
	d := k.decoder()
	mode := uint32(d.uint(ib, l.iMode))
	typ, ok := fileTypeNames[mode&sIFMT]
	if !ok {
		typ = "UNKN"
	}
	switch mode & sIFMT {
	case sIFIFO:
		if s, ok := k.Image.Lookup("pipe_inode_operations"); ok {
			if d.uint(ib, l.iOp) == s.Addr {
				typ, path = "PIPE", ""
			}
		} else if s, ok := k.Image.Lookup("rdwr_pipe_fops"); ok {
			if d.uint(ib, l.iFop) == s.Addr {
				typ, path = "PIPE", ""
			}
		}
	case sIFSOCK:
		if path == "/" {
			path = ""
		}
	}
	return typ, path
}

// fileTypeNames are crash's names of the inode types (files -d).
var fileTypeNames = map[uint32]string{sIFREG: "REG", sIFLNK: "LNK", sIFDIR: "DIR", sIFCHR: "CHR",
	sIFBLK: "BLK", sIFIFO: "FIFO", sIFSOCK: "SOCK"}

// rootVfsmount is crash's get_root_vfsmount: a devtmpfs (or udev) mount
// stacked on another of the same device name is named through the lower one.
func (k *Kernel) rootVfsmount(l *fsLayout, vfsmnt uint64) uint64 {
	dev := k.mountDevname(l, vfsmnt)
	if dev != "udev" && dev != "devtmpfs" {
		return vfsmnt
	}
	mp, err := k.readPointer(vfsmnt - uint64(l.mntMnt.Off) + uint64(l.mntParent.Off))
	if err != nil {
		return vfsmnt
	}
	pv := mp + uint64(l.mntMnt.Off)
	if k.mountDevname(l, pv) == dev {
		return pv
	}
	return vfsmnt
}

func (k *Kernel) mountDevname(l *fsLayout, vfsmnt uint64) string {
	p, err := k.readPointer(vfsmnt - uint64(l.mntMnt.Off) + uint64(l.mntDevname.Off))
	if err != nil || p == 0 {
		return ""
	}
	s, _ := k.readCString(p, 256)
	return s
}

// Mount is one mount of a mount namespace.
type Mount struct {
	Addr, SuperBlock uint64 // struct mount, struct super_block
	Type             string // file_system_type.name
	DevName          string
	DirName          string
	Err              error
}

// Mounts lists the mounts of the mount namespace of the task with pid 1
// (init_task's if there is none), in crash's order: the namespace's mount
// list from its root mount, or (6.8+) its rb-tree in order.
func (k *Kernel) Mounts() ([]Mount, error) {
	l, err := k.fsLayout()
	if err != nil {
		return nil, err
	}
	var task uint64
	if t, err := k.TaskByPID(1); err == nil {
		task = t.Addr
	} else if v, err := k.Image.Variable("init_task"); err == nil {
		task = v.Addr
	} else {
		return nil, fmt.Errorf("mount: no pid 1 and no init_task: %w", err)
	}
	nsproxy, err := k.readPointer(task + uint64(l.taskNsproxy.Off))
	if err != nil || nsproxy == 0 {
		return nil, fmt.Errorf("task %#x: reading nsproxy: %v", task, err)
	}
	ns, err := k.readPointer(nsproxy + uint64(l.nsMnt.Off))
	if err != nil || ns == 0 {
		return nil, fmt.Errorf("nsproxy %#x: reading mnt_ns: %v", nsproxy, err)
	}
	var mounts []uint64
	var werr error
	switch {
	case l.mnsMounts.ok() && l.mntNode.ok():
		nodes, err := WalkRBTree(k, ns+uint64(l.mnsMounts.Off), InOrder)
		for _, n := range nodes {
			mounts = append(mounts, n.Addr-uint64(l.mntNode.Off))
		}
		werr = err
	case l.mnsList.ok():
		root, err := k.readPointer(ns + uint64(l.mnsRoot.Off))
		if err != nil {
			return nil, fmt.Errorf("mnt_namespace %#x: reading root: %w", ns, err)
		}
		nodes, err := WalkList(k, root+uint64(l.mntList.Off), ListOptions{End: ns + uint64(l.mnsList.Off), Limit: 1 << 20})
		for _, n := range nodes {
			mounts = append(mounts, n-uint64(l.mntList.Off))
		}
		werr = err
	default:
		return nil, fmt.Errorf("mnt_namespace has neither list nor mounts")
	}
	var out []Mount
	for _, m := range mounts {
		out = append(out, k.readMount(l, m))
	}
	if werr != nil {
		return out, fmt.Errorf("mount list of mnt_namespace %#x: %w", ns, werr)
	}
	return out, nil
}

func (k *Kernel) readMount(l *fsLayout, m uint64) Mount {
	out := Mount{Addr: m}
	b, err := k.readBytes(m, l.mountSize, "struct mount")
	if err != nil {
		out.Err = err
		return out
	}
	d := k.decoder()
	out.SuperBlock = d.uint(b, l.vfsSB)
	if p := d.uint(b, l.mntDevname); p != 0 {
		if out.DevName, err = k.readCString(p, 4096); err != nil {
			out.DevName = "(unknown)"
		}
	}
	if st, err := k.readPointer(out.SuperBlock + uint64(l.sbType.Off)); err != nil {
		out.Err = fmt.Errorf("super_block %#x: reading s_type: %w", out.SuperBlock, err)
		return out
	} else if np, err := k.readPointer(st + uint64(l.fstName.Off)); err == nil {
		out.Type, _ = k.readCString(np, 256)
	}
	mp, parent := d.uint(b, l.mntMountpoint), d.uint(b, l.mntParent)
	out.DirName, out.Err = k.Pathname(mp, parent+uint64(l.mntMnt.Off))
	return out
}

// DentryInfo is crash's files -d: a dentry's inode, super block, inode
// type and path.
type DentryInfo struct {
	Dentry, Inode, SuperBlock uint64
	Type                      string // "N/A" without an inode
	Path                      string
}

// Dentry reads dentry as crash's display_dentry_info does: the super block
// is the inode's (the dentry's without one); the path is built through the
// last mount of pid 1's namespace on that super block, else through
// pipe_mnt or sock_mnt when the super block is theirs.
func (k *Kernel) Dentry(dentry uint64) (*DentryInfo, error) {
	l, err := k.fsLayout()
	if err != nil {
		return nil, err
	}
	db, err := k.readBytes(dentry, l.dentrySize, "struct dentry")
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	out := &DentryInfo{Dentry: dentry, Inode: d.uint(db, l.dInode), SuperBlock: d.uint(db, l.dSB), Type: "N/A"}
	var ib []byte
	if out.Inode != 0 {
		if ib, err = k.readBytes(out.Inode, l.inodeSize, "struct inode"); err != nil {
			return nil, fmt.Errorf("dentry %#x: %w", dentry, err)
		}
		out.SuperBlock = d.uint(ib, l.iSB)
	}
	if out.SuperBlock != 0 {
		if vfs := k.mountOfSuper(l, out.SuperBlock); vfs != 0 {
			if out.Path, err = k.Pathname(dentry, vfs); err != nil {
				return out, err
			}
		}
	}
	if ib != nil {
		out.Type, out.Path = k.inodeType(l, ib, out.Path)
	}
	return out, nil
}

// mountOfSuper is the vfsmount crash names a super block's dentries
// through: the last mount of the mount list on it, else pipe_mnt or
// sock_mnt; 0 if none.
func (k *Kernel) mountOfSuper(l *fsLayout, sb uint64) uint64 {
	vfs := uint64(0)
	mounts, _ := k.Mounts()
	for _, m := range mounts {
		if m.SuperBlock == sb {
			vfs = m.Addr + uint64(l.mntMnt.Off)
		}
	}
	if vfs != 0 {
		return vfs
	}
	for _, sym := range []string{"pipe_mnt", "sock_mnt"} {
		v, err := k.Image.Variable(sym)
		if err != nil {
			continue
		}
		p, err := k.readPointer(v.Addr)
		if err != nil || p == 0 {
			continue
		}
		if s, err := k.readPointer(p + uint64(l.vfsSB.Off-l.mntMnt.Off)); err == nil && s == sb {
			return p
		}
	}
	return 0
}
