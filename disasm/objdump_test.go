package disasm_test

// The oracle: binutils' objdump on every fixture kernel's vmlinux (the
// bookworm kernel of each arch and ktest.Extras: 5.10 x86_64, 6.12 arm64).
// 100 functions per kernel, chosen from the ELF symbol table alone (see
// pickFunctions), are decoded by disasm (bytes from the vmlinux's own
// sections) and compared mnemonic by mnemonic with objdump's listing of the
// same addresses. One objdump process per kernel lists the span covering
// all the functions; only the picked ranges are kept from its output.
// Every instruction objdump lists counts: nothing is set aside as a known
// gap of the decoders.

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

// Mnemonic agreement the decoders must reach on every kernel.
const target = 0.999

// sampleSize is how many functions each kernel's comparison takes.
const sampleSize = 100

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
		// MCR/MRC to coprocessor 1 (iWMMXt/PJ4 code: arch/arm/kernel/
		// iwmmxt.S, pj4-cp0.c): objdump names these encodings after the
		// FPA, coprocessors 1 and 2 (binutils opcodes/arm-dis.c
		// fpa_opcodes: FLT is MCR cp1 opc1 0, FIX is MRC cp1 opc1 0),
		// which ARMv7 does not have; the Arm ARM (DDI 0406C A8.8 MCR,
		// MRC) decodes them as the generic coprocessor transfers.
		{"mcr", "flts"}: true, {"mrc", "fix"}: true,
	},
}

// fn is one picked function (link-time addresses).
type fn struct {
	name       string
	start, end uint64
	sec        *elf.Section
	thumb      bool // 32-bit ARM Thumb code (symbol value with the low bit set)
}

// objLine is one instruction of objdump's listing.
type objLine struct {
	mnem string // prefixes and mnemonic
	text string // the whole instruction text
}

func TestObjdumpAgreement(t *testing.T) {
	kernels := []ktest.Extra{}
	for _, arch := range ktest.Arches {
		kernels = append(kernels, ktest.Extra{Arch: arch, Suite: fixture.DefaultSuite})
	}
	for _, k := range append(kernels, ktest.Extras...) {
		t.Run(k.Arch+"-"+k.Suite, func(t *testing.T) { testObjdump(t, k.Arch, k.Suite) })
	}
}

func testObjdump(t *testing.T, arch, suite string) {
	f := fixture.RequireSuite(t, arch, suite)
	tool, err := exec.LookPath(objdumpTool[arch])
	if err != nil {
		t.Fatalf("%s not installed (apt-get install binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf): %v", objdumpTool[arch], err)
	}
	ef, err := elf.Open(f.Vmlinux())
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	fns, data := pickFunctions(t, ef, sampleSize)
	ours := decodeOurs(t, arch, fns, data)
	theirs := runObjdump(t, tool, f.Vmlinux(), fns, data)
	compareMnemonics(t, arch, fns, ours, theirs)
	compareOperands(t, arch, ours, theirs)
	compareDumpPath(t, arch, suite, fns, ours)
}

// decodeOurs decodes every picked function from the vmlinux's bytes.
func decodeOurs(t *testing.T, arch string, fns []fn, data []span) map[uint64]disasm.Inst {
	ours := map[uint64]disasm.Inst{}
	for _, fn := range fns {
		code := make([]byte, fn.end-fn.start)
		if _, err := fn.sec.ReadAt(code, int64(fn.start-fn.sec.Addr)); err != nil {
			t.Fatalf("%s: reading %s: %v", arch, fn.name, err)
		}
		da := disasm.Arch(arch)
		if fn.thumb {
			da = disasm.Thumb
		}
		insts, n, err := disasm.DecodeAll(da, code, fn.start, 0)
		if err != nil {
			// Thumb: nothing decoded, every instruction objdump lists
			// there counts as a difference.
			t.Logf("%s: %s: %v", arch, fn.name, err)
		} else if n != len(code) && !inData(data, fn.start+uint64(n)) {
			t.Errorf("%s: %s: decoding stopped at +%d of %d bytes", arch, fn.name, n, len(code))
		}
		for _, in := range insts {
			ours[in.Addr] = in
		}
	}
	return ours
}

