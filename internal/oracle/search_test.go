package oracle_test

// search compared with crash's search on the same dump: a task_struct
// address over physical memory (-p) and over a stretch of the direct map
// (-k -s -e), and a string (-c) over kernel memory; the hit addresses must
// be the same.

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/repl"
)

func TestSearchVsCrash(t *testing.T) {
	for _, fx := range fixtures {
		name := fx.Arch
		if fx.Suite != fixture.DefaultSuite {
			name += "-" + fx.Suite
		}
		t.Run(name, func(t *testing.T) { searchVsCrash(t, fx.Arch, fx.Suite) })
	}
}

func searchVsCrash(t *testing.T, arch, suite string) {
	oracle.Require(t, arch)
	dumpFile := oracle.DefaultDump(arch)
	k, f := ktest.OpenSuite(t, arch, suite, dumpFile)
	init, err := k.TaskByPID(1)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := k.PhysToVirt(k.Dump.Ranges()[0].Start)
	if err != nil {
		t.Fatal(err)
	}
	cmds := []string{
		fmt.Sprintf("search -p %x", init.Addr),
		fmt.Sprintf("search -s %x -e %x %x", lo, lo+64<<20, init.Addr),
		fmt.Sprintf("search -s %x -e %x -m fff %x", lo, lo+64<<20, init.Addr&^0xfff),
		fmt.Sprintf("search -s %x -e %x -c init", lo, lo+64<<20),
	}
	outs, err := oracle.RunFixture(t, f, dumpFile, cmds)
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		var out, errb bytes.Buffer
		if err := repl.NewSession(k, &out, &errb).Exec(context.Background(), cmd, false); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		c, kk := hitAddrs(outs[i]), hitAddrs(out.String())
		if len(c) == 0 {
			t.Errorf("%s: crash found nothing:\n%s", cmd, outs[i])
		}
		if strings.Join(c, " ") != strings.Join(kk, " ") {
			t.Errorf("%s: crash %d hits, kinspect %d\ncrash: %v\nkinspect: %v", cmd, len(c), len(kk), c, kk)
			continue
		}
		t.Logf("%s: %s: %d hits, the same as crash's", ktest.Name(f), cmd, len(c))
	}
}

// hitAddrs is the sorted addresses of search's "ADDR: ..." lines.
func hitAddrs(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		a, _, ok := strings.Cut(l, ": ")
		if ok && a != "" && strings.Trim(a, "0123456789abcdef") == "" {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// TestRdSlabVsCrash compares rd -S (symbols and [cache] of slab pointers)
// over two task_structs with crash's, line for line.
func TestRdSlabVsCrash(t *testing.T) {
	for _, fx := range fixtures {
		name := fx.Arch
		if fx.Suite != fixture.DefaultSuite {
			name += "-" + fx.Suite
		}
		t.Run(name, func(t *testing.T) {
			oracle.Require(t, fx.Arch)
			dumpFile := oracle.DefaultDump(fx.Arch)
			k, f := ktest.OpenSuite(t, fx.Arch, fx.Suite, dumpFile)
			var cmds []string
			for _, pid := range []int{1, f.GT.RolePID("files")} {
				tk, err := k.TaskByPID(pid)
				if err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, fmt.Sprintf("rd -S %x 512", tk.Addr))
			}
			outs, err := oracle.RunFixture(t, f, dumpFile, cmds)
			if err != nil {
				t.Fatal(err)
			}
			for i, cmd := range cmds {
				var out, errb bytes.Buffer
				if err := repl.NewSession(k, &out, &errb).Exec(context.Background(), cmd, false); err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				c, kl := strings.Split(outs[i], "\n"), strings.Split(out.String(), "\n")
				// crash 8.0.6 on arm names any lowmem address past the image
				// "_end+N" (its symbol range runs to the end of kernel
				// virtual memory) where it would show [cache]: those lines
				// are left out, counted.
				skipped := 0
				var cs, ks []string
				for j := range c {
					if strings.Contains(c[j], "_end+") && j < len(kl) {
						skipped++
						continue
					}
					cs = append(cs, c[j])
					if j < len(kl) {
						ks = append(ks, kl[j])
					}
				}
				compareLines(t, cmd, strings.Join(cs, "\n"), strings.Join(ks, "\n"))
				t.Logf("%s: %s: %d slab annotations, %d lines with crash's _end+N left out", ktest.Name(f), cmd,
					strings.Count(outs[i], "]"), skipped)
			}
		})
	}
}
