// Package chunk splits files into fixed-size chunks and prepares their
// payloads: the per-file LZ4 compression policy, compression and exact
// decompression, reusable buffers, and parallel hashing of local files.
package chunk

import (
	"io"

	"xfer/crypto"
)

// Count returns the number of chunks of a file of size bytes (0 for an
// empty file).
func Count(size uint64, chunkSize uint32) uint64 { panic("unimplemented") }

// Len returns the length of chunk index of a file of size bytes; 0 when
// index is out of range.
func Len(size uint64, chunkSize uint32, index uint64) uint32 { panic("unimplemented") }

// Mode selects how a Policy decides to compress.
type Mode int

const (
	// Auto tries LZ4 and backs off on a file whose chunks keep failing
	// to compress.
	Auto Mode = iota
	// Always tries LZ4 on every chunk (still sending raw when it does not
	// save enough).
	Always
	// Never sends every chunk raw.
	Never
)

// ParseMode parses "auto", "always" or "never".
func ParseMode(s string) (Mode, error) { panic("unimplemented") }

// Policy is the compression decision state of one file. Safe for
// concurrent use by the workers sealing that file's chunks.
//
// In Auto mode a chunk counts as compressible when LZ4 saves at least
// 1/16 of it; after 4 consecutive failures the policy skips the next 8
// chunks, then 16, 32 … up to 256 (exponential back-off), and any success
// resets it.
type Policy struct {
	// implementation fields (atomics)
}

// NewPolicy returns the policy of one file.
func NewPolicy(m Mode) *Policy { panic("unimplemented") }

// Encoder compresses chunks; one per worker goroutine (not safe for
// concurrent use), reused across chunks and files without allocating.
type Encoder struct {
	// implementation fields: an lz4.Compressor and a scratch buffer
}

// NewEncoder returns an Encoder for chunks of at most maxChunk bytes.
func NewEncoder(maxChunk int) *Encoder { panic("unimplemented") }

// Encode returns the codec and payload for raw chunk index of the file
// governed by p. The payload is raw itself (protocol.CodecRaw) or a slice
// of the encoder's scratch buffer (protocol.CodecLZ4), valid until the
// next call.
func (e *Encoder) Encode(p *Policy, index uint64, raw []byte) (codec uint8, payload []byte) {
	panic("unimplemented")
}

// Decode writes the decoded payload into dst[:rawLen] and returns it.
// cap(dst) must be at least rawLen. It fails unless the output is exactly
// rawLen bytes ("chunk: lz4 payload decodes to N bytes, want M"), and
// rejects unknown codecs and a raw payload whose length is not rawLen.
func Decode(dst []byte, codec uint8, payload []byte, rawLen int) ([]byte, error) {
	panic("unimplemented")
}

// Pool hands out byte slices of one size class and takes them back; it
// never holds more than a bounded number idle. Safe for concurrent use.
type Pool struct {
	// implementation fields
}

// NewPool returns a pool of slices with capacity size.
func NewPool(size int) *Pool { panic("unimplemented") }

// Get returns a slice of length and capacity size.
func (p *Pool) Get() []byte { panic("unimplemented") }

// Put returns b to the pool (b must have come from Get).
func (p *Pool) Put(b []byte) { panic("unimplemented") }

// HashChunks returns the chunk hashes of the given chunk indexes of r
// (size bytes), computed in parallel on workers goroutines (GOMAXPROCS if
// workers <= 0). Memory is bounded by workers × chunkSize.
func HashChunks(r io.ReaderAt, size uint64, chunkSize uint32, indexes []uint64, workers int) ([]crypto.Hash, error) {
	panic("unimplemented")
}

// HashFile returns the file root of r (size bytes),
// computed in parallel like HashChunks.
func HashFile(r io.ReaderAt, size uint64, chunkSize uint32, workers int) (crypto.Hash, error) {
	panic("unimplemented")
}
