package dwarfx

import (
	"sync"
	"sync/atomic"
	"syscall"
)

// The index scan reads all of .debug_info (~200 MB on arm64) once. Its pages
// are file-backed and read-only, so after a unit is scanned they can be
// dropped from this process (MADV_DONTNEED): they stay in the page cache and
// fault back in, cheaply, when a type is later decoded from that unit. That
// keeps peak RSS near the index's own size instead of the section's.

const releasePage = 4096

// release drops the pages of the mapping that lie wholly inside
// [off, off+size) of the file. Errors are ignored: it is only advice.
func (im *Image) release(off, size uint64) {
	if !im.fileBacked || im.mmap == nil || size == 0 {
		return
	}
	start := (off + releasePage - 1) &^ (releasePage - 1)
	end := (off + size) &^ (releasePage - 1)
	if end > uint64(len(im.mmap)) {
		end = uint64(len(im.mmap)) &^ (releasePage - 1)
	}
	if start >= end {
		return
	}
	_ = syscall.Madvise(im.mmap[start:end], syscall.MADV_DONTNEED)
}

// releaser drops the pages of .debug_info behind the scanning workers: it
// tracks which units are done and, whenever the done prefix of one of the
// parts the units are scanned in (lazy.go's unitClaims: a front and a back
// half, each in file order) has grown by releaseStep bytes, releases it
// with one madvise. One call per unit would cost a TLB shootdown across
// the workers thousands of times.
type releaser struct {
	im      *Image
	units   []unitInfo
	scanned []atomic.Bool
	mu      sync.Mutex
	next    [2]int // per part, the first unit not yet released
	ends    [2]int // per part, the unit after its last
}

const releaseStep = 4 << 20

// newReleaser releases units[:split] and units[split:] as two parts.
func newReleaser(im *Image, units []unitInfo, split int) *releaser {
	return &releaser{im: im, units: units, scanned: make([]atomic.Bool, len(units)),
		next: [2]int{0, split}, ends: [2]int{split, len(units)}}
}

// done marks unit i scanned and releases the done prefix of its part when
// it is large enough. Only one worker releases at a time; the others go on
// scanning.
func (r *releaser) done(i int) {
	r.scanned[i].Store(true)
	if r.im.infoFileOff < 0 || !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	for p := range r.next {
		next, end := r.next[p], r.ends[p]
		j := next
		for j < end && r.scanned[j].Load() {
			j++
		}
		if j == next {
			continue
		}
		from, to := r.units[next].off, r.units[j-1].end
		if to-from < releaseStep && j < end {
			continue
		}
		r.im.release(uint64(r.im.infoFileOff)+from, to-from)
		r.next[p] = j
	}
}
