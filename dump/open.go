package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// Options tune Open.
type Options struct {
	// Raw makes a spec naming a single existing file (without @ADDR) open
	// as a raw RAM image at physical address 0, whatever its content.
	Raw bool
	// CacheBytes bounds the cache of decompressed kdump pages;
	// 0 means DefaultCacheBytes, negative disables caching.
	CacheBytes int
}

// physReader is a dump format's memory reader.
type physReader interface {
	readPhys(p []byte, addr uint64) error
}

// Dump is an open crash dump. Its methods are safe for concurrent use;
// ReadPhys may run concurrently with other reads.
type Dump struct {
	path     string
	format   string
	arch     Arch
	pageSize int
	bo       binary.ByteOrder

	mu     sync.RWMutex // ReadPhys holds it shared, Close exclusively
	closed bool
	stores []store // closed by Close
	dec    *decoder

	mem        physReader
	ranges     []PhysRange
	vmcoreinfo *VMCoreInfo
	notes      []Note
	cpus       []CPUState
	header     HeaderInfo
	live       bool // /proc/kcore (kcore.go), /dev/mem (devmem.go)
}

// dumpKind is what sniffing a file's first bytes finds.
type dumpKind int

const (
	kindUnknown dumpKind = iota
	kindELF
	kindELFNotCore
	kindKdump
	kindFlattened
)

func sniff(hdr []byte) dumpKind {
	switch {
	case len(hdr) >= 4 && bytes.Equal(hdr[:4], elfMagic):
		if len(hdr) >= 18 {
			var t uint16
			switch hdr[5] {
			case 1:
				t = binary.LittleEndian.Uint16(hdr[16:])
			case 2:
				t = binary.BigEndian.Uint16(hdr[16:])
			}
			if t == etCore {
				return kindELF
			}
		}
		return kindELFNotCore
	case len(hdr) >= 8 && bytes.Equal(hdr[:8], kdumpSignature):
		return kindKdump
	case isFlattened(hdr):
		return kindFlattened
	}
	return kindUnknown
}

func sniffStore(s store) dumpKind {
	var hdr [32]byte
	n, _ := s.ReadAt(hdr[:], 0)
	return sniff(hdr[:n])
}

// IsDumpFile reports whether the file at path looks like a dump Open can
// read by content (an ELF core file, kdump-compressed or flattened), so a
// command line may take the dump and the vmlinux in either order. A vmlinux
// (an ELF executable) is not a dump file.
func IsDumpFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var hdr [32]byte
	n, err := io.ReadFull(f, hdr[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, err
	}
	switch sniff(hdr[:n]) {
	case kindELF, kindKdump, kindFlattened:
		return true, nil
	}
	return false, nil
}

// Open opens a dump. spec is either the path of a dump file, whose format
// is told from its content (ELF32/ELF64 vmcore, kdump-compressed, or the
// makedumpfile flattened form of either), or a raw RAM spec
// "FILE@ADDR[,FILE@ADDR...]" placing each file's bytes at a physical
// address (ADDR in C syntax: 0x40000000, 1073741824). With opts.Raw a single
// existing file is read as a raw image at address 0.
func Open(spec string, opts Options) (*Dump, error) {
	if spec == "" {
		return nil, errors.New("dump: empty dump spec")
	}
	if fi, err := os.Stat(spec); err == nil && !fi.IsDir() {
		if opts.Raw {
			return openRaw(spec, []rawImage{{path: spec}}, opts)
		}
		return openFile(spec, opts)
	}
	images, err := parseRawSpec(spec)
	if err != nil {
		return nil, err
	}
	return openRaw(spec, images, opts)
}

func (o Options) cacheBytes() int {
	switch {
	case o.CacheBytes == 0:
		return DefaultCacheBytes
	case o.CacheBytes < 0:
		return 0
	}
	return o.CacheBytes
}

func openFile(path string, opts Options) (*Dump, error) {
	fs, err := openFileStore(path)
	if err != nil {
		return nil, err
	}
	d := &Dump{path: path, stores: []store{fs}}
	var st store = fs
	kind := sniffStore(fs)
	flat := false
	if kind == kindFlattened {
		f, err := parseFlattened(fs, path)
		if err != nil {
			fs.Close()
			return nil, err
		}
		st, d.stores, flat = f, []store{f}, true
		kind = sniffStore(f)
	}
	switch kind {
	case kindELF:
		err = d.initELF(st, flat)
	case kindKdump:
		err = d.initKdump(st, flat, opts)
	case kindELFNotCore:
		_, err = parseELFHeader(st, path) // says why
	default:
		what := "dump file"
		if flat {
			what = "flattened dump content"
		}
		err = &FormatError{File: path, Offset: 0, What: what,
			Err: errors.New("unrecognized format (not an ELF core, kdump-compressed or makedumpfile flattened file; for a raw RAM image use FILE@ADDR)")}
	}
	if err != nil {
		d.closeStores()
		return nil, err
	}
	return d, nil
}

