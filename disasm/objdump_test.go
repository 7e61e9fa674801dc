package disasm_test

// The oracle: binutils' objdump on the fixture vmlinux. 100 functions per
// arch, picked evenly from the ELF symbol table, are decoded by disasm
// (bytes from the vmlinux's own sections) and compared mnemonic by
// mnemonic with objdump's listing of the same addresses. One objdump
// process per arch lists the span covering all the functions; only the
// picked ranges are kept from its output.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/disasm"
	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
)

// Mnemonic agreement the decoders must reach per arch.
const target = 0.999

var objdumpTool = map[string]string{
	"x86_64": "objdump",
	"arm64":  "aarch64-linux-gnu-objdump",
	"arm":    "arm-linux-gnueabihf-objdump",
}

// aliases are the (disasm, objdump) mnemonic pairs that spell the same
// instruction differently; each is a syntax difference only (same
// encoding, same operation), never a different instruction:
var aliases = map[string]map[[2]string]bool{
	"x86_64": {
		// x/arch keeps the AT&T "q" suffix on near branches (as binutils
		// did before 2.35); objdump no longer prints it.
		{"callq", "call"}: true, {"jmpq", "jmp"}: true, {"retq", "ret"}: true,
		{"pushq", "push"}: true, {"popq", "pop"}: true,
		// Intel vs AT&T names of the sign extensions.
		{"movsxd", "movslq"}: true, {"cdqe", "cltq"}: true, {"cdq", "cltd"}: true, {"cqo", "cqto"}: true,
		{"cwde", "cwtl"}: true,
		// mov with a 64-bit immediate (REX.W B8+r): AT&T calls it movabs.
		{"mov", "movabs"}: true,
		// 66 90: objdump names the two-byte nop after its xchg encoding.
		{"data16 nop", "xchg"}: true,
	},
	"arm64": {},
	"arm": {
		// STM (increment after) is STMIA; objdump prints the IA suffix.
		{"stm", "stmia"}: true, {"ldm", "ldmia"}: true,
	},
}

// gaps are instructions golang.org/x/arch does not implement: when objdump
// decodes one of these and x/arch cannot (disasm prints ".inst"), the
// instruction is counted as a known gap, not as agreement; the agreement
// ratio over all instructions and the one over the rest are both logged,
// and the target applies to the rest. Anything undecoded outside these
// lists is a mismatch.
var gaps = map[string]*regexp.Regexp{
	// ARMv8.1 LSE atomics (the kernel's atomics use them when the CPU has
	// them): arm64asm implements ARMv8.0 only.
	"arm64": regexp.MustCompile(`^(casp?|swp|ld(add|clr|eor|set|smax|smin|umax|umin)|st(add|clr|eor|set|smax|smin|umax|umin))(a|al|l)?(b|h)?$`),
	// armasm implements neither coprocessor transfers (cp15 system
	// registers: mrc/mcr...), nor cps, nor msr/mrs of the status registers,
	// nor the csdb hint.
	"arm":    regexp.MustCompile(`^(mrc2?|mcr2?|mrrc2?|mcrr2?|cdp2?|ldc2?l?|stc2?l?|cps|cpsie|cpsid|msr|mrs|csdb)$`),
	"x86_64": regexp.MustCompile(`^$`),
}

// fn is one picked function (link-time addresses).
type fn struct {
	name       string
	start, end uint64
	sec        *elf.Section
}

// objLine is one instruction of objdump's listing.
type objLine struct {
	mnem string // prefixes and mnemonic
	text string // the whole instruction text
}

func TestObjdumpAgreement(t *testing.T) {
	for _, arch := range ktest.Arches {
		t.Run(arch, func(t *testing.T) { testObjdump(t, arch) })
	}
}

