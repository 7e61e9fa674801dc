package dwarfx

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"unsafe"
)

// Symbol is one ELF symbol of the image.
type Symbol struct {
	Name string
	Addr uint64 // relocated by the KASLR offset (except absolute and zero-based per-cpu symbols)
	Size uint64
	// Kind is the nm/crash `sym` type letter: T t (text), D d (data),
	// B b (bss), R r (read-only data), A a (absolute), W V (weak), i (ifunc),
	// u (unique), C (common), U (undefined), N n (other non-alloc).
	// Upper case is global, lower case local.
	Kind byte
	// Module is the kernel module the symbol belongs to ("" for vmlinux):
	// see extsyms.go.
	Module string
}

// Global reports whether the symbol has global (or weak) binding.
func (s Symbol) Global() bool { return s.Kind >= 'A' && s.Kind <= 'Z' }

// IsText reports whether the symbol is in an executable section.
func (s Symbol) IsText() bool { return s.Kind == 'T' || s.Kind == 't' }

type rawSym struct {
	name  string // aliases the mapped .strtab
	addr  uint64 // link-time
	size  uint64
	kind  byte
	shndx uint16
	rank  uint8 // preference among equal addresses / names; higher is better
	noRel bool  // never relocated (absolute, zero-based per-cpu)
}

type symtab struct {
	all    []rawSym
	byName nameMap
	byAddr []int32 // indices of address-bearing symbols, best one per address, sorted by address
	maxEnd uint64  // largest addr+size among byAddr symbols
}

func (im *Image) loadSymbols() error {
	symSec := im.symtabSection()
	st := &im.syms
	if symSec == nil {
		return &FormatError{Section: ".symtab", Msg: "no symbol table"}
	}
	if int(symSec.Link) >= len(im.ef.Sections) {
		return &FormatError{Section: symSec.Name, Msg: "bad string table link"}
	}
	im.readSymbols(im.sects[symSec.Name], im.sects[im.ef.Sections[symSec.Link].Name])
	st.indexByName()
	st.indexByAddr()
	im.setTextBounds()
	return nil
}

// setTextBounds reads the kernel image's bounds from the symbol table.
func (im *Image) setTextBounds() {
	st := &im.syms
	get := func(n string) uint64 {
		if j, ok := st.byName.get(n); ok {
			return st.all[j].addr
		}
		return 0
	}
	im.stext, im.etext = get("_stext"), get("_etext")
	im.sinittext, im.einittext = get("_sinittext"), get("_einittext")
	im.text, im.end = get("_text"), get("_end")
	if im.text == 0 {
		im.text = im.stext
	}
}

// symtabSection is the ELF symbol table section, nil if stripped.
func (im *Image) symtabSection() *elf.Section {
	for _, s := range im.ef.Sections {
		if s.Type == elf.SHT_SYMTAB {
			return s
		}
	}
	return nil
}

// elfSym is one decoded Elf32_Sym/Elf64_Sym.
type elfSym struct {
	nameOff    uint32
	addr, size uint64
	info       uint8
	shndx      uint16
}

// decodeSym decodes the symbol table entry e (16 or 24 bytes).
func decodeSym(e []byte, order binary.ByteOrder) elfSym {
	if len(e) == 24 {
		return elfSym{nameOff: order.Uint32(e[0:]), info: e[4], shndx: order.Uint16(e[6:]),
			addr: order.Uint64(e[8:]), size: order.Uint64(e[16:])}
	}
	return elfSym{nameOff: order.Uint32(e[0:]), addr: uint64(order.Uint32(e[4:])),
		size: uint64(order.Uint32(e[8:])), info: e[12], shndx: order.Uint16(e[14:])}
}

