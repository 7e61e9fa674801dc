package dump

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"syscall"
)

// /dev/mem (drivers/char/mem.c) is physical memory at file offset =
// physical address, as a raw RAM image is (raw.go), but live, and with
// holes it must not be read at all: a read of a device window can hang or
// fault a board. So only /proc/iomem's System RAM (iomem.go) is mapped,
// and read with pread (read_mem), never mmap.
//
// The kernel refuses some reads itself: open needs CAP_SYS_RAWIO and a
// kernel not locked down (open_port, security/lockdown); with
// CONFIG_STRICT_DEVMEM, devmem_is_allowed refuses RAM (EPERM; x86 shows
// the first MiB as zeros and refuses the rest: arch/x86/mm/init.c); on
// 32-bit ARM valid_phys_addr_range (arch/arm/mm/mmap.c) refuses anything
// above high_memory with EFAULT: highmem is not readable through /dev/mem.
// 32-bit ARM has no /proc/kcore (fs/proc/Kconfig: PROC_KCORE has no
// prompt on ARM), so /dev/mem is how crash reads it live too.

// DevMemPath is the physical memory device.
const DevMemPath = "/dev/mem"

// DevMemFilteredError says the kernel refuses to read RAM through
// /dev/mem: CONFIG_STRICT_DEVMEM.
type DevMemFilteredError struct {
	Path string
	Addr uint64 // the System RAM page refused
	Err  error
}

func (e *DevMemFilteredError) Error() string {
	return fmt.Sprintf("%s refuses to read System RAM at %#x (%v): the kernel filters /dev/mem (CONFIG_STRICT_DEVMEM)", e.Path, e.Addr, e.Err)
}

func (e *DevMemFilteredError) Unwrap() error { return e.Err }

// devStore reads a device (or, in tests, a regular file standing in for
// one) with pread only: no mapping, no size from stat.
type devStore struct {
	f    *os.File
	size int64 // the end of the last System RAM range
}

func (s devStore) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }
func (s devStore) Size() int64                             { return s.size }
func (s devStore) slice(int64, int) []byte                 { return nil }
func (s devStore) missing(int64, int) bool                 { return false }
func (s devStore) backingSize() int64                      { return s.size }
func (s devStore) Close() error                            { return s.f.Close() }

// OpenDevMem opens the running kernel's physical memory through path
// (/dev/mem), readable only in ram (SystemRAM of /proc/iomem). It reads
// the first page of each range to tell a filtering kernel at once.
func OpenDevMem(path string, ram []PhysRange) (*Dump, error) {
	if len(ram) == 0 {
		return nil, fmt.Errorf("%s: no System RAM to read", path)
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist: the running kernel is built without CONFIG_DEVMEM", path)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EPERM):
		return nil, fmt.Errorf("cannot open %s: %w: it needs root (CAP_SYS_RAWIO) and a kernel that is not locked down (lockdown= / Secure Boot)", path, err)
	case err != nil:
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	mem := &segmentMem{}
	for _, r := range ram {
		end := r.Start + r.Size
		if end == 0 || end > math.MaxInt64 {
			end = math.MaxInt64 // pread's offsets are signed
		}
		if r.Start < end {
			mem.segs = append(mem.segs, segment{start: r.Start, end: end, off: int64(r.Start)})
		}
	}
	if len(mem.segs) == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no System RAM below 2^63 to read", path)
	}
	st := devStore{f: f, size: int64(mem.segs[len(mem.segs)-1].end)}
	for i := range mem.segs {
		mem.segs[i].st = st
	}
	if err := probeDevMem(path, st, mem.segs); err != nil {
		f.Close()
		return nil, err
	}
	d := &Dump{path: path, format: "live kernel (" + path + ", System RAM of /proc/iomem)", live: true,
		stores: []store{st}}
	d.mem = liveMem{seg: mem, source: path}
	d.ranges = mem.ranges()
	return d, nil
}

// probeDevMem reads the first page of each RAM segment. EPERM anywhere,
// or any error on the first segment, is the kernel refusing RAM: a
// filtering kernel (CONFIG_STRICT_DEVMEM) or a file that is not memory.
// EFAULT past the first is highmem (valid_phys_addr_range): those reads
// fail later, naming their address.
func probeDevMem(path string, st io.ReaderAt, segs []segment) error {
	var page [4096]byte
	for i, s := range segs {
		n := uint64(len(page))
		if s.end-s.start < n {
			n = s.end - s.start
		}
		_, err := st.ReadAt(page[:n], s.off)
		switch {
		case err == nil || i > 0 && !errors.Is(err, syscall.EPERM):
			continue
		case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EFAULT):
			return &DevMemFilteredError{Path: path, Addr: s.start, Err: err}
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%s ends before System RAM at %#x", path, s.start)
		}
		return fmt.Errorf("reading %s at System RAM %#x: %w", path, s.start, err)
	}
	return nil
}
