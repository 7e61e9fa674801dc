package dump

import (
	"fmt"
	"io"
	"sort"
)

// segment maps physical [start, end) to store bytes at off, or to zeros
// when st is nil.
type segment struct {
	start, end uint64
	st         store
	off        int64
}

// segmentMem reads physical memory laid out in sorted, disjoint segments:
// ELF PT_LOADs and raw images.
type segmentMem struct {
	segs []segment
}

func (m *segmentMem) find(addr uint64) int {
	i := sort.Search(len(m.segs), func(i int) bool { return m.segs[i].end > addr })
	if i < len(m.segs) && m.segs[i].start <= addr {
		return i
	}
	return -1
}

func (m *segmentMem) readPhys(p []byte, addr uint64) error {
	size := len(p)
	for len(p) > 0 {
		i := m.find(addr)
		if i < 0 {
			return &ReadError{Space: "physical", Addr: addr, Size: size, Offset: -1, Err: ErrNotInDump}
		}
		s := &m.segs[i]
		n := uint64(len(p))
		if rest := s.end - addr; rest < n {
			n = rest
		}
		if s.st == nil {
			clear(p[:n])
		} else {
			foff := s.off + int64(addr-s.start)
			if err := readFull(s.st, p[:n], foff); err != nil {
				if err != io.ErrUnexpectedEOF {
					return &ReadError{Space: "physical", Addr: addr, Size: size, Offset: foff, Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
				}
				// Report the first byte past the end of the file.
				k := int64(0)
				if fs := s.st.Size(); fs > foff {
					k = fs - foff
				}
				return &ReadError{Space: "physical", Addr: addr + uint64(k), Size: size, Offset: foff + k,
					Err: fmt.Errorf("%w: segment data ends at file offset %#x", ErrTruncated, s.st.Size())}
			}
		}
		p = p[n:]
		addr += n
		if addr == 0 && len(p) > 0 { // wrapped past the top of the address space
			return &ReadError{Space: "physical", Addr: addr, Size: size, Offset: -1, Err: ErrNotInDump}
		}
	}
	return nil
}

func (m *segmentMem) ranges() []PhysRange {
	var out []PhysRange
	for _, s := range m.segs {
		if n := len(out); n > 0 && out[n-1].End() == s.start {
			out[n-1].Size += s.end - s.start
			continue
		}
		out = append(out, PhysRange{Start: s.start, Size: s.end - s.start})
	}
	return out
}
