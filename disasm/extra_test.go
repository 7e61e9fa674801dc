package disasm_test

// The supplement (extra.go) against objdump over whole kernels: every
// distinct word of the fixture kernels' text that x/arch rejects is
// listed by objdump (as raw binary, so without symbols) and by the
// supplement; wherever the supplement decodes a word, objdump must name
// the same instruction.

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/disasm"
	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
)

// objdumpMachine is objdump's -m for raw binary input.
var objdumpMachine = map[string]string{"arm": "arm", "arm64": "aarch64"}

func TestExtraAgainstObjdump(t *testing.T) {
	for _, k := range append([]ktest.Extra{{Arch: "arm", Suite: fixture.DefaultSuite}, {Arch: "arm64", Suite: fixture.DefaultSuite}}, ktest.Extras...) {
		if objdumpMachine[k.Arch] == "" {
			continue
		}
		t.Run(k.Arch+"-"+k.Suite, func(t *testing.T) { testExtra(t, k.Arch, k.Suite) })
	}
}

func testExtra(t *testing.T, arch, suite string) {
	f := fixture.RequireSuite(t, arch, suite)
	counts := rejectedWords(t, arch, f.Vmlinux())
	words := make([]uint32, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	slices.Sort(words)
	theirs := objdumpWords(t, arch, words)
	var decoded, agree, opsAgree, left int
	diffs, gaps, example := map[string]int{}, map[string]int{}, map[string]string{}
	for i, w := range words {
		_, text, ok := disasm.ExtraWord(disasm.Arch(arch), w)
		o := theirs[uint64(4*i)]
		if !ok {
			left += counts[w]
			gaps[o.mnem] += counts[w]
			if example[o.mnem] == "" {
				example[o.mnem] = fmt.Sprintf("%08x %q", w, o.text)
			}
			continue
		}
		decoded += counts[w]
		mine, ops, _ := strings.Cut(text, " ")
		if !sameMnemonic(arch, mine, o.mnem) {
			diffs[fmt.Sprintf("%08x: objdump %q, supplement %q", w, o.text, text)] += counts[w]
			continue
		}
		agree += counts[w]
		if mine != o.mnem {
			continue // an alias: objdump's operands are another syntax's
		}
		theirOps := normOperands(strings.TrimSpace(strings.TrimPrefix(strings.Join(strings.Fields(o.text), " "), o.mnem)))
		if normOperands(ops) == theirOps {
			opsAgree += counts[w]
		} else {
			diffs[fmt.Sprintf("%08x: operands: objdump %q, supplement %q", w, o.text, text)] += counts[w]
		}
	}
	t.Logf("%s: %d distinct words x/arch rejects; the supplement decodes %d occurrences: %d with objdump's mnemonic, %d with its operands too; %d left undecoded",
		arch, len(words), decoded, agree, opsAgree, left)
	for _, p := range topPairs(gaps, 15) {
		m := p[strings.IndexByte(p, ' ')+1:]
		t.Logf("%s: left undecoded: %s, e.g. %s", arch, p, example[m])
	}
	for _, p := range topPairs(diffs, 30) {
		t.Errorf("%s: %s", arch, p)
	}
}

// rejectedWords counts the words of the executable sections (outside $d
// data) that x/arch does not decode.
func rejectedWords(t *testing.T, arch, vmlinux string) map[uint32]int {
	ef, err := elf.Open(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	_, data, _ := textSymbols(ef, syms)
	counts := map[uint32]int{}
	for _, s := range ef.Sections {
		if s.Flags&elf.SHF_EXECINSTR == 0 || s.Type != elf.SHT_PROGBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		for o := 0; o+4 <= len(b); o += 4 {
			if inData(data, s.Addr+uint64(o)) {
				continue
			}
			w := binary.LittleEndian.Uint32(b[o:])
			if rej, _, _ := disasm.ExtraWord(disasm.Arch(arch), w); rej {
				counts[w]++
			}
		}
	}
	return counts
}

// objdumpWords lists words (as one raw binary file) with objdump, by offset.
func objdumpWords(t *testing.T, arch string, words []uint32) map[uint64]objLine {
	raw := make([]byte, 0, 4*len(words))
	for _, w := range words {
		raw = binary.LittleEndian.AppendUint32(raw, w)
	}
	path := filepath.Join(t.TempDir(), "words.bin")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdumpTool[arch], "-D", "-b", "binary", "-m", objdumpMachine[arch], "--no-show-raw-insn", "-w", path).Output()
	if err != nil {
		t.Fatalf("%s: %v", objdumpTool[arch], err)
	}
	theirs := map[uint64]objLine{}
	for _, l := range strings.Split(string(out), "\n") {
		if a, line, ok := parseObjdump(l); ok {
			theirs[a] = line
		}
	}
	if len(theirs) != len(words) {
		t.Fatalf("objdump listed %d of %d words", len(theirs), len(words))
	}
	return theirs
}
