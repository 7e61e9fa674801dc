package kstructs

// The architectures' pt_regs validity rules on byte tables: a stack
// buffer with register sets written at chosen positions, searched as bt
// -e searches a dump's stack. No fixture: the layouts are the kernels'
// struct pt_regs (x86_64 arch/x86/include/asm/ptrace.h, arm64
// arch/arm64/include/asm/ptrace.h, arm arch/arm/include/uapi/asm/ptrace.h).

import (
	"encoding/binary"
	"testing"

	"github.com/kinspect/kinspect/dump"
)

// eframeArch is one architecture's searcher with a made-up address map.
type eframeArch struct {
	u                *unwinder
	text             [2]uint64 // kernel text [lo, hi)
	userTop, kbase   uint64
	stackLo, stackSz uint64
}

func newEframeArch(arch dump.Arch, ops *archOps, word uint64, nslots int, size uint64, stackframe int64) *eframeArch {
	pl := ptRegsLayout{size: size, stackframe: stackframe, extra: map[string][2]uint64{}}
	for i := 0; i < nslots; i++ {
		pl.offs = append(pl.offs, int64(i)*int64(word))
	}
	return &eframeArch{u: &unwinder{arch: arch, ops: ops, bo: binary.LittleEndian, ptr: word, ptRegs: pl}}
}

var (
	// x86_64: r15..ss, 21 slots of 8 bytes, sizeof 168.
	eframeX86 = func() *eframeArch {
		a := newEframeArch(dump.ArchX86_64, &x86_64Ops, 8, x86NRegs, 168, -1)
		a.text, a.userTop, a.kbase = [2]uint64{0xffffffff81000000, 0xffffffff82000000}, 1<<47, 0xffff800000000000
		a.stackLo, a.stackSz = 0xffffc90000010000, 0x1000
		return a
	}()
	// arm64: regs[31], sp, pc, pstate; sizeof 336 with stackframe.
	eframeARM64 = func() *eframeArch {
		a := newEframeArch(dump.ArchARM64, &arm64Ops, 8, 34, 336, 320)
		a.text, a.userTop, a.kbase = [2]uint64{0xffff800008000000, 0xffff80000a000000}, 1<<48, 0xffff000000000000
		a.stackLo, a.stackSz = 0xffff800008340000, 0x1000
		return a
	}()
	// arm: uregs[18]; sizeof 72.
	eframeARM = func() *eframeArch {
		a := newEframeArch(dump.ArchARM, &armOps, 4, armNRegs, 72, -1)
		a.text, a.userTop, a.kbase = [2]uint64{0xc0008000, 0xc0a00000}, 0xbf000000, 0xbf000000
		a.stackLo, a.stackSz = 0xf0da0000, 0x800
		return a
	}()
)

func (a *eframeArch) env() *eframeEnv {
	return &eframeEnv{
		size:   a.u.ptRegs.size,
		stack:  stackRange{lo: a.stackLo, hi: a.stackLo + a.stackSz, kind: "task"},
		text:   func(v uint64) bool { return v >= a.text[0] && v < a.text[1] },
		user:   func(v uint64) bool { return v < a.userTop },
		kernel: func(v uint64) bool { return v >= a.kbase },
		code:   func(v uint64) uint64 { return v | 0xffff000000000000*(a.u.ptr/8) }, // a PAC'd arm64 lr
	}
}

// put writes the register set vals (slot → value) at stack offset off.
func (a *eframeArch) put(buf []byte, off uint64, vals map[int]uint64) {
	for i, v := range vals {
		p := buf[off+uint64(a.u.ptRegs.offs[i]):]
		if a.u.ptr == 4 {
			binary.LittleEndian.PutUint32(p, uint32(v))
		} else {
			binary.LittleEndian.PutUint64(p, v)
		}
	}
}

type eframeCase struct {
	name     string
	off      uint64 // where the set is written (from the stack's base)
	regs     func(a *eframeArch, addr uint64) map[int]uint64
	userTask bool
	want     eframeMode // at off; eframeNone: nothing found at all
}

func runEframeCases(t *testing.T, a *eframeArch, cases []eframeCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, a.stackSz)
			a.put(buf, c.off, c.regs(a, a.stackLo+c.off))
			fs := a.u.scanEframes(buf, a.env(), c.userTask)
			if c.want == eframeNone {
				if len(fs) != 0 {
					t.Fatalf("found %d frames, first at %#x user=%v; want none", len(fs), fs[0].Addr, fs[0].User)
				}
				return
			}
			if len(fs) != 1 || fs[0].Addr != a.stackLo+c.off || fs[0].User != (c.want == eframeUser) {
				t.Fatalf("found %+v, want one %v frame at %#x", fs, c.want, a.stackLo+c.off)
			}
		})
	}
}

