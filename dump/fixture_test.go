package dump

// Integration tests and benchmarks on the real QEMU/makedumpfile dumps of
// the fixtures (make fixture-ARCH). Missing fixtures skip the tests, or
// fail them when $KINSPECT_FIXTURES or $CI is set (see fixture.Require).

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// refDump opens a fixture's QEMU ELF dump, the reference for content.
func refDump(tb testing.TB, fx *fixture.Fixture) *Dump {
	tb.Helper()
	ref, ok := fx.Dump("elf", "qemu")
	if !ok {
		tb.Fatalf("%s: no QEMU ELF dump", fx.Dir)
	}
	d, err := Open(fx.Path(ref.File), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// samplePagesOf picks n page addresses spread evenly over ranges, plus a
// few random ones.
func samplePagesOf(ranges []PhysRange, n int, rng *rand.Rand) []uint64 {
	var total uint64
	for _, r := range ranges {
		total += r.Size / 4096
	}
	if total == 0 {
		return nil
	}
	var out []uint64
	pick := func(k uint64) {
		for _, r := range ranges {
			np := r.Size / 4096
			if k < np {
				out = append(out, r.Start+k*4096)
				return
			}
			k -= np
		}
	}
	for i := 0; i < n; i++ {
		pick(total * uint64(i) / uint64(n))
	}
	for i := 0; i < n/2; i++ {
		pick(uint64(rng.Int63n(int64(total))))
	}
	pick(total - 1)
	return out
}

func wantFormat(d fixture.Dump, class string) string {
	switch {
	case d.Format == "elf":
		return class + " vmcore"
	case strings.HasPrefix(d.Format, "kdump-"):
		codec := strings.TrimPrefix(d.Format, "kdump-")
		if d.Writer == "qemu" || d.Flattened {
			return "kdump-compressed (flattened, " + codec + ")"
		}
		return "kdump-compressed (" + codec + ")"
	}
	return ""
}

func TestFixtureDumps(t *testing.T) {
	for _, arch := range fixture.Arches {
		t.Run(arch, func(t *testing.T) {
			fx := fixture.Require(t, arch)
			ref := refDump(t, fx)
			defer ref.Close()
			class := "ELF64"
			if arch == "arm" {
				class = "ELF32"
			}
			rng := rand.New(rand.NewSource(42))
			refPages := samplePagesOf(ref.Ranges(), 16, rng)
			refCPUs := ref.CPUs()
			for _, fd := range fx.Dumps {
				if fd.Paging {
					continue // the paging ELF (virtual addresses) is gdb's oracle, not read here
				}
				t.Run(fd.File, func(t *testing.T) {
					d := ref
					if fd.File != "vmcore.elf" {
						var err error
						if d, err = Open(fx.Path(fd.File), Options{}); err != nil {
							t.Fatal(err)
						}
						defer d.Close()
					}
					if ok, err := IsDumpFile(fx.Path(fd.File)); !ok || err != nil {
						t.Errorf("IsDumpFile = %v, %v", ok, err)
					}
					if d.Arch() != Arch(arch) {
						t.Errorf("Arch = %q", d.Arch())
					}
					if f := wantFormat(fd, class); d.Format() != f {
						t.Errorf("Format = %q, want %q", d.Format(), f)
					}
					cpus := d.CPUs()
					if len(cpus) != fx.GT.CPUs {
						t.Errorf("%d CPUs, ground truth %d", len(cpus), fx.GT.CPUs)
					}
					for i := range cpus {
						if i < len(refCPUs) && (cpus[i].PC != refCPUs[i].PC || cpus[i].SP != refCPUs[i].SP || len(cpus[i].Regs) == 0) {
							t.Errorf("CPU %d: %+v, ELF dump says %+v", i, cpus[i], refCPUs[i])
						}
					}
					vi := d.VMCoreInfo()
					switch {
					case !fx.VMCoreInfo && vi != nil:
						t.Errorf("VMCOREINFO present, fixture says none")
					case fx.VMCoreInfo && vi == nil:
						t.Errorf("no VMCOREINFO")
					case vi != nil:
						if r, _ := vi.Get("OSRELEASE"); r != fx.GT.Release {
							t.Errorf("OSRELEASE %q, ground truth %q", r, fx.GT.Release)
						}
					}
					if strings.HasPrefix(fd.Format, "kdump") {
						h := d.Header()
						if !h.Valid || h.BlockSize == 0 || d.PageSize() != h.BlockSize ||
							(fd.Writer == "qemu" && h.DumpLevel != 1) || (fd.DumpLevel > 0 && h.DumpLevel != fd.DumpLevel) {
							t.Errorf("header %+v", h)
						}
					}
					if len(d.Ranges()) == 0 {
						t.Fatal("no ranges")
					}
					compare := func(addrs []uint64, n int, allowExcluded bool) (same, excluded int) {
						got, want := make([]byte, n), make([]byte, n)
						for _, a := range addrs {
							if err := ref.ReadPhys(want, a); err != nil {
								if errors.Is(err, ErrNotInDump) && n > 4096 {
									continue // crossing read past the end of a range
								}
								t.Fatalf("ELF %#x: %v", a, err)
							}
							err := d.ReadPhys(got, a)
							if err != nil && allowExcluded && (errors.Is(err, ErrExcluded) || errors.Is(err, ErrNotInDump)) {
								excluded++
								continue
							}
							if err != nil {
								t.Fatalf("%#x: %v", a, err)
							}
							if !bytes.Equal(got, want) {
								// makedumpfile -E -d N turns excluded pages into
								// zero fill (p_memsz > p_filesz).
								if fd.Format == "elf" && fd.DumpLevel > 0 && allZero(got) {
									excluded++
									continue
								}
								t.Fatalf("%#x: %d bytes differ from the ELF dump", a, n)
							}
							same++
						}
						return
					}
					filtered := fd.DumpLevel > 0
					if same, _ := compare(refPages, 4096, filtered); same == 0 && !filtered {
						t.Error("no ELF page compared")
					}
					var crossing []uint64
					for _, a := range refPages {
						crossing = append(crossing, a+4096-100)
					}
					compare(crossing, 4096+300, filtered)
					// Pages the dump holds must always match.
					if same, _ := compare(samplePagesOf(d.Ranges(), 16, rng), 4096, false); same == 0 {
						t.Error("no page compared")
					}
				})
			}
		})
	}
}

// benchFixture returns the x86_64 fixture for benchmarks.
func benchFixture(b *testing.B) *fixture.Fixture {
	return fixture.Require(b, "x86_64")
}

func benchOpen(b *testing.B, file string) {
	fx := benchFixture(b)
	p := fx.Path(file)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := Open(p, Options{})
		if err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}

func BenchmarkOpenELF(b *testing.B)       { benchOpen(b, "vmcore.elf") }
func BenchmarkOpenFlattened(b *testing.B) { benchOpen(b, "vmcore.kdump-zlib") }
func BenchmarkOpenKdump(b *testing.B)     { benchOpen(b, "vmcore.kdump-zlib-rearranged") }
func BenchmarkOpenKdumpLZO(b *testing.B)  { benchOpen(b, "vmcore.mkdf-lzo-d31") }

// benchRead reads size bytes at random page-aligned-ish addresses of the
// dump's ranges; hot limits the addresses to a small working set (cached).
func benchRead(b *testing.B, file string, size int, hot bool) {
	benchReadOpts(b, file, size, hot, Options{})
}

func benchReadOpts(b *testing.B, file string, size int, hot bool, opts Options) {
	fx := benchFixture(b)
	d, err := Open(fx.Path(file), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	rng := rand.New(rand.NewSource(1))
	n := 4096
	if hot {
		n = 64
	}
	addrs := samplePagesOf(d.Ranges(), n, rng)
	for i := range addrs {
		addrs[i] += uint64(rng.Intn(4096 - size%4096))
	}
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := addrs[i%len(addrs)]
		if err := d.ReadPhys(buf, a); err != nil && !errors.Is(err, ErrNotInDump) && !errors.Is(err, ErrExcluded) {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPhysELF8(b *testing.B)          { benchRead(b, "vmcore.elf", 8, false) }
func BenchmarkReadPhysELFPage(b *testing.B)       { benchRead(b, "vmcore.elf", 4096, false) }
func BenchmarkReadPhysFlattened8(b *testing.B)    { benchRead(b, "vmcore.kdump-zlib", 8, false) }
func BenchmarkReadPhysFlattened8Hot(b *testing.B) { benchRead(b, "vmcore.kdump-zlib", 8, true) }
func BenchmarkReadPhysFlattenedPage(b *testing.B) { benchRead(b, "vmcore.kdump-zlib", 4096, false) }
func BenchmarkReadPhysKdump8(b *testing.B)        { benchRead(b, "vmcore.kdump-zlib-rearranged", 8, false) }
func BenchmarkReadPhysKdumpLZO8(b *testing.B)     { benchRead(b, "vmcore.mkdf-lzo-d31", 8, false) }

// Uncached: every read decompresses its page.
func BenchmarkReadPhysKdump8NoCache(b *testing.B) {
	benchReadOpts(b, "vmcore.kdump-zlib-rearranged", 8, false, Options{CacheBytes: -1})
}
func BenchmarkReadPhysKdumpLZO8NoCache(b *testing.B) {
	benchReadOpts(b, "vmcore.mkdf-lzo-d31", 8, false, Options{CacheBytes: -1})
}
func BenchmarkReadPhysKdumpLZO8Hot(b *testing.B) { benchRead(b, "vmcore.mkdf-lzo-d31", 8, true) }
