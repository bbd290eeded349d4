package transfer

import (
	"os"
	"sync"
)

// dirCache keeps os.Roots open on the directories files are being written
// to, so that per-file operations resolve one name instead of walking the
// whole path from the receiver's root each time (which os.Root does one
// component at a time). Entries are reference-counted; unused ones are
// closed once more than dirCacheIdle of them accumulate.
type dirCache struct {
	root *os.Root
	mu   sync.Mutex
	m    map[string]*dirEntry
}

type dirEntry struct {
	root *os.Root
	refs int
}

const dirCacheIdle = 64

func newDirCache(root *os.Root) *dirCache {
	return &dirCache{root: root, m: make(map[string]*dirEntry)}
}

// acquire returns a root on dir (relative to the receiver's root, which
// must exist); release it with release(dir).
func (c *dirCache) acquire(dir string) (*os.Root, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[dir]; ok {
		e.refs++
		return e.root, nil
	}
	var r *os.Root
	var err error
	if dir == "." {
		r, err = c.root.OpenRoot(".")
	} else {
		r, err = c.root.OpenRoot(dir)
	}
	if err != nil {
		return nil, err
	}
	c.m[dir] = &dirEntry{root: r, refs: 1}
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

func (c *dirCache) trimLocked() {
	for d, e := range c.m {
		if len(c.m) <= dirCacheIdle {
			return
		}
		if e.refs <= 0 {
			e.root.Close()
			delete(c.m, d)
		}
	}
}

func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, e := range c.m {
		e.root.Close()
		delete(c.m, d)
	}
}