// runObjdump lists the span of all picked functions with one objdump
// process and keeps the instructions inside them, outside data ranges.
func runObjdump(t *testing.T, tool, vmlinux string, fns []fn, data []span) map[uint64]objLine {
	lo, hi := fns[0].start, fns[0].end
	for _, f := range fns {
		lo, hi = min(lo, f.start), max(hi, f.end)
	}
	cmd := exec.Command(tool, "-d", "--no-show-raw-insn", "-w",
		fmt.Sprintf("--start-address=%#x", lo), fmt.Sprintf("--stop-address=%#x", hi), vmlinux)
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
	return theirs
}

// compareMnemonics is the gated comparison: every instruction objdump
// lists (not its .word/.byte data) against disasm's at the same address.
func compareMnemonics(t *testing.T, arch string, fns []fn, ours map[uint64]disasm.Inst, theirs map[uint64]objLine) {
	var compared, raw, matched int
	pairs := map[string]int{}
	var bad []string
	for _, a := range sortedAddrs(theirs) {
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
		pairs[fmt.Sprintf("objdump %q / disasm %q", o.mnem, mine)]++
		bad = append(bad, fmt.Sprintf("%#x: objdump %q, disasm %q", a, o.text, in.Text(nil)))
	}
	if compared == 0 {
		t.Fatalf("%s: objdump listed no instruction of the %d functions", arch, len(fns))
	}
	ratio := float64(matched) / float64(compared)
	t.Logf("%s: %d functions, %d instructions compared, %d agree (%.4f%%), raw (no aliasing) %d (%.4f%%)",
		arch, len(fns), compared, matched, 100*ratio, raw, 100*float64(raw)/float64(compared))
	for _, p := range topPairs(pairs, 20) {
		t.Logf("%s: difference %s", arch, p)
	}
	for _, b := range bad[:min(len(bad), 20)] {
		t.Logf("%s: mismatch %s", arch, b)
	}
	if ratio < target {
		t.Errorf("%s: mnemonic agreement %.4f%% < %.1f%% (%d of %d)", arch, 100*ratio, 100*target, matched, compared)
	}
}