func testObjdump(t *testing.T, arch string) {
	f := fixture.Require(t, arch)
	tool, err := exec.LookPath(objdumpTool[arch])
	if err != nil {
		t.Fatalf("%s not installed (apt-get install binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf): %v", objdumpTool[arch], err)
	}
	ef, err := elf.Open(f.Vmlinux())
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	fns, data := pickFunctions(t, ef, 100)

	// Our side: decode from the ELF's bytes.
	ours := map[uint64]disasm.Inst{}
	for _, fn := range fns {
		code := make([]byte, fn.end-fn.start)
		if _, err := fn.sec.ReadAt(code, int64(fn.start-fn.sec.Addr)); err != nil {
			t.Fatalf("%s: reading %s: %v", arch, fn.name, err)
		}
		insts, n, err := disasm.DecodeAll(disasm.Arch(arch), code, fn.start, 0)
		if err != nil {
			t.Fatalf("%s: %s: %v", arch, fn.name, err)
		}
		if n != len(code) && !inData(data, fn.start+uint64(n)) {
			t.Errorf("%s: %s: decoding stopped at +%d of %d bytes", arch, fn.name, n, len(code))
		}
		for _, in := range insts {
			ours[in.Addr] = in
		}
	}

	// objdump's side: one process over the span of all picked functions.
	lo, hi := fns[0].start, fns[len(fns)-1].end
	cmd := exec.Command(tool, "-d", "--no-show-raw-insn", "-w",
		fmt.Sprintf("--start-address=%#x", lo), fmt.Sprintf("--stop-address=%#x", hi), f.Vmlinux())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs := map[uint64]objLine{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		addr, line, ok := parseObjdump(sc.Text())
		if !ok || !inFunctions(fns, addr) || inData(data, addr) {
			continue
		}
		theirs[addr] = line
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, stderr.String())
	}

	// Compare, in address order.
	addrs := make([]uint64, 0, len(theirs))
	for a := range theirs {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	var compared, raw, matched, gap int
	pairs := map[string]int{}
	var bad []string
	for _, a := range addrs {
		o := theirs[a]
		if strings.HasPrefix(o.mnem, ".") { // .word/.byte/.inst: objdump shows data
			continue
		}
		compared++
		in, ok := ours[a]
		mine := "<no instruction at this address>"
		if ok {
			mine = in.Mnemonic
		}
		if mine == o.mnem {
			raw++
		}
		if ok && sameMnemonic(arch, mine, o.mnem) {
			matched++
			continue
		}
		if ok && in.Bad && gaps[arch].MatchString(o.mnem) {
			gap++
			pairs[fmt.Sprintf("(x/arch gap) objdump %q / disasm %q", o.mnem, mine)]++
			continue
		}
		pairs[fmt.Sprintf("objdump %q / disasm %q", o.mnem, mine)]++
		if len(bad) < 100 {
			bad = append(bad, fmt.Sprintf("%#x: objdump %q, disasm %q", a, o.text, in.Text(nil)))
		}
	}
	// Operands (informational, not gated): how often the whole text
	// agrees once targets, comments and blanks are normalised.
	var opsSame, opsCompared int
	opDiffs := map[string]int{}
	for _, a := range addrs {
		o, in := theirs[a], ours[a]
		if strings.HasPrefix(o.mnem, ".") || in.Bad || in.Len == 0 {
			continue
		}
		opsCompared++
		theirOps := normOperands(strings.TrimSpace(strings.TrimPrefix(strings.Join(strings.Fields(o.text), " "), o.mnem)))
		if mine := normOperands(in.Operands); mine == theirOps {
			opsSame++
		} else {
			opDiffs[fmt.Sprintf("%s: objdump %q / disasm %q", o.mnem, theirOps, mine)]++
		}
	}
	if opsCompared > 0 {
		t.Logf("%s: operands (informational): %d of %d agree (%.2f%%)", arch, opsSame, opsCompared, 100*float64(opsSame)/float64(opsCompared))
		for _, p := range topPairs(opDiffs, 5) {
			t.Logf("%s: operand difference %s", arch, p)
		}
	}

	if compared == 0 {
		t.Fatalf("%s: objdump listed no instruction of the %d functions", arch, len(fns))
	}
	ratio := float64(matched) / float64(compared-gap)
	t.Logf("%s: %d functions, %d instructions compared, %d matched (%.4f%%), raw (no aliasing) %d (%.4f%%)",
		arch, len(fns), compared, matched, 100*float64(matched)/float64(compared), raw, 100*float64(raw)/float64(compared))
	t.Logf("%s: %d instructions x/arch does not implement (%.4f%%); agreement on the other %d: %.4f%%",
		arch, gap, 100*float64(gap)/float64(compared), compared-gap, 100*ratio)
	for _, p := range topPairs(pairs, 10) {
		t.Logf("%s: difference %s", arch, p)
	}
	for _, b := range bad[:min(len(bad), 10)] {
		t.Logf("%s: mismatch %s", arch, b)
	}
	if ratio < target {
		t.Errorf("%s: mnemonic agreement %.4f%% < %.1f%%; first mismatches:\n%s",
			arch, 100*ratio, 100*target, strings.Join(bad, "\n"))
	}

	// The dump path: a handful of the functions read through the kernel's
	// virtual memory must decode to the same instructions, except where the
	// kernel patched its text at boot (alternatives, static keys, ftrace).
	k, _ := ktest.Open(t, arch, "vmcore.elf")
	slide := k.Image.KASLROffset()
	var same, total, patched int
	for i := 0; i < len(fns); i += len(fns) / 5 {
		fn := fns[i]
		code := make([]byte, fn.end-fn.start)
		if err := k.ReadVirt(code, fn.start+slide); err != nil {
			t.Errorf("%s: reading %s from the dump: %v", arch, fn.name, err)
			continue
		}
		insts, _, err := disasm.DecodeAll(disasm.Arch(arch), code, fn.start, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			o, ok := ours[in.Addr]
			if !ok {
				continue
			}
			if !bytes.Equal(o.Bytes, in.Bytes) {
				patched++ // patched at boot: other bytes, another instruction
				continue
			}
			total++
			if o.Mnemonic == in.Mnemonic && o.Operands == in.Operands {
				same++
			} else {
				t.Errorf("%s: dump path: %#x decodes as %s %s, the same bytes in the vmlinux as %s %s",
					arch, in.Addr, in.Mnemonic, in.Operands, o.Mnemonic, o.Operands)
			}
		}
	}
	t.Logf("%s: dump path: %d of %d instructions with the vmlinux's bytes decode the same; %d were patched at boot",
		arch, same, total, patched)
	if total == 0 {
		t.Errorf("%s: dump path: no instruction compared", arch)
	}
}

