package dwarfx

// The persistent index cache: Open saves what it built from a vmlinux (the
// DWARF name index and the symbol table, indexcache_index.go) in a file
// keyed by the image's build ID, size and modification time and by the
// tool's version, and later Opens of the same image map that file instead of
// scanning .debug_info again.
//
// Safety: a cache file is written to a temporary file in the same directory
// and renamed into place, so a concurrent reader sees either no file or a
// whole one. On load the magic, format, key, header and body checksums are
// verified (indexcache_codec.go); a file that fails is reported through
// CacheOptions.Warn, ignored and rewritten.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CacheOptions configure the persistent index cache. The zero value turns it
// off.
type CacheOptions struct {
	// Dir holds the cache files ("" = no cache), e.g.
	// $XDG_CACHE_HOME/kinspect/index.
	Dir string
	// Version identifies the program that writes the cache (its build): a
	// cache written by another build is not used.
	Version string
	// Warn, if set, is told in one line why a cache file was not usable.
	Warn func(msg string)
	// HandOff, if set, is called by Close when the index is still being
	// built, instead of waiting for it and the save: it should have another
	// process index the vmlinux (at path) into the cache (cmd/kinspect
	// starts a detached `kinspect index`). Close then stops the build and
	// saves nothing. A failure is reported through Warn.
	HandOff func(path string) error
}

// CacheStatus says how an Open used the cache.
type CacheStatus int

const (
	CacheOff     CacheStatus = iota // no cache configured
	CacheHit                        // the index came from the cache file
	CacheWritten                    // indexed from the vmlinux, saved in the background
)

// cacheState is the Image's link to its cache file.
type cacheState struct {
	opts   CacheOptions
	key    string
	path   string
	mapped []byte // the mapped cache file, unmapped by Close
	status CacheStatus
}

// CacheStatus reports whether the index came from the cache.
func (im *Image) CacheStatus() CacheStatus {
	if im.cache == nil {
		return CacheOff
	}
	return im.cache.status
}

// CachePath is the cache file for this image ("" without a cache).
func (im *Image) CachePath() string {
	if im.cache == nil {
		return ""
	}
	return im.cache.path
}

// newCacheState derives the key and the file name of the image's cache.
func newCacheState(im *Image, o CacheOptions, st os.FileInfo) *cacheState {
	if o.Dir == "" || st == nil {
		return nil
	}
	id := im.buildID
	if id == "" {
		// No build ID: the absolute path stands in for it.
		abs, _ := filepath.Abs(im.path)
		sum := sha256.Sum256([]byte(abs))
		id = "path-" + hex.EncodeToString(sum[:8])
	}
	file := fmt.Sprintf("%s size=%d mtime=%d", id, st.Size(), st.ModTime().UnixNano())
	key := file + " tool=" + o.Version
	// ID-FILE-TOOL.idx: pruneOthers replaces the file of another tool build
	// for the same vmlinux file, not that of a copy of it (another mtime).
	fileSum, toolSum := sha256.Sum256([]byte(file)), sha256.Sum256([]byte(o.Version))
	name := id + "-" + hex.EncodeToString(fileSum[:4]) + "-" + hex.EncodeToString(toolSum[:4]) + ".idx"
	return &cacheState{opts: o, key: key, path: filepath.Join(o.Dir, name)}
}

func (c *cacheState) warn(format string, args ...any) {
	if c.opts.Warn != nil {
		c.opts.Warn(fmt.Sprintf(format, args...))
	}
}

// load maps the cache file and decodes it; nil if there is none or it is
// not usable (then it says why, unless the file simply does not exist).
func (c *cacheState) load() *cachedIndex {
	f, err := os.Open(c.path)
	if err != nil {
		if !os.IsNotExist(err) {
			c.warn("index cache %s: %v; re-indexing", c.path, err)
		}
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 || int64(int(st.Size())) != st.Size() {
		c.warn("index cache %s: empty or unreadable; re-indexing", c.path)
		return nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		c.warn("index cache %s: mmap: %v; re-indexing", c.path, err)
		return nil
	}
	body, err := decodeHeader(m, c.key)
	var ci *cachedIndex
	if err == nil {
		ci, err = decodeIndex(body)
	}
	if err != nil {
		unix.Munmap(m)
		c.warn("%s: %v; re-indexing", c.path, err)
		return nil
	}
	c.mapped = m
	return ci
}

// save writes the index to a temporary file and renames it into place,
// then removes older cache files of the same image (other tool versions).
func (c *cacheState) save(im *Image) error {
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return err
	}
	body := encodeIndex(im.idx, &im.syms, im.warnings)
	tmp, err := os.CreateTemp(c.opts.Dir, ".tmp-*.idx")
	if err != nil {
		return err
	}
	var werr error
	for _, b := range append([][]byte{encodeHeader(c.key, body)}, body...) {
		if _, werr = tmp.Write(b); werr != nil {
			break
		}
	}
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), c.path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return werr
	}
	c.pruneOthers()
	return nil
}

// pruneOthers removes the files other tool builds wrote for the same
// vmlinux file (same ID-FILE- prefix).
func (c *cacheState) pruneOthers() {
	base := filepath.Base(c.path)
	prefix := base[:strings.LastIndexByte(base, '-')+1]
	old, _ := filepath.Glob(filepath.Join(c.opts.Dir, prefix+"*.idx"))
	for _, p := range old {
		if p != c.path {
			os.Remove(p)
		}
	}
}

// close unmaps the cache file (the Image has waited for the save).
func (c *cacheState) close() {
	if c == nil {
		return
	}
	if c.mapped != nil {
		unix.Munmap(c.mapped)
		c.mapped = nil
	}
}

// indexCached fills the index and symbol table from the cache file if it is
// usable, else indexes the image and saves the result.
func (im *Image) indexCached() error {
	c := im.cache
	if ci := c.load(); ci != nil {
		im.idx = ci.idx
		im.units = ci.idx.units
		im.syms = ci.syms
		im.setTextBounds()
		im.warnings = ci.warningErrors()
		im.idxDone = make(chan struct{})
		close(im.idxDone)
		c.status = CacheHit
		im.release(0, uint64(len(im.mmap)))
		return nil
	}
	// The save (~0.1 s of encoding and writing 16 MB) runs in the
	// background once the index is complete, like the index itself. Close
	// waits for both, unless the caller hands the rest off (handOff).
	c.status = CacheWritten
	return im.indexFresh(func() {
		if err := c.save(im); err != nil {
			c.warn("index cache: saving %s: %v", c.path, err)
		}
	})
}

// handOff is Close's alternative to waiting for the index: a process whose
// work is done before its index (a cold `kinspect -c 'p init_task.comm'`
// answers in ~0.1 s, the whole of .debug_info takes ~0.3 s of CPU) gives the
// rest to CacheOptions.HandOff's process and exits. Its own scan is
// abandoned, not finished: the index is only needed by the cache, and the
// other process builds that whole (it cannot take over a half-built index
// held in this one's memory). It reports whether it handed off: false if
// there is nothing to hand (no cache, a cache hit, the index complete: the
// save, if running, is then waited for).
func (im *Image) handOff() bool {
	c := im.cache
	if c == nil || c.opts.HandOff == nil || c.status != CacheWritten || im.idxDone == nil {
		return false
	}
	select {
	case <-im.idxDone:
		return false
	default:
	}
	im.lazy.claims.abandon()
	im.building.Wait()
	if err := c.opts.HandOff(im.path); err != nil {
		c.warn("index cache: handing the index of %s off: %v", im.path, err)
	}
	return true
}
