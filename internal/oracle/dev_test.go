package oracle_test

// dev compared with crash 8.0.6 on the same dump: every character and
// block device row (major, name, cdev/gendisk, operations).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

var devCommands = []string{"dev", "net", "dev -p"}

// netSocketCommands: net -s of the workload's file holder (a socket pair).
func netSocketCommands(f *fixture.Fixture) []string {
	return []string{fmt.Sprintf("net -s %d", f.GT.RolePID("files"))}
}

var devRowRE = regexp.MustCompile(`^\s*(\d+)\s+(\S+)\s+([0-9a-f]+|\(none\))\s*(\S*)\s*$`)

// devRows splits `dev` output into its CHRDEV and BLKDEV rows.
func devRows(s string) map[string][]string {
	out := map[string][]string{}
	sec := ""
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "CHRDEV"):
			sec = "chr"
		case strings.HasPrefix(l, "BLKDEV"):
			sec = "blk"
		default:
			if m := devRowRE.FindStringSubmatch(l); m != nil && sec != "" {
				out[sec] = append(out[sec], strings.Join(m[1:], " "))
			}
		}
	}
	return out
}

func TestDevMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) { devMatchesCrash(t, open(t, fx.Arch, fx.Suite)) })
	}
	forKinds(t, devMatchesCrash)
}

func devMatchesCrash(t *testing.T, tg *target) {
	co, ko := tg.both(t, "dev")
	want, got := devRows(co), devRows(ko)
	if len(want["chr"]) == 0 {
		t.Fatalf("no character devices in crash's output:\n%s", co)
	}
	listed := 0
	for _, sec := range []string{"chr", "blk"} {
		for i := range want[sec] {
			if i < len(got[sec]) && moduleDataName(tg, want[sec][i], got[sec][i]) {
				got[sec][i] = want[sec][i]
				listed++
			}
		}
		if strings.Join(want[sec], "\n") != strings.Join(got[sec], "\n") {
			t.Errorf("%s:\n crash    %q\n kinspect %q", sec, want[sec], got[sec])
		}
	}
	t.Logf("%d character and %d block device rows as crash (%d operations in module data, listed)", len(want["chr"]), len(want["blk"]), listed)
}

var symOffRE = regexp.MustCompile(`^[A-Za-z_]\w*\+\d+$`)

// moduleDataName is a listed crash limitation: an operations table in a
// module's data (the loop module's lo_fops) has no symbol in the module's
// own symbol table (its kallsyms keep no data symbols), and crash names it
// by the preceding text symbol and a large offset (cleanup_module+3200);
// kinspect prints the address. The rows must agree otherwise, and the
// address must lie in a loaded module.
func moduleDataName(tg *target, crash, kin string) bool {
	c, k := strings.Fields(crash), strings.Fields(kin)
	if len(c) != 4 || len(k) != 4 || strings.Join(c[:3], " ") != strings.Join(k[:3], " ") || !symOffRE.MatchString(c[3]) {
		return false
	}
	a, err := strconv.ParseUint(k[3], 16, 64)
	return err == nil && tg.k.Image.ModuleOf(a) != ""
}

var netRowRE = regexp.MustCompile(`^\s*([0-9a-f]{8,16})\s+(\S+)\s*(.*?)\s*$`)

// TestNetMatchesCrash: net lists the same devices, names and addresses.
func TestNetMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) {
			tg := open(t, fx.Arch, fx.Suite)
			co, ko := tg.both(t, "net")
			rows := func(s string) []string {
				var out []string
				for _, l := range strings.Split(s, "\n") {
					if m := netRowRE.FindStringSubmatch(l); m != nil {
						out = append(out, strings.Join(m[1:], " "))
					}
				}
				return out
			}
			want, got := rows(co), rows(ko)
			if len(want) == 0 || strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Errorf("net:\n crash    %q\n kinspect %q", want, got)
			}
			t.Logf("%d devices as crash", len(want))
		})
	}
}

var pciRowRE = regexp.MustCompile(`^\s+([0-9a-f]{8,16})\s+([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s+([0-9a-f]{4})\s+([0-9a-f]+:[0-9a-f]+)\s*(.*?)\s*$`)

// TestPCIMatchesCrash: dev -p lists the same devices (pci_dev, name,
// class, vendor:device, bridge) on the same buses. Port types: crash
// reads pcie_flags_reg without checking that the device has a PCI Express
// capability, so conventional PCI devices show PCI_EXP_TYPE_ENDPOINT (0);
// kinspect leaves their type empty.
func TestPCIMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) {
			tg := open(t, fx.Arch, fx.Suite)
			co, ko := tg.both(t, "dev -p")
			rows := func(s string) ([]string, map[string]string) {
				var keys []string
				types := map[string]string{}
				for _, l := range strings.Split(s, "\n") {
					if m := pciRowRE.FindStringSubmatch(l); m != nil {
						k := strings.Join(m[1:5], " ")
						keys = append(keys, k)
						types[k] = m[5]
					}
				}
				return keys, types
			}
			want, wt := rows(co)
			got, gt := rows(ko)
			if len(want) == 0 || strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Errorf("dev -p:\n crash    %q\n kinspect %q", want, got)
			}
			for k, c := range wt {
				if g := gt[k]; g != c && g != strings.TrimSpace(strings.TrimPrefix(c, "ENDPOINT")) {
					t.Errorf("dev -p %s: crash type %q, kinspect %q", k, c, g)
				}
			}
			t.Logf("%d PCI devices as crash", len(want))
		})
	}
}

var sockRowRE = regexp.MustCompile(`^\s*(\d+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\S+)\s*(.*?)\s*$`)

// TestNetSocketsMatchCrash: net -s lists the same sockets (fd, socket,
// sock, family:type, ends) of the workload's socket pair holder.
func TestNetSocketsMatchCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) {
			tg := open(t, fx.Arch, fx.Suite)
			cmd := netSocketCommands(tg.f)[0]
			co, ko := tg.both(t, cmd)
			rows := func(s string) []string {
				var out []string
				for _, l := range strings.Split(s, "\n") {
					if m := sockRowRE.FindStringSubmatch(l); m != nil {
						out = append(out, strings.Join(m[1:], " "))
					}
				}
				return out
			}
			want, got := rows(co), rows(ko)
			if len(want) < 2 || strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Errorf("%s:\n crash    %q\n kinspect %q", cmd, want, got)
			}
			t.Logf("%d sockets as crash", len(want))
		})
	}
}
