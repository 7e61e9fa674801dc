package kstructs

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kinspect/kinspect/dwarfx"
)

// Module debug information (mod -s): a module's .ko DWARF, relocated to
// the section addresses the dump records for that module (struct module's
// sect_attrs, what /sys/module/NAME/sections shows), so that its line
// table answers for the module's run-time pcs (bt -l).
//
// The .ko is an ET_REL object: debug/elf applies its relocations to the
// DWARF sections with each symbol's value. Before that, every symbol
// defined in a loaded section gets that section's run-time address added
// to its (section-relative) value: the relocated DWARF then holds run-time
// addresses, whichever text section (.text, .text.unlikely...) a line
// belongs to.

type moduleDebug struct {
	name, file string
	d          *dwarf.Data
	types      map[string]dwarf.Offset // "struct kt_obj", "typedef x"...: the first definition
}

// modTypeKinds: the DWARF tags of named types, by C keyword.
var modTypeKinds = map[dwarf.Tag]string{dwarf.TagStructType: "struct", dwarf.TagUnionType: "union",
	dwarf.TagEnumerationType: "enum", dwarf.TagTypedef: "typedef", dwarf.TagBaseType: "base"}

// indexTypes records where the module's named types are defined.
func (m *moduleDebug) indexTypes() {
	m.types = map[string]dwarf.Offset{}
	r := m.d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return
		}
		kw, ok := modTypeKinds[e.Tag]
		name, _ := e.Val(dwarf.AttrName).(string)
		if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); ok && name != "" && !decl {
			if _, seen := m.types[kw+" "+name]; !seen {
				m.types[kw+" "+name] = e.Offset
			}
		}
	}
}

// typeSource answers the Image's type lookups from the module's DWARF.
func (m *moduleDebug) typeSource(kw, name string) (dwarf.Type, bool) {
	kws := []string{kw}
	if kw == "" {
		kws = []string{"struct", "union", "enum", "typedef", "base"}
	}
	for _, k := range kws {
		if off, ok := m.types[k+" "+name]; ok {
			if t, err := m.d.Type(off); err == nil {
				return t, true
			}
		}
	}
	return nil, false
}

type modDebugState struct {
	mu   sync.Mutex
	mods map[string]*moduleDebug
}

// modSectLayout: where a module keeps its section addresses
// (kernel/module/sysfs.c: module.sect_attrs, a struct module_sect_attrs
// of nsections struct module_sect_attr {battr.attr.name, address}).
type modSectLayout struct {
	dec              decoder
	sectAttrs        fieldLoc // module.sect_attrs
	nsections, attrs fieldLoc // module_sect_attrs
	attr             *structLayout
	name, addr       fieldLoc // module_sect_attr.battr.attr.name, .address
}

func buildModSectLayout(ls *layoutSet, dec decoder) (*modSectLayout, error) {
	l := &modSectLayout{dec: dec}
	ls.add("module", func(b *layoutBuilder) { l.sectAttrs = b.need("sect_attrs") })
	ls.add("module_sect_attrs", func(b *layoutBuilder) { l.nsections, l.attrs = b.need("nsections"), b.need("attrs") })
	l.attr = ls.add("module_sect_attr", func(b *layoutBuilder) { l.name, l.addr = b.need("battr.attr.name"), b.need("address") })
	return l, ls.err()
}

