package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// The makedumpfile flattened format (makedumpfile -F, and what QEMU writes
// for dump-guest-memory -z/-l/-s): a stream that can be written to a pipe.
// A 4096-byte header
//
//	char    signature[16]  "makedumpfile"
//	int64   type           1 (TYPE_FLAT_HEADER), big-endian
//	int64   version        1, big-endian
//
// is followed by records {int64 offset; int64 size; byte data[size]}
// (big-endian) each saying "put data at offset of the real file", ended by
// a record whose offset is -1. makedumpfile -R rebuilds the real file; here
// the records are indexed and read in place.

var flatSignature = []byte("makedumpfile")

const (
	flatHeaderSize  = 4096
	flatTypeHeader  = 1
	flatRecordHdr   = 16
	flatEndOfStream = -1
)

// flatStore presents the real (rearranged) file described by a flattened
// stream held in an underlying store. Bytes no record wrote read as zeros,
// as in a file rebuilt by makedumpfile -R.
type flatStore struct {
	under    store
	exts     []extent // logical offsets -> offsets in under, sorted, disjoint
	size     int64    // logical size: end of the furthest record
	complete bool     // the end marker was found
	records  int
	version  int64
}

// isFlattened reports whether hdr starts like a flattened stream.
func isFlattened(hdr []byte) bool {
	return len(hdr) > len(flatSignature) && bytes.HasPrefix(hdr, flatSignature) && hdr[len(flatSignature)] == 0
}

// parseFlattened indexes the flattened stream in under in one pass over its
// record headers. Records written later win where records overlap. A stream
// cut short (no end marker, last record short) is accepted: what was
// written is indexed and the store reports the rest as missing.
func parseFlattened(under store, name string) (*flatStore, error) {
	ferr := formatErrors(name)
	var hdr [32]byte
	if err := readFull(under, hdr[:], 0); err != nil {
		return nil, ferr(0, "flattened header", truncErr(err, 32, under.Size()))
	}
	if !isFlattened(hdr[:]) || !allZero(hdr[len(flatSignature):16]) {
		return nil, ferr(0, "flattened header", errors.New("bad signature"))
	}
	typ := int64(binary.BigEndian.Uint64(hdr[16:]))
	if typ != flatTypeHeader {
		return nil, ferr(16, "flattened header", fmt.Errorf("%w: type %d, want %d", ErrCorrupt, typ, flatTypeHeader))
	}
	f := &flatStore{under: under, version: int64(binary.BigEndian.Uint64(hdr[24:]))}
	fsize := under.Size()
	if fsize < flatHeaderSize {
		return nil, ferr(0, "flattened header", fmt.Errorf("%w: file has %d bytes, header needs %d", ErrTruncated, fsize, flatHeaderSize))
	}
	// Record headers are read with pread rather than through the mapping:
	// touching one page per record costs a page fault each, far more.
	readHdr := func(p []byte, off int64) error { return readFull(under, p, off) }
	if fs, ok := under.(*fileStore); ok {
		readHdr = func(p []byte, off int64) error {
			n, err := fs.f.ReadAt(p, off)
			if n == len(p) {
				return nil
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	var layers []layer
	pos := int64(flatHeaderSize)
	var rh [flatRecordHdr]byte
	for {
		if fsize-pos < flatRecordHdr {
			break // cut short: no end marker
		}
		if err := readHdr(rh[:], pos); err != nil {
			return nil, ferr(pos, "flattened record header", err)
		}
		off := int64(binary.BigEndian.Uint64(rh[0:]))
		size := int64(binary.BigEndian.Uint64(rh[8:]))
		if off == flatEndOfStream {
			f.complete = true
			break
		}
		if off < 0 || size < 0 || size > math.MaxInt64-off {
			return nil, ferr(pos, "flattened record header", fmt.Errorf("%w: offset %d size %d", ErrCorrupt, off, size))
		}
		data := pos + flatRecordHdr
		avail := fsize - data
		n := size
		if n > avail {
			n = avail
		}
		if n > 0 {
			layers = append(layers, layer{start: uint64(off), end: uint64(off + n), off: data, prio: uint64(f.records)})
			if off+n > f.size {
				f.size = off + n
			}
		}
		f.records++
		if n < size {
			break // last record cut short
		}
		pos = data + size
	}
	f.exts = paint(layers)
	return f, nil
}

func (f *flatStore) Size() int64        { return f.size }
func (f *flatStore) backingSize() int64 { return f.under.Size() }
func (f *flatStore) Close() error       { return f.under.Close() }

// ReadAt implements io.ReaderAt over the rearranged file.
func (f *flatStore) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= f.size {
			return n, io.EOF
		}
		i := findExtent(f.exts, uint64(off))
		var k int
		if i < 0 {
			// A hole: zeros up to the next extent or the end.
			next := uint64(f.size)
			if j := findNext(f.exts, uint64(off)); j < len(f.exts) {
				next = f.exts[j].start
			}
			k = int(min(uint64(len(p)), next-uint64(off)))
			clear(p[:k])
		} else {
			e := f.exts[i]
			k = int(min(uint64(len(p)), e.end-uint64(off)))
			if err := readFull(f.under, p[:k], e.off+(off-int64(e.start))); err != nil {
				return n, err
			}
		}
		n += k
		p = p[k:]
		off += int64(k)
	}
	return n, nil
}

// findNext returns the index of the first extent starting after addr.
func findNext(es []extent, addr uint64) int {
	lo, hi := 0, len(es)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if es[m].start <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (f *flatStore) slice(off int64, n int) []byte {
	if off < 0 || n < 0 {
		return nil
	}
	i := findExtent(f.exts, uint64(off))
	if i < 0 {
		return nil
	}
	e := f.exts[i]
	if uint64(n) > e.end-uint64(off) {
		return nil
	}
	return f.under.slice(e.off+(off-int64(e.start)), n)
}

func (f *flatStore) missing(off int64, n int) bool {
	if f.complete || n <= 0 {
		return false
	}
	if off < 0 {
		return true
	}
	a, end := uint64(off), uint64(off)+uint64(n)
	for a < end {
		i := findExtent(f.exts, a)
		if i < 0 {
			return true
		}
		a = f.exts[i].end
	}
	return false
}
