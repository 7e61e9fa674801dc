package oracle_test

// irq and irq -s compared with crash 8.0.6 on the same dump (descriptor,
// irqaction and name of every irq; every count of every cpu), and with the
// guest's /proc/interrupts.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// irqCommands are run by crash with the target's other commands.
var irqCommands = []string{"irq", "irq -s"}

var (
	irqLineRE  = regexp.MustCompile(`^\s*(\d+)\s+([0-9a-f]+|\(unused\))\s+([0-9a-f]+|\(unused\))\s*(?:"(.*)")?\s*$`)
	irqShareRE = regexp.MustCompile(`^\s+([0-9a-f]+)\s+"(.*)"\s*$`)
)

// parseIRQList reads crash's `irq` table: irq → "desc action name" per
// handler, shared handlers on continuation lines.
func parseIRQList(s string) map[int][]string {
	out := map[int][]string{}
	last := -1
	for _, l := range strings.Split(s, "\n") {
		if m := irqLineRE.FindStringSubmatch(l); m != nil {
			last, _ = strconv.Atoi(m[1])
			out[last] = append(out[last], m[2]+" "+m[3]+" "+m[4])
		} else if m := irqShareRE.FindStringSubmatch(l); m != nil && last >= 0 {
			out[last] = append(out[last], m[1]+" "+m[2])
		}
	}
	return out
}

var irqStatRE = regexp.MustCompile(`^\s*(\d+):((?:\s+\d+)+)\s+(.*?)\s*$`)

// parseIRQStats reads `irq -s` or /proc/interrupts rows with a number:
// irq → counts, and the rest of the line (chip, type, names).
func parseIRQStats(s string, ncpu int) (map[int][]uint64, map[int]string) {
	counts, rest := map[int][]uint64{}, map[int]string{}
	for _, l := range strings.Split(s, "\n") {
		m := irqStatRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if len(f) < ncpu {
			continue
		}
		irq, _ := strconv.Atoi(m[1])
		for _, x := range f[:ncpu] {
			n, _ := strconv.ParseUint(x, 10, 64)
			counts[irq] = append(counts[irq], n)
		}
		rest[irq] = strings.TrimSpace(strings.Join(f[ncpu:], " ") + " " + m[3])
	}
	return counts, rest
}

func TestIRQMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) { irqMatchesCrash(t, open(t, fx.Arch, fx.Suite)) })
	}
	forKinds(t, irqMatchesCrash)
}

func irqMatchesCrash(t *testing.T, tg *target) {
	c, k := tg.both(t, "irq")
	want, got := parseIRQList(c), parseIRQList(k)
	if len(want) == 0 {
		t.Fatalf("no irq lines in crash's output:\n%s", c)
	}
	for irq, w := range want {
		if strings.Join(got[irq], "|") != strings.Join(w, "|") {
			t.Errorf("irq %d: crash %q, kinspect %q", irq, w, got[irq])
		}
	}
	if len(got) != len(want) {
		t.Errorf("crash lists %d irqs, kinspect %d", len(want), len(got))
	}
	c, k = tg.both(t, "irq -s")
	ncpu := tg.k.NrCPUs()
	wc, _ := parseIRQStats(c, ncpu)
	gc, _ := parseIRQStats(k, ncpu)
	for irq, w := range wc {
		if fmtU(w) != fmtU(gc[irq]) {
			t.Errorf("irq -s %d: crash counts %v, kinspect %v", irq, w, gc[irq])
		}
	}
	if len(wc) == 0 || len(gc) != len(wc) {
		t.Errorf("irq -s: crash has %d rows, kinspect %d:\n%s\n---\n%s", len(wc), len(gc), c, k)
	}
	t.Logf("%d irqs and %d count rows as crash", len(want), len(wc))
}

func fmtU(v []uint64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(x, 10)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestIRQMatchesGuest: every numbered line of the guest's /proc/interrupts
// is an irq kinspect lists, with the same handler names and, on every
// cpu, at least the count the guest saw (counts only grow until the
// crash); and every irq /proc/interrupts shows (IRQ.Shown) is in the
// guest's file.
func TestIRQMatchesGuest(t *testing.T) {
	ktest.ForEachAll(t, irqMatchesGuest)
	ktest.ForEachKind(t, fixture.ModuleKinds, irqMatchesGuest)
}

func irqMatchesGuest(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
	{
		gt := strings.Join(f.GT.Files["/proc/interrupts"], "\n")
		if gt == "" {
			t.Fatal("the guest printed no /proc/interrupts")
		}
		tab, err := k.IRQs()
		if err != nil {
			t.Fatal(err)
		}
		counts, rest := parseIRQStats(gt, len(tab.CPUs))
		byIRQ := map[int]kstructs.IRQ{}
		for _, q := range tab.IRQs {
			byIRQ[q.IRQ] = q
		}
		for irq, wc := range counts {
			q, ok := byIRQ[irq]
			if !ok {
				t.Errorf("irq %d of the guest's /proc/interrupts: no descriptor", irq)
				continue
			}
			var names []string
			for _, a := range q.Actions {
				names = append(names, a.Name)
			}
			if !strings.HasSuffix(rest[irq], strings.Join(names, ", ")) || len(names) == 0 {
				t.Errorf("irq %d: guest %q, kinspect handlers %q", irq, rest[irq], names)
			}
			for i := range wc {
				if i >= len(q.Counts) || q.Counts[i] < wc[i] {
					t.Errorf("irq %d: guest counts %v, kinspect %v (fewer at the crash than at the snapshot)", irq, wc, q.Counts)
					break
				}
			}
		}
		shown := 0
		for _, q := range tab.IRQs {
			if q.Shown() {
				shown++
				if _, ok := counts[q.IRQ]; !ok {
					t.Errorf("irq %d (%+v) is shown but is not in the guest's /proc/interrupts", q.IRQ, q)
				}
			}
		}
		t.Logf("%d lines of /proc/interrupts, %d irqs shown", len(counts), shown)
	}
}
