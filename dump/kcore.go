package dump

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// The running kernel's /proc/kcore (fs/proc/kcore.c) is an ELF core file
// the kernel generates on each read: PT_LOAD segments for the direct
// mapping of RAM (KCORE_RAM) and the kernel text (KCORE_TEXT) with their
// physical addresses in p_paddr, segments with p_paddr = -1 for vmalloc,
// modules and vmemmap (parseELF leaves those out: kinspect translates
// virtual addresses itself), and a note segment holding an NT_PRSTATUS
// with zeroed registers, an NT_PRPSINFO naming "vmlinux", an
// NT_TASKSTRUCT (the reading task) and, since Linux 4.19, VMCOREINFO.
//
// /proc/vmcore (kexec's elfcorehdr) and QEMU's dumps never carry
// NT_PRPSINFO and NT_TASKSTRUCT: together they tell a kcore.

// isKcore reports whether an ELF core's notes are those of /proc/kcore.
func isKcore(notes []Note) bool {
	var psinfo, task bool
	for _, n := range notes {
		if n.Name != "CORE" {
			continue
		}
		switch n.Type {
		case NT_PRPSINFO:
			psinfo = bytes.Contains(n.Desc, []byte("vmlinux\x00"))
		case NT_TASKSTRUCT:
			task = true
		}
	}
	return psinfo && task
}

// liveMem reads the running kernel's RAM through /proc/kcore. The kernel
// itself fills pages it will not read with zeros (pages that are not
// System RAM or are offline, and copies that fault, in read_kcore_iter);
// a read the kernel refuses outright (EFAULT, EIO) is reported as an
// excluded page that names the address, not as a corrupt file.
//
// Reads are one at a time: read_kcore_iter (fs/proc/kcore.c) copies RAM
// and text through a bounce buffer allocated once per open file
// (file->private_data, for copy_from_kernel_nofault) under a shared lock,
// so concurrent preads on one descriptor (kinspect decodes tasks on all
// CPUs) can return each other's bytes: a task_struct read as another's.
// /dev/mem (devmem.go) bounces each read through its own buffer
// (read_mem, drivers/char/mem.c): mu is nil there.
type liveMem struct {
	seg    *segmentMem
	mu     *sync.Mutex
	source string // "/proc/kcore", "/dev/mem"
}

func (m liveMem) readPhys(p []byte, addr uint64) error {
	if m.mu != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
	}
	err := m.seg.readPhys(p, addr)
	var re *ReadError
	if err != nil && errors.As(err, &re) && errors.Is(re.Err, ErrCorrupt) {
		re.Err = fmt.Errorf("%w: the running kernel did not let %s read it: %s", ErrExcluded, m.source,
			strings.TrimPrefix(re.Err.Error(), ErrCorrupt.Error()+": "))
	}
	return err
}

// Live reports whether the dump is the running kernel (/proc/kcore or
// /dev/mem): its memory changes while it is read, and no task has saved
// registers.
func (d *Dump) Live() bool { return d.live }

// initKcore turns an ELF dump opened from /proc/kcore into a live one.
// kcore's NT_PRSTATUS is all zeros (no CPU stopped anywhere), so it gives
// no CPU states.
func (d *Dump) initKcore(e *elfDump) {
	d.live = true
	d.format = fmt.Sprintf("live kernel (/proc/kcore, ELF%d)", e.hdr.class)
	d.mem = liveMem{seg: e.mem, mu: new(sync.Mutex), source: "/proc/kcore"}
	d.cpus = nil
}
