package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// irqResult is `irq` (crash's descriptor list) or `irq -s` (the counts
// /proc/interrupts shows).
type irqResult struct {
	t     *kstructs.IRQTable
	stats bool
	only  map[int]bool // irq N...: just these
}

func (r irqResult) MarshalJSON() ([]byte, error) {
	t := *r.t
	t.IRQs = r.selected()
	if t.IRQs == nil {
		t.IRQs = []kstructs.IRQ{}
	}
	return json.Marshal(t)
}

func (r irqResult) selected() []kstructs.IRQ {
	var out []kstructs.IRQ
	for _, q := range r.t.IRQs {
		if (r.only == nil || r.only[q.IRQ]) && (!r.stats || len(q.Actions) > 0) {
			out = append(out, q)
		}
	}
	return out
}

func (r irqResult) Text(w io.Writer, s *Session) error {
	if r.stats {
		return r.statsText(w)
	}
	hw := s.hexWidth()
	var b strings.Builder
	fmt.Fprintf(&b, " IRQ   %-*s  %-*s  NAME\n", hw, "IRQ_DESC/_DATA", hw, "IRQACTION")
	byIRQ := map[int]kstructs.IRQ{}
	for _, q := range r.t.IRQs {
		byIRQ[q.IRQ] = q
	}
	unused := fmt.Sprintf("%*s", (hw+8)/2, "(unused)") + strings.Repeat(" ", hw-(hw+8)/2)
	for i := 0; i < r.t.NrIRQs; i++ {
		if r.only != nil && !r.only[i] {
			continue
		}
		q, ok := byIRQ[i]
		switch {
		case !ok:
			fmt.Fprintf(&b, "%4d   %s  %s\n", i, unused, unused)
		case q.Err != "" && len(q.Actions) == 0:
			fmt.Fprintf(&b, "%4d   %0*x  (%s)\n", i, hw, q.Desc, q.Err)
		case len(q.Actions) == 0:
			fmt.Fprintf(&b, "%4d   %0*x  %s\n", i, hw, q.Desc, unused)
		default:
			for j, a := range q.Actions {
				if j == 0 {
					fmt.Fprintf(&b, "%4d   %0*x  %0*x  %q\n", i, hw, q.Desc, hw, a.Addr, a.Name)
				} else {
					fmt.Fprintf(&b, "%4s   %*s  %0*x  %q\n", "", hw, "", hw, a.Addr, a.Name)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statsText prints the per-cpu counts of the lines that have a handler,
// as crash does (/proc/interrupts also hides the IRQ_HIDDEN ones and the
// chained ones that never counted: kstructs.IRQ.Shown).
func (r irqResult) statsText(w io.Writer) error {
	var b strings.Builder
	b.WriteString("    ")
	for _, c := range r.t.CPUs {
		fmt.Fprintf(&b, " %10s", "CPU"+strconv.Itoa(c))
	}
	b.WriteString("\n")
	for _, q := range r.selected() {
		fmt.Fprintf(&b, "%3d:", q.IRQ)
		for _, n := range q.Counts {
			fmt.Fprintf(&b, " %10d", n)
		}
		chip := q.Chip
		if q.Handler != "" {
			chip += "-" + q.Handler
		}
		var names []string
		for _, a := range q.Actions {
			names = append(names, a.Name)
		}
		fmt.Fprintf(&b, "  %-16s %s\n", chip, strings.Join(names, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func irqCmd() *Command {
	return &Command{
		Name:     "irq",
		Synopsis: "irq [-s] [IRQ...]",
		Summary:  "interrupt descriptors, their handlers and per-cpu counts",
		Description: "Lists the interrupt descriptors below nr_irqs as crash does: irq number, struct irq_desc, " +
			"struct irqaction (one line per handler of a shared line) and the handler's name; numbers without a " +
			"descriptor show (unused). Descriptors are found where the kernel keeps them (the sparse_irqs maple " +
			"tree on 6.5+, the irq_desc_tree radix tree before, or the irq_desc array). -s prints the per-cpu " +
			"counts of every line that has a handler, with its chip and flow handler and the handlers' names, as " +
			"crash does (/proc/interrupts also hides IRQ_HIDDEN lines, such as the arm64 IPIs, and chained ones " +
			"that never counted). --json gives every descriptor with hwirq, chip, handlers (irqaction, name, " +
			"handler, thread_fn), counts, and whether /proc/interrupts hides it.",
		Examples: []string{"irq", "irq -s", "irq 4", "irq -s --json"},
		Flags:    []Flag{{Short: "s", Help: "per-cpu interrupt counts, as /proc/interrupts"}},
		Run:      runIRQ,
	}
}

func runIRQ(s *Session, inv *Invocation) (Result, error) {
	r := irqResult{stats: inv.Has("s")}
	for _, a := range inv.Args {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return nil, &UsageError{"irq", fmt.Sprintf("%q is not an irq number", a)}
		}
		if r.only == nil {
			r.only = map[int]bool{}
		}
		r.only[n] = true
	}
	t, err := s.K.IRQs()
	if err != nil {
		return nil, err
	}
	r.t = t
	return r, nil
}
