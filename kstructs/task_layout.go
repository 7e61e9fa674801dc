package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// fieldLoc is where a member lies inside its outermost struct: found once
// from DWARF so that whole structs can be read with one ReadVirt and their
// members decoded from the bytes.
// The bytes are decoded by dwarfx's one decoder (Field.Extract) for
// bit-fields; the zero fieldLoc is absent, like noField.
type fieldLoc struct {
	Off   int        // byte offset from the start of the outer struct; -1 if absent
	Size  int        // byte size of the member (of a bit-field's storage unit)
	Type  dwarf.Type // its type (typedefs kept)
	found bool
	field dwarfx.Field // as dwarfx.Image.Member resolved it
}

// ok reports whether the member exists in this kernel.
func (f fieldLoc) ok() bool { return f.found }

var noField = fieldLoc{Off: -1}

// fixedField is a member of size bytes at byte offset off that DWARF does not
// describe (fixed kernel layouts, pointers inside a member).
func fixedField(off, size int) fieldLoc {
	return fieldLoc{Off: off, Size: size, found: true, field: dwarfx.Field{ByteOffset: int64(off), ByteSize: int64(size)}}
}

// memberPath finds a member path ("se.vruntime", "rss_stat.count[1]",
// "thread_info.cpu") inside struct type t, through dwarfx's one resolver:
// members of anonymous structs and unions are found by their own names, as
// C allows.
func memberPath(t dwarf.Type, path string) (fieldLoc, error) { return memberIn(nil, t, path) }

// memberIn is memberPath completing opaque member types through im.
func memberIn(im *dwarfx.Image, t dwarf.Type, path string) (fieldLoc, error) {
	f, err := im.Member(t, path)
	if err != nil {
		return noField, err
	}
	size := int(f.ByteSize)
	if f.BitSize == 0 && f.Type != nil {
		size = int(f.Type.Size())
	}
	return fieldLoc{Off: int(f.ByteOffset), Size: size, Type: f.Type, found: true, field: f}, nil
}

func typeName(t dwarf.Type) string {
	if t == nil {
		return "<nil type>"
	}
	return t.String()
}

// pointee returns the struct a pointer member points to (for types that have
// no variable of their own, such as signal_struct).
func pointee(t dwarf.Type) (dwarf.Type, bool) {
	pt, ok := dwarfx.Strip(t).(*dwarf.PtrType)
	if !ok || pt.Type == nil {
		return nil, false
	}
	return pt.Type, true
}

// layoutBuilder collects the member locations of one struct type; required
// members that are missing become one error naming them all.
type layoutBuilder struct {
	im      *dwarfx.Image // completes opaque member types; may be nil
	t       dwarf.Type
	name    string
	missing []string
}

// need finds the first of the alternative paths that exists (kernels rename
// members: state → __state, pids → pid_links).
func (b *layoutBuilder) need(paths ...string) fieldLoc {
	f := b.opt(paths...)
	if !f.ok() {
		b.missing = append(b.missing, strings.Join(paths, "|"))
	}
	return f
}

// opt is need for a member that older or differently configured kernels lack.
func (b *layoutBuilder) opt(paths ...string) fieldLoc {
	for _, p := range paths {
		if f, err := memberIn(b.im, b.t, p); err == nil {
			return f
		}
	}
	return noField
}

