package oracle_test

// bt's options against independent oracles on the panic task of every
// fixture: crash 8.0.6 for the frames (-s: function+offset, pc and stack
// slot), the raw stack words (-f) and the text symbols found on the stack
// (-t); binutils' addr2line -f -i on the same vmlinux for the source lines
// and inline chains (-l).
//
// kinspect starts a trace where the CPU really was (the panicking CPU
// spins in delay_tsc/cpu_relax inside panic) and shows inlined functions
// as frames; crash starts at the frame it finds by searching the stack and
// shows no inline frames. So crash's frames must be kinspect's non-inline
// frames from crash's first one on, exactly.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
)

// crashNoPanicFrames lists where crash 8.0.6 itself cannot unwind the panic
// task of QEMU's dumps, and why; there only kinspect's own trace and the
// addr2line check run.
var crashNoPanicFrames = map[string]string{
	"arm64": "crash finds no NT_PRSTATUS for any CPU in QEMU's ELF dump (\"cannot find NT_PRSTATUS note\"): no registers",
	"arm":   "crash has no unwind table for the panic task (\"cannot find unwind table\")",
}

var (
	btSFrame = regexp.MustCompile(`^\s*#\d+ \[([0-9a-f]+)\] (\S+?)\+(\d+) at ([0-9a-f]+)`)
	btARMS   = regexp.MustCompile(`^\s*#\d+ \[<([0-9a-f]+)>\] \(([^+)\s]+)(?:\+(\d+))?( \[\S+\])?\) from \[<[0-9a-f]+>\]`)
	btWords  = regexp.MustCompile(`^\s+([0-9a-f]+): ((?:[0-9a-f]+ ?)+)$`)
	btText   = regexp.MustCompile(`^\s+\[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)`)
)

type crashFrame struct {
	sp, pc uint64
	fn     string
	off    uint64
}

func parseCrashS(out string) []crashFrame {
	var fs []crashFrame
	for _, l := range strings.Split(out, "\n") {
		if g := btSFrame.FindStringSubmatch(l); g != nil {
			sp, _ := strconv.ParseUint(g[1], 16, 64)
			off, _ := strconv.ParseUint(g[3], 10, 64)
			pc, _ := strconv.ParseUint(g[4], 16, 64)
			fs = append(fs, crashFrame{sp: sp, pc: pc, fn: g[2], off: off})
		} else if g := btARMS.FindStringSubmatch(l); g != nil {
			pc, _ := strconv.ParseUint(g[1], 16, 64)
			off, _ := strconv.ParseUint(g[3], 10, 64)
			fs = append(fs, crashFrame{pc: pc, fn: g[2], off: off})
		}
	}
	return fs
}

