package kstructs

// The architectures' pt_regs validity rules for bt -e (archOps.eframe).
// x86_64 and arm64 follow crash's x86_64_eframe_verify and
// arm64_is_kernel_exception_frame; crash has no arm rule
// (arm_eframe_search is not implemented), so arm's is kinspect's own,
// from the kernel's exception entry code.

// x86_64 segment selectors (arch/x86/include/asm/segment.h).
const (
	x86KernelCS = 0x10 // __KERNEL_CS
	x86KernelDS = 0x18 // __KERNEL_DS
	x86User32CS = 0x23 // __USER32_CS
	x86UserDS   = 0x2b // __USER_DS
	x86UserCS   = 0x33 // __USER_CS
	// x86RAZMask: RFLAGS bits that read as zero (reserved; Intel SDM
	// vol. 1, 3.4.3); bit 1 reads as one.
	x86RAZMask = 0xffffffffffc08028
	// x86Vsyscall is the legacy vsyscall page, a user-mode pc above user
	// space (arch/x86/include/asm/vsyscall.h VSYSCALL_ADDR).
	x86Vsyscall = 0xffffffffff600000
)

var x86Eframe = eframeRule{
	check: x86EframeCheck,
	// TASK_SIZE_MAX: 47 or, with 5-level page tables, 56 address bits
	// (arch/x86/include/asm/page_64_types.h).
	userTop: func(k *Kernel) uint64 {
		if k.Layout.PGTableLevels == 5 {
			return 1 << 56
		}
		return 1 << 47
	},
	// The upper canonical half.
	kernelBase: func(k *Kernel) uint64 {
		if k.Layout.PGTableLevels == 5 {
			return 0xff00000000000000
		}
		return 0xffff800000000000
	},
}

// x86EframeCheck: a kernel-mode frame has __KERNEL_CS, a kernel text rip
// and a kernel rsp, with __KERNEL_DS or an rsp just above the frame (the
// hardware pushed ss as 0) or on an exception stack; a user-mode frame
// has the user selectors and user rip and rsp. RFLAGS' reserved bits
// must be as the CPU writes them.
func x86EframeCheck(r *Regs, e *eframeEnv) eframeMode {
	fl := r.Get(x86Flags)
	if fl&x86RAZMask != 0 || fl&2 == 0 {
		return eframeNone
	}
	cs, ss, ip, sp := r.Get(x86CS), r.Get(x86SS), r.Get(x86IP), r.Get(x86SP)
	above := e.addr + e.size
	switch {
	case cs == x86KernelCS:
		if e.text(ip) && e.kernel(sp) && (ss == x86KernelDS || sp == above || sp == above+8 || e.stack.kind == "exception") {
			return eframeKernel
		}
		if ss == x86KernelDS && sp == above {
			return eframeKernel
		}
	case cs == x86UserCS && ss == x86UserDS:
		if ip&^0xfff == x86Vsyscall && userAddrs(e, sp) || userAddrs(e, ip, sp) {
			return eframeUser
		}
	case cs == x86User32CS && ss == x86UserDS:
		if userAddrs(e, ip, sp) {
			return eframeUser
		}
	}
	return eframeNone
}

// arm64 PSTATE (arch/arm64/include/uapi/asm/ptrace.h).
const (
	arm64ModeMask = 0xf
	arm64Mode32   = 0x10 // PSR_MODE32_BIT: an AArch32 (compat) context
	arm64EL0t     = 0x0
	arm64EL1t     = 0x4
	arm64EL1h     = 0x5
	arm64EL2t     = 0x8
	arm64EL2h     = 0x9
)

var arm64Eframe = eframeRule{
	check: arm64EframeCheck,
	// The entry code builds user space's pt_regs at the top of the
	// stack; before pt_regs held the stackframe record, 16 bytes were
	// left above it (crash's user_eframe_offset).
	userSlot: func(pl *ptRegsLayout) uint64 {
		if pl.stackframe >= 0 {
			return pl.size
		}
		return pl.size + 16
	},
	userTop:    func(k *Kernel) uint64 { return 1 << arm64VABits(k) },
	kernelBase: func(k *Kernel) uint64 { return -(uint64(1) << arm64VABits(k)) },
}

func arm64VABits(k *Kernel) uint {
	if b := k.Layout.VABits; b > 0 && b < 64 {
		return uint(b)
	}
	return 48
}

// arm64EframeCheck: a kernel-mode frame has an EL1 or EL2 AArch64
// PSTATE (upper word clear), sp and x29 on the stack searched, and pc
// and lr in kernel text; a user-mode one EL0 (or AArch32 user) with user
// pc and sp.
func arm64EframeCheck(r *Regs, e *eframeEnv) eframeMode {
	ps := r.Get(arm64PState)
	if ps>>32 != 0 {
		return eframeNone
	}
	pc, sp := r.Get(arm64PC), r.Get(arm64SP)
	if ps&arm64ModeMask == arm64EL0t {
		if userAddrs(e, pc, sp) {
			return eframeUser
		}
		return eframeNone
	}
	if ps&arm64Mode32 != 0 || !e.stack.contains(sp, 0) || !e.stack.contains(r.Get(arm64FP), 0) {
		return eframeNone
	}
	switch ps & arm64ModeMask {
	case arm64EL1t, arm64EL1h, arm64EL2t, arm64EL2h:
		if e.text(pc) && e.text(e.code(r.Get(arm64LR))) {
			return eframeKernel
		}
	}
	return eframeNone
}

// arm CPSR modes (arch/arm/include/uapi/asm/ptrace.h).
const (
	armModeMask = 0x1f
	armUSRMode  = 0x10
	armSVCMode  = 0x13
	// armTaskSizeGap: TASK_SIZE is PAGE_OFFSET less 16M, the modules'
	// area (arch/arm/include/asm/memory.h).
	armTaskSizeGap = 16 << 20
)

var armEframe = eframeRule{
	check: armEframeCheck,
	// task_pt_regs: below THREAD_START_SP, 8 bytes under the stack's top
	// (arch/arm/include/asm/thread_info.h, processor.h).
	userSlot:   func(pl *ptRegsLayout) uint64 { return pl.size + 8 },
	userTop:    func(k *Kernel) uint64 { return k.Layout.PageOffset - armTaskSizeGap },
	kernelBase: func(k *Kernel) uint64 { return k.Layout.PageOffset - armTaskSizeGap },
}

// armEframeCheck: the kernel runs in SVC mode, and svc_entry
// (arch/arm/kernel/entry-armv.S) saves an exception from it with
// ORIG_r0 = -1 and the interrupted sp just above the frame (8-byte
// realignment allowed), pc in kernel text; a user-mode frame has USR mode
// and user pc and sp.
func armEframeCheck(r *Regs, e *eframeEnv) eframeMode {
	mode := r.Get(armCPSR) & armModeMask
	pc, sp := r.Get(armPC), r.Get(armSP)
	switch mode {
	case armUSRMode:
		if userAddrs(e, pc, sp) {
			return eframeUser
		}
	case armSVCMode:
		above := e.addr + e.size
		if uint32(r.Get(armOrigR0)) == 0xffffffff && e.text(pc) && sp >= above && sp <= above+8 && e.stack.contains(sp, 0) {
			return eframeKernel
		}
	}
	return eframeNone
}

// userAddrs: every value is a user-space address other than NULL (a
// zeroed pt_regs is no user context).
func userAddrs(e *eframeEnv, vs ...uint64) bool {
	for _, v := range vs {
		if v == 0 || !e.user(v) {
			return false
		}
	}
	return true
}