func (b *layoutBuilder) err() error {
	if len(b.missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s lacks member(s) %s in the vmlinux's DWARF", b.name, strings.Join(b.missing, ", "))
}

// structLayout is a struct type whose member locations are found once
// (layoutBuilder's need, opt, err) and whose whole size is read at once.
type structLayout struct {
	layoutBuilder
	size int
}

func newStructLayout(im *dwarfx.Image, name string, t dwarf.Type) *structLayout {
	return &structLayout{layoutBuilder: layoutBuilder{im: im, t: t, name: name}, size: int(t.Size())}
}

// read reads the whole struct at addr; the error names the struct and the
// address.
func (s *structLayout) read(k *Kernel, addr uint64) ([]byte, error) {
	return k.readBytes(addr, s.size, s.name)
}

// layoutSet lays out the structs one walk reads, collecting every missing
// struct and member into one error. lookup finds a struct type by its tag
// (Kernel.structType; tests hand in DWARF types without some member).
type layoutSet struct {
	im     *dwarfx.Image
	lookup func(name string) (dwarf.Type, error)
	errs   []error
}

func (k *Kernel) layoutSet() *layoutSet { return &layoutSet{im: k.Image, lookup: k.structType} }

// add lays out struct name: find picks its members with need and opt. A
// struct the vmlinux does not define is nil, with its error kept.
func (ls *layoutSet) add(name string, find func(b *layoutBuilder)) *structLayout {
	t, err := ls.lookup(name)
	if err != nil {
		ls.errs = append(ls.errs, err)
		return nil
	}
	s := newStructLayout(ls.im, "struct "+name, t)
	find(&s.layoutBuilder)
	ls.errs = append(ls.errs, s.err())
	return s
}

// optional is add for a struct some kernels do not build (IPv6): absent,
// it is nil and no error; present, its needed members must all be there.
func (ls *layoutSet) optional(name string, find func(b *layoutBuilder)) *structLayout {
	if _, err := ls.lookup(name); err != nil {
		return nil
	}
	return ls.add(name, find)
}

func (ls *layoutSet) err() error { return errors.Join(ls.errs...) }

// lazy is a layout built once per Kernel, on first use.
type lazy[T any] struct {
	once sync.Once
	v    *T
	err  error
}

func (l *lazy[T]) get(build func() (*T, error)) (*T, error) {
	l.once.Do(func() { l.v, l.err = build() })
	return l.v, l.err
}

// layoutOf is the layout in l, built by build from k's DWARF on first use.
func layoutOf[T any](k *Kernel, l *lazy[T], build func(*layoutSet, decoder) (*T, error)) (*T, error) {
	return l.get(func() (*T, error) { return build(k.layoutSet(), k.decoder()) })
}

// decoder reads members out of a struct's bytes.
type decoder struct {
	bo  binary.ByteOrder
	ptr int
}

// uint decodes an unsigned member (1, 2, 4 or 8 bytes, or a bit-field);
// 0 if absent or outside b.
func (d decoder) uint(b []byte, f fieldLoc) uint64 {
	if !f.ok() || f.Off < 0 || f.Off+f.Size > len(b) {
		return 0
	}
	if f.field.BitSize > 0 {
		x, _ := f.field.Extract(b, d.bo)
		return x
	}
	return dwarfx.DecodeUint(d.bo, b[f.Off:f.Off+f.Size])
}

// int decodes a signed member, sign-extending from its size.
func (d decoder) int(b []byte, f fieldLoc) int64 {
	if !f.ok() || f.Off+f.Size > len(b) {
		return 0
	}
	v := dwarfx.DecodeUint(d.bo, b[f.Off:f.Off+f.Size])
	shift := 64 - 8*uint(f.Size)
	return int64(v<<shift) >> shift
}

// ptrAt decodes a pointer at byte offset off.
func (d decoder) ptrAt(b []byte, off int) uint64 {
	if off < 0 || off+d.ptr > len(b) {
		return 0
	}
	return dwarfx.DecodeUint(d.bo, b[off:off+d.ptr])
}

func (d decoder) str(b []byte, f fieldLoc) string {
	if !f.ok() || f.Off+f.Size > len(b) {
		return ""
	}
	return string(cString(b[f.Off : f.Off+f.Size]))
}

// cstring is a char array member of the struct bytes b, or the string a
// char * member points to ("" for NULL); what names the member in errors.
func (k *Kernel) cstring(b []byte, f fieldLoc, what string) (string, error) {
	d := k.decoder()
	if _, ok := dwarfx.Strip(f.Type).(*dwarf.ArrayType); ok {
		return d.str(b, f), nil
	}
	p := d.uint(b, f)
	if p == 0 {
		return "", nil
	}
	s, err := k.readCString(p, 256)
	if err != nil {
		return "", fmt.Errorf("reading %s at %#x: %w", what, p, err)
	}
	return s, nil
}

// kcache is the per-Kernel state of this package's task and scheduler
// walks: layouts found once from DWARF, and the task table read once.
type kcache struct {
	layoutOnce sync.Once
	layout     *schedLayout
	layoutErr  error

	tasksOnce sync.Once
	tasks     *taskTable
	tasksErr  error

	stateOnce sync.Once
	states    *stateTable

	irqOnce sync.Once
	irq     *irqLayout
	irqErr  error

	timerOnce sync.Once
	timer     *timerLayout
	timerErr  error
	hrOnce    sync.Once
	hr        *hrLayout
	hrErr     error

	// the system views (dev, dev -p, net, net -s, sig, waitq)
	dev   lazy[devLayout]
	pci   lazy[pciLayout]
	net   lazy[netLayout]
	sock  lazy[sockLayout]
	sig   lazy[sigLayout]
	waitq lazy[waitqLayout]

	memBlock lazy[memBlockLayout] // kmem -n: the memory bus's blocks

	modSect lazy[modSectLayout] // mod -s: module section addresses
}

// cache is k's kcache, made on first use.
func (k *Kernel) cache() *kcache {
	k.kcMu.Lock()
	defer k.kcMu.Unlock()
	if k.kc == nil {
		k.kc = &kcache{}
	}
	return k.kc
}

// ForgetTasks drops the cached task table and layouts of k (to re-read a
// live target); a WithMemory overlay is kept.
func (k *Kernel) ForgetTasks() {
	k.kcMu.Lock()
	defer k.kcMu.Unlock()
	if k.kc != nil {
		k.kc = &kcache{}
	}
}

func (k *Kernel) decoder() decoder {
	return decoder{bo: k.Image.ByteOrder(), ptr: k.PtrSize()}
}

// readPtr reads one pointer from the target.
func (k *Kernel) readPointer(addr uint64) (uint64, error) {
	b := make([]byte, k.PtrSize())
	if err := k.ReadVirt(b, addr); err != nil {
		return 0, err
	}
	return dwarfx.DecodeUint(k.Image.ByteOrder(), b), nil
}

// readPtrMember reads the pointer member f of the struct at base; what
// names it in errors ("cdev.ops").
func (k *Kernel) readPtrMember(base uint64, f fieldLoc, what string) (uint64, error) {
	v, err := k.readPointer(base + uint64(f.Off))
	if err != nil {
		return 0, fmt.Errorf("reading %s at %#x: %w", what, base+uint64(f.Off), err)
	}
	return v, nil
}

// readBytes reads n bytes at addr into a new slice.
func (k *Kernel) readBytes(addr uint64, n int, what string) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("reading %s at %#x: unknown size", what, addr)
	}
	b := make([]byte, n)
	if err := k.ReadVirt(b, addr); err != nil {
		return nil, fmt.Errorf("reading %s at %#x: %w", what, addr, err)
	}
	return b, nil
}