func (tg *target) panicTrace(t *testing.T) (*kstructs.Task, *kstructs.Backtrace) {
	t.Helper()
	pt, err := tg.k.PanicTask()
	if err != nil {
		t.Fatal(err)
	}
	bt, err := tg.k.Backtrace(pt.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return pt, bt
}

func TestBTOptionsMatchCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		pt, bt := tg.panicTrace(t)
		t.Run("s", func(t *testing.T) {
			cf := parseCrashS(tg.crash(t, fmt.Sprintf("bt -s %d", pt.PID)))
			if len(cf) == 0 {
				why, listed := crashNoPanicFrames[tg.arch]
				if !listed {
					t.Fatalf("crash printed no frame for the panic task and %s is not a listed exception", tg.arch)
				}
				t.Skipf("crash cannot unwind the panic task on %s: %s", tg.arch, why)
			}
			var kf []kstructs.Frame
			for _, f := range bt.Frames {
				if !f.Inline && (len(kf) > 0 || f.Function == cf[0].fn) {
					kf = append(kf, f)
				}
			}
			var names, knames []string
			for _, c := range cf {
				names = append(names, c.fn)
			}
			for _, k := range kf {
				knames = append(knames, k.Function)
			}
			noreturn := len(cf) < len(kf) && tg.stopsAfterNoreturn(names, knames)
			early := len(cf) < len(kf) && crashPanicStopsEarly[tg.arch] != "" &&
				slices.Equal(tg.canon(names), tg.canon(knames[:len(cf)]))
			if early {
				t.Logf("crash stops after %d frames of the panic task (%s)", len(cf), crashPanicStopsEarly[tg.arch])
			} else if noreturn {
				t.Logf("crash names the return address after %s's noreturn call %s and stops after %d frames", knames[len(cf)-1], names[len(cf)-1], len(cf))
			} else if len(kf) != len(cf) {
				t.Errorf("%d frames from %s on, crash %d:\nkinspect %v\ncrash    %v", len(kf), cf[0].fn, len(cf), kf, cf)
			}
			for i := 0; i < min(len(kf), len(cf)); i++ {
				k, c := kf[i], cf[i]
				if noreturn && i == len(cf)-1 && k.PC == c.pc {
					continue // the same pc, named after the next function by crash
				}
				if k.Function != c.fn || k.Offset != c.off || k.PC != c.pc || c.sp != 0 && k.SP != c.sp {
					t.Errorf("frame %d: kinspect %s+%d at %#x [%#x], crash %s+%d at %#x [%#x]",
						i, k.Function, k.Offset, k.PC, k.SP, c.fn, c.off, c.pc, c.sp)
				}
			}
		})
		t.Run("f", func(t *testing.T) {
			c := tg.crash(t, fmt.Sprintf("bt -f %d", pt.PID))
			cw := stackWords(c)
			if len(cw) == 0 {
				if why, ok := crashNoPanicFrames[tg.arch]; ok {
					t.Skipf("crash shows no frames on %s: %s", tg.arch, why)
				}
				t.Fatalf("crash printed no stack words:\n%s", c)
			}
			kw := stackWords(tg.kinspect(t, fmt.Sprintf("bt -f %d", pt.PID)))
			missing := 0
			for a, v := range cw {
				if kv, ok := kw[a]; !ok || kv != v {
					if missing < 5 {
						t.Errorf("stack word at %#x: crash %#x, kinspect %#x (shown %v)", a, v, kv, ok)
					}
					missing++
				}
			}
			t.Logf("%d stack words shown by crash, %d not shown the same by kinspect", len(cw), missing)
		})
		t.Run("t", func(t *testing.T) {
			c := textLines(tg.crash(t, fmt.Sprintf("bt -t %d", pt.PID)))
			if len(c) == 0 {
				if why, ok := crashNoPanicFrames[tg.arch]; ok {
					t.Skipf("crash shows nothing on %s: %s", tg.arch, why)
				}
				t.Fatal("crash printed no text symbols")
			}
			k := textLines(tg.kinspect(t, fmt.Sprintf("bt -t %d", pt.PID)))
			if !isSubsequence(c, k) {
				t.Errorf("crash's stack text symbols are not all in kinspect's, in order:\nkinspect %v\ncrash    %v", k, c)
			}
		})
		t.Run("l", func(t *testing.T) { compareAddr2line(t, tg, bt) })
	})
}

// stackWords maps each stack address bt -f shows to its word.
func stackWords(out string) map[uint64]uint64 {
	m := map[uint64]uint64{}
	for _, l := range strings.Split(out, "\n") {
		g := btWords.FindStringSubmatch(strings.TrimRight(l, " "))
		if g == nil {
			continue
		}
		a, _ := strconv.ParseUint(g[1], 16, 64)
		for _, w := range strings.Fields(g[2]) {
			v, _ := strconv.ParseUint(w, 16, 64)
			m[a] = v
			a += uint64(len(w) / 2)
		}
	}
	return m
}

// textLines are bt -t's "[slot] symbol at pc" lines as "[slot] pc": the
// symbol is left out, since two aliases of one address (arm's
// ret_fast_syscall and __ret_fast_syscall) name the same text.
func textLines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if g := btText.FindStringSubmatch(l); g != nil {
			ls = append(ls, "["+g[1]+"] "+g[3])
		}
	}
	return ls
}

// addr2line is binutils' for the fixture's arch.
var addr2line = map[string]string{"x86_64": "addr2line", "arm64": "aarch64-linux-gnu-addr2line", "arm": "arm-linux-gnueabihf-addr2line"}

