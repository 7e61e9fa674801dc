package kstructs

import (
	"debug/dwarf"
	"fmt"

	"github.com/kinspect/kinspect/dwarfx"
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

// sigLayout: the task_struct, signal_struct, sighand_struct and
// k_sigaction members sig reads (include/linux/sched.h,
// include/linux/sched/signal.h, include/linux/signal_types.h).
type sigLayout struct {
	dec                                                   decoder
	task                                                  *structLayout
	signal, sighand, blocked, pending, pendingList, stack fieldLoc
	tiFlags                                               fieldLoc // task_struct.thread_info.flags (THREAD_INFO_IN_TASK)
	ti                                                    *structLayout
	tiFlagsAt                                             fieldLoc // struct thread_info.flags, at the stack's base otherwise
	sigStruct                                             *structLayout
	nrThreads, shared, sharedList                         fieldLoc
	hand                                                  *structLayout // struct sighand_struct
	action                                                fieldLoc      // sighand_struct.action[_NSIG]
	kaSize                                                int
	kaHandler, kaMask, kaFlags                            fieldLoc // k_sigaction.sa.*
}

func (k *Kernel) sigLayout() (*sigLayout, error) {
	return layoutOf(k, &k.cache().sig, buildSigLayout)
}

func buildSigLayout(ls *layoutSet, dec decoder) (*sigLayout, error) {
	l := &sigLayout{dec: dec}
	l.task = ls.add("task_struct", func(b *layoutBuilder) {
		l.signal, l.sighand, l.blocked = b.need("signal"), b.need("sighand"), b.need("blocked")
		l.pending, l.pendingList = b.need("pending.signal"), b.need("pending.list")
		if l.tiFlags = b.opt("thread_info.flags"); !l.tiFlags.ok() {
			l.stack = b.need("stack")
		}
	})
	if l.task != nil && !l.tiFlags.ok() {
		l.ti = ls.add("thread_info", func(b *layoutBuilder) { l.tiFlagsAt = b.need("flags") })
	}
	l.sigStruct = ls.add("signal_struct", func(b *layoutBuilder) {
		l.nrThreads = b.need("nr_threads")
		l.shared, l.sharedList = b.need("shared_pending.signal"), b.need("shared_pending.list")
	})
	l.hand = ls.add("sighand_struct", func(b *layoutBuilder) { l.action = b.need("action") })
	if ka := ls.add("k_sigaction", func(b *layoutBuilder) {
		l.kaHandler, l.kaMask, l.kaFlags = b.need("sa.sa_handler"), b.need("sa.sa_mask"), b.need("sa.sa_flags")
	}); ka != nil {
		l.kaSize = ka.size
	}
	if err := ls.err(); err != nil {
		return nil, err
	}
	return l, l.check()
}

// check makes sure of what the decoding assumes: sigset_t is _NSIG bits
// and sighand_struct.action holds _NSIG k_sigactions.
func (l *sigLayout) check() error {
	for _, f := range []fieldLoc{l.blocked, l.pending, l.shared, l.kaMask} {
		if f.Size != nSig/8 {
			return fmt.Errorf("sigset_t is %d bytes in the vmlinux's DWARF, not _NSIG/8 = %d", f.Size, nSig/8)
		}
	}
	at, ok := dwarfx.Strip(l.action.Type).(*dwarf.ArrayType)
	if !ok || at.Count != nSig || l.kaSize <= 0 || at.Type.Size() != int64(l.kaSize) || l.action.Off+nSig*l.kaSize > l.hand.size {
		return fmt.Errorf("sighand_struct.action is %s, not k_sigaction[%d]", typeName(l.action.Type), nSig)
	}
	return nil
}

// sigset decodes a sigset_t (_NSIG_WORDS unsigned longs, include/uapi/
// asm-generic/signal.h) as a 64-bit mask, signal n at bit n-1.
func (l *sigLayout) sigset(b []byte, f fieldLoc) uint64 {
	lo := l.dec.ptrAt(b, f.Off)
	if l.dec.ptr == 4 {
		lo |= l.dec.ptrAt(b, f.Off+4) << 32
	}
	return lo
}

// Signals reads task's signal dispositions, blocked and pending signals
// (include/linux/sched/signal.h: signal_struct, sighand_struct).
func (k *Kernel) Signals(task uint64) (*Signals, error) {
	l, err := k.sigLayout()
	if err != nil {
		return nil, err
	}
	b, err := l.task.read(k, task)
	if err != nil {
		return nil, err
	}
	d := l.dec
	r := &Signals{Task: task, SignalStruct: d.uint(b, l.signal), SigHand: d.uint(b, l.sighand),
		Blocked: l.sigset(b, l.blocked), Pending: l.sigset(b, l.pending)}
	if ops, oerr := opsFor(k.Arch); oerr == nil {
		flags, err := k.threadInfoFlags(l, b)
		if err != nil {
			return r, err
		}
		r.SigPending = flags&(1<<ops.tifSigPending) != 0
	}
	if r.PendingQueue, err = k.sigQueue(task + uint64(l.pendingList.Off)); err != nil {
		return r, err
	}
	if r.SignalStruct != 0 {
		sb, err := l.sigStruct.read(k, r.SignalStruct)
		if err != nil {
			return r, err
		}
		r.NrThreads, r.Shared = d.int(sb, l.nrThreads), l.sigset(sb, l.shared)
		if r.SharedQueue, err = k.sigQueue(r.SignalStruct + uint64(l.sharedList.Off)); err != nil {
			return r, err
		}
	}
	if r.SigHand != 0 {
		r.Actions, err = k.sigActions(l, r.SigHand)
	}
	return r, err
}

// sigQueue lists the struct sigqueue entries (linked by their first
// member, list) on the list_head at head.
func (k *Kernel) sigQueue(head uint64) ([]uint64, error) {
	q, err := WalkList(k, head, ListOptions{Head: true, Limit: 1 << 16})
	if err != nil {
		return q, fmt.Errorf("signal queue at %#x: %w", head, err)
	}
	return q, nil
}

// sigActions decodes the _NSIG k_sigactions of the sighand_struct at
// sighand, read at once.
func (k *Kernel) sigActions(l *sigLayout, sighand uint64) ([]SigAction, error) {
	b, err := l.hand.read(k, sighand)
	if err != nil {
		return nil, err
	}
	out := make([]SigAction, 0, nSig)
	for i := 0; i < nSig; i++ {
		off := l.action.Off + i*l.kaSize
		ka := b[off : off+l.kaSize]
		out = append(out, SigAction{Sig: i + 1, Addr: sighand + uint64(off), Handler: l.dec.uint(ka, l.kaHandler),
			Mask: l.sigset(ka, l.kaMask), Flags: l.dec.uint(ka, l.kaFlags)})
	}
	return out, nil
}

// threadInfoFlags is the task's thread_info.flags: inside task_struct with
// CONFIG_THREAD_INFO_IN_TASK, else at the base of its stack
// (include/linux/sched.h task_thread_info).
func (k *Kernel) threadInfoFlags(l *sigLayout, task []byte) (uint64, error) {
	if l.tiFlags.ok() {
		return l.dec.uint(task, l.tiFlags), nil
	}
	b, err := l.ti.read(k, l.dec.uint(task, l.stack))
	if err != nil {
		return 0, err
	}
	return l.dec.uint(b, l.tiFlagsAt), nil
}
