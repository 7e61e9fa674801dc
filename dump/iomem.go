package dump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// /proc/iomem (kernel/resource.c r_show) prints the iomem_resource tree,
// one resource a line, "START-END : NAME" with END inclusive, in hex,
// indented two spaces per level. RAM the kernel manages is a top-level
// "System RAM" resource (register_memory on ARM, e820 on x86, the memblock
// walk on arm64); the kernel's code and data and the crash kernel are its
// children. To a reader without CAP_SYS_ADMIN every address reads as 0.

// ErrIOMemHidden says /proc/iomem's addresses read as 0: the reader is
// not root (kernel/resource.c r_show prints 0 without CAP_SYS_ADMIN).
var ErrIOMemHidden = errors.New("the addresses in /proc/iomem read as 0: only root (CAP_SYS_ADMIN) sees them")

// systemRAMName is the resource name of RAM the kernel manages.
const systemRAMName = "System RAM"

// SystemRAM returns the top-level "System RAM" ranges of /proc/iomem's
// text, sorted, adjacent ones merged. A System RAM line that does not
// parse, ranges that overlap, no System RAM at all or addresses hidden
// (ErrIOMemHidden) are errors; other lines are not looked at.
func SystemRAM(iomem []byte) ([]PhysRange, error) {
	var out []PhysRange
	sc := bufio.NewScanner(bytes.NewReader(iomem))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == ' ' {
			continue // a child resource
		}
		span, name, ok := strings.Cut(line, " : ")
		if !ok || strings.TrimSpace(name) != systemRAMName {
			continue
		}
		r, err := parseIOMemSpan(span)
		if err != nil {
			return nil, fmt.Errorf("/proc/iomem line %d %q: %w", n, line, err)
		}
		if r.Start == 0 && r.Size == 1 {
			return nil, ErrIOMemHidden
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/iomem: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("/proc/iomem has no top-level System RAM line")
	}
	return mergeRanges(out)
}

// parseIOMemSpan parses "START-END" (hex, END inclusive).
func parseIOMemSpan(span string) (PhysRange, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(span), "-")
	if !ok {
		return PhysRange{}, errors.New("no START-END")
	}
	start, err := strconv.ParseUint(a, 16, 64)
	if err != nil {
		return PhysRange{}, fmt.Errorf("start: %w", err)
	}
	end, err := strconv.ParseUint(b, 16, 64)
	if err != nil {
		return PhysRange{}, fmt.Errorf("end: %w", err)
	}
	if end < start || end-start == ^uint64(0) {
		return PhysRange{}, fmt.Errorf("end %#x before start %#x or the whole address space", end, start)
	}
	return PhysRange{Start: start, Size: end - start + 1}, nil
}

// mergeRanges sorts rs, merges adjacent ranges and refuses overlaps.
func mergeRanges(rs []PhysRange) ([]PhysRange, error) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		switch end := last.Start + last.Size; {
		case r.Start < end || end == 0: // end 0: the last one reaches 2^64
			return nil, fmt.Errorf("/proc/iomem: System RAM %#x-%#x overlaps %#x-%#x",
				r.Start, r.Start+r.Size-1, last.Start, end-1)
		case r.Start == end:
			last.Size += r.Size
		default:
			out = append(out, r)
		}
	}
	return out, nil
}
