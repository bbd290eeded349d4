package chunk

import "sync"

// Pool hands out byte slices of one size class and takes them back; it
// never holds more than a bounded number idle. Safe for concurrent use.
//
// The idle slices are those returned by Put and not yet handed out again,
// so there are never more of them than were in use at once; the garbage
// collector releases idle slices over its next cycles (Pool is backed by
// sync.Pool). Get and Put do not allocate in steady state.
type Pool struct {
	size int
	bufs sync.Pool // *[]byte holding a slice of capacity size
	hdrs sync.Pool // empty *[]byte, recycled so that Put need not allocate
}

// NewPool returns a pool of slices with capacity size.
func NewPool(size int) *Pool {
	if size < 0 {
		panic("chunk: negative pool size")
	}
	return &Pool{size: size}
}

// Size returns the length and capacity of the pool's slices.
func (p *Pool) Size() int { return p.size }

// Get returns a slice of length and capacity size. Its contents are
// unspecified.
func (p *Pool) Get() []byte {
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		return make([]byte, p.size)
	}
	b := *bp
	*bp = nil
	p.hdrs.Put(bp)
	return b[:p.size]
}

// Put returns b to the pool (b must have come from Get). A slice whose
// capacity is not the pool's size is dropped.
func (p *Pool) Put(b []byte) {
	if cap(b) != p.size {
		return
	}
	bp, _ := p.hdrs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = b[:p.size]
	p.bufs.Put(bp)
}
