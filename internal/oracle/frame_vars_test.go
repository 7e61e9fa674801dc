package oracle_test

// bt --args/--locals against gdb: gdb-multiarch reads QEMU's paging dump
// (one thread per CPU) with the same vmlinux and prints `bt full` for the
// panicking CPU's thread; every argument and local gdb prints with a value
// must have the same value in kinspect's frames of the panic task.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/dwarfx"
	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
)

func TestFrameVarsAgainstGDB(t *testing.T) {
	run := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		outs, err := oracle.GDBDump(t, f, []string{"thread apply all bt full"})
		if err != nil {
			t.Fatal(err)
		}
		pt, err := k.PanicTask()
		if err != nil {
			t.Fatal(err)
		}
		gframes := gdbPanicThread(outs[0], pt.CPU)
		if len(gframes) == 0 {
			t.Fatalf("gdb shows no thread with a panic frame nor a thread for cpu %d:\n%s", pt.CPU, outs[0])
		}
		var c varCounts
		c.compareTask(t, k, pt.Addr, gframes)
		t.Logf("%s panic task: %s", ktest.Name(f), c.summary(len(gframes)))
		// gdb's trace of the panic CPU is what the dump caught it in: on
		// arm and arm64 often only panic's delay loop, with no variable
		// printed, or only ones kinspect shows as unavailable (listed
		// above as gdb-only). When gdb printed values kinspect also has,
		// at least one must have matched; disagreements always fail.
		if c.gdbValues > len(c.gdbOnly) && c.match == 0 {
			t.Errorf("no value of gdb's matched")
		}
		// The other CPUs' active tasks (stopped by the panic's IPI): gdb's
		// thread N is CPU N-1.
		var o varCounts
		n := 0
		for cpu := 0; cpu < k.NrCPUs(); cpu++ {
			at, err := k.ActiveTask(cpu)
			if cpu == pt.CPU || err != nil {
				continue
			}
			if g := gdbThread(outs[0], cpu); len(g) > 0 {
				n += len(g)
				o.compareTask(t, k, at.Addr, g)
			}
		}
		t.Logf("%s other CPUs: %s", ktest.Name(f), o.summary(n))
	}
	ktest.ForEach(t, run)
	ktest.ForEachExtra(t, run)
}

// compareTask compares gdb's frames of a task with kinspect's.
func (c *varCounts) compareTask(t *testing.T, k *kstructs.Kernel, task uint64, gframes []gdbFrame) {
	bt, err := k.Backtrace(task)
	if err != nil {
		t.Fatal(err)
	}
	fv, err := k.BacktraceVars(bt)
	if err != nil {
		t.Fatal(err)
	}
	cur := 0
	for _, g := range gframes {
		i := findFrame(fv, cur, g.function)
		if i < 0 {
			c.framesMissing = append(c.framesMissing, g.function)
			continue
		}
		cur = i + 1
		for _, gv := range g.vars {
			c.compare(t, k, g.function, gv, fv[i].Vars)
		}
	}
}

func (c *varCounts) summary(frames int) string {
	return fmt.Sprintf("gdb frames %d (not in kinspect's trace: %v); values gdb prints: %d, same in kinspect: %d, disagree: %d; "+
		"gdb-only: %d %v; kinspect-only (gdb <optimized out>): %d %v; not numeric (structs, strings): %d",
		frames, c.framesMissing, c.gdbValues, c.match, c.disagree, len(c.gdbOnly), c.gdbOnly, len(c.kinspectOnly), c.kinspectOnly, c.other)
}

// gdbThread returns the frames of cpu's thread.
func gdbThread(out string, cpu int) []gdbFrame {
	for _, block := range strings.Split(out, "\nThread ")[1:] {
		if strings.HasPrefix(block, fmt.Sprintf("%d (LWP %d)", cpu+1, cpu+1)) {
			return parseGDBFrames(block)
		}
	}
	return nil
}

type gdbFrame struct {
	function string
	vars     []gdbVar
}

type gdbVar struct{ name, value string }

// gdbPanicThread returns the frames of the thread whose backtrace has a
// panic frame. On arm and arm64 gdb stops unwinding in the delay loop
// panic spins in ("previous frame identical to this frame"): there it is
// the thread of the panic task's cpu (QEMU writes one NT_PRSTATUS per CPU
// in order, gdb numbers them LWP 1, 2, ...).
func gdbPanicThread(out string, cpu int) []gdbFrame {
	for _, block := range strings.Split(out, "\nThread ")[1:] {
		frames := parseGDBFrames(block)
		for _, fr := range frames {
			if fr.function == "panic" {
				return frames
			}
		}
	}
	return gdbThread(out, cpu)
}