// kernelOffset is KASLR's offset as the panicking kernel printed it
// ("Kernel Offset: 0x6800000 from 0xffffffff81000000"); 0 when it printed
// none (32-bit ARM has no KASLR).
func kernelOffset(t *testing.T, f *fixture.Fixture) uint64 {
	t.Helper()
	fh, err := os.Open(f.Path("console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "Kernel Offset: "); ok {
			v, err := strconv.ParseUint(strings.TrimPrefix(strings.Fields(rest)[0], "0x"), 16, 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// compareAddr2line checks bt -l's source lines and inline chains against
// addr2line -f -i at each frame's PC (PC-1 for a return address: the call,
// not the instruction after it, as gdb does).
func compareAddr2line(t *testing.T, tg *target, bt *kstructs.Backtrace) {
	tool := addr2line[tg.arch]
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not found (make deps installs the cross binutils): %v", tool, err)
	}
	frames := tg.k.SymbolizeFrames(bt.Frames)
	off := kernelOffset(t, tg.f)
	// A group is a frame with the frames inlined into it, which kinspect
	// lists first (innermost first) at the same PC.
	type group struct {
		pc    uint64
		chain []string // "function file:line", innermost first
	}
	var groups []*group
	var cur *group
	var lookups []string
	skipped := 0
	for _, f := range frames {
		if tg.arch == "arm" && f.PC >= 0xffff0000 {
			// arm's vector page holds one of three vector tables all
			// linked at 0xffff0000 (__vectors_start and the two
			// spectre-BHB variants): the DWARF line of an address there
			// depends on which one the kernel copied, which no line
			// table says.
			skipped++
			continue
		}
		if cur == nil {
			cur = &group{pc: f.PC}
			pc := f.PC - off
			if f.IsReturn {
				pc-- // the call, not the instruction after it
			}
			lookups = append(lookups, fmt.Sprintf("%#x", pc))
		}
		cur.chain = append(cur.chain, fmt.Sprintf("%s %s:%d", dwarfName(f.Function), baseFile(f.File), f.Line))
		if !f.Inline {
			groups = append(groups, cur)
			cur = nil
		}
	}
	out, err := exec.Command(tool, append([]string{"-a", "-f", "-i", "-e", tg.f.Vmlinux()}, lookups...)...).Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	chains := parseAddr2line(string(out))
	if len(chains) != len(groups) {
		t.Fatalf("%s printed %d addresses for %d", tool, len(chains), len(groups))
	}
	bad := 0
	noLines := 0
	for i, g := range groups {
		if len(chains[i]) > 0 && strings.Contains(chains[i][len(chains[i])-1], " ??:") {
			// No line information at all (arm's entry code): addr2line
			// falls back to the nearest symbol; nothing to compare.
			noLines++
			continue
		}
		// Assembly has no DWARF subprogram: addr2line names it "??" and
		// only its file and line are compared.
		for j, c := range chains[i] {
			if strings.HasPrefix(c, "?? ") && j < len(g.chain) {
				_, loc, _ := strings.Cut(g.chain[j], " ")
				g.chain[j] = "?? " + loc
			}
		}
		if strings.Join(g.chain, " <- ") != strings.Join(chains[i], " <- ") {
			bad++
			t.Errorf("frame at %#x: kinspect %v, %s %v", g.pc, g.chain, tool, chains[i])
		}
	}
	t.Logf("%d frame PCs (%d frames with the inlined ones) compared with %s, %d differ, %d without line information, %d in arm's vector page not compared",
		len(groups)-noLines, len(frames)-skipped, tool, bad, noLines, skipped)
}

// parseAddr2line splits `addr2line -a -f -i` output (an address line, then
// a function line and a file:line line per inline level) into one chain
// per address: "function file:line", innermost first, files by base name.
func parseAddr2line(out string) [][]string {
	var chains [][]string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "0x") {
			chains = append(chains, nil)
			continue
		}
		if len(chains) == 0 || i+1 >= len(lines) {
			break
		}
		fn := lines[i]
		loc, _, _ := strings.Cut(lines[i+1], " (discriminator")
		file, line, _ := strings.Cut(loc, ":")
		chains[len(chains)-1] = append(chains[len(chains)-1], fmt.Sprintf("%s %s:%s", fn, baseFile(file), line))
		i++
	}
	return chains
}

// dwarfName is the DWARF name of a text symbol: GCC's clones and split
// parts (sym.cold, sym.part.0, sym.isra.0, sym.constprop.0) are described
// by their origin's DW_TAG_subprogram, which addr2line names.
func dwarfName(sym string) string {
	name, _, _ := strings.Cut(sym, ".")
	return name
}

func baseFile(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}
