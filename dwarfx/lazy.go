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
	rel    *releaser // drops the pages of the units scanned (nil: none)
	mu     sync.Mutex
	runs   []*index   // indexes of consecutive runs of units from the first, in file order
	next   int        // the unit after the last run; -1 once the index's workers took a run first
	scans  []*scanner // the runs' scanners, merged into the full index
	done   bool       // the full index has taken the scanners
}

// unitClaims hands out the units no one has scanned. Every scanner meets
// its units in file order, as the enumerations' deduplication needs
// (scanner.seenEnum). .debug_info is split in two at about half its bytes:
// the index's workers take single units of the back part, from its start;
// lookups take runs of the front part from the first unit; workers done
// with the back part take runs of what is left of the front.
type unitClaims struct {
	mu        sync.Mutex
	lo, split int  // the front part: units[lo:split] are unclaimed
	mid, end  int  // the back part: units[mid:end] are unclaimed
	gone      bool // abandoned: the index will not be completed
}

// newUnitClaims splits units at half their bytes.
func newUnitClaims(units []unitInfo) unitClaims {
	split := 0
	if n := len(units); n > 0 {
		half := units[n-1].end / 2
		for split < n && units[split].off < half {
			split++
		}
	}
	return unitClaims{split: split, mid: split, end: len(units)}
}

// front claims up to n units of the front part: units[lo:hi], empty when
// none is left.
func (c *unitClaims) front(n int) (lo, hi int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi = c.lo, min(c.lo+n, c.split)
	c.lo = hi
	return lo, hi
}

// abandon claims every unit left, for no one: the index will not be
// completed (Close handed it off, indexcache.go). Scanners stop after the
// unit they are in.
func (c *unitClaims) abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lo, c.mid, c.gone = c.split, c.end, true
}

// abandoned reports whether abandon was called.
func (c *unitClaims) abandoned() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

// back claims the next unit of the back part.
func (c *unitClaims) back() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mid >= c.end {
		return 0, false
	}
	c.mid++
	return c.mid - 1, true
}

// index is the full name index, waiting for it to be built.
func (im *Image) index() *index { return im.names(nil) }

// names is the index a lookup reads: the full one once it is built; while
// it is being built, the first run of units (in file order) for which final
// holds, final saying that what the run's index answers is what the full
// index will answer. A nil final, or no run settling it, waits for the full
// index.
func (im *Image) names(final func(*index) bool) *index {
	if im.idxDone == nil {
		return &index{} // an Image made without an index (tests, eval): no names
	}
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
	im.lazy.help(im)
	<-im.idxDone
	return im.idx
}

// help scans, for the full index, the units of the front part no one has
// claimed, as a caller that would only wait for the index: the index's
// workers leave one core to the process's own work (buildIndex), and a
// process whose work is waiting for the index gives it that core.
func (l *lazyScan) help(im *Image) {
	l.mu.Lock() // scanners() must not take the runs while one is scanned
	defer l.mu.Unlock()
	if l.done {
		return
	}
	var s *scanner
	for lo, hi := l.claims.front(lazyFirstRun); lo < hi; lo, hi = l.claims.front(lazyFirstRun) {
		if s == nil {
			s = newScanner(im, im.units, 12)
			l.scans = append(l.scans, s)
			l.next = -1 // the runs no longer cover a prefix of the units
		}
		s.scanUnits(lo, hi, l.rel)
	}
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
	for !l.done && l.next >= 0 {
		select {
		case <-stop:
			return nil
		default:
		}
		lo, hi := l.claims.front(lazyFirstRun << len(l.runs))
		if lo == hi {
			return nil // the rest is the workers'
		}
		s, x := im.scanRun(lo, hi, l.rel)
		l.scans = append(l.scans, s)
		if lo != l.next {
			// A worker took the run before this one: the runs no longer
			// cover a prefix of the units.
			l.next = -1
			return nil
		}
		l.runs, l.next = append(l.runs, x), hi
		if final(x) {
			return x
		}
	}
	return nil
}

// scanRun indexes units[lo:hi] as buildIndex indexes them all, keeping
// the scanner's tables for the full index.
func (im *Image) scanRun(lo, hi int, rel *releaser) (*scanner, *index) {
	s := newScanner(im, im.units, 12)
	s.scanUnits(lo, hi, rel)
	x := &index{units: im.units}
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
