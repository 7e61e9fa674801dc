package kstructs

import (
	"debug/dwarf"
	"fmt"
	"sort"

	"github.com/kinspect/kinspect/dwarfx"
)

// IRQ is one interrupt descriptor (struct irq_desc, include/linux/irqdesc.h)
// with its handlers and per-cpu counts: what /proc/interrupts and crash's
// `irq`/`irq -s` show.
type IRQ struct {
	IRQ     int      `json:"irq"`
	Desc    uint64   `json:"irq_desc"`
	HWIRQ   uint64   `json:"hwirq"`
	Chip    string   `json:"chip"`    // irq_data.chip->name ("IO-APIC"; empty where the chip prints its own)
	Handler string   `json:"handler"` // desc->name: the flow handler's name ("edge", "fasteoi"), if set
	Actions []Action `json:"actions"` // desc->action and its ->next chain (shared lines)
	Counts  []uint64 `json:"counts"`  // per possible cpu, from desc->kstat_irqs
	Total   uint64   `json:"total"`
	// Hidden: IRQ_HIDDEN is set (include/linux/irq.h; the arm64 IPIs),
	// so /proc/interrupts leaves the line out.
	Hidden bool `json:"hidden,omitempty"`
	// Chained: the line's handler is a chained flow handler (its action
	// is kernel/irq/chip.c's chained_action), which /proc/interrupts
	// shows only once it has counted.
	Chained bool   `json:"chained,omitempty"`
	Err     string `json:"error,omitempty"`
}

// Shown reports whether /proc/interrupts lists the line
// (kernel/irq/proc.c show_interrupts): not hidden, and a handler that is
// not a chained one, or counts.
func (q IRQ) Shown() bool {
	return !q.Hidden && (len(q.Actions) > 0 && !q.Chained || q.Total > 0)
}

// Action is one struct irqaction of a descriptor.
type Action struct {
	Addr    uint64 `json:"irqaction"`
	Name    string `json:"name"`
	Handler uint64 `json:"handler"`
	Thread  uint64 `json:"thread_fn,omitempty"`
}

// IRQTable is every descriptor up to nr_irqs, in irq order; Missing are
// the numbers below nr_irqs that have no descriptor (sparse irqs).
type IRQTable struct {
	NrIRQs int   `json:"nr_irqs"`
	CPUs   []int `json:"cpus"`
	IRQs   []IRQ `json:"irqs"`
}

type irqLayout struct {
	desc                                    dwarf.Type
	descSize                                int
	irq, hwirq, chip, name, action, kstat   dwarfx.Field
	status                                  dwarfx.Field // status_use_accessors
	hidden                                  uint64       // IRQ_HIDDEN, 0 where the kernel has none
	chained                                 uint64       // &chained_action
	kstatCnt                                int64        // 6.10+: kstat_irqs points to struct irqstat, count at .cnt
	chipName                                dwarfx.Field
	act                                     dwarf.Type
	actSize                                 int
	actName, actHandler, actThread, actNext dwarfx.Field
}

func (k *Kernel) irqLayout() (*irqLayout, error) {
	c := k.cache()
	c.irqOnce.Do(func() { c.irq, c.irqErr = k.buildIRQLayout() })
	return c.irq, c.irqErr
}

