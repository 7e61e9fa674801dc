package dump

import (
	"container/list"
	"sync"
)

// DefaultCacheBytes bounds the decompressed-page cache of a kdump Dump.
const DefaultCacheBytes = 64 << 20

// pageKey identifies a page's stored data. Keying on where the data lies
// (rather than on the pfn) makes pages that share their data, such as
// QEMU's single zero page, share one cache entry.
type pageKey struct {
	off   int64
	size  uint32
	flags uint32
}

type cacheEntry struct {
	key  pageKey
	data []byte
}

// pageCache is a bounded LRU of decompressed pages, safe for concurrent
// use. Cached slices are never modified after insertion, so readers may
// copy from them without holding the lock.
type pageCache struct {
	mu    sync.Mutex
	max   int
	bytes int
	ll    *list.List // front = most recently used
	m     map[pageKey]*list.Element

	hits, misses uint64
}

func newPageCache(maxBytes int) *pageCache {
	return &pageCache{max: maxBytes, ll: list.New(), m: make(map[pageKey]*list.Element)}
}

func (c *pageCache) get(k pageKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		c.hits++
		return e.Value.(*cacheEntry).data
	}
	c.misses++
	return nil
}

func (c *pageCache) put(k pageKey, data []byte) {
	if len(data) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&cacheEntry{k, data})
	c.bytes += len(data)
	for c.bytes > c.max {
		e := c.ll.Back()
		ce := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.m, ce.key)
		c.bytes -= len(ce.data)
	}
}
