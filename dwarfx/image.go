package dwarfx

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrNoDWARF is wrapped by Open's error when the file is an ELF image
// without a .debug_info section (a stripped vmlinux).
var ErrNoDWARF = errors.New("vmlinux has no DWARF")

// FormatError reports malformed data in the image, naming the section and
// the byte offset within it.
type FormatError struct {
	Section string // ".debug_info", ".symtab", ...
	Offset  uint64 // offset within Section
	Msg     string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("dwarfx: %s+%#x: %s", e.Section, e.Offset, e.Msg)
}

// Image is an opened kernel image. Its methods are safe for concurrent use.
// Strings, types and values it returns stay valid after Close, but the Image
// itself must not be used after Close.
type Image struct {
	path    string
	f       *os.File
	mmap    []byte
	ef      *elf.File
	order   binary.ByteOrder
	ptr     int
	kaslr   atomic.Uint64
	buildID string

	sects map[string][]byte // section contents by name (ALLOC and debug sections)
	// infoFileOff is .debug_info's offset in the mapped file, -1 when the
	// section was decompressed into the heap (see release.go).
	infoFileOff int64
	fileBacked  bool

	// percpu: a zero-based per-cpu section (x86-64): addresses within it are
	// never relocated.
	percpuLo, percpuHi uint64
	percpuZero         bool

	syms       symtab
	extra      extraSyms      // module symbols (extsyms.go)
	extraTypes typeSources    // module types (extsyms.go)
	units      []unitInfo     // .debug_info's units, known before the index is
	idx        *index         // read through names/index (lazy.go): set in the background
	idxDone    chan struct{}  // closed once idx is set
	building   sync.WaitGroup // the background index build and cache save; Close waits
	lazy       lazyScan       // runs of units scanned for lookups made before idx is set

	// Kernel image bounds (link-time), from symbols; 0 if unknown.
	stext, etext, sinittext, einittext, text, end uint64

	dataMu sync.Mutex
	cuData map[int]*cuDwarf // lazily created per-CU debug/dwarf readers

	arangesOnce sync.Once
	aranges     []arange // .debug_aranges by address (lines.go)
	typeMu      sync.Mutex
	typeByName  map[string]dwarf.Type     // Type(name) cache, keyed by the normalised name
	complete    map[dwarf.Type]dwarf.Type // incomplete struct -> full definition

	completion      sync.Once
	typeNamesSorted []string
	symNamesSorted  []string

	warnings []error
	closed   atomic.Bool

	frames frameCache  // frame_vars.go: scopes by pc, CFI
	cache  *cacheState // the persistent index cache (indexcache.go), nil if off
}

// Open maps the vmlinux at path read-only and indexes its symbols and DWARF.
// It fails with a clear error if the file is not ELF or has no DWARF.
func Open(path string) (*Image, error) { return OpenCached(path, CacheOptions{}) }

// OpenCached is Open with the persistent index cache (indexcache.go): the
// index is loaded from cache.Dir when a file for this image is there, and
// saved there otherwise.
func OpenCached(path string, cache CacheOptions) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size, err := fileSize(f, st)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dwarfx: %s: %w", path, err)
	}
	if size < 64 {
		f.Close()
		return nil, fmt.Errorf("dwarfx: %s: not an ELF file (%d bytes)", path, size)
	}
	if int64(int(size)) != size {
		f.Close()
		return nil, fmt.Errorf("dwarfx: %s: file too large to map", path)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dwarfx: mmap %s: %w", path, err)
	}
	if st.Mode()&os.ModeDevice != 0 {
		st = nil // a device's size and mtime do not identify its content: no index cache
	}
	im, err := newImage(path, m, true, func(im *Image) *cacheState { return newCacheState(im, cache, st) })
	if err != nil {
		syscall.Munmap(m)
		f.Close()
		return nil, err
	}
	im.f = f
	return im, nil
}

// OpenBytes indexes an image held in memory (tests, fuzzing, embedded
// images). data must not be modified while the Image is in use.
func OpenBytes(name string, data []byte) (*Image, error) {
	return newImage(name, data, false, nil)
}

