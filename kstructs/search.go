package kstructs

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/kinspect/kinspect/dwarfx"
)

// Search is crash's search: values (of Size bytes, bits set in Mask
// ignored) or strings looked for in memory, reading it in large chunks.
type Search struct {
	Size    int // 8, 4 or 2; 0 with Strings
	Values  []uint64
	Mask    uint64
	Strings [][]byte
	Max     int // stop after this many hits (0: no limit)
}

// SearchHit is one match: its address and the value found (for strings,
// the string and what follows it, as crash prints).
type SearchHit struct {
	Addr  uint64
	Value uint64
	Text  []byte
}

const searchChunk = 1 << 20

// scan looks for the search's values in b, which lies at address base
// (aligned to Size), adding the hits that start before limit.
func (s *Search) scan(k *Kernel, b []byte, base, limit uint64, hits []SearchHit) []SearchHit {
	if len(s.Strings) > 0 {
		return s.scanStrings(b, base, limit, hits)
	}
	bo := k.Image.ByteOrder()
	for off := 0; off+s.Size <= len(b) && base+uint64(off) < limit; off += s.Size {
		v := dwarfx.DecodeUint(bo, b[off:off+s.Size])
		for _, want := range s.Values {
			if v|s.Mask == want|s.Mask {
				hits = append(hits, SearchHit{Addr: base + uint64(off), Value: v})
			}
		}
	}
	return hits
}

func (s *Search) scanStrings(b []byte, base, limit uint64, hits []SearchHit) []SearchHit {
	for _, str := range s.Strings {
		for off := 0; ; {
			i := bytes.Index(b[off:], str)
			if i < 0 || base+uint64(off+i) >= limit {
				break
			}
			at := off + i
			end := min(len(b), at+56) // crash's CHARS_CTX
			hits = append(hits, SearchHit{Addr: base + uint64(at), Text: append([]byte(nil), b[at:end]...)})
			off = at + 1
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].Addr < hits[j].Addr })
	return hits
}

func (s *Search) overlap() int {
	n := 0
	for _, str := range s.Strings {
		n = max(n, len(str)-1)
	}
	return n
}

// SearchPhys searches physical memory [start, end) of the dump's ranges
// (pages excluded from the dump are skipped, as crash skips them).
func (k *Kernel) SearchPhys(s *Search, start, end uint64) ([]SearchHit, error) {
	var hits []SearchHit
	for _, r := range k.Dump.Ranges() {
		lo, hi := max(r.Start, start), min(r.Start+r.Size, end)
		for a := lo; a < hi; a += searchChunk {
			n := min(searchChunk, hi-a)
			buf := make([]byte, n+uint64(s.overlap()))
			if err := k.Dump.ReadPhys(buf, a); err != nil {
				buf = buf[:n]
				if err := k.Dump.ReadPhys(buf, a); err != nil {
					hits = k.searchPagesPhys(s, a, a+n, hits)
					continue
				}
			}
			hits = s.scan(k, buf, a, a+n, hits)
			if s.Max > 0 && len(hits) >= s.Max {
				return hits[:s.Max], nil
			}
		}
	}
	return hits, nil
}

// searchPagesPhys searches a chunk page by page, skipping unreadable pages.
func (k *Kernel) searchPagesPhys(s *Search, lo, hi uint64, hits []SearchHit) []SearchHit {
	ps := k.PageSize()
	buf := make([]byte, ps)
	for a := lo &^ (ps - 1); a < hi; a += ps {
		if k.Dump.ReadPhys(buf, a) == nil {
			hits = s.scan(k, buf, a, a+ps, hits)
		}
	}
	return hits
}

// SearchKernel searches kernel virtual memory [start, end): the direct map
// of the dump's physical memory, the busy vmalloc areas and the kernel
// image, in address order, reading the direct map in large chunks and the
// rest page by page through the page tables (unmapped pages skipped).
func (k *Kernel) SearchKernel(s *Search, start, end uint64) ([]SearchHit, error) {
	type vrange struct{ lo, hi, pa uint64 }
	var rs []vrange
	for _, r := range k.Dump.Ranges() {
		va, err := k.PhysToVirt(r.Start)
		vb, err2 := k.PhysToVirt(r.Start + r.Size - 1)
		if err == nil && err2 == nil && vb-va == r.Size-1 {
			rs = append(rs, vrange{va, va + r.Size, r.Start})
		}
	}
	areas, _ := k.VmapAreas()
	for _, v := range areas {
		if v.VM != 0 {
			rs = append(rs, vrange{v.Start, v.End, ^uint64(0)})
		}
	}
	if lo, hi := k.Image.KernelImageRange(); lo < hi {
		rs = append(rs, vrange{lo, hi, ^uint64(0)})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	// arm's kernel image lies inside the direct map: each address is
	// searched once, in the first range that holds it.
	var hits []SearchHit
	done := uint64(0)
	for _, r := range rs {
		lo, hi := max(r.lo, start, done), min(r.hi, end)
		if lo >= hi {
			continue
		}
		done = hi
		if r.pa != ^uint64(0) {
			ph, err := k.SearchPhys(s, r.pa+(lo-r.lo), r.pa+(hi-r.lo))
			if err != nil {
				return hits, err
			}
			for _, h := range ph {
				h.Addr = h.Addr - r.pa + r.lo
				hits = append(hits, h)
			}
		} else {
			hits = s.searchPages(k, lo, hi, hits, k.ReadVirt)
		}
		if s.Max > 0 && len(hits) >= s.Max {
			return hits[:s.Max], nil
		}
	}
	return hits, nil
}

// searchPages searches virtual memory [lo, hi) page by page through read,
// skipping the pages it cannot read.
func (s *Search) searchPages(k *Kernel, lo, hi uint64, hits []SearchHit, read func([]byte, uint64) error) []SearchHit {
	ps := k.PageSize()
	buf := make([]byte, ps)
	for a := lo &^ (ps - 1); a < hi && a >= lo&^(ps-1); a += ps {
		if read(buf, a) == nil {
			hits = s.scan(k, buf, a, min(a+ps, hi), hits)
		}
	}
	return hits
}

// SearchUser searches the user memory of us in [start, end): the pages of
// its VMAs that its page tables map (pages not present are skipped, as
// crash's uvtop fails on them).
func (k *Kernel) SearchUser(us *UserSpace, s *Search, start, end uint64) ([]SearchHit, error) {
	var hits []SearchHit
	for _, v := range us.MM.VMAs {
		lo, hi := max(v.Start, start), min(v.End, end)
		if lo >= hi {
			continue
		}
		hits = s.searchPages(k, lo, hi, hits, us.ReadUser)
		if s.Max > 0 && len(hits) >= s.Max {
			return hits[:s.Max], nil
		}
	}
	return hits, nil
}

// validate checks the search's parameters.
func (s *Search) Validate() error {
	if len(s.Strings) == 0 && len(s.Values) == 0 {
		return fmt.Errorf("search: no value given")
	}
	if len(s.Strings) == 0 && s.Size != 2 && s.Size != 4 && s.Size != 8 {
		return fmt.Errorf("search: value size %d (want 2, 4 or 8)", s.Size)
	}
	return nil
}
