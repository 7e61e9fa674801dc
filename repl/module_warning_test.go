package repl

// A broken modules list, now that module symbols are read on first need
// rather than at open (kstructs.Kernel.ModuleSymbolsWarning): mod (--json)
// shows the error, sys once the modules were read, and the command after
// whose lookups it was met warns once on stderr.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// brokenModules reads k's memory with the modules list's head pointing at
// an unreadable page.
type brokenModules struct {
	k    *kstructs.Kernel
	head uint64
}

const brokenModulesHole = 0x1000

func (m brokenModules) ReadVirt(p []byte, addr uint64) error {
	if addr < 2*brokenModulesHole && brokenModulesHole <= addr+uint64(len(p)) {
		return fmt.Errorf("test hole at %#x", addr)
	}
	if err := m.k.ReadVirt(p, addr); err != nil {
		return err
	}
	if addr <= m.head && m.head+uint64(m.k.PtrSize()) <= addr+uint64(len(p)) {
		b := p[m.head-addr:]
		if m.k.PtrSize() == 4 {
			binary.LittleEndian.PutUint32(b, brokenModulesHole)
		} else {
			binary.LittleEndian.PutUint64(b, brokenModulesHole)
		}
	}
	return nil
}

func TestBrokenModuleListReported(t *testing.T) {
	for _, arch := range ktest.Arches {
		t.Run(arch, func(t *testing.T) {
			f := fixture.RequireKind(t, arch, fixture.KindOops)
			k, err := kstructs.Open(f.Path("vmcore.elf"), f.Vmlinux(), kstructs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			head, ok := k.Image.Lookup("modules")
			if !ok {
				t.Fatal("no modules symbol")
			}
			broken := func() *kstructs.Kernel { return k.WithMemory(brokenModules{k, head.Addr}) }
			want := fmt.Sprintf("the modules list at %#x", head.Addr)
			exec := func(v *kstructs.Kernel, line string) (string, string) {
				var out, errOut bytes.Buffer
				s := NewSession(v, &out, &errOut)
				s.JSON = true
				s.Exec(context.Background(), line, false)
				return out.String(), errOut.String()
			}

			// No module read: mod fails, its error a JSON document.
			out, errs := exec(broken(), "mod")
			var mr struct{ Error string }
			if err := json.Unmarshal([]byte(out), &mr); err != nil || !strings.Contains(mr.Error, want) {
				t.Errorf("mod --json gives no error naming %q: %s %s (%v)", want, out, errs, err)
			}
			if strings.Contains(errs, "warning: module symbols") {
				t.Errorf("mod gave the error twice: %s", errs)
			}

			// sys, the start-up summary, reads no module: it lists the
			// error once they have been read (here by LoadModuleSymbols, as
			// by a lookup that needed them).
			v := broken()
			out, _ = exec(v, "sys")
			if strings.Contains(out, want) {
				t.Errorf("sys read the modules: %s", out)
			}
			v.LoadModuleSymbols()
			out, _ = exec(v, "sys")
			var sr struct{ Warnings []string }
			if err := json.Unmarshal([]byte(out), &sr); err != nil || !strings.Contains(strings.Join(sr.Warnings, "\n"), "module symbols: "+want) {
				t.Errorf("sys --json warnings %q lack %q (%v)", sr.Warnings, want, err)
			}

			// Read by a lookup (here called directly): the next command warns, once.
			v = broken()
			v.LoadModuleSymbols()
			var errOut bytes.Buffer
			s := NewSession(v, &bytes.Buffer{}, &errOut)
			for i := 0; i < 2; i++ {
				if err := s.Exec(context.Background(), "p jiffies", false); err != nil {
					t.Fatal(err)
				}
			}
			if n := strings.Count(errOut.String(), "warning: module symbols: "+want); n != 1 {
				t.Errorf("%d warnings naming %q after two commands, want 1: %s", n, want, errOut.String())
			}
		})
	}
}
