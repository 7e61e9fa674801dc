package oracle_test

// kmem -n (nodes, zones, memory sections), kmem -z (per-zone counters),
// vm -p (every page of every VMA), vm -m (the mm_struct), files -d (a
// dentry) and search -u (the user memory of a task) compared with crash
// 8.0.6's output on the same dump, line for line, in one crash run of
// their own per fixture. The task is the guest's "files" role (kt_files);
// its dentries are the ones its descriptors hold.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
)

// memMore is one fixture with crash's outputs of memMoreCommands.
type memMore struct {
	k    *kstructs.Kernel
	f    *fixture.Fixture
	pid  int
	cmds []string
	outs map[string]string
}

// memMoreCommands lists the commands for the files task pid: its dentries
// and the start of its first VMA (a value its own memory holds: the ELF
// auxiliary vector and the loader's link map point at it) come from the
// dump, the expected outputs from crash.
func memMoreCommands(t *testing.T, k *kstructs.Kernel, pid int) []string {
	t.Helper()
	tk, err := k.TaskByPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	cmds := []string{"kmem -n", "kmem -z", fmt.Sprintf("vm -p %d", pid), fmt.Sprintf("vm -m %d", pid)}
	files, err := k.Files(tk)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, f := range files.Files {
		if f.Dentry != 0 && !seen[f.Dentry] {
			seen[f.Dentry] = true
			cmds = append(cmds, fmt.Sprintf("files -d %x", f.Dentry))
		}
	}
	mm, err := k.ReadMM(tk.MM)
	if err != nil || len(mm.VMAs) == 0 {
		t.Fatalf("pid %d: mm %#x: %v", pid, tk.MM, err)
	}
	cmds = append(cmds, fmt.Sprintf("set %d\nsearch -u %x", pid, mm.VMAs[0].Start),
		fmt.Sprintf("set %d\nsearch -u -c kt_file", pid))
	if va, ok := firstMapped(k, tk.MM); ok {
		cmds = append(cmds, fmt.Sprintf("vtop -c %d %x", pid, va))
	}
	return cmds
}

// firstMapped is the first page of mm's VMAs its page tables map.
func firstMapped(k *kstructs.Kernel, mm uint64) (uint64, bool) {
	us, _ := k.UserSpace(mm)
	if us == nil {
		return 0, false
	}
	for _, v := range us.MM.VMAs {
		for va := v.Start; va < v.End; va += k.PageSize() {
			if _, err := us.Translate(va); err == nil {
				return va, true
			}
		}
	}
	return 0, false
}

func openMemMore(t *testing.T, arch, suite string) *memMore {
	t.Helper()
	oracle.Require(t, arch)
	dumpFile := oracle.DefaultDump(arch)
	k, f := ktest.OpenSuite(t, arch, suite, dumpFile)
	pid := f.GT.RolePID("files")
	if pid <= 0 {
		t.Fatalf("%s: no task with role files in the ground truth", ktest.Name(f))
	}
	m := &memMore{k: k, f: f, pid: pid, cmds: memMoreCommands(t, k, pid), outs: map[string]string{}}
	outs, err := oracle.RunFixture(t, f, dumpFile, m.cmds)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range m.cmds {
		m.outs[c] = outs[i]
	}
	return m
}

func forMemMore(t *testing.T, fn func(t *testing.T, m *memMore)) {
	eachFixture(t, func(t *testing.T, arch, suite string) { fn(t, openMemMore(t, arch, suite)) })
}

func (m *memMore) kinspect(t *testing.T, cmd string) string {
	t.Helper()
	return runKinspect(t, m.k, cmd)
}

// TestMemMoreCollect runs crash once for every command (and caches the
// outputs); the comparisons are the tests below.
func TestMemMoreCollect(t *testing.T) {
	forMemMore(t, func(t *testing.T, m *memMore) {
		t.Logf("%s: %d commands", ktest.Name(m.f), len(m.cmds))
	})
}

// equalLines counts the lines of k equal to crash's c, in order, and
// reports the first differences.
func equalLines(t *testing.T, cmd, c, k string) (int, int) {
	t.Helper()
	cl, kl := lines(c), lines(k)
	same := 0
	for i := range cl {
		if i < len(kl) && cl[i] == kl[i] {
			same++
		}
	}
	compareLines(t, cmd, c, k)
	return same, len(cl)
}