func (d *Dump) initELF(st store, flat bool) error {
	e, err := parseELF(st, d.path)
	if err != nil {
		return err
	}
	d.format = fmt.Sprintf("ELF%d vmcore", e.hdr.class)
	if flat {
		d.format += " (flattened)"
	}
	d.arch = archFromMachine(e.hdr.machine)
	d.bo = e.hdr.bo
	d.mem = e.mem
	d.ranges = e.mem.ranges()
	d.setNotes(e.notes, vmcoreinfoFromNotes(e.notes))
	if !flat && isKcore(e.notes) {
		d.initKcore(e)
	}
	return nil
}

func (d *Dump) initKdump(st store, flat bool, opts Options) error {
	k, err := parseKdump(st, d.path, opts.cacheBytes())
	if err != nil {
		return err
	}
	comp := compressionNames(k.hdr.status)
	switch {
	case flat && comp != "":
		d.format = "kdump-compressed (flattened, " + comp + ")"
	case flat:
		d.format = "kdump-compressed (flattened)"
	case comp != "":
		d.format = "kdump-compressed (" + comp + ")"
	default:
		d.format = "kdump-compressed"
	}
	d.header = k.hdr.info()
	d.pageSize = int(k.hdr.blockSize)
	d.bo = k.hdr.bo
	d.header.PFNOffset = k.mem.pfnBase
	d.arch = k.arch
	d.mem = k.mem
	d.dec = k.mem.dec
	d.ranges = k.mem.ranges()
	d.setNotes(k.notes, k.vmcoreinfo)
	return nil
}

func (d *Dump) setNotes(notes []Note, vmcoreinfo []byte) {
	d.notes = notes
	d.cpus = cpuStates(notes, d.arch, d.bo)
	if vmcoreinfo != nil {
		if v, err := ParseVMCoreInfo(vmcoreinfo); err == nil {
			d.vmcoreinfo = v
		}
	}
}

func (d *Dump) closeStores() {
	for _, s := range d.stores {
		s.Close()
	}
	d.stores = nil
}

// Path returns the spec the dump was opened with.
func (d *Dump) Path() string { return d.path }

// Format describes the file format, e.g. "ELF64 vmcore",
// "kdump-compressed (flattened, lzo)", "raw".
func (d *Dump) Format() string { return d.format }

// Arch is the dumped machine's architecture, from the ELF e_machine or the
// kdump header's utsname.machine; ArchUnknown for raw images.
func (d *Dump) Arch() Arch { return d.arch }

// PageSize is the kdump block size (the unit pages are stored in; QEMU
// uses 64 KiB on arm64 whatever the guest's page size), 0 for formats
// without one. The guest's page size is VMCOREINFO's PAGESIZE.
func (d *Dump) PageSize() int { return d.pageSize }

// ByteOrder is the dumped machine's byte order (little-endian for raw).
func (d *Dump) ByteOrder() binary.ByteOrder {
	if d.bo == nil {
		return binary.LittleEndian
	}
	return d.bo
}

var errClosed = fmt.Errorf("dump is closed: %w", os.ErrClosed)

// ReadPhys fills p with the physical memory at addr, crossing page and
// segment boundaries as needed, or returns a *ReadError wrapping
// ErrNotInDump, ErrExcluded, ErrTruncated or ErrCorrupt that names the
// first byte it could not read. On error, p's content is unspecified.
func (d *Dump) ReadPhys(p []byte, addr uint64) error {
	if len(p) == 0 {
		return nil
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return &ReadError{Space: "physical", Addr: addr, Size: len(p), Offset: -1, Err: errClosed}
	}
	return d.mem.readPhys(p, addr)
}

// Ranges returns the physical ranges the dump holds, sorted and merged.
// For kdump files these are the pages actually dumped (excluded pages are
// not in them).
func (d *Dump) Ranges() []PhysRange { return slices.Clone(d.ranges) }

// VMCoreInfo returns the dump's VMCOREINFO, nil if it carries none.
func (d *Dump) VMCoreInfo() *VMCoreInfo { return d.vmcoreinfo }

// CPUs returns one CPUState per NT_PRSTATUS note, in note order.
func (d *Dump) CPUs() []CPUState { return slices.Clone(d.cpus) }

// Notes returns every ELF note of the dump, in file order.
func (d *Dump) Notes() []Note { return slices.Clone(d.notes) }

// Header returns the kdump header's facts; Valid is false for other formats.
func (d *Dump) Header() HeaderInfo { return d.header }

// Close releases the dump's files and mappings. Reads after Close fail.
func (d *Dump) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var err error
	for _, s := range d.stores {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}
	d.stores = nil
	if d.dec != nil {
		d.dec.Close()
	}
	return err
}