func TestEframeRuleX86(t *testing.T) {
	a := eframeX86
	kern := func(ss, sp func(addr uint64) uint64, flags uint64) func(*eframeArch, uint64) map[int]uint64 {
		return func(a *eframeArch, addr uint64) map[int]uint64 {
			return map[int]uint64{x86IP: 0xffffffff81234567, x86CS: x86KernelCS, x86SS: ss(addr), x86SP: sp(addr), x86Flags: flags, x86AX: 17}
		}
	}
	c := func(v uint64) func(uint64) uint64 { return func(uint64) uint64 { return v } }
	above := func(d uint64) func(uint64) uint64 { return func(addr uint64) uint64 { return addr + 168 + d } }
	user := func(cs, ip, sp uint64) func(*eframeArch, uint64) map[int]uint64 {
		return func(*eframeArch, uint64) map[int]uint64 {
			return map[int]uint64{x86IP: ip, x86CS: cs, x86SS: x86UserDS, x86SP: sp, x86Flags: 0x202}
		}
	}
	runEframeCases(t, a, []eframeCase{
		{"kernel __KERNEL_DS", 0x100, kern(c(x86KernelDS), c(0xffffc90000010800), 0x246), false, eframeKernel},
		{"kernel ss 0, rsp just above", 0x200, kern(c(0), above(0), 0x246), false, eframeKernel},
		{"kernel ss 0, rsp above+8", 0x200, kern(c(0), above(8), 0x86), false, eframeKernel},
		{"kernel ss 0, rsp elsewhere", 0x200, kern(c(0), c(0xffffc90000010800), 0x246), false, eframeNone},
		{"kernel rip not text", 0x100, func(a *eframeArch, addr uint64) map[int]uint64 {
			m := kern(c(x86KernelDS), c(0xffffc90000010800), 0x246)(a, addr)
			m[x86IP] = 0xffff888000001000
			return m
		}, false, eframeNone},
		{"rflags reserved bit 3", 0x100, kern(c(x86KernelDS), c(0xffffc90000010800), 0x24e), false, eframeNone},
		{"rflags bit 1 clear", 0x100, kern(c(x86KernelDS), c(0xffffc90000010800), 0x244), false, eframeNone},
		{"user", 0xf58, user(x86UserCS, 0x47b7a0, 0x7ffe7b305348), true, eframeUser},
		{"user vsyscall", 0xf58, user(x86UserCS, 0xffffffffff600400, 0x7ffe7b305348), true, eframeUser},
		{"user compat", 0xf58, user(x86User32CS, 0x8048000, 0xffd00000), true, eframeUser},
		{"user rip in kernel", 0xf58, user(x86UserCS, 0xffffffff81234567, 0x7ffe7b305348), true, eframeNone},
		{"user rsp in kernel", 0xf58, user(x86UserCS, 0x47b7a0, 0xffffc90000010800), true, eframeNone},
	})
}

func TestEframeRuleARM64(t *testing.T) {
	a := eframeARM64
	const top = 0x1000 - 336 // the user slot (pt_regs has stackframe)
	kern := func(pstate uint64, sp, fp, lr uint64) func(*eframeArch, uint64) map[int]uint64 {
		return func(*eframeArch, uint64) map[int]uint64 {
			return map[int]uint64{arm64PState: pstate, arm64SP: sp, arm64FP: fp, arm64LR: lr, arm64PC: 0xffff800008123456, 0: 0xdead}
		}
	}
	user := func(pstate, pc, sp uint64) func(*eframeArch, uint64) map[int]uint64 {
		return func(*eframeArch, uint64) map[int]uint64 {
			return map[int]uint64{arm64PState: pstate, arm64SP: sp, arm64PC: pc, arm64LR: 0x4ba534, 8: 64}
		}
	}
	in := uint64(0xffff800008340920)
	runEframeCases(t, a, []eframeCase{
		{"EL1h", 0x7d0, kern(0x60000005, in, in, 0xffff800008123450), false, eframeKernel},
		{"EL1t", 0x7d0, kern(0x4, in, in, 0xffff800008123450), false, eframeKernel},
		{"EL2h", 0x7d0, kern(0x9, in, in, 0xffff800008123450), false, eframeKernel},
		{"EL1h, lr with a PAC", 0x7d0, kern(0x60000005, in, in, 0x00b4800008123450), false, eframeKernel},
		{"EL3h", 0x7d0, kern(0xd, in, in, 0xffff800008123450), false, eframeNone},
		{"pstate upper word", 0x7d0, kern(0x100000005, in, in, 0xffff800008123450), false, eframeNone},
		{"AArch32 bit", 0x7d0, kern(0x15, in, in, 0xffff800008123450), false, eframeNone},
		{"sp off the stack", 0x7d0, kern(0x5, 0xffff800008350000, in, 0xffff800008123450), false, eframeNone},
		{"x29 off the stack", 0x7d0, kern(0x5, in, 0x10, 0xffff800008123450), false, eframeNone},
		{"lr not text", 0x7d0, kern(0x5, in, in, 0xffff000012345678), false, eframeNone},
		{"user slot", top, user(0x20000000, 0x44a7cc, 0xffffeca1ead0), true, eframeUser},
		{"user slot, AArch32 user", top, user(0x10, 0x10000, 0xff000000), true, eframeUser},
		{"user slot of a kernel thread", top, user(0x20000000, 0x44a7cc, 0xffffeca1ead0), false, eframeNone},
		{"user slot, kernel pc", top, user(0x20000000, 0xffff800008123456, 0xffffeca1ead0), true, eframeNone},
		{"user-looking set off the slot", 0x400, user(0x20000000, 0x44a7cc, 0xffffeca1ead0), true, eframeNone},
	})
}