// readSymbols decodes .symtab (data, names in strs) into im.syms.all,
// leaving out section, file and mapping symbols.
func (im *Image) readSymbols(data, strs []byte) {
	st := &im.syms
	entsz := 24
	if im.ef.Class == elf.ELFCLASS32 {
		entsz = 16
	}
	n := len(data) / entsz
	secs := im.ef.Sections
	secLetter := make([]byte, len(secs))
	for i, s := range secs {
		secLetter[i] = sectionLetter(s)
	}
	st.all = make([]rawSym, 0, n)
	for i := 1; i < n; i++ {
		e := decodeSym(data[i*entsz:(i+1)*entsz], im.order)
		typ := elf.SymType(e.info & 0xf)
		bind := elf.SymBind(e.info >> 4)
		if typ == elf.STT_SECTION || typ == elf.STT_FILE || int(e.nameOff) >= len(strs) {
			continue
		}
		name := cstringAt(strs, int(e.nameOff))
		if name == "" || isMappingSymbol(name) {
			continue
		}
		kind := symKind(e.shndx, typ, bind, secLetter)
		rs := rawSym{name: name, addr: e.addr, size: e.size, kind: kind, shndx: e.shndx}
		rs.noRel = kind == 'a' || kind == 'A' ||
			(im.percpuZero && e.addr >= im.percpuLo && e.addr < im.percpuHi && int(e.shndx) < len(secs) && secs[e.shndx].Name == ".data..percpu")
		rs.rank = symRank(&rs, bind)
		st.all = append(st.all, rs)
	}
}

// symKind is nm's letter for a symbol: U, w/v undefined (weak), C common,
// i ifunc, W/V weak, u unique, a absolute, else its section's letter,
// upper case for globals.
func symKind(shndx uint16, typ elf.SymType, bind elf.SymBind, secLetter []byte) byte {
	var kind byte
	switch {
	case elf.SectionIndex(shndx) == elf.SHN_UNDEF:
		if bind == elf.STB_WEAK {
			kind = 'w'
			if typ == elf.STT_OBJECT {
				kind = 'v'
			}
		} else {
			kind = 'U'
		}
	case elf.SectionIndex(shndx) == elf.SHN_COMMON:
		kind = 'C'
	case typ == elf.STT_GNU_IFUNC:
		kind = 'i'
	case bind == elf.STB_WEAK:
		kind = 'W'
		if typ == elf.STT_OBJECT {
			kind = 'V'
		}
	case bind == 10: // STB_GNU_UNIQUE
		kind = 'u'
	default:
		if elf.SectionIndex(shndx) == elf.SHN_ABS {
			kind = 'a'
		} else if int(shndx) < len(secLetter) {
			kind = secLetter[shndx]
		} else {
			kind = '?'
		}
		if bind == elf.STB_GLOBAL && kind >= 'a' && kind <= 'z' {
			kind -= 'a' - 'A'
		}
	}
	return kind
}

// indexByName: best rank wins, then first.
func (st *symtab) indexByName() {
	all := st.all
	st.byName = newNameMap(len(all), func(i int32) string { return all[i].name })
	for i := range all {
		p := st.byName.slot(all[i].name)
		if *p >= 0 && all[*p].rank >= all[i].rank {
			continue
		}
		*p = int32(i)
	}
}

// indexByAddr sorts the symbols of allocated sections by address, best
// first among equal addresses, and keeps the best per address.
func (st *symtab) indexByAddr() {
	type ak struct {
		addr uint64
		rank uint8
		idx  int32
	}
	keys := make([]ak, 0, len(st.all))
	for i := range st.all {
		s := &st.all[i]
		if addrBearing(s.kind) {
			keys = append(keys, ak{s.addr, s.rank, int32(i)})
		}
	}
	all := st.all
	slices.SortFunc(keys, func(a, b ak) int {
		switch {
		case a.addr != b.addr:
			return cmp.Compare(a.addr, b.addr)
		case a.rank != b.rank:
			return cmp.Compare(b.rank, a.rank)
		}
		return strings.Compare(all[a.idx].name, all[b.idx].name)
	})
	out := make([]int32, 0, len(keys))
	for _, k := range keys {
		j := k.idx
		if len(out) > 0 && all[out[len(out)-1]].addr == all[j].addr {
			continue
		}
		out = append(out, j)
		if e := all[j].addr + all[j].size; e > st.maxEnd {
			st.maxEnd = e
		}
	}
	st.byAddr = out
}

