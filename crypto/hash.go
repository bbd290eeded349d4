package crypto

import (
	"encoding/binary"
	"encoding/hex"
	"hash"

	"golang.org/x/crypto/blake2b"

	"xfer/crypto/internal/blake2bx8"
)

// rootLabel is the domain-separation prefix of a file root.
const rootLabel = "xfer/1 file root"

// Hash is a BLAKE2b-256 chunk hash or file root.
type Hash [32]byte

// String returns h in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ChunkHash returns BLAKE2b-256 of a plaintext chunk.
func ChunkHash(p []byte) Hash { return blake2b.Sum256(p) }

// HashLanes is the most chunks ChunkHashes hashes side by side.
const HashLanes = blake2bx8.Lanes

// ChunkHashes sets out[i] to ChunkHash(chunks[i]) for every i. Chunks of
// equal length, up to HashLanes of them, are hashed side by side in the
// lanes of the vector registers where the CPU has AVX-512: about four
// times the throughput of one chunk after the other (see
// crypto/internal/blake2bx8). A batch of a file's full chunks is the
// case this is for; chunks of other lengths are hashed one by one.
// len(out) must be at least len(chunks).
func ChunkHashes(out []Hash, chunks [][]byte) {
	if len(out) < len(chunks) {
		panic("crypto: ChunkHashes: fewer outputs than chunks")
	}
	if !blake2bx8.Available() {
		for i, c := range chunks {
			out[i] = ChunkHash(c)
		}
		return
	}
	var (
		done [HashLanes]bool
		idx  [HashLanes]int
		msgs [HashLanes][]byte
		sums [HashLanes][32]byte
	)
	for len(chunks) > 0 {
		n := min(len(chunks), HashLanes)
		for i := range n {
			if done[i] {
				continue
			}
			k := 0
			for j := i; j < n; j++ {
				if !done[j] && len(chunks[j]) == len(chunks[i]) {
					idx[k], msgs[k] = j, chunks[j]
					done[j] = true
					k++
				}
			}
			blake2bx8.Sum256(sums[:k], msgs[:k])
			for g := range k {
				out[idx[g]] = sums[g]
			}
		}
		chunks, out = chunks[n:], out[n:]
		clear(done[:])
	}
}

// RootHasher computes a file root incrementally:
// BLAKE2b-256("xfer/1 file root" || uint64 size || uint32 chunkSize ||
// chunk hash 0 || chunk hash 1 || ...), integers big-endian.
//
// The root does not count the chunk hashes itself: size and chunkSize fix
// how many there must be, and the caller checks that. A RootHasher is not
// safe for concurrent use.
type RootHasher struct {
	h   hash.Hash
	buf Hash // Add copies here: writing a parameter through the interface would allocate
}

// NewRootHasher starts a file root.
func NewRootHasher(size uint64, chunkSize uint32) *RootHasher {
	h, err := blake2b.New256(nil)
	if err != nil {
		panic("crypto: blake2b.New256: " + err.Error()) // only fails for long keys
	}
	var hdr [len(rootLabel) + 8 + 4]byte
	copy(hdr[:], rootLabel)
	binary.BigEndian.PutUint64(hdr[len(rootLabel):], size)
	binary.BigEndian.PutUint32(hdr[len(rootLabel)+8:], chunkSize)
	h.Write(hdr[:])
	return &RootHasher{h: h}
}

// Add appends the next chunk hash.
func (r *RootHasher) Add(h Hash) {
	r.buf = h
	r.h.Write(r.buf[:])
}

// Sum returns the root of the hashes added so far. It does not change
// the state, so more hashes may be added afterwards.
func (r *RootHasher) Sum() Hash {
	var out Hash
	r.h.Sum(out[:0])
	return out
}

// FileRoot is NewRootHasher + Add for each hash + Sum.
func FileRoot(size uint64, chunkSize uint32, hashes []Hash) Hash {
	r := NewRootHasher(size, chunkSize)
	for _, h := range hashes {
		r.Add(h)
	}
	return r.Sum()
}