func TestEframeRuleARM(t *testing.T) {
	a := eframeARM
	const top = 0x800 - 8 - 72 // task_pt_regs
	svc := func(cpsr, orig uint64, spAbove uint64, pc uint64) func(*eframeArch, uint64) map[int]uint64 {
		return func(_ *eframeArch, addr uint64) map[int]uint64 {
			return map[int]uint64{armCPSR: cpsr, armOrigR0: orig, armSP: addr + 72 + spAbove, armPC: pc, armLR: 0xc0123450}
		}
	}
	user := func(cpsr, pc, sp uint64) func(*eframeArch, uint64) map[int]uint64 {
		return func(*eframeArch, uint64) map[int]uint64 {
			return map[int]uint64{armCPSR: cpsr, armPC: pc, armSP: sp, armOrigR0: 1}
		}
	}
	runEframeCases(t, a, []eframeCase{
		{"SVC", 0x660, svc(0x60000013, 0xffffffff, 0, 0xc0123456), false, eframeKernel},
		{"SVC, sp realigned", 0x660, svc(0x60000013, 0xffffffff, 4, 0xc0123456), false, eframeKernel},
		{"SVC, sp far above", 0x660, svc(0x60000013, 0xffffffff, 64, 0xc0123456), false, eframeNone},
		{"SVC, a syscall's orig_r0", 0x660, svc(0x60000013, 3, 0, 0xc0123456), false, eframeNone},
		{"SVC, pc not text", 0x660, svc(0x60000013, 0xffffffff, 0, 0xc1000000), false, eframeNone},
		{"IRQ mode", 0x660, svc(0x60000012, 0xffffffff, 0, 0xc0123456), false, eframeNone},
		{"user slot", top, user(0x60000030, 0x11226, 0xbe8d4318), true, eframeUser},
		{"user slot, kernel pc", top, user(0x60000030, 0xc0123456, 0xbe8d4318), true, eframeNone},
		{"user slot, SVC mode", top, user(0x60000013, 0x11226, 0xbe8d4318), true, eframeNone},
		{"user-looking set off the slot", 0x100, user(0x10, 0x11226, 0xbe8d4318), true, eframeNone},
	})
}

// FuzzEframeScan: any stack contents give frames inside the stack, at
// word-aligned positions, with a mode; never a panic.
func FuzzEframeScan(f *testing.F) {
	arches := []*eframeArch{eframeX86, eframeARM64, eframeARM}
	for i, a := range arches {
		buf := make([]byte, 512)
		a.put(buf, 64, map[int]uint64{0: 0xffffffff81234567, 1: 0x10})
		f.Add(uint8(i), buf, true)
		f.Add(uint8(i), []byte{1, 2, 3}, false)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte, userTask bool) {
		a := arches[int(which)%len(arches)]
		env := a.env()
		env.stack.hi = env.stack.lo + uint64(len(data))
		for _, fr := range a.u.scanEframes(data, env, userTask) {
			if fr.Addr < env.stack.lo || fr.Addr+a.u.ptRegs.size > env.stack.hi || (fr.Addr-env.stack.lo)%a.u.ptr != 0 {
				t.Fatalf("frame at %#x outside [%#x, %#x) or unaligned", fr.Addr, env.stack.lo, env.stack.hi)
			}
			if fr.Regs == nil || fr.Regs.User != fr.User {
				t.Fatalf("frame at %#x: regs %+v", fr.Addr, fr.Regs)
			}
		}
	})
}
