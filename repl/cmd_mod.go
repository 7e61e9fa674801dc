package repl

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// modEntry is one module in mod's output.
type modEntry struct {
	Module     string      `json:"module"` // the struct module
	Name       string      `json:"name"`
	Base       string      `json:"base"`
	Size       uint64      `json:"size"`
	ObjectFile string      `json:"object_file,omitempty"` // "" until debug info is loaded
	Symbols    int         `json:"symbols"`
	Regions    []modRegion `json:"regions"`
}

// modRegion is one loaded region of a module ([start, end)).
type modRegion struct {
	Start string `json:"start"`
	End   string `json:"end"`
	Text  bool   `json:"text"`
}

type modResult struct {
	Modules  []modEntry `json:"modules"`
	Problems []string   `json:"problems,omitempty"`
	// NoDebug lists the modules mod -S found no debug information for.
	NoDebug []string `json:"debug_not_found,omitempty"`
	width   int
}

func modCmd() *Command {
	return &Command{
		Name:     "mod",
		Synopsis: "mod [-s NAME [FILE] | -S [DIR]]",
		Summary:  "the loaded kernel modules",
		Description: "Lists the loaded modules as crash's mod does: the struct module, the name, the base of " +
			"its core text and its total size (as /proc/modules), and its object file. Module symbols come " +
			"from each module's own symbol table in the dump (no files needed): sym, bt, dis and rd -s name " +
			"module addresses as \"func+off [module]\". -s loads module NAME's debug information from FILE (its " +
			".ko; default NAME.ko beside the vmlinux), relocated to the module's section addresses in the dump: " +
			"then bt -l shows file:line in the module and struct knows its types. -S does that for every module " +
			"whose NAME.ko (or NAME.ko.debug) lies under DIR (default: the vmlinux's directory; a Debian -dbg " +
			"package's usr/lib/debug/lib/modules/RELEASE works) and lists the modules it found none for.",
		Examples: []string{"mod", "mod --json", "mod -s kinspect_test kinspect_test.ko", "mod -S /usr/lib/debug/lib/modules"},
		Flags: []Flag{{Short: "s", Arg: "NAME", Help: "load module NAME's debug information (.ko)"},
			{Short: "S", Help: "load every module's debug information found under DIR"}},
		Run: runMod,
	}
}

func runMod(s *Session, inv *Invocation) (Result, error) {
	if inv.Has("s") {
		name := inv.Flag("s")
		file := filepath.Join(filepath.Dir(s.K.Image.Path()), name+".ko")
		if len(inv.Args) > 0 {
			file = inv.Args[0]
		}
		if err := s.K.LoadModuleDebug(name, file); err != nil {
			return nil, fmt.Errorf("mod -s %s: %w", name, err)
		}
	}
	r := modResult{width: s.hexWidth()}
	if inv.Has("S") {
		dir := filepath.Dir(s.K.Image.Path())
		if len(inv.Args) > 0 {
			dir = inv.Args[0]
		}
		_, missing, errs := s.K.LoadModuleDebugDir(dir)
		r.NoDebug = missing
		for _, e := range errs {
			r.Problems = append(r.Problems, e.Error())
		}
	}
	mods, err := s.K.LoadModuleSymbols()
	if err != nil {
		_ = s.K.ModuleSymbolsWarning() // given here, not again after the command
	}
	if err != nil && len(mods) == 0 {
		return nil, err
	}
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	// crash lists the modules by the address of their struct module.
	sort.SliceStable(mods, func(i, j int) bool { return mods[i].Addr < mods[j].Addr })
	for _, m := range mods {
		e := modEntry{Module: s.addr(m.Addr), Name: m.Name, Base: s.addr(m.Base), Size: m.Size, Symbols: m.NumSyms,
			Regions: []modRegion{}, ObjectFile: s.K.ModuleDebugFile(m.Name)}
		for _, g := range m.Regions {
			e.Regions = append(e.Regions, modRegion{Start: s.addr(g.Lo), End: s.addr(g.Hi), Text: g.Text})
		}
		r.Modules = append(r.Modules, e)
	}
	return r, nil
}

func (r modResult) Text(w io.Writer, s *Session) error {
	if len(r.Modules) == 0 {
		fmt.Fprintln(w, "no modules loaded")
	}
	nameW, sizeW := len("NAME"), len("SIZE")
	for _, m := range r.Modules {
		nameW = max(nameW, len(m.Name))
		sizeW = max(sizeW, len(fmt.Sprint(m.Size)))
	}
	if len(r.Modules) > 0 {
		fmt.Fprintf(w, "%s  %-*s  %s  %*s  OBJECT FILE\n", crashCenter("MODULE", r.width, false), nameW, "NAME",
			crashCenter("BASE", r.width, false), sizeW, "SIZE")
	}
	for _, m := range r.Modules {
		obj := m.ObjectFile
		if obj == "" {
			obj = "(not loaded)  [CONFIG_KALLSYMS]"
		}
		fmt.Fprintf(w, "%s  %-*s  %s  %*d  %s\n", m.Module, nameW, m.Name, m.Base, sizeW, m.Size, obj)
	}
	if len(r.NoDebug) > 0 {
		fmt.Fprintf(w, "mod: no debug information found for: %s\n", strings.Join(r.NoDebug, " "))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "mod: %s\n", p)
	}
	return nil
}
