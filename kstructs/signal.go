package kstructs

import (
	"debug/dwarf"
	"fmt"
)

// nSig is _NSIG: 64 signals on every architecture kinspect reads
// (include/uapi/asm-generic/signal.h, arch/x86/include/asm/signal.h).
const nSig = 64

// SigAction is one slot of a thread group's sighand->action[] (struct
// k_sigaction): the handler (0 SIG_DFL, 1 SIG_IGN, else a user address),
// the signals blocked while it runs, and SA_* flags.
type SigAction struct {
	Sig     int    `json:"sig"`
	Addr    uint64 `json:"k_sigaction"`
	Handler uint64 `json:"handler"`
	Mask    uint64 `json:"mask"`
	Flags   uint64 `json:"flags"`
}

// Signals is a task's signal state as crash's `sig` shows it.
type Signals struct {
	Task         uint64      `json:"task"`
	SignalStruct uint64      `json:"signal_struct"`
	NrThreads    int64       `json:"nr_threads"`
	SigHand      uint64      `json:"sighand_struct"`
	Actions      []SigAction `json:"actions"`
	SigPending   bool        `json:"sigpending"` // TIF_SIGPENDING in thread_info.flags
	Blocked      uint64      `json:"blocked"`
	Pending      uint64      `json:"pending"`        // task->pending.signal
	PendingQueue []uint64    `json:"pending_queue"`  // struct sigqueue on task->pending.list
	Shared       uint64      `json:"shared_pending"` // signal->shared_pending.signal
	SharedQueue  []uint64    `json:"shared_queue"`
}

// sigset reads a sigset_t member (one unsigned long, or two on 32-bit) as
// a 64-bit mask, signal n at bit n-1.
func (s *structAt) sigset(p string) uint64 {
	lo := s.u(p + ".sig[0]")
	if s.k.PtrSize() == 4 {
		lo |= s.u(p+".sig[1]") << 32
	}
	return lo
}

// Signals reads task's signal dispositions, blocked and pending signals
// (include/linux/sched/signal.h: signal_struct, sighand_struct).
func (k *Kernel) Signals(task uint64) (*Signals, error) {
	ts := k.readStruct("task_struct", task)
	if ts.err != nil {
		return nil, ts.err
	}
	r := &Signals{Task: task, SignalStruct: ts.u("signal"), SigHand: ts.u("sighand"), Blocked: ts.sigset("blocked"),
		Pending: ts.sigset("pending.signal")}
	if ops, err := opsFor(k.Arch); err == nil {
		r.SigPending = k.threadInfoFlags(ts)&(1<<ops.tifSigPending) != 0
	}
	var err error
	if r.PendingQueue, err = k.sigQueue(task, ts.t, "pending.list"); err != nil {
		return r, err
	}
	if r.SignalStruct != 0 {
		ss := k.readStruct("signal_struct", r.SignalStruct)
		if ss.err != nil {
			return r, ss.err
		}
		r.NrThreads, r.Shared = int64(ss.u("nr_threads")), ss.sigset("shared_pending.signal")
		if r.SharedQueue, err = k.sigQueue(r.SignalStruct, ss.t, "shared_pending.list"); err != nil {
			return r, err
		}
	}
	if r.SigHand != 0 {
		r.Actions, err = k.sigActions(r.SigHand)
	}
	return r, err
}

// sigQueue lists the struct sigqueue entries (linked by their first
// member, list) on the list_head at member path p of the struct at base.
func (k *Kernel) sigQueue(base uint64, t dwarf.Type, p string) ([]uint64, error) {
	f, err := k.Image.Member(t, p)
	if err != nil {
		return nil, err
	}
	q, err := WalkList(k, base+uint64(f.ByteOffset), ListOptions{Head: true, Limit: 1 << 16})
	if err != nil {
		return q, fmt.Errorf("signal queue at %#x: %w", base+uint64(f.ByteOffset), err)
	}
	return q, nil
}

func (k *Kernel) sigActions(sighand uint64) ([]SigAction, error) {
	hs := k.readStruct("sighand_struct", sighand)
	if hs.err != nil {
		return nil, hs.err
	}
	f, err := k.Image.Member(hs.t, "action[1]")
	if err != nil {
		return nil, fmt.Errorf("sighand_struct.action: %w", err)
	}
	f0, _ := k.Image.Member(hs.t, "action[0]")
	size := uint64(f.ByteOffset - f0.ByteOffset)
	out := make([]SigAction, 0, nSig)
	for i := 0; i < nSig; i++ {
		a := sighand + uint64(f0.ByteOffset) + uint64(i)*size
		ks := k.readStruct("k_sigaction", a)
		if ks.err != nil {
			return out, ks.err
		}
		out = append(out, SigAction{Sig: i + 1, Addr: a, Handler: ks.u("sa.sa_handler"), Mask: ks.sigset("sa.sa_mask"), Flags: ks.u("sa.sa_flags")})
	}
	return out, nil
}

// threadInfoFlags is the task's thread_info.flags: inside task_struct with
// CONFIG_THREAD_INFO_IN_TASK, else at the base of its stack
// (include/linux/sched.h task_thread_info).
func (k *Kernel) threadInfoFlags(ts *structAt) uint64 {
	if _, err := k.Image.Member(ts.t, "thread_info.flags"); err == nil {
		return ts.u("thread_info.flags")
	}
	return k.readStruct("thread_info", ts.u("stack")).u("flags")
}
