package kstructs

import (
	"fmt"
	"time"
)

// SysInfo is what crash's `sys` shows, read from the dump.
type SysInfo struct {
	Sysname, Nodename, Release, Version, Machine string
	// Time of the crash (timekeeper's wall clock, or the dump header's).
	Date time.Time
	// Uptime from jiffies_64 (as crash computes it).
	Uptime time.Duration
	// LoadAverage is avenrun[0..2], fixed point with FSHIFT = 11.
	LoadAverage [3]uint64
	// MemoryBytes is the RAM the nodes have (node_present_pages × page size).
	MemoryBytes uint64
	// HZ derived from tick_nsec.
	HZ       int
	NrCPUs   int
	PageSize uint64
}

// ReadString evaluates expr (a char array or char *) and reads it as a C string.
func (k *Kernel) ReadString(expr string, max int) (string, error) {
	v, err := k.Env().Eval(expr)
	if err != nil {
		return "", err
	}
	s, err := v.CString(k.memory(), max)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", expr, err)
	}
	return s, nil
}

// ReadUint evaluates expr and reads it as an unsigned integer.
func (k *Kernel) ReadUint(expr string) (uint64, error) {
	v, err := k.Env().Eval(expr)
	if err != nil {
		return 0, err
	}
	n, err := v.Uint(k.memory())
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", expr, err)
	}
	return n, nil
}

// ReadInt evaluates expr and reads it as a signed integer.
func (k *Kernel) ReadInt(expr string) (int64, error) {
	v, err := k.Env().Eval(expr)
	if err != nil {
		return 0, err
	}
	n, err := v.Int(k.memory())
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", expr, err)
	}
	return n, nil
}

// HZ is the kernel's tick rate, from tick_nsec = (NSEC_PER_SEC + HZ/2) / HZ.
func (k *Kernel) HZ() (int, error) {
	tn, err := k.ReadUint("tick_nsec")
	if err != nil {
		return 0, err
	}
	if tn == 0 {
		return 0, fmt.Errorf("tick_nsec is 0")
	}
	return int((1_000_000_000 + tn/2) / tn), nil
}

// Uptime is the time since boot, from jiffies_64 as crash computes it:
// (jiffies_64 - INITIAL_JIFFIES) / HZ, INITIAL_JIFFIES = (u32)(-300*HZ).
func (k *Kernel) Uptime() (time.Duration, error) {
	hz, elapsed, err := k.uptimeJiffies()
	if err != nil {
		return 0, err
	}
	return time.Duration(elapsed) * time.Second / time.Duration(hz), nil
}

// uptimeJiffies is HZ and the jiffies since boot (jiffies_64 -
// INITIAL_JIFFIES, in the kernel's 64-bit wrapping arithmetic).
func (k *Kernel) uptimeJiffies() (int, uint64, error) {
	hz, err := k.HZ()
	if err != nil {
		return 0, 0, err
	}
	j, err := k.ReadUint("jiffies_64")
	if err != nil {
		return 0, 0, err
	}
	return hz, j - uint64(uint32(-300*int32(hz))), nil
}

// PageSize of the kernel (layout, else the dump's, else 4096).
func (k *Kernel) PageSize() uint64 {
	if k.Layout.PageSize != 0 {
		return k.Layout.PageSize
	}
	if ps := k.Dump.PageSize(); ps > 0 {
		return uint64(ps)
	}
	return 4096
}

