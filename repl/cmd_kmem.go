package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

)

// slabCacheJSON is one cache in `kmem -s --json`.
type slabCacheJSON struct {
	Cache      string `json:"cache"`
	Name       string `json:"name"`
	ObjSize    uint64 `json:"objsize"`     // kmem_cache.object_size (crash's OBJSIZE)
	Size       uint64 `json:"size"`        // kmem_cache.size (/proc/slabinfo's objsize)
	Allocated  uint64 `json:"allocated"`   // crash's ALLOCATED
	Total      uint64 `json:"total"`       // objects in all slabs
	Slabs      uint64 `json:"slabs"`       // number of slabs
	SlabSize   uint64 `json:"slab_size"`   // bytes per slab (SSIZE)
	ObjPerSlab uint64 `json:"objperslab"`  // objects per slab
	ActiveObjs uint64 `json:"active_objs"` // as /proc/slabinfo counts them (cpu slabs all active)
	Error      string `json:"error,omitempty"`
}

type kmemSlabResult struct {
	caches []slabCacheJSON
	err    string // the cache list could not be walked to its end
}

func (r kmemSlabResult) MarshalJSON() ([]byte, error) {
	if r.caches == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(r.caches)
}

func (r kmemSlabResult) Text(w io.Writer, s *Session) error {
	fmt.Fprintf(w, "CACHE%s OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n", strings.Repeat(" ", s.hexWidth()-4))
	for _, c := range r.caches {
		if c.Error != "" {
			fmt.Fprintf(w, "kmem: %s: cannot gather relevant slab data: %s\n", c.Name, c.Error)
			fmt.Fprintf(w, "%-*s %8d  %9s  %8s  %5s  %4dk  %s\n", s.hexWidth(), c.Cache, c.ObjSize, "?", "?", "?", c.SlabSize/1024, c.Name)
			continue
		}
		fmt.Fprintf(w, "%-*s %8d  %9d  %8d  %5d  %4dk  %s\n", s.hexWidth(), c.Cache, c.ObjSize, c.Allocated, c.Total, c.Slabs, c.SlabSize/1024, c.Name)
	}
	if r.err != "" {
		fmt.Fprintf(w, "kmem: %s\n", r.err)
	}
	return nil
}

func kmemCmd() *Command {
	return &Command{
		Name:     "kmem",
		Synopsis: "kmem -i | -s [CACHE]",
		Summary:  "kernel memory: the memory summary (-i) and the SLUB caches (-s)",
		Description: "-i prints crash's memory summary (total, free, used, shared, buffers, cached, slab, huge pages, " +
			"swap, commit limit) from the vm_zone_stat/vm_node_stat counters. -s lists every SLUB cache of " +
			"slab_caches with its object size, allocated and total objects, slab count and slab size, counted as " +
			"crash counts them (per-cpu slabs, per-cpu partial and node partial lists, kmem_cache_node totals); " +
			"CACHE restricts the list to the cache of that name. --json gives one object per cache (-s) or the summary (-i).",
		Examples: []string{"kmem -i", "kmem -s", "kmem -s dentry", "kmem -s --json"},
		Flags: []Flag{
			{Short: "i", Help: "memory summary"},
			{Short: "s", Help: "SLUB cache summary"},
		},
		Run: runKmem,
	}
}

func runKmem(s *Session, inv *Invocation) (Result, error) {
	switch {
	case inv.Has("i") && inv.Has("s"):
		return nil, &UsageError{"kmem", "-i and -s are exclusive"}
	case inv.Has("s"):
		return kmemSlabs(s, inv.Args)
	case inv.Has("i"):
		if len(inv.Args) > 0 {
			return nil, &UsageError{"kmem", "-i takes no argument"}
		}
		return kmemInfo(s)
	}
	return nil, &UsageError{"kmem", "give -i or -s (see 'help kmem')"}
}

func kmemSlabs(s *Session, names []string) (Result, error) {
	caches, err := s.K.SlabCaches()
	if caches == nil && err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var r kmemSlabResult
	r.caches = []slabCacheJSON{}
	for _, c := range caches {
		if len(want) > 0 && !want[c.Name] {
			continue
		}
		delete(want, c.Name)
		j := slabCacheJSON{Cache: s.addr(c.Addr), Name: c.Name, ObjSize: c.ObjectSize, Size: c.Size,
			Allocated: c.Allocated, Total: c.Total, Slabs: c.Slabs, SlabSize: c.SlabSize, ObjPerSlab: c.ObjPerSlab,
			ActiveObjs: c.SlabinfoActive()}
		if c.Err != nil {
			j.Error = c.Err.Error()
			j.Allocated, j.Total, j.Slabs, j.ActiveObjs = 0, 0, 0, 0
		}
		r.caches = append(r.caches, j)
	}
	if err != nil {
		r.err = err.Error()
	}
	if len(want) > 0 {
		var missing []string
		for _, n := range names {
			if want[n] {
				missing = append(missing, n)
			}
		}
		return nil, fmt.Errorf("kmem: no slab cache named %s", strings.Join(missing, ", "))
	}
	return r, nil
}

func kmemInfo(s *Session) (Result, error) {
	return nil, fmt.Errorf("kmem -i: not implemented yet")
}
