package disasm

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Hand-assembled sequences (GNU as), with objdump's mnemonics and branch
// targets. Each is placed at a kernel-like base address.
type want struct {
	mnem   string
	ops    string // substring of the operands ("" = don't care)
	target uint64 // 0 = no target
}

func words(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func TestDecodeKnown(t *testing.T) {
	const b64 = 0xffff800008010000
	const b32 = 0xc0301000
	const bx = 0xffffffff81000000
	x86, _ := hex.DecodeString("55" + "4889e5" + "e8f7ffffff" + "488b0510000000" + "f0480fb117" + "4883c480" + "75e5" + "c3")
	cases := []struct {
		arch Arch
		base uint64
		code []byte
		want []want
	}{
		{ARM64, b64, words(0xd503201f, 0xa9be7bfd, 0x910003fd, 0x97fffffd, 0x54ffff81, 0x90000000, 0xf9400401, 0xd503233f, 0xd65f03c0), []want{
			{"nop", "", 0},
			{"stp", "x29, x30, [sp, #-32]!", 0},
			{"mov", "x29, sp", 0},
			{"bl", "", b64},
			{"b.ne", "", b64},
			{"adrp", "x0", b64 &^ 0xfff},
			{"ldr", "x1, [x0, #8]", 0},
			{"paciasp", "", 0},
			{"ret", "", 0},
		}},
		{ARM, b32, words(0xe92d4010, 0xe3a00001, 0xebfffffc, 0xe59f3004, 0x1afffffa, 0xe12fff1e), []want{
			{"push", "{r4, lr}", 0},
			{"mov", "r0, #1", 0},
			{"bl", "", b32},
			{"ldr", "r3, [pc, #4]", b32 + 0x18},
			{"bne", "", b32},
			{"bx", "lr", 0},
		}},
		{X86_64, bx, x86, []want{
			{"push", "%rbp", 0},
			{"mov", "%rsp,%rbp", 0},
			{"callq", "", bx},
			{"mov", "0x10(%rip),%rax", bx + 0x20},
			{"lock cmpxchg", "%rdx,(%rdi)", 0},
			{"add", "$0xffffffffffffff80,%rsp", 0},
			{"jne", "", bx},
			{"retq", "", 0},
		}},
	}
	for _, c := range cases {
		insts, n, err := DecodeAll(c.arch, c.code, c.base, 0)
		if err != nil || n != len(c.code) {
			t.Fatalf("%s: DecodeAll: %d of %d bytes, %v", c.arch, n, len(c.code), err)
		}
		if len(insts) != len(c.want) {
			t.Fatalf("%s: %d instructions, want %d: %v", c.arch, len(insts), len(c.want), insts)
		}
		for i, w := range c.want {
			in := insts[i]
			if in.Mnemonic != w.mnem || !strings.Contains(in.Operands, w.ops) {
				t.Errorf("%s #%d: %q %q, want %q %q", c.arch, i, in.Mnemonic, in.Operands, w.mnem, w.ops)
			}
			if (w.target != 0) != (in.Kind != NoTarget) || (w.target != 0 && in.Target != w.target) {
				t.Errorf("%s #%d %s: target %#x (kind %d), want %#x", c.arch, i, in.Mnemonic, in.Target, in.Kind, w.target)
			}
		}
	}
}

func TestSymbolizedText(t *testing.T) {
	sym := func(a uint64) (string, uint64, bool) {
		switch {
		case a >= 0xffffffff81000000 && a < 0xffffffff81000100:
			return "schedule", a - 0xffffffff81000000, true
		case a >= 0xffffffff82000000 && a < 0xffffffff82000010:
			return "jiffies", a - 0xffffffff82000000, true
		}
		return "", 0, false
	}
	// call schedule+16 from 0xffffffff81000020: e8 rel32 = 0x10-0x25.
	code := []byte{0xe8, 0xeb, 0xff, 0xff, 0xff}
	in, err := Decode(X86_64, code, 0xffffffff81000020)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := in.Text(sym), "callq  0xffffffff81000010 <schedule+16>"; got != want {
		t.Errorf("call: %q, want %q", got, want)
	}
	// mov jiffies(%rip),%rax at 0xffffffff81000000 (7 bytes): disp = 0x1000000-7.
	code = []byte{0x48, 0x8b, 0x05, 0xf9, 0xff, 0xff, 0x00}
	in, err = Decode(X86_64, code, 0xffffffff81000000)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := in.Text(sym), "mov    0xfffff9(%rip),%rax        # 0xffffffff82000000 <jiffies>"; got != want {
		t.Errorf("rip load: %q, want %q", got, want)
	}
	// arm64 bl to an unknown address: no symbol, the address stays.
	in, _ = Decode(ARM64, words(0x94000004), 0xffff800008000000)
	if got, want := in.Text(sym), "bl     0xffff800008000010"; got != want {
		t.Errorf("bl: %q, want %q", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	if _, err := Decode("mips", []byte{0, 0, 0, 0}, 0); err == nil {
		t.Error("unknown arch decoded")
	}
	if _, err := Decode(Thumb, []byte{0, 0, 0, 0}, 0); !errors.Is(err, ErrThumb) {
		t.Errorf("thumb: %v", err)
	}
	if _, err := Decode(ARM64, []byte{0, 0}, 0); !errors.Is(err, ErrTruncated) {
		t.Errorf("short arm64: %v", err)
	}
	// A trailing partial instruction is left out, not reported as bad.
	insts, n, err := DecodeAll(X86_64, []byte{0x55, 0x48, 0x8b}, 0x1000, 0)
	if err != nil || len(insts) != 1 || n != 1 {
		t.Errorf("partial x86: %v %d %v", insts, n, err)
	}
	// Undecodable words are .inst, one word each.
	insts, _, _ = DecodeAll(ARM64, words(0x00010000, 0xd503201f), 0x1000, 0)
	if len(insts) != 2 || !insts[0].Bad || insts[0].Mnemonic != ".inst" || insts[1].Mnemonic != "nop" {
		t.Errorf("bad arm64 word: %+v", insts)
	}
	// The instruction limit.
	insts, n, _ = DecodeAll(ARM64, words(0xd503201f, 0xd503201f, 0xd503201f), 0x1000, 2)
	if len(insts) != 2 || n != 8 {
		t.Errorf("limit: %d instructions, %d bytes", len(insts), n)
	}
}

// FuzzDecode: no input makes the wrapper panic, and decoding always
// advances (Len > 0) and stays within the input.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x55, 0x48, 0x89, 0xe5}, uint64(0xffffffff81000000))
	f.Add(words(0xd503201f, 0x97fffffd), uint64(0xffff800008000000))
	f.Add(words(0xe92d4010, 0xebfffffc), uint64(0xc0008000))
	f.Add([]byte{0xf0, 0xf0, 0xf0, 0x66, 0x67, 0x0f}, uint64(0))
	f.Add(words(0xc8e07c22, 0xd5087941, 0xe8fd8000, 0x0783200c), uint64(0xffff800008000000)) // supplement (extra.go)
	f.Fuzz(func(t *testing.T, code []byte, pc uint64) {
		for arch := range decoders {
			insts, n, err := DecodeAll(arch, code, pc, 0)
			if err != nil && !errors.Is(err, ErrThumb) {
				t.Fatalf("%s: %v", arch, err)
			}
			if n > len(code) {
				t.Fatalf("%s: consumed %d of %d bytes", arch, n, len(code))
			}
			sum := 0
			for _, in := range insts {
				if in.Len <= 0 || len(in.Bytes) != in.Len {
					t.Fatalf("%s: bad length %d at %#x", arch, in.Len, in.Addr)
				}
				sum += in.Len
				_ = in.Text(func(uint64) (string, uint64, bool) { return "s", 1, true })
			}
			if sum != n {
				t.Fatalf("%s: lengths %d != consumed %d", arch, sum, n)
			}
		}
	})
}

// TestExtraKnown: words of each supplement family (extra.go), with the
// text binutils 2.40's objdump prints for them (-D -b binary, -m arm /
// -m aarch64); objdump's comments ("@ 0xd3") left out.
func TestExtraKnown(t *testing.T) {
	cases := []struct {
		arch Arch
		w    uint32
		want string
	}{
		{ARM64, 0xc8e07c22, "casa x0, x2, [x1]"},
		{ARM64, 0x08e07c22, "casab w0, w2, [x1]"},
		{ARM64, 0x48e0fc3f, "casalh w0, wzr, [x1]"},
		{ARM64, 0x48207c82, "casp x0, x1, x2, x3, [x4]"},
		{ARM64, 0x08207c82, "casp w0, w1, w2, w3, [x4]"},
		{ARM64, 0xf8a08061, "swpa x0, x1, [x3]"},
		{ARM64, 0x38a08061, "swpab w0, w1, [x3]"},
		{ARM64, 0xb820003f, "stadd w0, [x1]"},
		{ARM64, 0xb8a0003f, "ldadda w0, wzr, [x1]"},
		{ARM64, 0xf860103f, "stclrl x0, [x1]"},
		{ARM64, 0x7860003f, "staddlh w0, [x1]"},
		{ARM64, 0xb8bfc020, "ldapr w0, [x1]"},
		{ARM64, 0x38bfc020, "ldaprb w0, [x1]"},
		{ARM64, 0x0000ffff, "udf #65535"},
		{ARM64, 0xd401d422, "hvc #0xea1"},
		{ARM64, 0xd4000003, "smc #0x0"},
		{ARM64, 0xd500409f, "msr pan, #0x0"},
		{ARM64, 0xd503403f, "msr ssbs, #0x0"},
		{ARM64, 0xd50330ff, "sb"},
		{ARM64, 0xd508711f, "ic ialluis"},
		{ARM64, 0xd50b7523, "ic ivau, x3"},
		{ARM64, 0xd508791f, "at s1e1rp, xzr"},
		{ARM64, 0xd5087941, "sys #0, C7, C9, #2, x1"},
		{ARM64, 0xd508701f, "sys #0, C7, C0, #0"},
		{ARM, 0xe8c86000, "stm r8, {sp, lr}^"}, // objdump: stmia
		{ARM, 0xe8d88000, "ldm r8, {pc}^"},
		{ARM, 0xe9406000, "stmdb r0, {sp, lr}^"},
		{ARM, 0xe8fd8000, "ldm sp!, {pc}^"},
		{ARM, 0xe129f000, "msr CPSR_fc, r0"},
		{ARM, 0xe126f000, "msr CPSR_sx, r0"},
		{ARM, 0xe32ff0d3, "msr CPSR_fsxc, #211"},
		{ARM, 0xe14fe000, "mrs lr, SPSR"},
		{ARM, 0xf1020013, "cps #19"},
		{ARM, 0xf10c01c0, "cpsid aif"},
		{ARM, 0xf10e01d3, "cpsid aif,#19"},
		{ARM, 0xee070f15, "mcr 15, 0, r0, cr7, cr5, {0}"},
		{ARM, 0xfe070f15, "mcr2 15, 0, r0, cr7, cr5, {0}"},
		{ARM, 0x1e110f30, "mrcne 15, 0, r0, cr1, cr0, {1}"},
		{ARM, 0xec510f0e, "mrrc 15, 0, r0, r1, cr14"},
		{ARM, 0xec432f0c, "mcrr 15, 0, r2, r3, cr12"},
		{ARM, 0xec510b10, "vmov r0, r1, d0"},
		{ARM, 0xec410b11, "vmov d1, r0, r1"},
		{ARM, 0xeef85a10, "vmrs r5, fpexc"},
		{ARM, 0xeee80a10, "vmsr fpexc, r0"},
		{ARM, 0xe7f001f2, "udf #18"},
		{ARM, 0xe320f014, "csdb"},
		{ARM, 0xe1600070, "smc 0"},
		{ARM, 0xe140ea71, "hvc 3745"},
		{ARM, 0xe160006e, "eret"},
		{ARM, 0x1781010c, "strne r0, [r1, ip, lsl #2]"},
		{ARM, 0x0783200c, "streq r2, [r3, ip]"},
	}
	for _, c := range cases {
		in, err := Decode(c.arch, words(c.w), 0x1000)
		if err != nil || in.Bad {
			t.Errorf("%s %08x: %v (bad %v), want %q", c.arch, c.w, err, in.Bad, c.want)
			continue
		}
		if got := strings.TrimSpace(in.Mnemonic + " " + in.Operands); got != c.want {
			t.Errorf("%s %08x: %q, want %q", c.arch, c.w, got, c.want)
		}
	}
	// Unallocated within a family stays undecoded: CASP of an odd pair,
	// an MSR with no field, a CPS changing nothing.
	for _, c := range []struct {
		arch Arch
		w    uint32
	}{{ARM64, 0x48217c82}, {ARM, 0xe120f000}, {ARM, 0xf1080000}} {
		if in, _ := Decode(c.arch, words(c.w), 0); !in.Bad {
			t.Errorf("%s %08x decoded as %s %s", c.arch, c.w, in.Mnemonic, in.Operands)
		}
	}
}

// FuzzExtra: the supplement never panics on any word, and what it
// decodes has a mnemonic.
func FuzzExtra(f *testing.F) {
	for _, w := range []uint32{0xc8e07c22, 0x48207c82, 0xb820003f, 0xd5087941, 0xe8fd8000, 0xf10e01d3, 0xec510b10, 0x0783200c, 0xeef85a10} {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, w uint32) {
		for _, table := range [][]extraEnc{arm64Extra, armExtra} {
			if text, ok := decodeExtra(table, w); ok && (text == "" || text[0] == ' ') {
				t.Fatalf("%08x: %q", w, text)
			}
		}
	})
}
