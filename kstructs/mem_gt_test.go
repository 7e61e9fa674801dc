package kstructs_test

// The memory walks (slab caches, VMAs, fd tables, mounts) against what the
// guest printed from /proc just before the crash: /proc/slabinfo,
// /proc/PID/maps, `ls -l /proc/PID/fd` and /proc/mounts of the task with
// role "files". Nothing here is kinspect's own earlier output.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

func forMemFixtures(t *testing.T, fn func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture)) {
	ktest.ForEach(t, fn)
	ktest.ForEachExtra(t, fn)
}

func procFile(t *testing.T, f *fixture.Fixture, path string) []string {
	t.Helper()
	ls := f.GT.Files[path]
	if len(ls) == 0 {
		t.Skipf("%s: the guest printed no %s", ktest.Name(f), path)
	}
	return ls
}

type slabinfoRow struct {
	active, num, objsize, perSlab, pagesPerSlab, activeSlabs, numSlabs uint64
}

func parseSlabinfo(t *testing.T, lines []string) map[string]slabinfoRow {
	out := map[string]slabinfoRow{}
	for _, l := range lines {
		if strings.HasPrefix(l, "slabinfo") || strings.HasPrefix(l, "#") {
			continue
		}
		fs := strings.Fields(l)
		if len(fs) < 16 {
			t.Errorf("slabinfo line %q: too few fields", l)
			continue
		}
		n := func(i int) uint64 {
			v, err := strconv.ParseUint(fs[i], 10, 64)
			if err != nil {
				t.Errorf("slabinfo line %q field %d: %v", l, i, err)
			}
			return v
		}
		out[fs[0]] = slabinfoRow{n(1), n(2), n(3), n(4), n(5), n(13), n(14)}
	}
	return out
}

// TestSlabCachesMatchSlabinfo: every cache of /proc/slabinfo is in
// slab_caches with the same objsize (kmem_cache.size), objects per slab and
// pages per slab; the object and slab counts may have moved between the
// snapshot and the crash (the guest went on reading /proc), so at least 85%
// of the caches must have equal counts; the others are logged.
func TestSlabCachesMatchSlabinfo(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want := parseSlabinfo(t, procFile(t, f, "/proc/slabinfo"))
		caches, err := k.SlabCaches()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*kstructs.SlabCache{}
		for _, c := range caches {
			if c.Err != nil {
				t.Errorf("%s: %v", c.Name, c.Err)
			}
			if _, dup := got[c.Name]; !dup {
				got[c.Name] = c
			}
		}
		var exact, layout int
		var drift []string
		for name, w := range want {
			c, ok := got[name]
			if !ok {
				t.Errorf("cache %s of /proc/slabinfo not in slab_caches", name)
				continue
			}
			if c.Size != w.objsize || c.ObjPerSlab != w.perSlab || uint64(1)<<c.Order != w.pagesPerSlab {
				t.Errorf("%s: objsize/objperslab/pagesperslab %d/%d/%d, /proc/slabinfo %d/%d/%d",
					name, c.Size, c.ObjPerSlab, 1<<c.Order, w.objsize, w.perSlab, w.pagesPerSlab)
			} else {
				layout++
			}
			if c.Total == w.num && c.SlabinfoActive() == w.active && c.Slabs == w.numSlabs {
				exact++
				continue
			}
			drift = append(drift, fmt.Sprintf("%s %d/%d/%d (slabinfo %d/%d/%d)", name,
				c.SlabinfoActive(), c.Total, c.Slabs, w.active, w.num, w.numSlabs))
		}
		if len(want) < 20 {
			t.Errorf("only %d caches in /proc/slabinfo", len(want))
		}
		// The guest read more /proc files after slabinfo (maps, fd, mounts:
		// new proc inodes, dentries, files), so a few caches have grown by
		// the crash; nearly all must be equal.
		if exact*100 < len(want)*85 {
			t.Errorf("only %d of %d caches have /proc/slabinfo's active_objs, num_objs and num_slabs", exact, len(want))
		}
		t.Logf("%s: %d caches in /proc/slabinfo, %d in slab_caches; layout (objsize, objperslab, pagesperslab) equal %d; active_objs/num_objs/num_slabs equal %d; moved since the snapshot (active/num/slabs): %s",
			ktest.Name(f), len(want), len(caches), layout, exact, strings.Join(drift, ", "))
	})
}

