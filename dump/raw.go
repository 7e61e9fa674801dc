package dump

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// rawImage is one file of a raw RAM spec.
type rawImage struct {
	path string
	base uint64
}

// parseRawSpec parses "FILE@ADDR[,FILE@ADDR...]". A file name may itself
// contain '@': the last one separates the address.
func parseRawSpec(spec string) ([]rawImage, error) {
	var out []rawImage
	for _, part := range strings.Split(spec, ",") {
		if part == "" {
			return nil, fmt.Errorf("dump: raw spec %q: empty element", spec)
		}
		i := strings.LastIndexByte(part, '@')
		if i < 0 {
			// Not a raw spec: most likely a dump path that does not exist.
			if _, err := os.Stat(part); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("dump: raw spec %q: %q has no @ADDR", spec, part)
		}
		path, a := part[:i], part[i+1:]
		base, err := strconv.ParseUint(strings.ReplaceAll(a, "_", ""), 0, 64)
		if err != nil || path == "" {
			return nil, fmt.Errorf("dump: raw spec %q: bad element %q (want FILE@ADDR)", spec, part)
		}
		out = append(out, rawImage{path, base})
	}
	return out, nil
}

// openRaw opens raw RAM images. spec is kept as the dump's path.
func openRaw(spec string, images []rawImage, opts Options) (*Dump, error) {
	d := &Dump{path: spec, format: "raw"}
	mem := &segmentMem{}
	for _, im := range images {
		fs, err := openFileStore(im.path)
		if err != nil {
			d.closeStores()
			return nil, err
		}
		d.stores = append(d.stores, fs)
		size := uint64(fs.Size())
		if size == 0 {
			d.closeStores()
			return nil, &FormatError{File: im.path, Offset: 0, What: "raw image", Err: errors.New("empty file")}
		}
		if size-1 > math.MaxUint64-im.base {
			d.closeStores()
			return nil, &FormatError{File: im.path, Offset: 0, What: "raw image",
				Err: fmt.Errorf("%d bytes at %#x overflow the address space", size, im.base)}
		}
		end := im.base + size
		if end == 0 { // ends exactly at 2^64: drop the last byte
			end = math.MaxUint64
		}
		mem.segs = append(mem.segs, segment{start: im.base, end: end, st: fs, off: 0})
	}
	sort.Slice(mem.segs, func(i, j int) bool { return mem.segs[i].start < mem.segs[j].start })
	for i := 1; i < len(mem.segs); i++ {
		if mem.segs[i].start < mem.segs[i-1].end {
			d.closeStores()
			return nil, fmt.Errorf("dump: raw spec %q: images overlap at %#x", spec, mem.segs[i].start)
		}
	}
	d.mem = mem
	d.ranges = mem.ranges()
	return d, nil
}