// symRank orders symbols sharing an address or a name: sized, global,
// text/data symbols are preferred.
func symRank(s *rawSym, bind elf.SymBind) uint8 {
	var r uint8
	if s.size > 0 {
		r += 8
	}
	switch bind {
	case elf.STB_GLOBAL:
		r += 4
	case elf.STB_WEAK:
		r += 2
	}
	switch s.kind {
	case 'T', 't', 'D', 'd', 'B', 'b', 'R', 'r', 'W', 'V':
		r += 1
	}
	// Compiler-generated local labels are the least useful names.
	if strings.HasPrefix(s.name, ".L") || strings.HasPrefix(s.name, "__UNIQUE_ID_") {
		r = 0
	}
	return r
}

func addrBearing(k byte) bool {
	switch k {
	case 'T', 't', 'D', 'd', 'B', 'b', 'R', 'r', 'W', 'V', 'i', 'u':
		return true
	}
	return false
}

// sectionLetter is nm's letter for a symbol defined in s (lower case).
func sectionLetter(s *elf.Section) byte {
	for _, p := range [...]struct {
		prefix string
		c      byte
	}{{".drectve", 'i'}, {".edata", 'e'}, {".idata", 'i'}, {".pdata", 'p'}} {
		if strings.HasPrefix(s.Name, p.prefix) {
			return p.c
		}
	}
	switch {
	case s.Flags&elf.SHF_EXECINSTR != 0:
		return 't'
	case s.Flags&elf.SHF_ALLOC != 0 && s.Type != elf.SHT_NOBITS:
		if s.Flags&elf.SHF_WRITE == 0 {
			return 'r'
		}
		return 'd'
	case s.Type == elf.SHT_NOBITS:
		return 'b'
	case strings.HasPrefix(s.Name, ".debug") || strings.HasPrefix(s.Name, ".zdebug") || strings.HasPrefix(s.Name, ".stab") || strings.HasPrefix(s.Name, ".gnu.linkonce.wi."):
		return 'N'
	case s.Flags&elf.SHF_WRITE == 0:
		return 'n'
	}
	return '?'
}

// isMappingSymbol reports ARM/AArch64 mapping symbols ($a, $d, $t, $x and
// their "$d.123" forms), which nm and crash hide.
func isMappingSymbol(n string) bool {
	if len(n) < 2 || n[0] != '$' {
		return false
	}
	switch n[1] {
	case 'a', 'd', 't', 'x':
		return len(n) == 2 || n[2] == '.'
	}
	return false
}

// cstringAt returns the NUL-terminated string at b[off:], aliasing b.
func cstringAt(b []byte, off int) string {
	if off < 0 || off >= len(b) {
		return ""
	}
	rest := b[off:]
	n := bytes.IndexByte(rest, 0)
	if n < 0 {
		n = len(rest)
	}
	if n == 0 {
		return ""
	}
	return unsafe.String(&rest[0], n)
}

func (im *Image) symbol(i int32) Symbol {
	s := &im.syms.all[i]
	addr := s.addr
	if !s.noRel {
		addr += im.kaslr.Load()
	}
	return Symbol{Name: strings.Clone(s.name), Addr: addr, Size: s.size, Kind: s.kind}
}

// Lookup finds the ELF symbol called name. Among several (static symbols of
// the same name), a global, sized one is preferred.
func (im *Image) Lookup(name string) (Symbol, bool) {
	if s, ok := im.LookupKernel(name); ok {
		return s, true
	}
	return im.extraLookup(name)
}

// LookupKernel is Lookup in the vmlinux's symbols alone: for a probe of a
// kernel variable that may not exist, which a module's symbol must not
// answer and whose miss must not read the module symbols (extsyms.go).
func (im *Image) LookupKernel(name string) (Symbol, bool) {
	i, ok := im.syms.byName.get(name)
	if !ok {
		return Symbol{}, false
	}
	return im.symbol(i), true
}