// VM flags (include/linux/mm.h).
const (
	vmRead     = 0x1
	vmWrite    = 0x2
	vmExec     = 0x4
	vmMayShare = 0x80
)

// TestVMAsMatchMaps: the files task's VMAs are /proc/PID/maps, line for
// line: range, permissions, offset and file (the kernel's d_path adds
// " (deleted)" and names the shared-anonymous file "/dev/zero"; maps'
// [heap]/[stack]/[vvar]/[vdso] have no file; gate areas such as arm's
// [vectors] are not in the mm).
func TestVMAsMatchMaps(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		pid := f.GT.RolePID("files")
		lines := procFile(t, f, fmt.Sprintf("/proc/%d/maps", pid))
		task, err := k.TaskByPID(pid)
		if err != nil {
			t.Fatal(err)
		}
		mm, err := k.ReadMM(task.MM)
		if err != nil {
			t.Fatal(err)
		}
		byStart := map[uint64]kstructs.VMA{}
		for _, v := range mm.VMAs {
			byStart[v.Start] = v
		}
		matched, compared := 0, 0
		ps := k.PageSize()
		for _, l := range lines {
			fs := strings.Fields(l)
			if len(fs) < 5 {
				t.Errorf("maps line %q", l)
				continue
			}
			se := strings.SplitN(fs[0], "-", 2)
			start, _ := strconv.ParseUint(se[0], 16, 64)
			end, _ := strconv.ParseUint(se[1], 16, 64)
			path := ""
			if len(fs) > 5 {
				path = strings.Join(fs[5:], " ")
			}
			if path == "[vectors]" || path == "[vsyscall]" {
				continue // gate areas: not in the mm
			}
			compared++
			v, ok := byStart[start]
			if !ok {
				t.Errorf("maps %s %s: no vma starting there", fs[0], path)
				continue
			}
			var bad []string
			if v.End != end {
				bad = append(bad, fmt.Sprintf("end %x", v.End))
			}
			perms := []byte("---p")
			if v.Flags&vmRead != 0 {
				perms[0] = 'r'
			}
			if v.Flags&vmWrite != 0 {
				perms[1] = 'w'
			}
			if v.Flags&vmExec != 0 {
				perms[2] = 'x'
			}
			if v.Flags&vmMayShare != 0 {
				perms[3] = 's'
			}
			if string(perms) != fs[1] {
				bad = append(bad, fmt.Sprintf("perms %s (flags %x)", perms, v.Flags))
			}
			off, _ := strconv.ParseUint(fs[2], 16, 64)
			if v.File != 0 && v.PgOff*ps != off {
				bad = append(bad, fmt.Sprintf("offset %x", v.PgOff*ps))
			}
			wantPath := strings.TrimSuffix(path, " (deleted)")
			if strings.HasPrefix(wantPath, "[") {
				wantPath = ""
			}
			if wantPath == "/dev/zero" && v.Path == "dev/zero" {
				wantPath = v.Path // shmem_zero_setup's pseudo file: crash shows its name
			}
			if v.PathErr != nil || v.Path != wantPath {
				bad = append(bad, fmt.Sprintf("file %q (%v)", v.Path, v.PathErr))
			}
			if len(bad) > 0 {
				t.Errorf("maps %q: vma %#x has %s", l, v.Addr, strings.Join(bad, ", "))
				continue
			}
			matched++
		}
		if compared != len(mm.VMAs) {
			t.Errorf("maps has %d areas of the mm, the mm %d vmas", compared, len(mm.VMAs))
		}
		t.Logf("%s pid %d: %d of %d maps lines match the vmas (%d vmas)", ktest.Name(f), pid, matched, compared, len(mm.VMAs))
	})
}

