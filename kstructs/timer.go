package kstructs

import (
	"debug/dwarf"
	"fmt"
	"sort"

	"github.com/kinspect/kinspect/dwarfx"
)

// Timer is one pending struct timer_list of the timer wheel
// (kernel/time/timer.c): when it expires (jiffies) and what it calls.
type Timer struct {
	Addr     uint64 `json:"timer_list"`
	Expires  uint64 `json:"expires"`
	TTE      int64  `json:"tte"` // expires - jiffies
	Function uint64 `json:"function"`
}

// TimerBase is one cpu's struct timer_base with its pending timers,
// soonest first.
type TimerBase struct {
	CPU    int     `json:"cpu"`
	Name   string  `json:"base"` // BASE_STD, BASE_DEF (BASE_LOCAL, BASE_GLOBAL on 6.9+)
	Addr   uint64  `json:"timer_base"`
	Timers []Timer `json:"timers"`
	Err    string  `json:"error,omitempty"`
}

// TimerWheel is every cpu's timer bases at the crash.
type TimerWheel struct {
	Jiffies uint64      `json:"jiffies"`
	Bases   []TimerBase `json:"bases"`
}

type timerLayout struct {
	bases          dwarfx.Var // per-cpu timer_bases[NR_BASES]
	nBases         int
	baseSize       uint64
	vectors        dwarfx.Field
	nVectors       int
	entry, exp, fn dwarfx.Field // of struct timer_list
	timerSize      int
}

// timerBaseNames names timer_bases[] by its length: two bases
// (BASE_STD, BASE_DEF) with NO_HZ_COMMON, three since Linux 6.9
// (BASE_LOCAL, BASE_GLOBAL, BASE_DEF), one otherwise.
var timerBaseNames = map[int][]string{1: {"BASE_STD"}, 2: {"BASE_STD", "BASE_DEF"}, 3: {"BASE_LOCAL", "BASE_GLOBAL", "BASE_DEF"}}

func (k *Kernel) buildTimerLayout() (*timerLayout, error) {
	l := &timerLayout{}
	var err error
	if l.bases, err = k.Image.Variable("timer_bases"); err != nil {
		return nil, err
	}
	at, ok := dwarfx.Strip(l.bases.Type).(*dwarf.ArrayType)
	if !ok || at.Count <= 0 || timerBaseNames[int(at.Count)] == nil {
		return nil, fmt.Errorf("timer_bases is not an array of 1 to 3 struct timer_base")
	}
	l.nBases, l.baseSize = int(at.Count), uint64(k.Image.Complete(at.Type).Size())
	if l.vectors, err = k.Image.Member(at.Type, "vectors"); err != nil {
		return nil, err
	}
	vt, ok := dwarfx.Strip(l.vectors.Type).(*dwarf.ArrayType)
	if !ok || vt.Count <= 0 {
		return nil, fmt.Errorf("timer_base.vectors is not an array")
	}
	l.nVectors = int(vt.Count)
	tt, err := k.structType("timer_list")
	if err != nil {
		return nil, err
	}
	f, err := k.members(tt, "struct timer_list", "entry", "expires", "function")
	if err != nil {
		return nil, err
	}
	l.entry, l.exp, l.fn, l.timerSize = f[0], f[1], f[2], int(tt.Size())
	return l, nil
}

func (k *Kernel) timerLayout() (*timerLayout, error) {
	c := k.cache()
	c.timerOnce.Do(func() { c.timer, c.timerErr = k.buildTimerLayout() })
	return c.timer, c.timerErr
}

