package transfer

import (
	"os"
	"sort"
	"sync"
)

// dirCache keeps os.Roots open on directories inside a root — those files
// are being written to (receiver), or read from (Source) — so that
// per-file operations resolve one name instead of walking the whole path
// from the root each time (which os.Root does one component at a time,
// an openat and a close per component). Entries are reference-counted;
// once more than 2*dirCacheIdle accumulate, the least recently used
// unreferenced ones are closed until dirCacheIdle remain. After close,
// acquire fails with os.ErrClosed, so no root is opened (and leaked)
// once the cache's owner is done.
type dirCache struct {
	root   *os.Root
	mu     sync.Mutex
	m      map[string]*dirEntry
	tick   uint64 // use counter, for least-recently-used trimming
	closed bool
}

type dirEntry struct {
	root *os.Root
	refs int
	used uint64 // tick of the last acquire
}

const dirCacheIdle = 64

func newDirCache(root *os.Root) *dirCache {
	return &dirCache{root: root, m: make(map[string]*dirEntry)}
}

// acquire returns a root on dir (relative to the cache's root, which
// must exist); release it with release(dir). The root is opened through
// the cache's root, so it is confined to it as any os.Root operation.
func (c *dirCache) acquire(dir string) (*os.Root, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, os.ErrClosed
	}
	c.tick++
	if e, ok := c.m[dir]; ok {
		e.refs++
		e.used = c.tick
		return e.root, nil
	}
	r, err := c.root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	c.m[dir] = &dirEntry{root: r, refs: 1, used: c.tick}
	if len(c.m) > 2*dirCacheIdle {
		c.trimLocked()
	}
	return r, nil
}

func (c *dirCache) release(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[dir]; ok {
		e.refs--
	}
}

// trimLocked closes the least recently used unreferenced entries until
// at most dirCacheIdle remain (or only referenced ones do).
func (c *dirCache) trimLocked() {
	idle := make([]string, 0, len(c.m))
	for d, e := range c.m {
		if e.refs <= 0 {
			idle = append(idle, d)
		}
	}
	sort.Slice(idle, func(i, j int) bool { return c.m[idle[i]].used < c.m[idle[j]].used })
	for _, d := range idle {
		if len(c.m) <= dirCacheIdle {
			return
		}
		c.m[d].root.Close()
		delete(c.m, d)
	}
}

// close closes every entry, referenced or not, and makes later acquires
// fail.
func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for d, e := range c.m {
		e.root.Close()
		delete(c.m, d)
	}
}

// open returns the number of roots the cache holds open.
func (c *dirCache) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