// ModuleSectionAddrs reads module m's section addresses from the dump
// (struct module_sect_attrs: nsections entries of {battr.attr.name,
// address}; kernel/module/sysfs.c).
func (k *Kernel) ModuleSectionAddrs(m Module) (map[string]uint64, error) {
	l, err := layoutOf(k, &k.cache().modSect, buildModSectLayout)
	if err != nil {
		return nil, fmt.Errorf("no section attributes: %w", err)
	}
	sa, err := k.readPtrMember(m.Addr, l.sectAttrs, "module.sect_attrs")
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", m.Name, err)
	}
	if sa == 0 {
		return nil, fmt.Errorf("module %s has no section attributes (sect_attrs is NULL)", m.Name)
	}
	nb, err := k.readBytes(sa+uint64(l.nsections.Off), l.nsections.Size, "module_sect_attrs.nsections")
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", m.Name, err)
	}
	n := uint64(dwarfx.DecodeUint(k.Image.ByteOrder(), nb))
	if n > 1024 {
		return nil, fmt.Errorf("module %s: %d sections at %#x is not plausible", m.Name, n, sa)
	}
	size := uint64(l.attr.size)
	raw := make([]byte, n*size)
	if err := k.ReadVirt(raw, sa+uint64(l.attrs.Off)); err != nil {
		return nil, fmt.Errorf("module %s: reading %d section attributes at %#x: %w", m.Name, n, sa+uint64(l.attrs.Off), err)
	}
	out := map[string]uint64{}
	for i := uint64(0); i < n; i++ {
		e := raw[i*size : (i+1)*size]
		np := l.dec.uint(e, l.name)
		name, err := k.readCString(np, 128)
		if err != nil {
			return nil, fmt.Errorf("module %s: section %d's name at %#x: %w", m.Name, i, np, err)
		}
		out[name] = l.dec.uint(e, l.addr)
	}
	return out, nil
}

// LoadModuleDebug reads the DWARF of module name from the .ko at path,
// relocated to the module's section addresses in the dump.
func (k *Kernel) LoadModuleDebug(name, path string) error {
	mods, _ := k.LoadModuleSymbols()
	var mod *Module
	for i := range mods {
		if mods[i].Name == name {
			mod = &mods[i]
		}
	}
	if mod == nil {
		return fmt.Errorf("no module %s is loaded", name)
	}
	secs, err := k.ModuleSectionAddrs(*mod)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	d, err := relocatedDWARF(raw, secs)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := k.loadModuleCFI(raw, secs); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	k.modDebug.mu.Lock()
	defer k.modDebug.mu.Unlock()
	if k.modDebug.mods == nil {
		k.modDebug.mods = map[string]*moduleDebug{}
	}
	md := &moduleDebug{name: name, file: path, d: d}
	md.indexTypes()
	k.modDebug.mods[name] = md
	k.Image.AddTypeSource(md.typeSource)
	return nil
}

// ModuleDebugFile is the .ko loaded for module name ("" if none).
func (k *Kernel) ModuleDebugFile(name string) string {
	k.modDebug.mu.Lock()
	defer k.modDebug.mu.Unlock()
	if m := k.modDebug.mods[name]; m != nil {
		return m.file
	}
	return ""
}

// relocatedDWARF shifts the .ko's symbols by their sections' run-time
// addresses (secs, by section name) and returns its relocated DWARF.
func relocatedDWARF(raw []byte, secs map[string]uint64) (*dwarf.Data, error) {
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if ef.Type != elf.ET_REL {
		return nil, errors.New("not a kernel module (ELF type is not ET_REL)")
	}
	st := ef.SectionByType(elf.SHT_SYMTAB)
	if st == nil {
		return nil, errors.New("no symbol table")
	}
	out := append([]byte(nil), raw...)
	entSize, valOff, width := 24, 8, 8
	if ef.Class == elf.ELFCLASS32 {
		entSize, valOff, width = 16, 4, 4
	}
	if st.Offset+st.Size > uint64(len(out)) {
		return nil, errors.New("symbol table past the end of the file")
	}
	bo := ef.ByteOrder
	for i := 1; i < int(st.Size)/entSize; i++ {
		e := out[int(st.Offset)+i*entSize:]
		shndx := bo.Uint16(e[6:]) // Elf64_Sym.st_shndx
		if ef.Class == elf.ELFCLASS32 {
			shndx = bo.Uint16(e[14:]) // Elf32_Sym.st_shndx
		}
		if int(shndx) == 0 || int(shndx) >= len(ef.Sections) {
			continue
		}
		base, ok := secs[ef.Sections[shndx].Name]
		if !ok {
			continue
		}
		if width == 8 {
			bo.PutUint64(e[valOff:], bo.Uint64(e[valOff:])+base)
		} else {
			bo.PutUint32(e[valOff:], bo.Uint32(e[valOff:])+uint32(base))
		}
	}
	rf, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		return nil, err
	}
	return rf.DWARF()
}

