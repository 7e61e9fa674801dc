package repl

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// sysResult is crash's `sys` summary. JSON fields are the text labels in
// lower case.
type sysResult struct {
	Kernel      string   `json:"kernel"`
	Dumpfile    string   `json:"dumpfile"`
	Format      string   `json:"format"`
	CPUs        int      `json:"cpus"`
	OfflineCPUs int      `json:"offline_cpus,omitempty"`
	Date        string   `json:"date,omitempty"`
	Uptime      string   `json:"uptime,omitempty"`
	LoadAverage string   `json:"load_average,omitempty"`
	Tasks       int      `json:"tasks,omitempty"`
	Nodename    string   `json:"nodename"`
	Release     string   `json:"release"`
	Version     string   `json:"version"`
	Machine     string   `json:"machine"`
	Mhz         int      `json:"mhz,omitempty"`
	Memory      string   `json:"memory,omitempty"`
	Panic       string   `json:"panic,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
}

func (r sysResult) Text(w io.Writer, s *Session) error {
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(w, "%12s: %s\n", label, value)
		}
	}
	line("KERNEL", r.Kernel)
	line("DUMPFILE", r.Dumpfile)
	cpus := fmt.Sprint(r.CPUs)
	if r.OfflineCPUs > 0 {
		cpus += fmt.Sprintf(" [OFFLINE: %d]", r.OfflineCPUs)
	}
	line("CPUS", cpus)
	line("DATE", r.Date)
	line("UPTIME", r.Uptime)
	line("LOAD AVERAGE", r.LoadAverage)
	if r.Tasks > 0 {
		line("TASKS", fmt.Sprint(r.Tasks))
	}
	line("NODENAME", r.Nodename)
	line("RELEASE", r.Release)
	line("VERSION", r.Version)
	mhz := "unknown"
	if r.Mhz > 0 {
		mhz = fmt.Sprint(r.Mhz)
	}
	line("MACHINE", r.Machine+"  ("+mhz+" Mhz)")
	line("MEMORY", r.Memory)
	if r.Panic != "" {
		// crash prints the message in plain double quotes, not Go-escaped.
		suffix := ""
		if strings.Contains(r.Panic, "Oops: ") {
			suffix = " (check log for details)"
		}
		line("PANIC", `"`+r.Panic+`"`+suffix)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "%12s: %s\n", "WARNING", warn)
	}
	return nil
}

// formatUptime prints a duration the way crash's UPTIME does: [N days, ]HH:MM:SS.
func formatUptime(d time.Duration) string {
	sec := int64(d / time.Second)
	days := sec / 86400
	sec %= 86400
	hms := fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec%3600/60, sec%60)
	if days > 0 {
		return fmt.Sprintf("%d days, %s", days, hms)
	}
	return hms
}

// formatMemory prints a byte count as crash's MEMORY line does: rounded up
// to the GiB when within 64 MiB of it, then "%.1f GB"/"%.1f MB"/"%d KB"
// with a ".0" dropped.
func formatMemory(b uint64) string {
	const kb, mb, gb = 1 << 10, 1 << 20, 1 << 30
	if b == 0 {
		return "0"
	}
	if up := (b + gb - 1) / gb * gb; up-b <= 64*mb {
		b = up
	}
	var s string
	switch {
	case b >= gb:
		s = fmt.Sprintf("%.1f GB", float64(b)/gb)
	case b >= mb:
		s = fmt.Sprintf("%.1f MB", float64(b)/mb)
	default:
		return fmt.Sprintf("%d KB", b/kb)
	}
	return strings.Replace(s, ".0 ", " ", 1)
}

// formatLoadAverage prints avenrun as crash does: each value rounded by
// FIXED_1/200 and shown as int.frac with FSHIFT = 11.
func formatLoadAverage(avenrun [3]uint64) string {
	var parts []string
	for _, v := range avenrun {
		x := v + (1<<11)/200
		parts = append(parts, fmt.Sprintf("%d.%02d", x>>11, ((x&(1<<11-1))*100)>>11))
	}
	return strings.Join(parts, ", ")
}

func sysCmd() *Command {
	return &Command{
		Name:     "sys",
		Synopsis: "sys",
		Summary:  "summary of the system and the crash",
		Description: "Shows the kernel and dump files, CPU count, time of the crash, uptime, load average, " +
			"task count, utsname fields, memory size and the panic message, as crash's sys does.",
		Examples: []string{"sys", "sys --json"},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			k := s.K
			si, errs := k.Sys()
			r := sysResult{
				Kernel:   k.Image.Path(),
				Dumpfile: k.Dump.Path(),
				Format:   k.Dump.Format(),
				CPUs:     si.NrCPUs,
				Nodename: si.Nodename,
				Release:  si.Release,
				Version:  si.Version,
				Machine:  si.Machine,
				Mhz:      k.CPUMhz(),
				Memory:   formatMemory(si.MemoryBytes),
				Warnings: append([]string(nil), k.Warnings...),
			}
			if !si.Date.IsZero() {
				r.Date = si.Date.Format("Mon Jan _2 15:04:05 MST 2006")
			}
			if si.Uptime > 0 {
				r.Uptime = formatUptime(si.Uptime)
			}
			r.LoadAverage = formatLoadAverage(si.LoadAverage)
			if present, err := k.PresentCPUs(); err == nil && len(present) > 0 {
				r.CPUs = len(present)
				if online, err := k.OnlineCPUs(); err == nil && len(online) < len(present) {
					r.OfflineCPUs = len(present) - len(online)
				}
			}
			s.fillSysExtras(&r)
			// Module symbols are read on first need, not at open: sys (the
			// interactive start-up summary) does not read them, but lists
			// their error once a command has.
			if err := k.ModuleSymbolsError(); err != nil {
				r.Warnings = append(r.Warnings, "module symbols: "+err.Error())
				_ = k.ModuleSymbolsWarning() // given here, not again after the command
			}
			for _, err := range errs {
				r.Warnings = append(r.Warnings, err.Error())
			}
			return r, nil
		},
	}
}

type machResult struct {
	MachineType     string `json:"machine_type"`
	MemorySize      string `json:"memory_size"`
	CPUs            int    `json:"cpus"`
	HZ              int    `json:"hz"`
	PageSize        uint64 `json:"page_size"`
	KernelVirtBase  string `json:"kernel_virtual_base"`
	KernelImageBase string `json:"kernel_image_base"`
	PhysOffset      string `json:"phys_offset"`
	KASLROffset     string `json:"kaslr_offset"`
	VABits          int    `json:"va_bits,omitempty"`
	PGTableLevels   int    `json:"pgtable_levels,omitempty"`
	LPAE            bool   `json:"lpae,omitempty"`
	DumpFormat      string `json:"dump_format"`
}

func (r machResult) Text(w io.Writer, s *Session) error {
	l := func(label string, v any) { fmt.Fprintf(w, "%19s: %v\n", label, v) }
	l("MACHINE TYPE", r.MachineType)
	l("MEMORY SIZE", r.MemorySize)
	l("CPUS", r.CPUs)
	l("PROCESSOR SPEED", "(unknown)")
	l("HZ", r.HZ)
	l("PAGE SIZE", r.PageSize)
	l("KERNEL VIRTUAL BASE", r.KernelVirtBase)
	l("KERNEL IMAGE BASE", r.KernelImageBase)
	l("PHYS OFFSET", r.PhysOffset)
	l("KASLR OFFSET", r.KASLROffset)
	if r.VABits != 0 {
		l("VA BITS", r.VABits)
	}
	if r.PGTableLevels != 0 {
		l("PAGE TABLE LEVELS", r.PGTableLevels)
	}
	if s.K.Arch == "arm" {
		l("LPAE", r.LPAE)
	}
	l("DUMP FORMAT", r.DumpFormat)
	return nil
}

func machCmd() *Command {
	return &Command{
		Name:        "mach",
		Synopsis:    "mach",
		Summary:     "machine and memory-layout facts",
		Description: "Shows the architecture, memory size, CPUs, HZ, page size and the kernel's memory layout as kinspect discovered it (linear-map base, image base, PHYS_OFFSET, KASLR offset).",
		Examples:    []string{"mach"},
		Run: func(s *Session, inv *Invocation) (Result, error) {
			k := s.K
			si, _ := k.Sys()
			l := k.Layout
			r := machResult{
				MachineType:   si.Machine,
				MemorySize:    formatMemory(si.MemoryBytes),
				CPUs:          si.NrCPUs,
				HZ:            si.HZ,
				PageSize:      k.PageSize(),
				PhysOffset:    fmt.Sprintf("%#x", l.PhysOffset),
				KASLROffset:   fmt.Sprintf("%#x", l.KASLROffset),
				VABits:        l.VABits,
				PGTableLevels: l.PGTableLevels,
				LPAE:          l.LPAE,
				DumpFormat:    k.Dump.Format(),
			}
			r.KernelVirtBase = s.addr(l.PageOffset)
			if k.Arch == "x86_64" {
				r.KernelVirtBase = s.addr(l.PageOffsetBase)
			}
			if sym, ok := k.Image.Lookup("_text"); ok {
				r.KernelImageBase = s.addr(sym.Addr)
			}
			return r, nil
		},
	}
}
