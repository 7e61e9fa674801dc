package oracle_test

// kmem -s, vm, files and mount compared with crash 8.0.6 on the same dump,
// field by field (every mismatch reported with the cache, VMA, fd or mount
// it concerns), then line for line. The task is the guest's "files" role
// (kt_files: a file, a pipe, a socket pair, /dev/null, an unlinked file,
// anonymous, shared, PROT_NONE and file mappings).

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// memTarget is one fixture with crash's outputs of the memory commands
// (run in one crash process of their own, cached next to the fixture).
type memTarget struct {
	arch string
	k    *kstructs.Kernel
	f    *fixture.Fixture
	pid  int
	outs map[string]string
}

func memCommands(pid int) []string {
	return []string{"kmem -i", "kmem -s", fmt.Sprintf("vm %d", pid), fmt.Sprintf("files %d", pid), "mount"}
}

// openMem is the fixture's target (one crash run for every comparison:
// memCommands are among the commands open gives crash).
func openMem(t *testing.T, arch, suite string) *memTarget {
	t.Helper()
	tg := open(t, arch, suite)
	pid := tg.f.GT.RolePID("files")
	if pid <= 0 {
		t.Fatalf("%s: no task with role files in the ground truth", ktest.Name(tg.f))
	}
	m := &memTarget{arch: arch, k: tg.k, f: tg.f, pid: pid, outs: map[string]string{}}
	for _, c := range memCommands(pid) {
		m.outs[c] = tg.crash(t, c)
	}
	return m
}

func forMem(t *testing.T, fn func(t *testing.T, m *memTarget)) {
	eachFixture(t, func(t *testing.T, arch, suite string) { fn(t, openMem(t, arch, suite)) })
}

// both returns crash's and kinspect's outputs of cmd.
func (m *memTarget) both(t *testing.T, cmd string) (string, string) {
	t.Helper()
	c, ok := m.outs[cmd]
	if !ok {
		t.Fatalf("test bug: %q not run by crash", cmd)
	}
	var out, errb bytes.Buffer
	s := repl.NewSession(m.k, &out, &errb)
	if err := s.Exec(context.Background(), cmd, false); err != nil {
		t.Fatalf("kinspect %q: %v\nstderr: %s", cmd, err, errb.String())
	}
	return c, out.String()
}

// rows splits a table into rows keyed by column key, from the first line
// that begins with a hex address (or a number for files).
func rows(s string, re *regexp.Regexp, key int) (map[string][]string, []string) {
	m := map[string][]string{}
	var order []string
	for _, l := range strings.Split(s, "\n") {
		g := re.FindStringSubmatch(l)
		if g == nil {
			continue
		}
		if _, dup := m[g[key]]; !dup {
			order = append(order, g[key])
		}
		m[g[key]] = g[1:]
	}
	return m, order
}

// compareRows compares crash's rows with kinspect's, field by field, and
// returns how many rows are equal.
func compareRows(t *testing.T, what string, cols []string, c, k map[string][]string, order []string) int {
	t.Helper()
	match, errs := 0, 0
	for _, key := range order {
		cr := c[key]
		kr, ok := k[key]
		if !ok {
			if errs++; errs <= 20 {
				t.Errorf("%s %s: crash shows it, kinspect does not", what, key)
			}
			continue
		}
		same := true
		for i := range cr {
			if i < len(kr) && cr[i] != kr[i] {
				if errs++; errs <= 20 {
					t.Errorf("%s %s: %s crash %q kinspect %q", what, key, cols[i], cr[i], kr[i])
				}
				same = false
			}
		}
		if same {
			match++
		}
	}
	for key := range k {
		if _, ok := c[key]; !ok {
			if errs++; errs <= 20 {
				t.Errorf("%s %s: kinspect shows it, crash does not", what, key)
			}
		}
	}
	if errs > 20 {
		t.Errorf("%s: %d mismatches in all", what, errs)
	}
	return match
}

var (
	kmemSRow = regexp.MustCompile(`^([0-9a-f]+) +(\d+) +(\d+|\?) +(\d+|\?) +(\d+|\?) +(\d+k) +(.*)$`)
	vmMMRow  = regexp.MustCompile(`^ *([0-9a-f]{8,}) +([0-9a-f]{8,}) +(\d+k) +(\d+k) *$`)
	vmVMARow = regexp.MustCompile(`^([0-9a-f]{8,}) +([0-9a-f]+) +([0-9a-f]+) +([0-9a-f]+) (.*)$`)
	filesRow = regexp.MustCompile(`^ *(\d+) +([0-9a-f]+) +([0-9a-f]+) +([0-9a-f]+|\?) +(\S+) *(.*)$`)
	rootRow  = regexp.MustCompile(`^ROOT: (.*)    CWD: (.*)$`)
	mountRow = regexp.MustCompile(`^ *([0-9a-f]{8,}) +([0-9a-f]{8,}) +(\S+) +(\S+) +(\S+) *$`)
)