// Timers reads every possible cpu's timer wheel, as crash's `timer` lists
// it. A base whose lists cannot be walked carries its error; the others
// are still read.
func (k *Kernel) Timers() (*TimerWheel, error) {
	l, err := k.timerLayout()
	if err != nil {
		return nil, err
	}
	j, err := k.ReadUint("jiffies")
	if err != nil {
		return nil, fmt.Errorf("reading jiffies: %w", err)
	}
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil, err
	}
	w := &TimerWheel{Jiffies: j}
	for _, cpu := range pc.possible {
		if cpu >= len(pc.offsets) {
			continue
		}
		for b := 0; b < l.nBases; b++ {
			addr := l.bases.Addr + pc.offsets[cpu] + uint64(b)*l.baseSize
			tb := TimerBase{CPU: cpu, Name: timerBaseNames[l.nBases][b], Addr: addr}
			tb.Timers, err = k.timerBase(l, addr, j)
			if err != nil {
				tb.Err = err.Error()
			}
			w.Bases = append(w.Bases, tb)
		}
	}
	return w, nil
}

// timerBase walks the hlists of one base's wheel (timer_base.vectors[]:
// struct hlist_head, each timer linked by timer_list.entry).
func (k *Kernel) timerBase(l *timerLayout, base, jiffies uint64) ([]Timer, error) {
	ps := uint64(k.PtrSize())
	heads := make([]byte, l.nVectors*int(ps))
	if err := k.ReadVirt(heads, base+uint64(l.vectors.ByteOffset)); err != nil {
		return nil, fmt.Errorf("reading timer_base.vectors at %#x: %w", base, err)
	}
	d := k.decoder()
	var out []Timer
	seen := map[uint64]bool{}
	for v := 0; v < l.nVectors; v++ {
		for n := d.ptrAt(heads, v*int(ps)); n != 0; {
			t := n - uint64(l.entry.ByteOffset)
			if seen[t] || len(out) >= DefaultWalkLimit {
				return out, fmt.Errorf("timer wheel %#x vector %d: timer %#x seen twice: the list loops", base, v, t)
			}
			seen[t] = true
			b, err := k.readBytes(t, l.timerSize, "struct timer_list")
			if err != nil {
				return out, fmt.Errorf("timer wheel %#x vector %d: %w", base, v, err)
			}
			bo := k.Image.ByteOrder()
			exp, _ := l.exp.Extract(b, bo)
			fn, _ := l.fn.Extract(b, bo)
			out = append(out, Timer{Addr: t, Expires: exp, TTE: signedDiff(exp, jiffies, k.PtrSize()), Function: fn})
			n = d.ptrAt(b, int(l.entry.ByteOffset)) // hlist_node.next is its first member
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].TTE < out[j].TTE })
	return out, nil
}

// signedDiff is a - b in the target's unsigned long arithmetic, as
// time_after() compares jiffies (include/linux/jiffies.h).
func signedDiff(a, b uint64, ptr int) int64 {
	if ptr == 4 {
		return int64(int32(uint32(a) - uint32(b)))
	}
	return int64(a - b)
}

// HRTimer is one queued struct hrtimer (kernel/time/hrtimer.c).
type HRTimer struct {
	Addr        uint64 `json:"hrtimer"`
	SoftExpires int64  `json:"softexpires"` // ns of the base's clock
	Expires     int64  `json:"expires"`
	TTE         int64  `json:"tte"` // expires - now
	Function    uint64 `json:"function"`
}

// HRClockBase is one cpu's struct hrtimer_clock_base with its timers,
// soonest first. Now is the clock's time at the crash as crash computes
// it: uptime in jiffies, in ns, plus the base's offset.
type HRClockBase struct {
	CPU     int       `json:"cpu"`
	CPUBase uint64    `json:"hrtimer_cpu_base"`
	Index   int       `json:"clock"`
	Addr    uint64    `json:"hrtimer_clock_base"`
	GetTime uint64    `json:"get_time,omitempty"` // the clock's read function (before Linux 6.18)
	Now     int64     `json:"now"`
	Timers  []HRTimer `json:"timers"`
	Err     string    `json:"error,omitempty"`
}

type hrLayout struct {
	bases                       dwarfx.Var // per-cpu struct hrtimer_cpu_base
	clockBase                   dwarfx.Field
	nClocks                     int
	clockSize                   uint64
	index, getTime, offset, act dwarfx.Field // of struct hrtimer_clock_base (act: active.rb_root.rb_root)
	node, soft, exp, fn         dwarfx.Field // of struct hrtimer
	timerSize                   int
}

