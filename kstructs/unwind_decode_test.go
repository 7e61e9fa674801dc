package kstructs

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// These tests run the unwinders' decoders on tiny byte tables
// (testdata/unwind) and a fake memory, without a dump or a vmlinux: what
// the fixture tests exercise only through whole kernels.

// hexTables reads a testdata file of "[section]" headers and hex bytes
// (spaces ignored, "#" comments).
func hexTables(t *testing.T, name string) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/unwind/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sec := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			sec = strings.Trim(line, "[]")
		default:
			b, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
			if err != nil {
				t.Fatalf("%s:%d: %v", name, n, err)
			}
			out[sec] = append(out[sec], b...)
		}
	}
	return out
}

// wordMem is target memory made of little-endian words; reading anything
// else fails with the address.
type wordMem map[uint64]byte

func (m wordMem) put32(addr uint64, vals ...uint32) {
	for i, v := range vals {
		for j := 0; j < 4; j++ {
			m[addr+uint64(4*i+j)] = byte(v >> (8 * j))
		}
	}
}

func (m wordMem) put64(addr uint64, vals ...uint64) {
	for i, v := range vals {
		for j := 0; j < 8; j++ {
			m[addr+uint64(8*i+j)] = byte(v >> (8 * j))
		}
	}
}

func (m wordMem) ReadVirt(p []byte, addr uint64) error {
	for i := range p {
		b, ok := m[addr+uint64(i)]
		if !ok {
			return fmt.Errorf("fake memory: nothing at %#x", addr+uint64(i))
		}
		p[i] = b
	}
	return nil
}

// fakeUnwinder is the shared unwinder state over mem, with no dump or image.
func fakeUnwinder(arch dump.Arch, mem wordMem) *unwinder {
	k := (&Kernel{Arch: arch}).WithMemory(mem)
	return &unwinder{k: k, arch: arch, bo: binary.LittleEndian, ptr: uint64(arch.PtrSize())}
}

// orcBits is a bit-field of struct orc_entry (in an unsigned int unit at 4).
func orcBits(pos, n int64) dwarfx.Field {
	return dwarfx.Field{ByteOffset: pos / 8, ByteSize: 4, BitOffset: pos, BitSize: n}
}

func TestORCEntries(t *testing.T) {
	const base = 0xffffffff81000000
	for _, c := range []struct {
		file   string
		layout func(x *x86Unwinder)
		want   []orcEntry
	}{
		{"orc-6.1.hex", func(x *x86Unwinder) {
			x.typ, x.end, x.hasEnd = orcBits(40, 2), orcBits(42, 1), true
			x.tCall, x.tRegs, x.tPartial = 0, 1, 2
		}, []orcEntry{
			{spOffset: 8, spReg: orcRegSP},
			{spOffset: 16, bpOffset: -16, spReg: orcRegSP, bpReg: orcRegPrevSP, typ: 1, signal: true},
			{end: true},
		}},
		{"orc-6.4.hex", func(x *x86Unwinder) {
			x.typ, x.signal, x.hasSignal = orcBits(40, 3), orcBits(43, 1), true
			x.tCall, x.tRegs, x.tPartial = 2, 3, 4
		}, []orcEntry{
			{spOffset: 8, spReg: orcRegSP, typ: 2},
			{spOffset: -8, bpOffset: -16, spReg: orcRegSPIndirect, bpReg: orcRegPrevSP, typ: 4, signal: true},
			{typ: 1},
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			tab := hexTables(t, c.file)
			x := &x86Unwinder{u: fakeUnwinder(dump.ArchX86_64, wordMem{}), ipBase: base,
				ips: tab["ips"], entries: tab["entries"], entSize: 6, n: len(tab["ips"]) / 4,
				spOffset: dwarfx.Field{ByteOffset: 0, ByteSize: 2}, bpOffset: dwarfx.Field{ByteOffset: 2, ByteSize: 2},
				spReg: orcBits(32, 4), bpReg: orcBits(36, 4)}
			c.layout(x)
			for i, want := range c.want {
				if got := x.entry(i); got != want {
					t.Errorf("entry %d = %+v, want %+v", i, got, want)
				}
			}
			for _, f := range []struct {
				pc   uint64
				want int // entry index, -1 none
			}{{base - 1, -1}, {base, 0}, {base + 0x3f, 0}, {base + 0x40, 1}, {base + 0x80, 2}, {base + 0x1000, 2}} {
				got, ok := x.find(f.pc)
				switch {
				case f.want < 0 && ok:
					t.Errorf("find(%#x) = %+v, want none", f.pc, got)
				case f.want >= 0 && (!ok || got != c.want[f.want]):
					t.Errorf("find(%#x) = %+v %v, want entry %d", f.pc, got, ok, f.want)
				}
			}
		})
	}
}

// ehabiFixture is an arm unwinder over testdata/unwind/ehabi.hex.
func ehabiFixture(t *testing.T, mem wordMem) *armUnwinder {
	tab := hexTables(t, "ehabi.hex")
	// The index is kernel data too: inline entries are read from memory.
	for i, b := range tab["idx"] {
		mem[0xc0100000+uint64(i)] = b
	}
	return &armUnwinder{u: fakeUnwinder(dump.ArchARM, mem), idx: tab["idx"], idxBase: 0xc0100000,
		n: len(tab["idx"]) / 8, tab: tab["tab"], tabBase: 0xc0200000}
}