// compareOperands reports (informational, not gated) how often the whole
// text agrees once targets, comments and blanks are normalised.
func compareOperands(t *testing.T, arch string, ours map[uint64]disasm.Inst, theirs map[uint64]objLine) {
	var opsSame, opsCompared int
	opDiffs := map[string]int{}
	for _, a := range sortedAddrs(theirs) {
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
}

// compareDumpPath: a handful of the functions read through the kernel's
// virtual memory must decode to the same instructions, except where the
// kernel patched its text at boot (alternatives, static keys, ftrace).
// Only .text functions: the vectors pages and freed init text are not at
// their link addresses in the dump.
func compareDumpPath(t *testing.T, arch, suite string, fns []fn, ours map[uint64]disasm.Inst) {
	k, _ := ktest.OpenSuite(t, arch, suite, "vmcore.elf")
	slide := k.Image.KASLROffset()
	var same, total, patched int
	for i := 0; i < len(fns); i += len(fns) / 5 {
		fn := fns[i]
		if fn.sec.Name != ".text" || fn.thumb {
			continue
		}
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

func sortedAddrs(m map[uint64]objLine) []uint64 {
	addrs := make([]uint64, 0, len(m))
	for a := range m {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	return addrs
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

// pickFunctions chooses n functions from the ELF symbol table alone (what
// `nm` lists), independently of kinspect, and returns them in address
// order with the data ranges ($d mapping symbols: ARM literal pools)
// that are not compared.
//
// The population is every symbol in an executable section (FUNC, and the
// NOTYPE labels of assembly code: entry code is mostly SYM_CODE_*),
// sized by its st_size or, when that is 0, up to the next symbol; Thumb
// functions included. It is stratified by the text ranges the kernel's
// linker script names (include/asm-generic/vmlinux.lds.h:
// __entry_text_start/_end, __irqentry_text, __noinstr_text, __sched_text,
// __idmap_text, __hyp_text, ...) and by executable section (.head.text,
// .init.text, .vectors, ...): the middle function of each stratum is
// picked first, so that entry and low-level system code are always in the
// sample; the rest are evenly spread over the whole population.
func pickFunctions(t *testing.T, ef *elf.File, n int) ([]fn, []span) {
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	all, data, strata := textSymbols(ef, syms)
	code := all[:0]
	for _, f := range all {
		if !inData(data, f.start) { // a symbol naming data ($d)
			code = append(code, f)
		}
	}
	all = code
	if len(all) == 0 {
		t.Fatal("no function symbols in executable sections")
	}
	picked := map[int]bool{}
	var names []string // the strata's picks
	for _, st := range strata {
		lo := sort.Search(len(all), func(i int) bool { return all[i].start >= st.lo })
		hi := sort.Search(len(all), func(i int) bool { return all[i].start >= st.hi })
		if lo < hi && len(picked) < n/2 && !picked[(lo+hi)/2] {
			picked[(lo+hi)/2] = true
			names = append(names, all[(lo+hi)/2].name)
		}
	}
	strat := len(picked)
	for i := 0; len(picked) < n && i < len(all); i++ {
		idx := (i*len(all)/(n-strat) + len(all)/(2*(n-strat))) % len(all)
		for picked[idx] {
			idx = (idx + 1) % len(all)
		}
		picked[idx] = true
	}
	var out []fn
	var thumb int
	for i := range all {
		if picked[i] {
			out = append(out, all[i])
			if all[i].thumb {
				thumb++
			}
		}
	}
	t.Logf("%d functions picked of %d text symbols (%d Thumb); from the %d text ranges and sections: %s",
		len(out), len(all), thumb, len(strata), strings.Join(names, " "))
	return out, data
}

// textSymbols returns the non-overlapping text symbols in address order,
// the $d data ranges and the strata (linker-script text ranges and
// executable sections).
func textSymbols(ef *elf.File, syms []elf.Symbol) ([]fn, []span, []span) {
	var all []fn
	var maps []fn // mapping symbols; name[1] is the kind
	marks := map[string]uint64{}
	var strata []span
	for _, sec := range ef.Sections {
		if sec.Flags&elf.SHF_EXECINSTR != 0 && sec.Type == elf.SHT_PROGBITS {
			strata = append(strata, span{sec.Addr, sec.Addr + sec.Size})
		}
	}
	for _, s := range syms {
		if int(s.Section) >= len(ef.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		marks[s.Name] = s.Value
		sec := ef.Sections[s.Section]
		typ := elf.ST_TYPE(s.Info)
		if sec.Flags&elf.SHF_EXECINSTR == 0 || sec.Type != elf.SHT_PROGBITS || typ != elf.STT_FUNC && typ != elf.STT_NOTYPE {
			continue
		}
		f := fn{name: s.Name, start: s.Value, end: s.Value + s.Size, sec: sec}
		if ef.Machine == elf.EM_ARM && typ == elf.STT_FUNC && s.Value&1 != 0 {
			f.thumb, f.start, f.end = true, s.Value&^1, s.Value&^1+s.Size
		}
		if len(s.Name) >= 2 && s.Name[0] == '$' && (len(s.Name) == 2 || s.Name[2] == '.') {
			maps = append(maps, f)
			continue
		}
		if f.start >= sec.Addr && f.start < sec.Addr+sec.Size {
			all = append(all, f)
		}
	}
	for name, lo := range marks {
		if base, ok := strings.CutSuffix(name, "text_start"); ok && strings.HasPrefix(base, "__") {
			if hi, ok := marks[base+"text_end"]; ok && hi > lo {
				strata = append(strata, span{lo, hi})
			}
		}
	}
	sort.Slice(strata, func(i, j int) bool { return strata[i].lo < strata[j].lo })
	return sizeSymbols(all), dataRanges(maps), strata
}

// sizeSymbols sorts the symbols, keeps one per address (a sized one
// first) and none starting inside another, and sizes the unsized ones up
// to the next symbol (at most 16 KiB, within their section).
func sizeSymbols(all []fn) []fn {
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].start != all[j].start {
			return all[i].start < all[j].start
		}
		return all[i].end-all[i].start > all[j].end-all[j].start
	})
	uniq := all[:0]
	for i, f := range all {
		if len(uniq) > 0 && (f.start == uniq[len(uniq)-1].start || f.start < uniq[len(uniq)-1].end) {
			continue
		}
		if f.end == f.start {
			f.end = min(f.start+16<<10, f.sec.Addr+f.sec.Size)
			for _, g := range all[i+1:] {
				if g.start > f.start {
					f.end = min(f.end, g.start)
					break
				}
			}
		}
		uniq = append(uniq, f)
	}
	return uniq
}

// dataRanges are the $d (data) mapping-symbol ranges, up to the next
// mapping symbol.
func dataRanges(maps []fn) []span {
	sort.Slice(maps, func(i, j int) bool { return maps[i].start < maps[j].start })
	var data []span
	for i, m := range maps {
		if m.name[1] != 'd' {
			continue
		}
		end := ^uint64(0)
		if i+1 < len(maps) {
			end = maps[i+1].start
		}
		data = append(data, span{m.start, end})
	}
	return data
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