// newImage indexes the image in m. fileBacked says m is a read-only file
// mapping whose pages may be dropped after use (release.go); never so for
// heap memory, which MADV_DONTNEED would zero. cache, if set, gives the
// image's index cache (it needs the build ID, known once the sections are).
func newImage(path string, m []byte, fileBacked bool, cache func(*Image) *cacheState) (*Image, error) {
	if len(m) < 4 || !bytes.Equal(m[:4], []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("dwarfx: %s: not an ELF file", path)
	}
	ef, err := elf.NewFile(bytes.NewReader(m))
	if err != nil {
		return nil, fmt.Errorf("dwarfx: %s: %w", path, err)
	}
	im := &Image{
		path:       path,
		mmap:       m,
		fileBacked: fileBacked,
		ef:         ef,
		order:      ef.ByteOrder,
		sects:      make(map[string][]byte),
		cuData:     make(map[int]*cuDwarf),
		typeByName: make(map[string]dwarf.Type),
		complete:   make(map[dwarf.Type]dwarf.Type),
	}
	switch ef.Class {
	case elf.ELFCLASS32:
		im.ptr = 4
	default:
		im.ptr = 8
	}
	for _, s := range ef.Sections {
		if err := im.addSection(s); err != nil {
			return nil, err
		}
	}
	im.buildID = findBuildID(ef, im)
	if len(im.sects[".debug_info"]) == 0 {
		return nil, fmt.Errorf("dwarfx: %s: %w: no .debug_info section (a stripped image?): install the -dbg package (e.g. linux-image-<version>-dbg) and use its /usr/lib/debug/boot/vmlinux-<version>", path, ErrNoDWARF)
	}
	if len(im.sects[".debug_abbrev"]) == 0 {
		return nil, fmt.Errorf("dwarfx: %s: %w: .debug_info without .debug_abbrev", path, ErrNoDWARF)
	}

	if cache != nil {
		im.cache = cache(im)
	}
	if im.cache != nil {
		err = im.indexCached()
	} else {
		err = im.indexFresh(nil)
	}
	if err != nil {
		return nil, err
	}
	return im, nil
}

// addSection maps one ELF section the image reads: allocated, debug,
// symbol, string and note sections (compressed ones decompressed).
func (im *Image) addSection(s *elf.Section) error {
	if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
		return nil
	}
	isDebug := len(s.Name) > 7 && s.Name[:7] == ".debug_"
	if s.Flags&elf.SHF_ALLOC == 0 && !isDebug && s.Type != elf.SHT_SYMTAB && s.Type != elf.SHT_STRTAB && s.Type != elf.SHT_NOTE {
		return nil
	}
	var data []byte
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		var err error
		if data, err = s.Data(); err != nil { // decompressed copy
			return fmt.Errorf("dwarfx: %s: section %s: %w", im.path, s.Name, err)
		}
	} else {
		if s.Offset > uint64(len(im.mmap)) || s.Size > uint64(len(im.mmap))-s.Offset {
			return &FormatError{Section: s.Name, Offset: s.Offset, Msg: fmt.Sprintf("section extends past end of file (size %#x)", s.Size)}
		}
		data = im.mmap[s.Offset : s.Offset+s.Size : s.Offset+s.Size]
	}
	if _, dup := im.sects[s.Name]; !dup {
		im.sects[s.Name] = data
		if s.Name == ".debug_info" {
			im.infoFileOff = -1
			if s.Flags&elf.SHF_COMPRESSED == 0 {
				im.infoFileOff = int64(s.Offset)
			}
		}
	}
	if s.Name == ".data..percpu" {
		im.percpuLo, im.percpuHi = s.Addr, s.Addr+s.Size
		im.percpuZero = s.Addr == 0
	}
	return nil
}

