package transport

import (
	"math/bits"
	"sync"

	"xfer/protocol"
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

// getBuf returns a buffer of length n (n <= ChunkHeaderSize+MaxCiphertext).
func getBuf(n int) []byte {
	c := classFor(n)
	if c >= len(classPools) {
		return make([]byte, n)
	}
	if bp, ok := classPools[c].Get().(*[]byte); ok {
		return (*bp)[:n]
	}
	return make([]byte, n, classSize(c))
}

func putBuf(b []byte) {
	c := classFor(cap(b))
	if c >= len(classPools) || cap(b) != classSize(c) {
		return
	}
	b = b[:cap(b)]
	classPools[c].Put(&b)
}

// maxFrame is the largest frame a peer may send.
const maxFrame = protocol.ChunkHeaderSize + protocol.MaxCiphertext
