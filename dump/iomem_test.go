package dump

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// iomemPi3 is a Raspberry Pi 3's /proc/iomem under Raspberry Pi OS's
// 32-bit bcm2709 kernel (RAM at 0, the GPU's share above it).
const iomemPi3 = `00000000-3b3fffff : System RAM
  00008000-00cfffff : Kernel code
  00e00000-00f4b3a3 : Kernel data
3f006000-3f006fff : dwc_otg
3f007000-3f007eff : dma@7e007000
3f00b840-3f00b87b : mailbox@7e00b840
3f100000-3f100113 : watchdog@7e100000
3f200000-3f2000b3 : gpio@7e200000
3f201000-3f2011ff : serial@7e201000
  3f201000-3f2011ff : serial@7e201000
3f980000-3f98ffff : dwc_otg
`

// iomemPi4 is a 4 GiB Raspberry Pi 4 under the 32-bit LPAE kernel:
// RAM above 4 GiB, 9-digit addresses.
const iomemPi4 = `00000000-3b3fffff : System RAM
  00008000-011fffff : Kernel code
40000000-fbffffff : System RAM
fd500000-fd50930f : pcie@7d500000
fe215040-fe21507f : serial@7e215040
100000000-1ffffffff : System RAM
`

// iomemX86 is a QEMU x86_64 guest's: RAM below 640 KiB, from 1 MiB, and
// above 4 GiB; firmware, PCI windows and a child System RAM-like name.
const iomemX86 = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdffff : System RAM
  0e000000-0ee02c01 : Kernel code
  0f600000-0f8a2f7f : Kernel data
7ffe0000-7fffffff : Reserved
b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
fffc0000-ffffffff : Reserved
100000000-17fffffff : System RAM
`

func TestSystemRAM(t *testing.T) {
	for name, c := range map[string]struct {
		text string
		want []PhysRange
	}{
		"pi3":             {iomemPi3, []PhysRange{{0, 0x3b400000}}},
		"pi4":             {iomemPi4, []PhysRange{{0, 0x3b400000}, {0x40000000, 0xbc000000}, {0x100000000, 0x100000000}}},
		"x86":             {iomemX86, []PhysRange{{0x1000, 0x9f000 - 0x1000 + 0xc00}, {0x100000, 0x7ffe0000 - 0x100000}, {0x100000000, 0x80000000}}},
		"adjacent merged": {"1000-1fff : System RAM\n2000-2fff : System RAM\n", []PhysRange{{0x1000, 0x2000}}},
	} {
		got, err := SystemRAM([]byte(c.text))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: SystemRAM = %#v, %v; want %#v", name, got, err, c.want)
		}
	}
}

func TestSystemRAMErrors(t *testing.T) {
	hidden := strings.NewReplacer("00001000-0009fbff", "00000000-00000000", "00100000-7ffdffff", "00000000-00000000",
		"100000000-17fffffff", "00000000-00000000").Replace(iomemX86)
	if _, err := SystemRAM([]byte(hidden)); !errors.Is(err, ErrIOMemHidden) {
		t.Errorf("addresses read as 0: %v, want ErrIOMemHidden", err)
	}
	for name, text := range map[string]string{
		"none":     "00000000-00000fff : Reserved\n",
		"bad hex":  "0000g000-00000fff : System RAM\n",
		"no dash":  "00001000 : System RAM\n",
		"reversed": "00002000-00001000 : System RAM\n",
		"overlap":  "1000-2fff : System RAM\n2000-3fff : System RAM\n",
		"empty":    "",
	} {
		if _, err := SystemRAM([]byte(text)); err == nil || errors.Is(err, ErrIOMemHidden) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// FuzzSystemRAM: any text parses or fails with an error, never a panic;
// what parses is sorted, disjoint, not adjacent and not empty.
func FuzzSystemRAM(f *testing.F) {
	for _, s := range []string{iomemPi3, iomemPi4, iomemX86, "", "0-ffffffffffffffff : System RAM\n",
		"fffffffffffff000-ffffffffffffffff : System RAM\n0-fff : System RAM\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := SystemRAM([]byte(text))
		if err != nil {
			return
		}
		for i, r := range rs {
			if r.Size == 0 {
				t.Fatalf("empty range %#v", r)
			}
			if i > 0 && rs[i-1].End() >= r.Start && rs[i-1].End() != 0 {
				t.Fatalf("ranges %#v, %#v out of order, overlapping or adjacent", rs[i-1], r)
			}
		}
	})
}

// TestOpenDevMem: a file standing in for /dev/mem is readable in its
// System RAM ranges only, and live.
func TestOpenDevMem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mem")
	img := make([]byte, 0x6000)
	for i := range img {
		img[i] = byte(i / 0x1000)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDevMem(path, []PhysRange{{0x1000, 0x2000}, {0x4000, 0x1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Live() || !strings.Contains(d.Format(), "live") {
		t.Errorf("format %q, live %v", d.Format(), d.Live())
	}
	buf := make([]byte, 0x10)
	if err := d.ReadPhys(buf, 0x4008); err != nil || buf[0] != 4 {
		t.Errorf("read in RAM: %v %x", err, buf)
	}
	var re *ReadError
	if err := d.ReadPhys(buf, 0x2ff8); !errors.As(err, &re) || !errors.Is(err, ErrNotInDump) || re.Addr != 0x3000 {
		t.Errorf("read across the end of RAM into a hole: %v", err)
	}
	if _, err := OpenDevMem(path, []PhysRange{{0x8000, 0x1000}}); err == nil || !strings.Contains(err.Error(), "ends before System RAM at 0x8000") {
		t.Errorf("RAM past the file: %v", err)
	}
	if _, err := OpenDevMem(filepath.Join(t.TempDir(), "none"), []PhysRange{{0, 0x1000}}); err == nil || !strings.Contains(err.Error(), "CONFIG_DEVMEM") {
		t.Errorf("no device: %v", err)
	}
}

// refusing is a /dev/mem that refuses reads at or above from with errno.
type refusing struct {
	from  int64
	errno syscall.Errno
}

func (r refusing) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.from {
		return 0, &os.PathError{Op: "read", Path: "/dev/mem", Err: r.errno}
	}
	return len(p), nil
}

// TestProbeDevMem: EPERM on RAM (CONFIG_STRICT_DEVMEM) is the filtering
// error; EFAULT past the first range is highmem, not an error.
func TestProbeDevMem(t *testing.T) {
	segs := []segment{{start: 0x1000, end: 0x9f000, off: 0x1000}, {start: 0x100000, end: 0x200000, off: 0x100000}}
	var fe *DevMemFilteredError
	if err := probeDevMem("/dev/mem", refusing{0x100000, syscall.EPERM}, segs); !errors.As(err, &fe) || fe.Addr != 0x100000 ||
		!strings.Contains(err.Error(), "CONFIG_STRICT_DEVMEM") {
		t.Errorf("x86 STRICT_DEVMEM (first MiB zeros, then EPERM): %v", err)
	}
	if err := probeDevMem("/dev/mem", refusing{0, syscall.EFAULT}, segs); !errors.As(err, &fe) || fe.Addr != 0x1000 {
		t.Errorf("EFAULT on the first RAM page: %v", err)
	}
	if err := probeDevMem("/dev/mem", refusing{0x100000, syscall.EFAULT}, segs); err != nil {
		t.Errorf("highmem refused (EFAULT above high_memory): %v", err)
	}
}