// TestKmemNodesMatchCrash: kmem -n and kmem -z line for line.
func TestKmemNodesMatchCrash(t *testing.T) {
	forMemMore(t, func(t *testing.T, m *memMore) {
		for _, cmd := range []string{"kmem -n", "kmem -z"} {
			same, n := equalLines(t, cmd, m.outs[cmd], m.kinspect(t, cmd))
			t.Logf("%s: %s: %d of %d lines equal to crash's", ktest.Name(m.f), cmd, same, n)
		}
	})
}

// TestVMPagesMatchCrash: vm -p (every page of every VMA of the files
// task) and vm -m line for line.
func TestVMPagesMatchCrash(t *testing.T) {
	forMemMore(t, func(t *testing.T, m *memMore) {
		for _, cmd := range []string{fmt.Sprintf("vm -p %d", m.pid), fmt.Sprintf("vm -m %d", m.pid)} {
			same, n := equalLines(t, cmd, m.outs[cmd], m.kinspect(t, cmd))
			t.Logf("%s: %s: %d of %d lines equal to crash's", ktest.Name(m.f), cmd, same, n)
		}
	})
}

// TestFilesDentryMatchCrash: files -d of every dentry the files task's
// descriptors hold.
func TestFilesDentryMatchCrash(t *testing.T) {
	forMemMore(t, func(t *testing.T, m *memMore) {
		same, n := 0, 0
		for _, cmd := range m.cmds {
			if strings.HasPrefix(cmd, "files -d ") {
				s, c := equalLines(t, cmd, m.outs[cmd], m.kinspect(t, cmd))
				same, n = same+s, n+c
			}
		}
		t.Logf("%s: files -d: %d of %d lines equal to crash's", ktest.Name(m.f), same, n)
	})
}

// TestSearchUserMatchesCrash: search -u after set PID finds the same
// addresses as crash's.
func TestSearchUserMatchesCrash(t *testing.T) {
	forMemMore(t, func(t *testing.T, m *memMore) {
		for _, cmd := range m.cmds {
			if !strings.Contains(cmd, "search -u") {
				continue
			}
			c, k := hitAddrs(m.outs[cmd]), hitAddrs(m.kinspect(t, cmd))
			if len(c) == 0 {
				t.Errorf("%q: crash found nothing:\n%s", cmd, m.outs[cmd])
			}
			if strings.Join(c, " ") != strings.Join(k, " ") {
				t.Errorf("%q: crash %d hits, kinspect %d\ncrash: %v\nkinspect: %v", cmd, len(c), len(k), c, k)
				continue
			}
			t.Logf("%s: %q: %d hits, the same as crash's", ktest.Name(m.f), strings.ReplaceAll(cmd, "\n", "; "), len(c))
		}
	})
}

var vtopEntry = regexp.MustCompile(`^\s*(PGD|P4D|PUD|PMD|PTE): ([0-9a-f]+) => [0-9a-f]+`)

// TestPageTablesMatchCrashVtop: the table entries crash's vtop -c walks
// for a user address of the files task lie in pages kmem names as that
// task's page tables of the same level (crash's folded levels, an entry
// in a page already named, left out).
func TestPageTablesMatchCrashVtop(t *testing.T) {
	forMemMore(t, func(t *testing.T, m *memMore) {
		var cmd string
		for _, c := range m.cmds {
			if strings.HasPrefix(c, "vtop -c ") {
				cmd = c
			}
		}
		if cmd == "" {
			t.Fatalf("pid %d: no mapped user page", m.pid)
		}
		pages, n := map[uint64]bool{}, 0
		for _, l := range lines(m.outs[cmd]) {
			g := vtopEntry.FindStringSubmatch(l)
			if g == nil {
				continue
			}
			a, _ := strconv.ParseUint(g[2], 16, 64)
			if pages[a&^(m.k.PageSize()-1)] {
				continue
			}
			pages[a&^(m.k.PageSize()-1)] = true
			want := fmt.Sprintf("PAGE TABLE: %s  PID: %d", strings.ToLower(g[1]), m.pid)
			if out := m.kinspect(t, "kmem "+g[2]); !strings.Contains(out, want) {
				t.Errorf("%s: %s entry %s: kinspect does not print %q:\n%s", cmd, g[1], g[2], want, out)
				continue
			}
			n++
		}
		if n < 2 {
			t.Errorf("%s: %d table pages named, want the top and the last level at least:\n%s", cmd, n, m.outs[cmd])
		}
		t.Logf("%s: %s: %d page-table pages named as crash walks them", ktest.Name(m.f), cmd, n)
	})
}