// CrashTime is the wall-clock time of the dump: the timekeeper's xtime_sec,
// else the kdump header's timestamp.
func (k *Kernel) CrashTime() (time.Time, error) {
	for _, expr := range []string{"tk_core.timekeeper.xtime_sec", "shadow_timekeeper.xtime_sec"} {
		if sec, err := k.ReadInt(expr); err == nil && sec > 0 {
			return time.Unix(sec, 0).UTC(), nil
		}
	}
	if h := k.Dump.Header(); h.Valid && !h.Timestamp.IsZero() {
		return h.Timestamp.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("neither the timekeeper nor the dump header gives the time of the crash")
}

// Sys collects the `sys` facts. Facts that cannot be read are left zero and
// their errors returned together, so sys can show what it has.
func (k *Kernel) Sys() (SysInfo, []error) {
	var si SysInfo
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	str := func(dst *string, member string) {
		s, err := k.ReadString("init_uts_ns.name."+member, 65)
		*dst = s
		note(err)
	}
	str(&si.Sysname, "sysname")
	str(&si.Nodename, "nodename")
	str(&si.Release, "release")
	str(&si.Version, "version")
	str(&si.Machine, "machine")

	var err error
	si.Date, err = k.CrashTime()
	note(err)
	si.Uptime, err = k.Uptime()
	note(err)
	si.HZ, _ = k.HZ()
	for i := 0; i < 3; i++ {
		v, err := k.ReadUint(fmt.Sprintf("avenrun[%d]", i))
		note(err)
		si.LoadAverage[i] = v
	}
	si.PageSize = k.PageSize()
	pages, err := k.PresentPages()
	note(err)
	si.MemoryBytes = pages * si.PageSize
	si.NrCPUs = k.NrCPUs()
	return si, errs
}

// PhysToVirt maps a physical address to its linear-map virtual address.
func (k *Kernel) PhysToVirt(pa uint64) (uint64, error) {
	spec := k.Arch.Spec()
	if spec == nil {
		return 0, fmt.Errorf("ptov: unsupported architecture %q", k.Arch)
	}
	return spec.PhysToVirt(k.Layout, pa)
}

// PresentPages sums node_present_pages over the memory nodes: node_data[]
// on NUMA kernels, contig_page_data otherwise (falling back to spanned pages
// for a node that reports no present pages, as crash does).
func (k *Kernel) PresentPages() (uint64, error) {
	node := func(prefix string) (uint64, error) {
		n, err := k.ReadUint(prefix + "node_present_pages")
		if err == nil && n == 0 {
			n, err = k.ReadUint(prefix + "node_spanned_pages")
		}
		return n, err
	}
	if _, err := k.Image.Variable("node_data"); err == nil {
		var total uint64
		nodes, err := k.ReadUint("nr_online_nodes")
		if err != nil || nodes == 0 {
			nodes = 1
		}
		for i := uint64(0); i < nodes; i++ {
			n, err := node(fmt.Sprintf("node_data[%d]->", i))
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}
	return node("contig_page_data.")
}

// PresentCPUs lists cpu_present_mask (what crash's CPUS line counts).
func (k *Kernel) PresentCPUs() ([]int, error) {
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil, err
	}
	return pc.present, nil
}

// MemPctPages is the page count crash divides RSS by for ps's %MEM
// (crash: BTOP(VTOP(high_memory))): in effect the page frame number of the
// end of RAM, which on boards whose RAM starts above 0 (ARM: 0x40000000) is
// more than the RAM. The kernel keeps it as max_pfn; crash 8.0.6 shows the
// same total_pages on the arm, arm64 and x86_64 fixtures (on 32-bit ARM
// even with highmem, where translating high_memory itself would give less).
func (k *Kernel) MemPctPages() (uint64, error) {
	if n, err := k.ReadUint("max_pfn"); err == nil && n > 0 {
		return n, nil
	}
	hm, err := k.ReadUint("high_memory")
	if err != nil {
		return 0, err
	}
	pa, err := k.Trans.Translate(hm - 1)
	if err != nil {
		return 0, fmt.Errorf("translating high_memory %#x: %w", hm, err)
	}
	return (pa + 1) / k.PageSize(), nil
}

// CPUMhz is the processor speed crash prints on the MACHINE line: cpu_khz on
// x86; other architectures do not record it (0).
func (k *Kernel) CPUMhz() int {
	if k.Arch != "x86_64" {
		return 0
	}
	khz, err := k.ReadUint("cpu_khz")
	if err != nil {
		return 0
	}
	return int(khz / 1000)
}