// indexFresh loads the symbol table and starts indexing the DWARF names in
// the background: Open returns as soon as the symbols are read, and a lookup
// made before the index is complete is answered by scanning units in file
// order up to the first one that settles it (lazy.go), while the index is
// built beside it. then, if set, runs once the index and the symbols are
// complete (the cache save). Close waits for both.
func (im *Image) indexFresh(then func()) error {
	for _, name := range []string{".debug_info", ".debug_abbrev", ".debug_str"} {
		if s := im.ef.Section(name); s != nil && s.Flags&elf.SHF_COMPRESSED == 0 {
			adviseWillNeed(im.mmap, s.Offset, s.Size)
		}
	}
	// Reading each unit's header faults in the pages around it (the kernel
	// maps up to 64 KB around a read fault): most of the section, ~170 MB
	// on x86_64, were they kept. The scan faults them back in as it goes.
	var released uint64
	units, uerr := parseUnits(im.sects[".debug_info"], im.order, func(end uint64) {
		if im.infoFileOff >= 0 {
			im.release(uint64(im.infoFileOff)+released, end-released)
			released = end
		}
	})
	if len(units) == 0 && uerr != nil {
		return fmt.Errorf("dwarfx: %s: %w", im.path, uerr)
	}
	im.units = units
	im.lazy.claims = newUnitClaims(units)
	im.lazy.rel = newReleaser(im, units, im.lazy.claims.split)
	im.idxDone = make(chan struct{})
	symsDone := make(chan struct{})
	im.building.Add(1)
	go func() {
		defer im.building.Done()
		idx := buildIndex(im, uerr)
		<-symsDone // the warnings and the symbol table the save encodes
		if idx == nil {
			// Abandoned by Close (handOff): nothing reads the index.
			im.idx = &index{units: units}
			close(im.idxDone)
			return
		}
		im.idx = idx
		im.warnings = append(im.warnings, idx.warnings...)
		close(im.idxDone)
		im.lazy.drop()
		// Everything the open read is indexed: let the file's pages go
		// from this process (they fault back in from the page cache).
		im.release(0, uint64(len(im.mmap)))
		if then != nil {
			then()
		}
	}()
	if err := im.loadSymbols(); err != nil {
		im.warnings = append(im.warnings, err)
	}
	close(symsDone)
	return nil
}

// adviseWillNeed asks the kernel to start reading m[off:off+size] in (the
// mapping starts page-aligned, so rounding off down keeps the start aligned).
// Errors are ignored: this is only a hint.
func adviseWillNeed(m []byte, off, size uint64) {
	start := off &^ 4095
	if size == 0 || start >= uint64(len(m)) || off+size > uint64(len(m)) {
		return
	}
	_ = syscall.Madvise(m[start:off+size], syscall.MADV_WILLNEED)
}

// Close unmaps the file. The Image must not be used afterwards.
func (im *Image) Close() error {
	if im.closed.Swap(true) {
		return nil
	}
	var err error
	if !im.handOff() {
		if im.idxDone != nil {
			im.lazy.help(im)
		}
		im.building.Wait()
	}
	im.cache.close()
	if im.f != nil {
		err = syscall.Munmap(im.mmap)
		if cerr := im.f.Close(); err == nil {
			err = cerr
		}
	}
	im.mmap = nil
	return err
}

// Path is the file the image was opened from.
func (im *Image) Path() string { return im.path }

// Machine is the ELF machine (EM_AARCH64, EM_X86_64, EM_ARM, ...).
func (im *Image) Machine() elf.Machine { return im.ef.Machine }

// PtrSize is the target's pointer size in bytes (4 or 8).
func (im *Image) PtrSize() int { return im.ptr }

// ByteOrder is the target's byte order.
func (im *Image) ByteOrder() binary.ByteOrder { return im.order }

// BuildID is the hex NT_GNU_BUILD_ID of the image, "" if it has none.
func (im *Image) BuildID() string { return im.buildID }

// Warnings lists non-fatal problems met while indexing (malformed compile
// units that were skipped, an unreadable symbol table).
func (im *Image) Warnings() []error {
	im.index()
	return im.warnings
}

// SetKASLROffset sets the KASLR slide: every symbol, variable and function
// address reported afterwards is shifted by off; addresses given to
// SymbolAt/FunctionAt/InText are un-shifted. 0 (the default) reports link-time
// addresses.
func (im *Image) SetKASLROffset(off uint64) { im.kaslr.Store(off) }

// KASLROffset is the slide set by SetKASLROffset.
func (im *Image) KASLROffset() uint64 { return im.kaslr.Load() }