// LookupAll returns every ELF symbol called name (static symbols may repeat).
func (im *Image) LookupAll(name string) []Symbol {
	var out []Symbol
	for i := range im.syms.all {
		if im.syms.all[i].name == name {
			out = append(out, im.symbol(int32(i)))
		}
	}
	return out
}

// SymbolAt returns the symbol at or nearest before addr (a run-time address)
// and addr's offset from it, for "symbol+0xoff" display. Sized, global,
// text/data symbols win among symbols sharing an address. ok is false when
// addr lies before the first symbol or past the end of the last one.
func (im *Image) SymbolAt(addr uint64) (sym Symbol, off uint64, ok bool) {
	if s, o, ok := im.extraAt(addr); ok {
		return s, o, true
	}
	st := &im.syms
	if len(st.byAddr) == 0 {
		return Symbol{}, 0, false
	}
	try := func(a uint64) (Symbol, uint64, bool) {
		all := st.all
		i := sort.Search(len(st.byAddr), func(i int) bool { return all[st.byAddr[i]].addr > a })
		if i == 0 {
			return Symbol{}, 0, false
		}
		s := &all[st.byAddr[i-1]]
		if a >= st.maxEnd && !(s.size == 0 && a == s.addr) {
			return Symbol{}, 0, false
		}
		return im.symbol(st.byAddr[i-1]), a - s.addr, true
	}
	// Zero-based per-cpu symbols keep their link-time addresses.
	if im.percpuZero && addr >= im.percpuLo && addr < im.percpuHi {
		if s, o, ok := try(addr); ok {
			return s, o, true
		}
	}
	return try(addr - im.kaslr.Load())
}

// SearchSymbols returns the symbols whose names contain substr, sorted by
// address (crash `sym -q`).
func (im *Image) SearchSymbols(substr string) []Symbol {
	var idx []int32
	for i := range im.syms.all {
		if strings.Contains(im.syms.all[i].name, substr) {
			idx = append(idx, int32(i))
		}
	}
	all := im.syms.all
	sort.SliceStable(idx, func(a, b int) bool {
		if all[idx[a]].addr != all[idx[b]].addr {
			return all[idx[a]].addr < all[idx[b]].addr
		}
		return all[idx[a]].name < all[idx[b]].name
	})
	out := make([]Symbol, len(idx))
	for i, j := range idx {
		out[i] = im.symbol(j)
	}
	if x := im.extras(); x != nil {
		for _, s := range x.byAddr {
			if strings.Contains(s.Name, substr) {
				out = append(out, s)
			}
		}
	}
	return out
}

// NumSymbols is the number of ELF symbols indexed.
func (im *Image) NumSymbols() int { return len(im.syms.all) }

// InText reports whether addr (run-time) lies within the kernel's text:
// _stext.._etext or _sinittext.._einittext, or a module's text.
func (im *Image) InText(addr uint64) bool {
	a := addr - im.kaslr.Load()
	if im.stext != 0 && im.etext > im.stext && a >= im.stext && a < im.etext {
		return true
	}
	if im.sinittext != 0 && im.einittext > im.sinittext && a >= im.sinittext && a < im.einittext {
		return true
	}
	r, ok := im.extraRange(addr)
	return ok && r.Text
}

// InKernelImage reports whether addr (run-time) lies within the loaded
// kernel image, _text.._end.
func (im *Image) InKernelImage(addr uint64) bool {
	a := addr - im.kaslr.Load()
	return im.text != 0 && im.end > im.text && a >= im.text && a < im.end
}

// KernelImageRange is the run-time range _text.._end (0, 0 if unknown).
func (im *Image) KernelImageRange() (start, end uint64) {
	if im.text == 0 || im.end <= im.text {
		return 0, 0
	}
	off := im.kaslr.Load()
	return im.text + off, im.end + off
}