// moduleLineAt is the file and line of a pc in a module whose debug
// information is loaded.
func (k *Kernel) moduleLineAt(pc uint64) (string, int, bool) {
	name := k.Image.ModuleOf(pc)
	k.modDebug.mu.Lock()
	m := k.modDebug.mods[name]
	k.modDebug.mu.Unlock()
	if m == nil {
		return "", 0, false
	}
	r := m.d.Reader()
	for {
		cu, err := r.Next()
		if err != nil || cu == nil {
			return "", 0, false
		}
		if cu.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		lr, err := m.d.LineReader(cu)
		if err == nil && lr != nil {
			var e dwarf.LineEntry
			if lr.SeekPC(pc, &e) == nil && e.File != nil {
				return e.File.Name, e.Line, true
			}
		}
		r.SkipChildren()
	}
}

// maxDebugWalk bounds the files LoadModuleDebugDir looks at.
const maxDebugWalk = 200000

// LoadModuleDebugDir loads the debug information of every loaded module
// found under dir as NAME.ko (or NAME.ko.debug; '-' and '_' are the same in
// module names): a kernel tree, /lib/modules/RELEASE or a Debian -dbg
// package's usr/lib/debug/lib/modules/RELEASE. It returns the modules
// loaded and those whose file was not found; errs are the files that
// could not be used.
func (k *Kernel) LoadModuleDebugDir(dir string) (loaded, missing []string, errs []error) {
	files := map[string]string{}
	n := 0
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable subdirectory: skip it
		}
		if n++; n > maxDebugWalk {
			return fmt.Errorf("more than %d files under %s", maxDebugWalk, dir)
		}
		base := d.Name()
		for _, suf := range []string{".ko.debug", ".ko"} {
			if name, ok := strings.CutSuffix(base, suf); ok && !d.IsDir() {
				name = strings.ReplaceAll(name, "-", "_")
				if _, seen := files[name]; !seen {
					files[name] = p
				}
			}
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	mods, _ := k.LoadModuleSymbols()
	for _, m := range mods {
		p, ok := files[m.Name]
		if !ok {
			missing = append(missing, m.Name)
			continue
		}
		if err := k.LoadModuleDebug(m.Name, p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			continue
		}
		loaded = append(loaded, m.Name)
	}
	return loaded, missing, errs
}

// LoadModuleDebugBeside loads the debug information of every loaded module
// whose NAME.ko (or NAME.ko.debug) lies in the vmlinux's own directory, the
// way a crash kit is often packed (vmcore, vmlinux and the driver's .ko
// side by side). Only that directory is looked in, not below it: opening a
// dump must not walk a home directory. It returns the modules loaded and
// the files that could not be used.
func (k *Kernel) LoadModuleDebugBeside() (loaded []string, errs []error) {
	dir := filepath.Dir(k.Image.Path())
	if !hasModuleFiles(dir) {
		return nil, nil // no need to read the module list at every open
	}
	mods, _ := k.LoadModuleSymbols()
	for _, m := range mods {
		for _, name := range []string{m.Name, strings.ReplaceAll(m.Name, "_", "-")} {
			p := ""
			for _, suf := range []string{".ko", ".ko.debug"} {
				if st, err := os.Stat(filepath.Join(dir, name+suf)); err == nil && st.Mode().IsRegular() {
					p = filepath.Join(dir, name+suf)
					break
				}
			}
			if p == "" {
				continue
			}
			if err := k.LoadModuleDebug(m.Name, p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p, err))
			} else {
				loaded = append(loaded, m.Name)
			}
			break
		}
	}
	return loaded, errs
}

// hasModuleFiles reports whether dir holds a .ko or .ko.debug file.
func hasModuleFiles(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".ko") || strings.HasSuffix(n, ".ko.debug") {
			return true
		}
	}
	return false
}