// reloc shifts a link-time address to a run-time one.
func (im *Image) reloc(addr uint64) uint64 {
	if im.percpuZero && addr >= im.percpuLo && addr < im.percpuHi {
		return addr
	}
	return addr + im.kaslr.Load()
}

// unreloc maps a run-time address back to link time.
func (im *Image) unreloc(addr uint64) uint64 {
	if im.percpuZero && addr >= im.percpuLo && addr < im.percpuHi {
		return addr
	}
	return addr - im.kaslr.Load()
}

// SectionData returns the contents of the named section (e.g. ".debug_frame",
// ".rodata") and whether it exists. The slice aliases the mapped file: do not
// modify it.
func (im *Image) SectionData(name string) ([]byte, bool) {
	b, ok := im.sects[name]
	return b, ok
}

// PerCPURange is the link-time address range of .data..percpu, and whether
// the section is zero-based (x86-64), in which case per-cpu variable
// addresses are offsets from each CPU's per-cpu base.
func (im *Image) PerCPURange() (lo, hi uint64, zeroBased bool) {
	return im.percpuLo, im.percpuHi, im.percpuZero
}

func findBuildID(ef *elf.File, im *Image) string {
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		if id := parseBuildIDNote(im.sects[s.Name], ef.ByteOrder); id != "" {
			return id
		}
	}
	return ""
}

func parseBuildIDNote(b []byte, order binary.ByteOrder) string {
	for len(b) >= 12 {
		namesz := uint64(order.Uint32(b[0:]))
		descsz := uint64(order.Uint32(b[4:]))
		typ := order.Uint32(b[8:])
		b = b[12:]
		nameEnd := (namesz + 3) &^ 3
		descEnd := (descsz + 3) &^ 3
		if nameEnd > uint64(len(b)) || descEnd > uint64(len(b))-nameEnd {
			return ""
		}
		name := b[:namesz]
		desc := b[nameEnd : nameEnd+descsz]
		if typ == 3 && string(bytes.TrimRight(name, "\x00")) == "GNU" {
			return hex.EncodeToString(desc)
		}
		b = b[nameEnd+descEnd:]
	}
	return ""
}

// StaticMemory is a Memory reading the image's own initialised sections
// (.text, .rodata, .data, ...) at their run-time addresses (link-time plus
// the KASLR offset): enough to evaluate constant data such as linux_banner
// without a dump. Reads outside file-backed sections fail; .bss reads as
// zeros.
func (im *Image) StaticMemory() Memory { return staticMemory{im} }

type staticMemory struct{ im *Image }

func (m staticMemory) ByteOrder() binary.ByteOrder { return m.im.order }

func (m staticMemory) ReadVirt(p []byte, addr uint64) error {
	im := m.im
	for len(p) > 0 {
		a := im.unreloc(addr)
		var sec *elf.Section
		for _, s := range im.ef.Sections {
			if s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 && a >= s.Addr && a-s.Addr < s.Size {
				sec = s
				break
			}
		}
		if sec == nil {
			return fmt.Errorf("address %#x is not in the kernel image's sections", addr)
		}
		n := sec.Addr + sec.Size - a
		if n > uint64(len(p)) {
			n = uint64(len(p))
		}
		if sec.Type == elf.SHT_NOBITS {
			clear(p[:n])
		} else {
			data := im.sects[sec.Name]
			off := a - sec.Addr
			if off+n > uint64(len(data)) {
				return fmt.Errorf("address %#x: section %s is truncated in the file", addr, sec.Name)
			}
			copy(p[:n], data[off:off+n])
		}
		p = p[n:]
		addr += n
	}
	return nil
}

// BuildIDFromNotes returns the GNU build-id (hex) in a raw ELF note
// stream such as /sys/kernel/notes (the running kernel's .notes section),
// "" if it has none.
func BuildIDFromNotes(b []byte, order binary.ByteOrder) string {
	return parseBuildIDNote(b, order)
}

// fileSize is a regular file's size, or a block device's (a vmlinux
// handed to a guest as a read-only disk: stat gives 0, the end of the
// device is its size).
func fileSize(f *os.File, st os.FileInfo) (int64, error) {
	if st.Mode()&os.ModeDevice == 0 {
		return st.Size(), nil
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("finding the size of the device: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return n, nil
}