// TestFilesMatchProcFD: the files task's descriptors are those of
// `ls -l /proc/PID/fd`, each to the same file: a path (the kernel's d_path
// marks an unlinked file " (deleted)"), or pipe:[ino] / socket:[ino] with
// the inode number the dump holds.
func TestFilesMatchProcFD(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		pid := f.GT.RolePID("files")
		lines := procFile(t, f, fmt.Sprintf("/proc/%d/fd", pid))
		task, err := k.TaskByPID(pid)
		if err != nil {
			t.Fatal(err)
		}
		tf, err := k.Files(task)
		if err != nil {
			t.Fatal(err)
		}
		if tf.Root != "/" || tf.CWD != "/" {
			t.Errorf("root %q cwd %q, want / and / (the workload runs in /)", tf.Root, tf.CWD)
		}
		got := map[int]kstructs.OpenFile{}
		for _, of := range tf.Files {
			got[of.FD] = of
		}
		matched, n := 0, 0
		for _, l := range lines {
			i := strings.Index(l, " -> ")
			if i < 0 {
				continue // "total 0"
			}
			fs := strings.Fields(l[:i])
			fd, err := strconv.Atoi(fs[len(fs)-1])
			if err != nil {
				t.Errorf("fd line %q: %v", l, err)
				continue
			}
			target := l[i+4:]
			n++
			of, ok := got[fd]
			if !ok {
				t.Errorf("fd %d -> %s: not in the fd table", fd, target)
				continue
			}
			delete(got, fd)
			var ok2 bool
			switch {
			case strings.HasPrefix(target, "pipe:["):
				ok2 = of.Type == "FIFO" || of.Type == "PIPE"
				ok2 = ok2 && target == fmt.Sprintf("pipe:[%d]", of.Ino)
			case strings.HasPrefix(target, "socket:["):
				ok2 = of.Type == "SOCK" && target == fmt.Sprintf("socket:[%d]", of.Ino)
			default:
				ok2 = of.Path == strings.TrimSuffix(target, " (deleted)")
			}
			if !ok2 || of.Err != nil {
				t.Errorf("fd %d -> %s: dump has %s %q inode %d (%v)", fd, target, of.Type, of.Path, of.Ino, of.Err)
				continue
			}
			matched++
		}
		for fd, of := range got {
			t.Errorf("fd %d (%s %q) not in /proc/%d/fd", fd, of.Type, of.Path, pid)
		}
		if n < 10 {
			t.Errorf("only %d descriptors in /proc/%d/fd (the workload opens 10)", n, pid)
		}
		t.Logf("%s pid %d: %d of %d descriptors match", ktest.Name(f), pid, matched, n)
	})
}

// TestMountsMatchProcMounts: the init namespace's mounts are /proc/mounts
// in order (device, mount point, type).
func TestMountsMatchProcMounts(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		lines := procFile(t, f, "/proc/mounts")
		ms, err := k.Mounts()
		if err != nil {
			t.Fatal(err)
		}
		matched := 0
		for i, l := range lines {
			fs := strings.Fields(l)
			if i >= len(ms) {
				t.Errorf("/proc/mounts line %d %q: no such mount in the dump", i+1, l)
				continue
			}
			m := ms[i]
			if m.Err != nil || m.DevName != fs[0] || m.DirName != fs[1] || m.Type != fs[2] {
				t.Errorf("/proc/mounts line %d %q: dump has %s %s %s (%v)", i+1, l, m.DevName, m.DirName, m.Type, m.Err)
				continue
			}
			matched++
		}
		if len(ms) != len(lines) {
			t.Errorf("%d mounts in the dump, %d in /proc/mounts", len(ms), len(lines))
		}
		t.Logf("%s: %d of %d mounts match", ktest.Name(f), matched, len(lines))
	})
}

