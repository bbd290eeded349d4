package transport

import (
	"math/bits"
	"sync"
)

// Frame buffers come in size classes of a power of two from 64 KiB up,
// plus room for the frame's overhead (header, chunk hash, tag), so a
// frame of a 1 MiB chunk takes a little over 1 MiB, not 2.
const (
	minClassShift = 16
	classSlack    = 128 // >= ChunkHeaderSize + HashSize + TagSize
)

var classPools [8]sync.Pool

func classFor(n int) int {
	if n <= 1<<minClassShift+classSlack {
		return 0
	}
	return bits.Len(uint(n-classSlack-1)) - minClassShift
}

func classSize(c int) int { return 1<<(c+minClassShift) + classSlack }

// getFrame returns a frame whose buffer has length n (n <=
// ChunkHeaderSize+MaxCiphertext). Frames themselves are pooled with their
// buffers, so steady-state receiving allocates nothing.
func getFrame(n int) *Frame {
	c := classFor(n)
	if c >= len(classPools) {
		return &Frame{buf: make([]byte, n)}
	}
	if f, ok := classPools[c].Get().(*Frame); ok {
		f.buf = f.buf[:n]
		f.pooled = false
		return f
	}
	return &Frame{buf: make([]byte, n, classSize(c))}
}

func putFrame(f *Frame) {
	if f.pooled {
		panic("transport: frame released twice")
	}
	f.pooled = true
	c := classFor(cap(f.buf))
	if c >= len(classPools) || cap(f.buf) != classSize(c) {
		return
	}
	classPools[c].Put(f)
}
