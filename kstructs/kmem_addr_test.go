package kstructs_test

// The vmalloc areas against the guest's /proc/vmallocinfo, and kmem ADDR on
// bad input: a corrupt slab freelist and an address in no mapping.

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// TestVmapAreasVsProc: every /proc/vmallocinfo line (size and caller; the
// addresses are hashed by %pK) has a vmap area of that size and caller,
// within what changed between the snapshot and the crash.
func TestVmapAreasVsProc(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		lines := procFile(t, f, "/proc/vmallocinfo")
		areas, err := k.VmapAreas()
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]int{}
		for _, a := range areas {
			if a.VM == 0 {
				continue
			}
			caller := "?"
			if s, off, ok := k.Image.SymbolAt(a.Caller); ok {
				caller = fmt.Sprintf("%s+%#x", s.Name, off)
			}
			have[fmt.Sprintf("%d %s", a.VMSize, caller)]++
		}
		match, n := 0, 0
		var miss []string
		for _, l := range lines {
			f := strings.Fields(l)
			// "unpurged" lines are lazily freed areas on the purge list,
			// busy no more (mm/vmalloc.c show_purge_info).
			if len(f) < 3 || f[2] == "unpurged" {
				continue
			}
			n++
			caller, _, _ := strings.Cut(f[2], "/")
			key := f[1] + " " + caller
			if have[key] > 0 {
				have[key]--
				match++
			} else {
				miss = append(miss, key)
			}
		}
		t.Logf("%s: %d of %d busy /proc/vmallocinfo areas found (size and caller); missing: %v", ktest.Name(f), match, n, miss)
		if match*100 < n*95 {
			t.Errorf("only %d of %d vmallocinfo areas found", match, n)
		}
	})
}

// TestKmemAddrCorruptFreelist: a free object's free pointer unreadable: kmem
// ADDR still names the cache and slab, and says which free pointer failed.
func TestKmemAddrCorruptFreelist(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		obj, next := findFreeObject(t, k)
		m := newPatch(k)
		m.holes = append(m.holes, [2]uint64{next, next + uint64(k.PtrSize())})
		a := k.WithMemory(m).IdentifyAddr(obj)
		if a.Page == nil {
			t.Errorf("kmem %#x: no page after a corrupt freelist", obj)
		}
		var errs []string
		for _, e := range a.Errs {
			errs = append(errs, e.Error())
		}
		joined := strings.Join(errs, "; ")
		if !strings.Contains(joined, "free pointer") || !strings.Contains(joined, fmt.Sprintf("%#x", next)) {
			t.Errorf("kmem %#x with the free pointer at %#x unreadable: errors %q", obj, next, joined)
		}
		var out, errb bytes.Buffer
		s := repl.NewSession(k.WithMemory(m), &out, &errb)
		if err := s.Exec(context.Background(), fmt.Sprintf("kmem %x", obj), false); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "kmem: ") || !strings.Contains(out.String(), "PAGE") {
			t.Errorf("kmem %x on a corrupt freelist:\n%s", obj, out.String())
		}
	})
}

// findFreeObject is a free object of a slab page (the first met in the page
// array whose slab has a free object), with where its free pointer lies.
func findFreeObject(t *testing.T, k *kstructs.Kernel) (obj, freePtrAt uint64) {
	maxPFN, err := k.ReadUint("max_pfn")
	if err != nil {
		t.Fatal(err)
	}
	for pfn := uint64(0); pfn < maxPFN; pfn++ {
		pp, err := k.PageOfPhys(pfn * k.PageSize())
		if err != nil {
			continue
		}
		s, err := k.SlabOfPage(pp)
		if err != nil || s == nil {
			continue
		}
		addrs, free := s.ObjectAddrs()
		for i := range addrs {
			if free[i] {
				off := mustUint(t, k, "((struct kmem_cache *)%#x)->offset", s.Cache.Addr)
				return addrs[i], addrs[i] + off
			}
		}
	}
	t.Fatal("no free slab object in the page array")
	return 0, 0
}