// TestMemInfoMatchesProcMeminfo: kmem -i's figures against the guest's
// /proc/meminfo. Totals are fixed at boot and must be equal (MemTotal,
// HighTotal, SwapTotal, HugePages_Total, CommitLimit); the counters that
// move while the guest keeps reading /proc (MemFree, Cached, Slab) must be
// within 2% of MemTotal, and are logged. Committed_AS is not compared:
// crash (and kinspect) show vm_committed_as.count without the per-cpu
// batches /proc adds.
func TestMemInfoMatchesProcMeminfo(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		want := map[string]uint64{}
		for _, l := range procFile(t, f, "/proc/meminfo") {
			fs := strings.Fields(l)
			if len(fs) < 2 {
				continue
			}
			v, err := strconv.ParseUint(fs[1], 10, 64)
			if err != nil {
				continue
			}
			want[strings.TrimSuffix(fs[0], ":")] = v
		}
		mi, err := k.MemInfo()
		if err != nil {
			t.Fatal(err)
		}
		kb := func(pages uint64) uint64 { return pages * k.PageSize() / 1024 }
		exact := []struct {
			name string
			got  uint64
		}{
			{"MemTotal", kb(mi.TotalRAM)},
			{"Buffers", kb(mi.Buffers)},
			{"SwapTotal", kb(mi.SwapTotal)},
			{"SwapFree", kb(mi.SwapTotal - mi.SwapUsed)},
			{"HugePages_Total", mi.HugeTotal / max(1, want["Hugepagesize"]*1024/k.PageSize())},
			{"HugePages_Free", mi.HugeFree / max(1, want["Hugepagesize"]*1024/k.PageSize())},
			{"CommitLimit", kb(mi.CommitLimit)},
		}
		if mi.HasHigh {
			exact = append(exact, struct {
				name string
				got  uint64
			}{"HighTotal", kb(mi.TotalHigh)})
		}
		var log []string
		for _, e := range exact {
			w, ok := want[e.name]
			if !ok && strings.HasPrefix(e.name, "HugePages") && e.got == 0 {
				continue // no hugetlbfs in this kernel (arm): no hstates either
			}
			if !ok {
				t.Errorf("/proc/meminfo has no %s", e.name)
				continue
			}
			if w != e.got {
				t.Errorf("%s: %d, /proc/meminfo %d", e.name, e.got, w)
			}
			log = append(log, fmt.Sprintf("%s %d", e.name, w))
		}
		tol := want["MemTotal"] / 50
		near := []struct {
			name string
			got  uint64
		}{{"MemFree", kb(mi.Free)}, {"Cached", kb(mi.Cached)}, {"Slab", kb(mi.Slab)}}
		if mi.HasHigh {
			near = append(near, struct {
				name string
				got  uint64
			}{"HighFree", kb(mi.FreeHigh)})
		}
		for _, e := range near {
			w := want[e.name]
			d := int64(e.got) - int64(w)
			if d < -int64(tol) || d > int64(tol) {
				t.Errorf("%s: %d kB, /proc/meminfo %d kB (more than 2%% of MemTotal apart)", e.name, e.got, w)
			}
			log = append(log, fmt.Sprintf("%s %d (/proc %d, %+d)", e.name, e.got, w, d))
		}
		t.Logf("%s: equal: %s", ktest.Name(f), strings.Join(log, ", "))
	})
}

// TestZonesVsProcZoneinfo compares each zone's spanned and present pages
// and its min/high watermarks (the kernel's min_wmark_pages adds the
// watermark boost, zero on an idle guest) with the guest's /proc/zoneinfo.
func TestZonesVsProcZoneinfo(t *testing.T) {
	ktest.ForEachAll(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		zi := f.GT.Files["/proc/zoneinfo"]
		if len(zi) == 0 {
			t.Skip("the guest printed no /proc/zoneinfo")
		}
		want := map[string]map[string]uint64{}
		var cur map[string]uint64
		for _, l := range zi {
			fs := strings.Fields(l)
			switch {
			case len(fs) == 4 && fs[0] == "Node" && fs[2] == "zone":
				cur = map[string]uint64{}
				want[strings.TrimSuffix(fs[1], ",")+"/"+fs[3]] = cur
			case cur != nil && len(fs) == 2 && (fs[0] == "spanned" || fs[0] == "present" || fs[0] == "min" || fs[0] == "high"):
				if _, seen := cur[fs[0]]; !seen {
					cur[fs[0]], _ = strconv.ParseUint(fs[1], 10, 64)
				}
			}
		}
		nodes, err := k.MemNodes()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, nd := range nodes {
			for _, z := range nd.Zones {
				w, ok := want[fmt.Sprintf("%d/%s", z.Node, z.Name)]
				if !ok {
					continue // zoneinfo leaves out zones of no node
				}
				got := map[string]uint64{"spanned": z.Spanned, "present": z.Present, "min": z.Min, "high": z.High}
				for key, v := range w {
					if got[key] != v {
						t.Errorf("node %d zone %s: %s %d, /proc/zoneinfo %d", z.Node, z.Name, key, got[key], v)
					}
				}
				n++
			}
		}
		if n == 0 || n != len(want) {
			t.Errorf("%d zones compared, /proc/zoneinfo lists %d", n, len(want))
		}
		t.Logf("%s: %d zones' spanned, present, min and high equal to /proc/zoneinfo", ktest.Name(f), n)
	})
}
