package dwarfx

// Lookups made while the index is being built (image.go's indexFresh): a
// cold open's first command needs a handful of names (struct task_struct,
// init_task, the cpu masks) long before the whole of .debug_info (~175 MB
// on x86_64, ~0.3 s of CPU) is scanned. The index keeps, for each name, the
// definition first in file order (cand.better; chainDefs puts a name's
// first external definition first), so a scan of the units in file order
// that meets a definition of the name has found the index's answer: the
// lookup stops there. The runs of units scanned for lookups are indexed by
// the same scanner and merge as the full index and queried by the same
// code; only when a run settles the question is it used (final). The
// index's workers scan from the last unit backwards and take the runs'
// scanners into their merge, so no unit is scanned twice: a cold process
// does no more work than before, it only answers sooner.
//
// Where the first definition lies on x86_64 6.1: struct task_struct and
// struct module in the 2nd unit of 2,352 (head64.c), init_task in the 11th,
// __per_cpu_offset in the 198th, the cpu masks in the 296th, modules in the
// 393rd. A name the runs have not settled when the workers reach them
// (defined late, static, only declared) waits for the index.

import "sync"

// lazyFirstRun is the number of units the first run scans; each run after
// it is twice as long as the one before.
const lazyFirstRun = 16

type lazyScan struct {
	claims unitClaims
	mu     sync.Mutex
	runs   []*index   // indexes of consecutive runs of units from the first, in file order
	scans  []*scanner // the runs' scanners, merged into the full index
	done   bool       // the full index has taken the scanners
}

// unitClaims hands out the units no one has scanned: lookups take runs
// from the front (file order matters to them), the index's workers single
// units from the back, until they meet.
type unitClaims struct {
	mu     sync.Mutex
	lo, hi int // units[lo:hi] are unclaimed
}

// front claims up to n units from the front: units[lo:hi], empty when none
// is left.
func (c *unitClaims) front(n int) (lo, hi int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi = c.lo, min(c.lo+n, c.hi)
	c.lo = hi
	return lo, hi
}

// back claims the last unclaimed unit.
func (c *unitClaims) back() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hi <= c.lo {
		return 0, false
	}
	c.hi--
	return c.hi, true
}

// index is the full name index, waiting for it to be built.
func (im *Image) index() *index { return im.names(nil) }

// names is the index a lookup reads: the full one once it is built; while
// it is being built, the first run of units (in file order) for which final
// holds, final saying that what the run's index answers is what the full
// index will answer. A nil final, or no run settling it, waits for the full
// index.
func (im *Image) names(final func(*index) bool) *index {
	select {
	case <-im.idxDone:
		return im.idx
	default:
	}
	if final != nil {
		if x := im.lazy.find(im, final, im.idxDone); x != nil {
			return x
		}
	}
	<-im.idxDone
	return im.idx
}

// defined is the final of a lookup of a type: a definition (not a
// declaration) of kind and name.
func defined(kind uint8, name string) func(*index) bool {
	return func(x *index) bool {
		c, ok := x.types[typeKey{kind, name}]
		return ok && !c.decl
	}
}

// definedExt is the final of a lookup of a variable's (fn false) or a
// function's first definition: an external one, which chainDefs puts
// first in the name's chain.
func definedExt(fn bool, name string) func(*index) bool {
	return func(x *index) bool {
		m := x.vars
		if fn {
			m = x.funcs
		}
		h, ok := m.get(name)
		return ok && x.defs[h].ext
	}
}

// find finds, or scans, the first run settling final; nil if none does
// before stop is closed (the index is complete) or no unit is left to
// claim (the index's workers have the rest).
func (l *lazyScan) find(im *Image, final func(*index) bool, stop <-chan struct{}) *index {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.runs {
		if final(x) {
			return x
		}
	}
	for !l.done {
		select {
		case <-stop:
			return nil
		default:
		}
		lo, hi := l.claims.front(lazyFirstRun << len(l.runs))
		if lo == hi {
			return nil
		}
		s, x := im.scanRun(lo, hi)
		l.runs, l.scans = append(l.runs, x), append(l.scans, s)
		if final(x) {
			return x
		}
	}
	return nil
}

// scanRun indexes units[lo:hi] as buildIndex indexes them all, keeping
// the scanner's tables for the full index.
func (im *Image) scanRun(lo, hi int) (*scanner, *index) {
	units := im.units
	s := newScanner(im, units, 12)
	for i := lo; i < hi; i++ {
		if err := s.scanUnitSafe(&units[i]); err != nil {
			s.errs = append(s.errs, err)
		}
	}
	if off := im.infoFileOff; off >= 0 {
		im.release(uint64(off)+units[lo].off, units[hi-1].end-units[lo].off)
	}
	x := &index{units: units}
	s.keep = true
	merge(x, []*scanner{s}, im)
	s.keep = false
	x.warnings = nil // the full index reports them
	return s, x
}

// scanners hands the runs' scanners to the full index, once every unit is
// claimed: a run still being scanned is waited for.
func (l *lazyScan) scanners() []*scanner {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	s := l.scans
	l.scans = nil
	return s
}

// drop forgets the runs once the full index answers.
func (l *lazyScan) drop() {
	l.mu.Lock()
	l.runs = nil
	l.mu.Unlock()
}
