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