func TestKmemSMatchesCrash(t *testing.T) {
	forMem(t, func(t *testing.T, m *memTarget) {
		c, k := m.both(t, "kmem -s")
		cr, order := rows(c, kmemSRow, 1)
		kr, _ := rows(k, kmemSRow, 1)
		if len(cr) < 20 {
			t.Fatalf("crash shows %d caches:\n%s", len(cr), c)
		}
		n := compareRows(t, "cache", []string{"CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME"}, cr, kr, order)
		t.Logf("%s: %d of %d caches equal in every column", ktest.Name(m.f), n, len(cr))
		compareLines(t, "kmem -s", c, k)
		// kmem -s NAME...: exactly the named caches, as crash's rows.
		picks := []string{order[0], order[len(order)/2], order[len(order)-1]}
		var names []string
		want := map[string][]string{}
		for _, p := range picks {
			names = append(names, cr[p][6])
			want[p] = cr[p]
		}
		var out, errb bytes.Buffer
		s := repl.NewSession(m.k, &out, &errb)
		cmd := "kmem -s " + strings.Join(names, " ")
		if err := s.Exec(context.Background(), cmd, false); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		got, _ := rows(out.String(), kmemSRow, 1)
		if len(got) != len(picks) {
			t.Errorf("%s: %d rows, want %d:\n%s", cmd, len(got), len(picks), out.String())
		}
		compareRows(t, cmd, []string{"CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME"}, want, got, picks)
	})
}

func TestVMMatchesCrash(t *testing.T) {
	forMem(t, func(t *testing.T, m *memTarget) {
		cmd := fmt.Sprintf("vm %d", m.pid)
		c, k := m.both(t, cmd)
		cm, _ := rows(c, vmMMRow, 1)
		km, _ := rows(k, vmMMRow, 1)
		if len(cm) != 1 {
			t.Fatalf("crash shows no mm line:\n%s", c)
		}
		compareRows(t, "mm", []string{"MM", "PGD", "RSS", "TOTAL_VM"}, cm, km, sortedKeys(cm))
		cv, order := rows(c, vmVMARow, 1)
		kv, _ := rows(k, vmVMARow, 1)
		n := compareRows(t, "vma", []string{"VMA", "START", "END", "FLAGS", "FILE"}, cv, kv, order)
		t.Logf("%s pid %d: %d of %d vmas equal in every column", ktest.Name(m.f), m.pid, n, len(cv))
		compareLines(t, cmd, c, k)
	})
}

func TestFilesMatchCrash(t *testing.T) {
	forMem(t, func(t *testing.T, m *memTarget) {
		cmd := fmt.Sprintf("files %d", m.pid)
		c, k := m.both(t, cmd)
		cr, _ := rows(c, rootRow, 1)
		kr, _ := rows(k, rootRow, 1)
		compareRows(t, "root/cwd", []string{"ROOT", "CWD"}, cr, kr, sortedKeys(cr))
		cf, order := rows(c, filesRow, 1)
		kf, _ := rows(k, filesRow, 1)
		if len(cf) == 0 {
			t.Fatalf("crash shows no descriptor:\n%s", c)
		}
		n := compareRows(t, "fd", []string{"FD", "FILE", "DENTRY", "INODE", "TYPE", "PATH"}, cf, kf, order)
		t.Logf("%s pid %d: %d of %d descriptors equal in every column", ktest.Name(m.f), m.pid, n, len(cf))
		compareLines(t, cmd, c, k)
	})
}

func TestMountMatchesCrash(t *testing.T) {
	forMem(t, func(t *testing.T, m *memTarget) {
		c, k := m.both(t, "mount")
		cr, order := rows(c, mountRow, 1)
		kr, _ := rows(k, mountRow, 1)
		if len(cr) == 0 {
			t.Fatalf("crash shows no mount:\n%s", c)
		}
		n := compareRows(t, "mount", []string{"MOUNT", "SUPERBLK", "TYPE", "DEVNAME", "DIRNAME"}, cr, kr, order)
		t.Logf("%s: %d of %d mounts equal in every column", ktest.Name(m.f), n, len(cr))
		compareLines(t, "mount", c, k)
	})
}

var kmemIRow = regexp.MustCompile(`^ *([A-Z][A-Z ]*[A-Z]) +(\d+|\?) +(\S+(?: [KMG]B)?) +(----|\S+% of TOTAL \w+)`)

// TestKmemIMatchesCrash compares every line of kmem -i, SHARED (counted
// over the page array) included.
func TestKmemIMatchesCrash(t *testing.T) {
	forMem(t, func(t *testing.T, m *memTarget) {
		c, k := m.both(t, "kmem -i")
		cr, order := rows(c, kmemIRow, 1)
		kr, _ := rows(k, kmemIRow, 1)
		if len(cr) < 10 {
			t.Fatalf("crash shows %d rows:\n%s", len(cr), c)
		}
		n := compareRows(t, "kmem -i", []string{"NAME", "PAGES", "TOTAL", "PERCENTAGE"}, cr, kr, order)
		t.Logf("%s: %d of %d kmem -i rows equal", ktest.Name(m.f), n, len(cr))
	})
}