// sameMnemonic compares mnemonics through the alias table, prefixes
// ("cs callq" / "cs call", "lock ...") included.
func sameMnemonic(arch, mine, theirs string) bool {
	if mine == theirs || aliases[arch][[2]string{mine, theirs}] {
		return true
	}
	mi, ti := strings.LastIndexByte(mine, ' '), strings.LastIndexByte(theirs, ' ')
	if mi < 0 || ti < 0 || mine[:mi] != theirs[:ti] {
		return false
	}
	return aliases[arch][[2]string{mine[mi+1:], theirs[ti+1:]}]
}

// pickFunctions returns n sized functions in executable sections, evenly
// spread over their address order, and the data ranges ($d mapping
// symbols, ARM literal pools) and Thumb code which are not compared.
func pickFunctions(t *testing.T, ef *elf.File, n int) ([]fn, []span) {
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var all []fn
	var armFuncs, thumbFuncs int
	type mapsym struct {
		addr uint64
		kind byte
	}
	var maps []mapsym
	for _, s := range syms {
		if int(s.Section) >= len(ef.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		sec := ef.Sections[s.Section]
		if sec.Flags&elf.SHF_EXECINSTR == 0 || sec.Type != elf.SHT_PROGBITS {
			continue
		}
		if len(s.Name) >= 2 && s.Name[0] == '$' && (len(s.Name) == 2 || s.Name[2] == '.') {
			maps = append(maps, mapsym{s.Value, s.Name[1]})
			continue
		}
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && ef.Machine == elf.EM_ARM {
			armFuncs++
			if s.Value&1 != 0 {
				thumbFuncs++
			}
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || s.Value&1 != 0 {
			continue // not a function, unsized, or Thumb (low bit set)
		}
		if s.Value < sec.Addr || s.Value+s.Size > sec.Addr+sec.Size {
			continue
		}
		all = append(all, fn{s.Name, s.Value, s.Value + s.Size, sec})
	}
	if armFuncs > 0 {
		// Thumb functions (low bit set) cannot be decoded by x/arch; a
		// Thumb-2 kernel (CONFIG_THUMB2_KERNEL) would have nearly all.
		t.Logf("arm: %d of %d function symbols are Thumb (low bit set)", thumbFuncs, armFuncs)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })
	// One function per address; no overlaps.
	uniq := all[:0]
	for _, f := range all {
		if len(uniq) > 0 && f.start < uniq[len(uniq)-1].end {
			continue
		}
		uniq = append(uniq, f)
	}
	sort.Slice(maps, func(i, j int) bool { return maps[i].addr < maps[j].addr })
	var data []span
	for i, m := range maps {
		if m.kind != 'd' && m.kind != 't' {
			continue
		}
		end := ^uint64(0)
		if i+1 < len(maps) {
			end = maps[i+1].addr
		}
		data = append(data, span{m.addr, end})
	}
	var out []fn
	for i := 0; i < n && i < len(uniq); i++ {
		f := uniq[i*len(uniq)/n+len(uniq)/(2*n)]
		if inData(data, f.start) {
			continue
		}
		out = append(out, f)
	}
	return out, data
}

type span struct{ lo, hi uint64 }

func inData(d []span, a uint64) bool {
	i := sort.Search(len(d), func(i int) bool { return d[i].lo > a })
	return i > 0 && a < d[i-1].hi
}

func inFunctions(fns []fn, a uint64) bool {
	i := sort.Search(len(fns), func(i int) bool { return fns[i].start > a })
	return i > 0 && a < fns[i-1].end
}

// parseObjdump parses "ffffffff81000000:\tpush   %rbp" (with
// --no-show-raw-insn); labels, headers and blank lines are not instructions.
func parseObjdump(l string) (uint64, objLine, bool) {
	l = strings.TrimLeft(l, " ")
	colon := strings.Index(l, ":\t")
	if colon <= 0 {
		return 0, objLine{}, false
	}
	a, err := strconv.ParseUint(l[:colon], 16, 64)
	if err != nil {
		return 0, objLine{}, false
	}
	text := strings.TrimSpace(l[colon+2:])
	f := strings.Fields(text)
	if len(f) == 0 {
		return 0, objLine{}, false
	}
	m := 0
	for m < len(f)-1 && prefixes[f[m]] {
		m++
	}
	return a, objLine{mnem: strings.Join(f[:m+1], " "), text: text}, true
}

// prefixes objdump writes as words before an x86 mnemonic.
var prefixes = map[string]bool{
	"lock": true, "rep": true, "repz": true, "repe": true, "repnz": true, "repne": true,
	"data16": true, "data32": true, "addr16": true, "addr32": true, "rex": true, "rex.W": true,
	"cs": true, "ds": true, "es": true, "fs": true, "gs": true, "ss": true,
	"notrack": true, "bnd": true, "xacquire": true, "xrelease": true,
}

func topPairs(m map[string]int, n int) []string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v || (s[i].v == s[j].v && s[i].k < s[j].k) })
	var out []string
	for i := 0; i < n && i < len(s); i++ {
		out = append(out, fmt.Sprintf("%dx %s", s[i].v, s[i].k))
	}
	return out
}

var (
	objTarget  = regexp.MustCompile(`\b(0x)?([0-9a-f]+) <[^>]*>`)
	objComment = regexp.MustCompile(`\s+(#|//|@|;) .*$`)
)

// normOperands normalises operand text for comparison: no comments, bare
// hex targets, no blanks.
func normOperands(s string) string {
	s = objComment.ReplaceAllString(s, "")
	s = objTarget.ReplaceAllString(s, "0x$2")
	if strings.HasPrefix(s, "0x") || strings.Contains(s, ", ") || strings.Contains(s, ",") {
		// keep
	}
	if len(s) > 0 && s[0] >= 'a' && s[0] <= 'f' && !strings.ContainsAny(s, " ,[{%") {
		if _, err := strconv.ParseUint(s, 16, 64); err == nil {
			s = "0x" + s // a bare objdump branch target without symbol
		}
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, ", ", ",")), "")
}
