package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

func disRun(t *testing.T, k *kstructs.Kernel, line string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	s := NewSession(k, &out, &errb)
	err := s.Exec(context.Background(), line, false)
	return out.String(), err
}

func disJSON(t *testing.T, k *kstructs.Kernel, line string) []disInst {
	t.Helper()
	out, err := disRun(t, k, line+" --json")
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	var insts []disInst
	if err := json.Unmarshal([]byte(out), &insts); err != nil {
		t.Fatalf("%s --json: %v\n%s", line, err, out)
	}
	return insts
}

func hexAddr(t *testing.T, s string) uint64 {
	t.Helper()
	a, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return a
}

func TestDisCommand(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		sym, ok := k.Image.Lookup("schedule")
		if !ok || sym.Size == 0 {
			t.Fatal("no sized schedule symbol")
		}
		// The whole function: from its start to its end, every line labelled.
		out, err := disRun(t, k, "dis schedule")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		row := regexp.MustCompile(fmt.Sprintf(`^0x[0-9a-f]{%d} <schedule(\+\d+)?>:\t\S`, 2*k.PtrSize()))
		for _, l := range lines {
			if !row.MatchString(l) {
				t.Fatalf("bad dis line %q", l)
			}
		}
		if !strings.HasPrefix(lines[0], fmt.Sprintf("0x%0*x <schedule>:", 2*k.PtrSize(), sym.Addr)) {
			t.Errorf("first line %q", lines[0])
		}
		if !strings.Contains(out, "<__schedule") {
			t.Errorf("no call to __schedule symbolized:\n%s", out)
		}
		all := disJSON(t, k, "dis schedule")
		if len(all) != len(lines) {
			t.Fatalf("--json: %d instructions, text %d", len(all), len(lines))
		}
		last := all[len(all)-1]
		if end := hexAddr(t, last.Address) + uint64(len(last.Bytes)/2); end != sym.Addr+sym.Size {
			t.Errorf("listing ends at %#x, function at %#x", end, sym.Addr+sym.Size)
		}
		for i, in := range all {
			if in.Symbol != "schedule" || hexAddr(t, in.Address) != sym.Addr+in.Offset || in.Mnemonic == "" || in.Bytes == "" {
				t.Fatalf("instruction %d: %+v", i, in)
			}
		}

		// COUNT instructions.
		if got := disJSON(t, k, "dis schedule 5"); len(got) != 5 || got[4].Address != all[4].Address {
			t.Errorf("dis schedule 5: %d instructions", len(got))
		}
		if got := disJSON(t, k, "dis "+all[2].Address); len(got) != 1 || got[0].Address != all[2].Address {
			t.Errorf("dis ADDR: %+v", got)
		}

		// -r: from the start through the instruction holding ADDR, which
		// may point inside it.
		for _, a := range []uint64{hexAddr(t, all[3].Address), hexAddr(t, all[3].Address) + uint64(len(all[3].Bytes)/2) - 1} {
			got := disJSON(t, k, fmt.Sprintf("dis -r %#x", a))
			if len(got) != 4 || got[0].Address != all[0].Address || got[3].Address != all[3].Address {
				t.Errorf("dis -r %#x: %d instructions, want 4", a, len(got))
			}
		}
		// SYM+OFF is the ELF symbol's address plus OFF (decimal or hex).
		for _, a := range []string{fmt.Sprintf("schedule+%d", all[3].Offset), fmt.Sprintf("schedule+%#x", all[3].Offset)} {
			if got := disJSON(t, k, "dis -r "+a); len(got) != 4 {
				t.Errorf("dis -r %s: %d instructions, want 4", a, len(got))
			}
		}
		// -f: from ADDR to the end of the function.
		if got := disJSON(t, k, "dis -f "+all[2].Address); len(got) != len(all)-2 || got[len(got)-1].Address != last.Address {
			t.Errorf("dis -f: %d instructions, want %d", len(got), len(all)-2)
		}

		// -l: source lines.
		out, err = disRun(t, k, "dis -l schedule 4")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^\S+\.[ch]: \d+$`).MatchString(out) {
			t.Errorf("dis -l: no file: line\n%s", out)
		}
		if got := disJSON(t, k, "dis -l schedule 2"); got[0].File == "" || got[0].Line == 0 {
			t.Errorf("dis -l --json: no file/line in %+v", got[0])
		}

		// --json has the documented fields only.
		doc := map[string]bool{}
		for _, fl := range JSONFields()["dis"] {
			doc[fl.Name] = true
		}
		raw, _ := disRun(t, k, "dis -l schedule 3 --json")
		var objs []map[string]any
		if err := json.Unmarshal([]byte(raw), &objs); err != nil {
			t.Fatal(err)
		}
		for k := range objs[0] {
			if !doc[k] {
				t.Errorf("undocumented --json field %q", k)
			}
		}

		// A weak function (nm type W) is a function too.
		for _, w := range []string{"arch_get_memory_phys_device", "module_arch_freeing_init", "arch_cpu_idle_dead"} {
			if ws, ok := k.Image.Lookup(w); ok && ws.Kind == 'W' && ws.Size > 0 {
				if _, err := disRun(t, k, "dis "+w); err != nil {
					t.Errorf("dis %s (weak): %v", w, err)
				}
				break
			}
		}

		// Bad input: clear errors, never a panic.
		for line, want := range map[string]string{
			"dis no_such_symbol_xyz":  "no such symbol",
			"dis jiffies":             "not a function",
			"dis -f 0x10":             "not in any function",
			"dis -r 0x10":             "not in any function",
			"dis 0x1000 4":            "cannot read kernel text at 0x1000",
			"dis schedule 0":          "not a positive number",
			"dis -r schedule 3":       "take no COUNT",
			"dis -r -f schedule":      "exclude each other",
			"dis":                     "usage",
			"dis schedule 99999999":   "too large",
			"dis schedule+4 notcount": "not a positive number",
		} {
			_, err := disRun(t, k, line)
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "internal error") {
				t.Errorf("%s: error %v, want %q", line, err, want)
			}
		}
	})
}
