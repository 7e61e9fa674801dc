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
// tracks which units are done and, whenever the done suffix (the workers
// scan from the back: lazy.go) or the done prefix has grown by releaseStep
// bytes, releases it with one madvise. One call per unit would cost a TLB
// shootdown across the workers thousands of times.
type releaser struct {
	im         *Image
	units      []unitInfo
	scanned    []atomic.Bool
	mu         sync.Mutex
	next, back int // units[next:back] are not yet released
}

const releaseStep = 4 << 20

func newReleaser(im *Image, units []unitInfo) *releaser {
	return &releaser{im: im, units: units, scanned: make([]atomic.Bool, len(units)), back: len(units)}
}

// done marks unit i scanned and releases the done prefix or suffix when it
// is large enough. Only one worker releases at a time; the others go on
// scanning.
func (r *releaser) done(i int) {
	r.scanned[i].Store(true)
	if r.im.infoFileOff < 0 || !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	j := r.next
	for j < r.back && r.scanned[j].Load() {
		j++
	}
	if j > r.next && (r.units[j-1].end-r.units[r.next].off >= releaseStep || j == r.back) {
		r.releaseUnits(r.next, j)
		r.next = j
	}
	k := r.back
	for k > r.next && r.scanned[k-1].Load() {
		k--
	}
	if k < r.back && (r.units[r.back-1].end-r.units[k].off >= releaseStep || k == r.next) {
		r.releaseUnits(k, r.back)
		r.back = k
	}
}

func (r *releaser) releaseUnits(lo, hi int) {
	from, to := r.units[lo].off, r.units[hi-1].end
	r.im.release(uint64(r.im.infoFileOff)+from, to-from)
}