func (k *Kernel) buildHRLayout() (*hrLayout, error) {
	l := &hrLayout{}
	var err error
	if l.bases, err = k.Image.Variable("hrtimer_bases"); err != nil {
		return nil, err
	}
	if l.clockBase, err = k.Image.Member(l.bases.Type, "clock_base"); err != nil {
		return nil, err
	}
	at, ok := dwarfx.Strip(l.clockBase.Type).(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("hrtimer_cpu_base.clock_base is not an array")
	}
	l.nClocks, l.clockSize = int(at.Count), uint64(k.Image.Complete(at.Type).Size())
	f, err := k.members(at.Type, "struct hrtimer_clock_base", "index", "active.rb_root.rb_root")
	if err != nil {
		return nil, err
	}
	l.index, l.act = f[0], f[1]
	l.getTime, _ = k.Image.Member(at.Type, "get_time")
	l.offset, _ = k.Image.Member(at.Type, "offset")
	ht, err := k.structType("hrtimer")
	if err != nil {
		return nil, err
	}
	if f, err = k.members(ht, "struct hrtimer", "node.node", "_softexpires", "node.expires", "function"); err != nil {
		return nil, err
	}
	l.node, l.soft, l.exp, l.fn, l.timerSize = f[0], f[1], f[2], f[3], int(ht.Size())
	return l, nil
}

func (k *Kernel) hrLayout() (*hrLayout, error) {
	c := k.cache()
	c.hrOnce.Do(func() { c.hr, c.hrErr = k.buildHRLayout() })
	return c.hr, c.hrErr
}

// HRTimers reads every possible cpu's hrtimer clock bases, as crash's
// `timer -r` lists them.
func (k *Kernel) HRTimers() ([]HRClockBase, error) {
	l, err := k.hrLayout()
	if err != nil {
		return nil, err
	}
	hz, jif, err := k.uptimeJiffies()
	if err != nil {
		return nil, err
	}
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil, err
	}
	var out []HRClockBase
	for _, cpu := range pc.possible {
		if cpu >= len(pc.offsets) {
			continue
		}
		cb := l.bases.Addr + pc.offsets[cpu]
		for i := 0; i < l.nClocks; i++ {
			out = append(out, k.hrClockBase(l, cpu, cb, i, int64(jif)*(1_000_000_000/int64(hz))))
		}
	}
	return out, nil
}

func (k *Kernel) hrClockBase(l *hrLayout, cpu int, cpuBase uint64, i int, uptimeNS int64) HRClockBase {
	addr := cpuBase + uint64(l.clockBase.ByteOffset) + uint64(i)*l.clockSize
	r := HRClockBase{CPU: cpu, CPUBase: cpuBase, Index: i, Addr: addr, Timers: []HRTimer{}}
	b, err := k.readBytes(addr, int(l.clockSize), "struct hrtimer_clock_base")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	bo := k.Image.ByteOrder()
	idx, _ := l.index.Extract(b, bo)
	r.Index = int(idx)
	if l.getTime.Found() {
		r.GetTime, _ = l.getTime.Extract(b, bo)
	}
	off := uint64(0)
	if l.offset.Found() {
		off, _ = l.offset.Extract(b, bo)
	}
	r.Now = uptimeNS + int64(off)
	nodes, err := WalkRBTree(k, addr+uint64(l.act.ByteOffset), InOrder)
	if err != nil {
		r.Err = err.Error()
	}
	for _, n := range nodes {
		t := n.Addr - uint64(l.node.ByteOffset)
		tb, err := k.readBytes(t, l.timerSize, "struct hrtimer")
		if err != nil {
			r.Err = err.Error()
			break
		}
		soft, _ := l.soft.Extract(tb, bo)
		exp, _ := l.exp.Extract(tb, bo)
		fn, _ := l.fn.Extract(tb, bo)
		r.Timers = append(r.Timers, HRTimer{Addr: t, SoftExpires: int64(soft), Expires: int64(exp),
			TTE: int64(exp) - r.Now, Function: fn})
	}
	return r
}