// members resolves struct t's members by path (layoutBuilder.need),
// naming every missing one.
func (k *Kernel) members(t dwarf.Type, name string, paths ...string) ([]dwarfx.Field, error) {
	b := &layoutBuilder{im: k.Image, t: t, name: name}
	out := make([]dwarfx.Field, len(paths))
	for i, p := range paths {
		out[i] = b.need(p).field
	}
	if err := b.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (k *Kernel) buildIRQLayout() (*irqLayout, error) {
	l := &irqLayout{}
	var err error
	if l.desc, err = k.structType("irq_desc"); err != nil {
		return nil, err
	}
	l.descSize = int(l.desc.Size())
	f, err := k.members(l.desc, "struct irq_desc", "irq_data.irq", "irq_data.hwirq", "irq_data.chip", "action", "kstat_irqs")
	if err != nil {
		return nil, err
	}
	l.irq, l.hwirq, l.chip, l.action, l.kstat = f[0], f[1], f[2], f[3], f[4]
	l.name, _ = k.Image.Member(l.desc, "name")
	l.status, _ = k.Image.Member(l.desc, "status_use_accessors")
	if v, err := k.Image.Variable("chained_action"); err == nil {
		l.chained = v.Addr
	}
	if v, _, ok := k.Image.EnumConstant("IRQ_HIDDEN"); ok && l.status.Found() {
		l.hidden = uint64(v)
	}
	// Linux 6.10 made kstat_irqs a per-cpu struct irqstat (cnt, ref);
	// before, a per-cpu unsigned int (kernel/irq/irqdesc.c kstat_irqs_cpu).
	if st, ok := pointee(l.kstat.Type); ok {
		if cnt, err := k.Image.Member(st, "cnt"); err == nil {
			l.kstatCnt = cnt.ByteOffset
		}
	}
	ct, err := k.structType("irq_chip")
	if err != nil {
		return nil, err
	}
	if l.chipName, err = k.Image.Member(ct, "name"); err != nil {
		return nil, err
	}
	if l.act, err = k.structType("irqaction"); err != nil {
		return nil, err
	}
	l.actSize = int(l.act.Size())
	if f, err = k.members(l.act, "struct irqaction", "name", "handler", "next"); err != nil {
		return nil, err
	}
	l.actName, l.actHandler, l.actNext = f[0], f[1], f[2]
	l.actThread, _ = k.Image.Member(l.act, "thread_fn")
	return l, nil
}

// IRQs reads every interrupt descriptor below nr_irqs. A descriptor that
// cannot be read is listed with its error; the others still are.
func (k *Kernel) IRQs() (*IRQTable, error) {
	l, err := k.irqLayout()
	if err != nil {
		return nil, err
	}
	nr, err := k.ReadUint("nr_irqs")
	if err != nil {
		return nil, fmt.Errorf("reading nr_irqs: %w", err)
	}
	descs, err := k.irqDescs(int(nr))
	if err != nil {
		return nil, err
	}
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil, err
	}
	t := &IRQTable{NrIRQs: int(nr), CPUs: pc.possible}
	for _, d := range descs {
		t.IRQs = append(t.IRQs, k.readIRQ(l, pc, d))
	}
	sort.Slice(t.IRQs, func(i, j int) bool { return t.IRQs[i].IRQ < t.IRQs[j].IRQ })
	return t, nil
}

func (k *Kernel) readIRQ(l *irqLayout, pc *perCPU, desc uint64) IRQ {
	r := IRQ{Desc: desc, IRQ: -1}
	b, err := k.readBytes(desc, l.descSize, "struct irq_desc")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	bo := k.Image.ByteOrder()
	u := func(f dwarfx.Field) uint64 { v, _ := f.Extract(b, bo); return v }
	r.IRQ, r.HWIRQ = int(u(l.irq)), u(l.hwirq)
	r.Hidden = l.hidden != 0 && u(l.status)&l.hidden != 0
	if chip := u(l.chip); chip != 0 {
		r.Chip = k.stringAt(chip+uint64(l.chipName.ByteOffset), l.chipName)
	}
	if l.name.Found() {
		if p := u(l.name); p != 0 {
			r.Handler, _ = k.readCString(p, 64)
		}
	}
	r.Chained = l.chained != 0 && u(l.action) == l.chained
	r.Actions, err = k.irqActions(l, u(l.action))
	if err != nil {
		r.Err = err.Error()
	}
	if kstat := u(l.kstat); kstat != 0 {
		for _, cpu := range pc.possible {
			n, err := k.irqCount(l, pc, kstat, cpu)
			if err != nil {
				r.Err = err.Error()
			}
			r.Counts = append(r.Counts, n)
			r.Total += n
		}
	}
	return r
}