func TestEHABIIndex(t *testing.T) {
	a := ehabiFixture(t, wordMem{})
	for _, c := range []struct {
		pc, fn uint64
		insn   uint32
		ok     bool
	}{
		{0xc0007fff, 0, 0, false},
		{0xc0008000, 0xc0008000, 0x808408b0, true},
		{0xc00080fc, 0xc0008000, 0x808408b0, true},
		{0xc0008104, 0xc0008100, exidxCantUnwind, true},
		{0xc0009000, 0xc0008200, 0x000fffec, true},
	} {
		fn, insn, _, ok := a.find(c.pc)
		if ok != c.ok || ok && (fn != c.fn || insn != c.insn) {
			t.Errorf("find(%#x) = %#x %#x %v, want %#x %#x %v", c.pc, fn, insn, ok, c.fn, c.insn, c.ok)
		}
	}
	if got := prel31(0x7fffffff, 0x1000); got != 0xfff {
		t.Errorf("prel31(-1) from 0x1000 = %#x, want 0xfff", got)
	}
}

func TestEHABIStep(t *testing.T) {
	mem := wordMem{}
	mem.put32(0x1000, 0x77, 0xc0001234)                   // r7, lr for the inline entry
	mem.put32(0x2010, 0x44, 0xbb, 0xc0005678)             // r4, r11, lr for the table entry
	mem.put32(0x3000, 0x80800000, 0x80b10000, 0x80c80000) // refuse, spare 0xb1, unhandled 0xc8
	a := ehabiFixture(t, mem)
	step := func(sp uint64, pc uint64) ([16]uint64, error) {
		fn, insn, at, ok := a.find(pc)
		if !ok || insn == exidxCantUnwind {
			t.Fatalf("no usable entry for %#x (fn %#x)", pc, fn)
		}
		var vrs [16]uint64
		vrs[armSP], vrs[armPC] = sp, pc
		return a.ehabiStep(vrs, insn, at)
	}
	vrs, err := step(0x1000, 0xc0008010)
	if err != nil || vrs[7] != 0x77 || vrs[armLR] != 0xc0001234 || vrs[armSP] != 0x1008 || vrs[armPC] != 0xc0001234 {
		t.Errorf("inline pop {r7, lr}: r7 %#x lr %#x sp %#x pc %#x, %v", vrs[7], vrs[armLR], vrs[armSP], vrs[armPC], err)
	}
	vrs, err = step(0x2000, 0xc0008300)
	if err != nil || vrs[4] != 0x44 || vrs[11] != 0xbb || vrs[armLR] != 0xc0005678 || vrs[armSP] != 0x201c || vrs[armPC] != 0xc0005678 {
		t.Errorf("table vsp+=16, pop {r4, r11, lr}: r4 %#x r11 %#x lr %#x sp %#x pc %#x, %v", vrs[4], vrs[11], vrs[armLR], vrs[armSP], vrs[armPC], err)
	}
	if _, err := step(0x1ff0, 0xc0008300); err == nil || !strings.Contains(err.Error(), "0x2000") {
		t.Errorf("popping unreadable stack: %v, want an error naming 0x2000", err)
	}
	for i, want := range []string{"refuse to unwind", "spare unwind encoding", "unhandled unwind instruction 0xc8"} {
		var vrs [16]uint64
		vrs[armSP] = 0x1000
		if _, err := a.ehabiStep(vrs, 0x80000000|uint32(0), 0x3000+uint64(4*i)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bytecode word %d: %v, want %q", i, err, want)
		}
	}
}

func TestARM64FrameRecords(t *testing.T) {
	mem := wordMem{}
	const pac = 0x003f000000000000 // a PAC in bits 48..54 of a kernel address
	mem.put64(0xffff800008003f00, 0xffff800008003f40, 0xffff800008101234&^pac|0x0012000000000000)
	mem.put64(0xffff800008003f40, 0, 0)
	u := fakeUnwinder(dump.ArchARM64, mem)
	a := &arm64Unwinder{u: u, vaMask: 1<<48 - 1}
	fp, ret, err := a.record(0xffff800008003f00)
	if err != nil || fp != 0xffff800008003f40 || ret != 0xffff800008101234 {
		t.Errorf("record = %#x %#x %v, want the caller's fp and the PAC-stripped return address", fp, ret, err)
	}
	if _, _, err := a.record(0xffff800008003f40); err == nil || !strings.Contains(err.Error(), "no return address") {
		t.Errorf("final record: %v, want no return address", err)
	}
	if _, _, err := a.record(0xffff800008004000); err == nil || !strings.Contains(err.Error(), "0xffff800008004000") {
		t.Errorf("unreadable record: %v, want its address", err)
	}

	task := stackRange{lo: 0xffff800008000000, hi: 0xffff800008004000, kind: "task"}
	irq := stackRange{lo: 0xffff800000000000, hi: 0xffff800000004000, kind: "irq"}
	tc := &taskCtx{stack: task, stacks: []stackRange{task, irq}}
	for _, c := range []struct {
		chain []uint64
		want  string // error of the last step, "" none
	}{
		{[]uint64{0xffff800000003f00, 0xffff800008003f00, 0xffff800008003f40}, ""},
		{[]uint64{0}, "is 0"},
		{[]uint64{0xffff800008003f04}, "misaligned"},
		{[]uint64{0xffff800010000000}, "outside the task's stacks"},
		{[]uint64{0xffff800008003f40, 0xffff800008003f00}, "does not advance"},
		{[]uint64{0xffff800000003f00, 0xffff800008003f00, 0xffff800000003f80}, "returns to the irq stack"},
	} {
		ch := fpChain{left: map[string]bool{}}
		var err error
		for _, fp := range c.chain {
			if err = ch.step(tc, fp); err != nil {
				break
			}
		}
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("chain %#x: %v, want %q", c.chain, err, c.want)
		}
	}
}