func parseGDBFrames(block string) []gdbFrame {
	var frames []gdbFrame
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			_, rest, _ := strings.Cut(line, " ")
			rest = strings.TrimSpace(rest)
			if strings.HasPrefix(rest, "0x") {
				if _, r, ok := strings.Cut(rest, " in "); ok {
					rest = r
				}
			}
			name, args, ok := strings.Cut(rest, " (")
			if !ok {
				continue
			}
			fr := gdbFrame{function: name}
			if end := strings.LastIndex(args, ")"); end >= 0 {
				for _, a := range splitGDBArgs(args[:end]) {
					n, v, _ := strings.Cut(a, "=")
					fr.vars = append(fr.vars, gdbVar{n, v})
				}
			}
			frames = append(frames, fr)
		case strings.HasPrefix(line, "        ") && len(frames) > 0:
			n, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
			if ok {
				fr := &frames[len(frames)-1]
				fr.vars = append(fr.vars, gdbVar{n, v})
			}
		}
	}
	return frames
}

// splitGDBArgs splits "a=1, b={x = 1, y = 2}, c=0x1 \"s, t\"" at the
// top-level commas.
func splitGDBArgs(s string) []string {
	var out []string
	depth, quote, start := 0, byte(0), 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '{' || ch == '(' || ch == '<' || ch == '[':
			depth++
		case ch == '}' || ch == ')' || ch == '>' || ch == ']':
			depth--
		case ch == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

// findFrame finds the frame of function name from index cur on; GCC's
// clones (.cold, .isra.0, .constprop.0) are the same function to gdb.
func findFrame(fv []kstructs.FrameVars, cur int, name string) int {
	for i := cur; i < len(fv); i++ {
		fn, _, _ := strings.Cut(fv[i].Frame.Function, ".")
		if fn == name {
			return i
		}
	}
	return -1
}

// gdbNumber reads a value gdb printed as a number: 42, -5, 0x1f <sym>,
// (type *) 0x1f, 99 'c', true.
func gdbNumber(v string) (uint64, bool, bool) {
	if i := strings.Index(v, "@entry="); i >= 0 && !strings.ContainsAny(v[:i], " {(") {
		v = v[i+len("@entry="):]
	}
	if strings.HasPrefix(v, "(") {
		if i := strings.Index(v, ") "); i >= 0 {
			v = v[i+2:]
		}
	}
	switch v {
	case "true":
		return 1, false, true
	case "false":
		return 0, false, true
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, false, false
	}
	if strings.HasPrefix(f[0], "0x") {
		n, err := strconv.ParseUint(f[0][2:], 16, 64)
		return n, false, err == nil
	}
	if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
		return uint64(n), n < 0, true
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	return n, false, err == nil
}

type varCounts struct {
	gdbValues, match, disagree, other    int
	gdbOnly, framesMissing, kinspectOnly []string
}

func (c *varCounts) compare(t *testing.T, k *kstructs.Kernel, fn string, gv gdbVar, vars []dwarfx.FrameVar) {
	if strings.Contains(gv.name, "@") {
		return // name@entry: the entry value gdb found through the call site
	}
	var cands []dwarfx.FrameVar
	for _, v := range vars {
		if v.Name == gv.name {
			cands = append(cands, v)
		}
	}
	want, signed, numeric := gdbNumber(gv.value)
	if strings.HasPrefix(gv.value, "<optimized out>") {
		for _, v := range cands {
			if v.Value.IsValid() {
				c.kinspectOnly = append(c.kinspectOnly, fn+"."+gv.name)
				return
			}
		}
		return
	}
	if !numeric {
		c.other++
		return
	}
	c.gdbValues++
	var got []string
	for _, v := range cands {
		if !v.Value.IsValid() {
			got = append(got, v.Status)
			continue
		}
		n, err := v.Value.Uint(k)
		if signed {
			var i int64
			i, err = v.Value.Int(k)
			n = uint64(i)
		}
		if err == nil && maskTo(n, v.Value.Size()) == maskTo(want, v.Value.Size()) {
			c.match++
			return
		}
		got = append(got, strconv.FormatUint(n, 16))
	}
	if len(got) == len(cands) && len(cands) > 0 && !hasNumber(got, cands) {
		c.gdbOnly = append(c.gdbOnly, fn+"."+gv.name+"="+strings.Join(got, "|"))
		return
	}
	if len(cands) == 0 {
		c.gdbOnly = append(c.gdbOnly, fn+"."+gv.name+"=<absent>")
		return
	}
	c.disagree++
	t.Errorf("%s: %s: gdb %s, kinspect %v", fn, gv.name, gv.value, got)
}

func hasNumber(got []string, cands []dwarfx.FrameVar) bool {
	for _, v := range cands {
		if v.Value.IsValid() {
			return true
		}
	}
	return false
}

func maskTo(v uint64, size int64) uint64 {
	if size > 0 && size < 8 {
		return v & (1<<(8*uint(size)) - 1)
	}
	return v
}