// stringAt reads the char * at addr (a member f of some struct).
func (k *Kernel) stringAt(addr uint64, f dwarfx.Field) string {
	p, err := k.readPointer(addr)
	if err != nil || p == 0 {
		return ""
	}
	s, _ := k.readCString(p, 64)
	return s
}

// irqCount is per_cpu(desc->kstat_irqs, cpu) (->cnt on 6.10+).
func (k *Kernel) irqCount(l *irqLayout, pc *perCPU, kstat uint64, cpu int) (uint64, error) {
	if cpu >= len(pc.offsets) {
		return 0, fmt.Errorf("cpu %d has no per-cpu area", cpu)
	}
	b, err := k.readBytes(kstat+pc.offsets[cpu]+uint64(l.kstatCnt), 4, "kstat_irqs")
	if err != nil {
		return 0, err
	}
	return uint64(k.Image.ByteOrder().Uint32(b)), nil
}

// irqActions follows desc->action and each irqaction's ->next.
func (k *Kernel) irqActions(l *irqLayout, a uint64) ([]Action, error) {
	var out []Action
	seen := map[uint64]bool{}
	bo := k.Image.ByteOrder()
	for a != 0 {
		if seen[a] || len(out) > 64 {
			return out, fmt.Errorf("irqaction chain loops at %#x", a)
		}
		seen[a] = true
		b, err := k.readBytes(a, l.actSize, "struct irqaction")
		if err != nil {
			return out, err
		}
		u := func(f dwarfx.Field) uint64 { v, _ := f.Extract(b, bo); return v }
		act := Action{Addr: a, Handler: u(l.actHandler)}
		if l.actThread.Found() {
			act.Thread = u(l.actThread)
		}
		if p := u(l.actName); p != 0 {
			act.Name, _ = k.readCString(p, 64)
		}
		out = append(out, act)
		a = u(l.actNext)
	}
	return out, nil
}

// irqDescs lists the descriptors of irqs 0..nr-1 from wherever the kernel
// keeps them (kernel/irq/irqdesc.c): the sparse_irqs maple tree (6.5+),
// the irq_desc_tree radix tree (CONFIG_SPARSE_IRQ before), or the static
// irq_desc[NR_IRQS] array.
func (k *Kernel) irqDescs(nr int) ([]uint64, error) {
	if v, err := k.Image.Variable("sparse_irqs"); err == nil {
		l, err := k.vmaLayout()
		if err != nil || !l.maple {
			return nil, fmt.Errorf("sparse_irqs is a maple tree, but its layout is unknown: %v", err)
		}
		return k.walkMaple(l, v.Addr)
	}
	if v, err := k.Image.Variable("irq_desc_tree"); err == nil {
		return k.irqRadixDescs(v)
	}
	v, err := k.Image.Variable("irq_desc")
	if err != nil {
		return nil, fmt.Errorf("no sparse_irqs, irq_desc_tree or irq_desc in the vmlinux")
	}
	at, ok := v.Type.(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("irq_desc is not an array")
	}
	size := uint64(at.Type.Size())
	var out []uint64
	for i := 0; i < nr && i < int(at.Count); i++ {
		out = append(out, v.Addr+uint64(i)*size)
	}
	return out, nil
}

// irqRadixDescs walks the irq_desc_tree radix tree (a struct xarray since
// 4.20, include/linux/radix-tree.h) in irq order.
func (k *Kernel) irqRadixDescs(v dwarfx.Var) ([]uint64, error) {
	head, err := k.Image.Member(v.Type, "xa_head")
	if err != nil {
		return nil, fmt.Errorf("irq_desc_tree: %w", err)
	}
	sl, err := k.schedLayout()
	if err != nil {
		return nil, err
	}
	h, err := k.readPointer(v.Addr + uint64(head.ByteOffset))
	if err != nil {
		return nil, fmt.Errorf("reading irq_desc_tree.xa_head: %w", err)
	}
	m, err := walkXArray(k, h, sl.pid.xaNode)
	idx := make([]uint64, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	out := make([]uint64, len(idx))
	for i, x := range idx {
		out[i] = m[x]
	}
	return out, err
}