// TestKmemAddrUnmapped: an address in no mapping is reported as such.
func TestKmemAddrUnmapped(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		areas, _ := k.VmapAreas()
		if len(areas) == 0 {
			t.Skip("no vmap areas")
		}
		// Just past the last vmalloc area: vmalloc space, mapped by nothing.
		addr := areas[len(areas)-1].End + 64*k.PageSize()
		if _, err := k.Trans.Translate(addr); err == nil {
			t.Skipf("%#x is mapped", addr)
		}
		var out, errb bytes.Buffer
		s := repl.NewSession(k, &out, &errb)
		if err := s.Exec(context.Background(), fmt.Sprintf("kmem %x", addr), false); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "not found in mem map") {
			t.Errorf("kmem %x (unmapped):\n%s", addr, out.String())
		}
	})
}

// TestVMAOfVsProcMaps: every mapping of the guest's /proc/PID/maps for the
// "files" task is found by kmem -a's lookup (start+16, and end-1) with the
// guest's start and end.
func TestVMAOfVsProcMaps(t *testing.T) {
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
		n := 0
		for _, l := range lines {
			var lo, hi uint64
			if _, err := fmt.Sscanf(strings.Fields(l)[0], "%x-%x", &lo, &hi); err != nil {
				t.Fatalf("maps line %q: %v", l, err)
			}
			if strings.HasSuffix(l, "[vsyscall]") || strings.HasSuffix(l, "[vectors]") {
				continue // not a VMA: the gate area (fs/proc/task_mmu.c get_gate_vma)
			}
			for _, a := range []uint64{lo + 16, hi - 1} {
				v := mm.VMAOf(a)
				if v == nil || v.Start != lo || v.End != hi {
					t.Errorf("kmem -a %#x: VMA %+v, /proc/%d/maps %q", a, v, pid, l)
					continue
				}
				n++
			}
		}
		t.Logf("%s: %d addresses of %d mappings in the VMA /proc/%d/maps shows", ktest.Name(f), n, len(lines), pid)
	})
}

// TestFreeAreasVsBuddyinfo: each populated zone's free blocks per order
// against the guest's /proc/buddyinfo (printed shortly before the crash:
// the counts may have moved a little), and every free list's length
// against the zone's nr_free.
func TestFreeAreasVsBuddyinfo(t *testing.T) {
	forMemFixtures(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		lines := procFile(t, f, "/proc/buddyinfo")
		zones, err := k.FreeAreas()
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]kstructs.ZoneFree{}
		for _, z := range zones {
			if z.Err != nil {
				t.Errorf("zone %s: %v", z.Name, z.Err)
			}
			var free uint64
			for _, o := range z.Orders {
				var blocks uint64
				for _, l := range o.Lists {
					blocks += l.Blocks
				}
				if blocks != o.NrFree {
					t.Errorf("zone %s order %d: %d blocks on the free lists, nr_free %d", z.Name, o.Order, blocks, o.NrFree)
				}
				free += o.NrFree << uint(o.Order)
			}
			if int64(free) != z.FreePages {
				// zone->vm_stat lags the per-cpu vm_stat_diff deltas (mm/vmstat.c)
				t.Logf("zone %s: %d free pages on the lists, NR_FREE_PAGES %d", z.Name, free, z.FreePages)
			}
			byName[fmt.Sprintf("%d %s", z.Node, z.Name)] = z
		}
		same, cells := 0, 0
		var guestFree, ourFree uint64
		for _, l := range lines {
			fs := strings.Fields(strings.NewReplacer(",", " ").Replace(l)) // Node 0 zone DMA n0 n1 ...
			if len(fs) < 5 {
				continue
			}
			z, ok := byName[fs[1]+" "+fs[3]]
			if !ok {
				t.Errorf("/proc/buddyinfo %q: no such zone", l)
				continue
			}
			for o, v := range fs[4:] {
				var n uint64
				fmt.Sscan(v, &n)
				cells++
				guestFree += n << uint(o)
				if o < len(z.Orders) {
					ourFree += z.Orders[o].NrFree << uint(o)
					if z.Orders[o].NrFree == n {
						same++
					}
				}
			}
		}
		t.Logf("%s: %d of %d (zone, order) counts equal to /proc/buddyinfo; free pages %d, guest %d", ktest.Name(f), same, cells, ourFree, guestFree)
		if cells == 0 || ourFree*100 < guestFree*95 || guestFree*100 < ourFree*95 {
			t.Errorf("free pages %d, /proc/buddyinfo %d: more than 5%% apart", ourFree, guestFree)
		}
	})
}
