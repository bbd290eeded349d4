package transport

import (
	"math/bits"
	"sync"

	"xfer/protocol"
)

// Frame buffers come in power-of-two size classes from 64 KiB up to the
// largest legal frame, so a 1 MiB chunk holds about 1 MiB, not 4.
const minClassShift = 16

var classPools [8]sync.Pool

func classFor(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getBuf returns a buffer of length n (n <= ChunkHeaderSize+MaxCiphertext).
func getBuf(n int) []byte {
	c := classFor(n)
	if c >= len(classPools) {
		return make([]byte, n)
	}
	if bp, ok := classPools[c].Get().(*[]byte); ok {
		return (*bp)[:n]
	}
	return make([]byte, n, 1<<(c+minClassShift))
}

func putBuf(b []byte) {
	c := classFor(cap(b))
	if c >= len(classPools) || cap(b) != 1<<(c+minClassShift) {
		return
	}
	b = b[:cap(b)]
	classPools[c].Put(&b)
}

// maxFrame is the largest frame a peer may send.
const maxFrame = protocol.ChunkHeaderSize + protocol.MaxCiphertext
