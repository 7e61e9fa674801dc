package dump

import (
	"bytes"
	"debug/elf"
	"errors"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// elfSymbols is Symbols from a vmlinux's ELF symbol table, for tests that
// discover layouts without the dwarfx package.
type elfSymbols struct {
	syms   map[string]uint64
	banner []byte
	ptr    int
}

func loadELFSymbols(tb testing.TB, path string) *elfSymbols {
	tb.Helper()
	f, err := elf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		tb.Fatal(err)
	}
	s := &elfSymbols{syms: make(map[string]uint64, len(syms)), ptr: 8}
	if f.Class == elf.ELFCLASS32 {
		s.ptr = 4
	}
	for _, sym := range syms {
		if _, dup := s.syms[sym.Name]; !dup && sym.Value != 0 {
			s.syms[sym.Name] = sym.Value
		}
	}
	// linux_banner's bytes, from the section holding it.
	if a, ok := s.syms["linux_banner"]; ok {
		for _, sec := range f.Sections {
			if sec.Type == elf.SHT_PROGBITS && a >= sec.Addr && a < sec.Addr+sec.Size {
				b := make([]byte, 512)
				n, _ := sec.ReadAt(b, int64(a-sec.Addr))
				if i := bytes.IndexByte(b[:n], 0); i >= 0 {
					s.banner = b[:i]
				}
			}
		}
	}
	return s
}

func (s *elfSymbols) LinkAddr(name string) (uint64, bool) { a, ok := s.syms[name]; return a, ok }
func (s *elfSymbols) PtrSize() int                        { return s.ptr }

// TestLayoutOtherKernels discovers the layout of the other suites' kernels
// (Linux 5.10 x86_64 with randomised memory regions, Linux 6.12 arm64
// built for 52-bit VAs running with 48) with and without VMCOREINFO: both
// must agree, and a vmapped stack address must translate into the dump.
func TestLayoutOtherKernels(t *testing.T) {
	for _, c := range []struct{ arch, suite string }{{"x86_64", "bullseye"}, {"arm64", "trixie"}} {
		t.Run(c.arch+"-"+c.suite, func(t *testing.T) {
			fx := fixture.RequireSuite(t, c.arch, c.suite)
			d := refDump(t, fx)
			defer d.Close()
			syms := loadELFSymbols(t, fx.Vmlinux())
			hints := LayoutHints{Banner: syms.banner}
			in := layoutInput{mem: d, ranges: d.Ranges(), arch: d.Arch(), vmci: d.VMCoreInfo(), notes: d.Notes()}
			with, err := discoverLayout(in, syms, hints)
			if err != nil {
				t.Fatalf("with VMCOREINFO: %v", err)
			}
			in.vmci = nil
			without, err := discoverLayout(in, syms, hints)
			if err != nil {
				t.Fatalf("without VMCOREINFO: %v", err)
			}
			t.Logf("with:    %v", with)
			t.Logf("without: %v", without)
			if with.String() != without.String() || with.LinearEnd != without.LinearEnd || with.VABitsActual != without.VABitsActual {
				t.Errorf("layouts differ:\n  with VMCOREINFO    %v linear_end=%#x\n  without VMCOREINFO %v linear_end=%#x",
					with, with.LinearEnd, without, without.LinearEnd)
			}
			if c.arch == "arm64" && with.VABitsActual != 48 {
				t.Errorf("vabits_actual %d, want 48 (QEMU's cortex-a72 has no LVA/LPA2)", with.VABitsActual)
			}
			// Anything past the direct map (vmalloc'd stacks, modules) must
			// be walked, not taken for linear-map arithmetic.
			if c.arch == "x86_64" && with.LinearEnd == 0 {
				t.Errorf("no end of the direct map from vmalloc_base/vmemmap_base")
			}
		})
	}
}

// TestMismatchedVmlinuxLayout: discovery with another kernel's symbols
// fails with a *MismatchError naming both releases.
func TestMismatchedVmlinuxLayout(t *testing.T) {
	for _, c := range []struct{ arch, dumpSuite, imageSuite string }{
		{"x86_64", "bookworm", "bullseye"},
		{"arm64", "trixie", "bookworm"},
	} {
		t.Run(c.arch+"-"+c.dumpSuite+"-with-"+c.imageSuite, func(t *testing.T) {
			df := fixture.RequireSuite(t, c.arch, c.dumpSuite)
			vf := fixture.RequireSuite(t, c.arch, c.imageSuite)
			d := refDump(t, df)
			defer d.Close()
			syms := loadELFSymbols(t, vf.Vmlinux())
			_, err := DiscoverLayout(d, syms, LayoutHints{Banner: syms.banner})
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("want a *MismatchError, got %v", err)
			}
			if bannerRelease(me.DumpBanner) != df.Release || bannerRelease(me.ImageBanner) != vf.Release {
				t.Errorf("dump %q vmlinux %q, want releases %s and %s", me.DumpBanner, me.ImageBanner, df.Release, vf.Release)
			}
		})
	}
}
