package dump

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// store is random-access, read-only storage holding the bytes of one dump
// file as its format parser sees them: a plain (possibly memory-mapped) file,
// or the logical file described by a makedumpfile flattened stream.
//
// All methods are safe for concurrent use.
type store interface {
	io.ReaderAt
	// Size is the logical size of the file in bytes.
	Size() int64
	// slice returns the n bytes at off without copying when the store can
	// (a memory-mapped file, a flattened record), else nil. The result
	// aliases the store: callers must not modify it or keep it past Close.
	slice(off int64, n int) []byte
	// missing reports whether some of the n bytes at off were never written
	// to an incomplete store (a cut flattened stream). Such bytes read as
	// zeros but are really lost.
	missing(off int64, n int) bool
	// backingSize is the number of bytes really stored (the file size;
	// for a flattened stream, the stream's size), bounding what a parser
	// may allocate for data it copies out.
	backingSize() int64
	Close() error
}

// fileStore is a store over one regular file, memory-mapped where the
// platform allows and the file is not empty, else read with ReadAt.
type fileStore struct {
	name string
	f    *os.File
	size int64
	data []byte // the mapping, nil when reading with ReadAt
}

// openFileStore opens name for reading and maps it if possible.
func openFileStore(name string) (*fileStore, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	s := &fileStore{name: name, f: f, size: fi.Size()}
	if data, err := mmapFile(f, s.size); err == nil {
		s.data = data
	}
	return s, nil
}

func (s *fileStore) Size() int64 { return s.size }

func (s *fileStore) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if s.data == nil {
		return s.f.ReadAt(p, off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := copy(p, s.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *fileStore) slice(off int64, n int) []byte {
	if s.data == nil || off < 0 || n < 0 || off > s.size || int64(n) > s.size-off {
		return nil
	}
	return s.data[off : off+int64(n) : off+int64(n)]
}

func (s *fileStore) missing(off int64, n int) bool { return false }

func (s *fileStore) backingSize() int64 { return s.size }

func (s *fileStore) Close() error {
	var err error
	if s.data != nil {
		err = munmapFile(s.data)
		s.data = nil
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// preader is a store that can read its file without its mapping.
type preader interface {
	pread(p []byte, off int64) (int, error)
}

// pread reads the file with pread(2), never through the mapping.
func (s *fileStore) pread(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// readUnmapped reads exactly len(p) bytes at off from s, as readFull, but
// from a mapped file with pread: for data read once from all over the file
// (a compressed page's 1–2 KB), where each read through the mapping would
// leave up to 64 KB of the file resident in the process (the kernel maps
// the cached pages around a read fault, mm/memory.c do_fault_around): a
// ps over a 300 MB dump of 50,000 tasks held ~180 MB of it in its RSS.
func readUnmapped(s store, p []byte, off int64) error {
	pr, ok := s.(preader)
	if !ok {
		return readFull(s, p, off)
	}
	return fullRead(len(p))(pr.pread(p, off))
}

// readFull reads exactly len(p) bytes at off from s. A short read is
// reported as io.ErrUnexpectedEOF (wrapping nothing else) so callers can
// tell truncation from I/O errors.
func readFull(s store, p []byte, off int64) error {
	if b := s.slice(off, len(p)); b != nil {
		copy(p, b)
		return nil
	}
	return fullRead(len(p))(s.ReadAt(p, off))
}

// fullRead judges a read of want bytes by what ReadAt returned: nil if all
// came, io.ErrUnexpectedEOF if fewer did without another error.
func fullRead(want int) func(n int, err error) error {
	return func(n int, err error) error {
		switch {
		case n == want:
			return nil
		case err == nil || err == io.EOF:
			return io.ErrUnexpectedEOF
		}
		return err
	}
}

// bytesAt returns the n bytes at off, aliasing the store when it can and
// copying into buf (grown as needed) otherwise.
func bytesAt(s store, off int64, n64 uint64, buf []byte) ([]byte, error) {
	if n64 > math.MaxInt32 && uint64(int(n64)) != n64 || int(n64) < 0 {
		return nil, fmt.Errorf("%d bytes: too large to read", n64)
	}
	n := int(n64)
	if b := s.slice(off, n); b != nil {
		return b, nil
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if err := readFull(s, buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// within reports whether [off, off+n) lies inside [0, size).
func within(off int64, n uint64, size int64) bool {
	if off < 0 || off > size {
		return false
	}
	return n <= uint64(size-off)
}

// bytesStore is a store over a byte slice (tests, fuzzing, small inputs).
type bytesStore []byte

func (b bytesStore) Size() int64        { return int64(len(b)) }
func (b bytesStore) backingSize() int64 { return int64(len(b)) }
func (b bytesStore) Close() error       { return nil }

func (b bytesStore) missing(off int64, n int) bool { return false }

func (b bytesStore) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b bytesStore) slice(off int64, n int) []byte {
	if off < 0 || n < 0 || off > int64(len(b)) || int64(n) > int64(len(b))-off {
		return nil
	}
	return b[off : off+int64(n) : off+int64(n)]
}
