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
// tracks which units (in file order) are done and, whenever the done prefix
// has grown by releaseStep bytes, releases it with one madvise. One call per
// unit would cost a TLB shootdown across the workers thousands of times.
type releaser struct {
	im      *Image
	units   []unitInfo
	scanned []atomic.Bool
	mu      sync.Mutex
	next    int // first unit not yet released
}

const releaseStep = 4 << 20

func newReleaser(im *Image, units []unitInfo) *releaser {
	return &releaser{im: im, units: units, scanned: make([]atomic.Bool, len(units))}
}

// done marks unit i scanned and releases the done prefix when it is large
// enough. Only one worker releases at a time; the others go on scanning.
func (r *releaser) done(i int) {
	r.scanned[i].Store(true)
	if r.im.infoFileOff < 0 || !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	j := r.next
	for j < len(r.units) && r.scanned[j].Load() {
		j++
	}
	if j == r.next {
		return
	}
	from, to := r.units[r.next].off, r.units[j-1].end
	if to-from < releaseStep && j < len(r.units) {
		return
	}
	r.im.release(uint64(r.im.infoFileOff)+uint64(from), uint64(to-from))
	r.next = j
}
