package crypto_test

import (
	"testing"

	"xfer/crypto"
)

// TestChunkHashesMatchesChunkHash mixes lengths (full chunks, a short
// last chunk, empty ones) in batches smaller and larger than HashLanes.
func TestChunkHashesMatchesChunkHash(t *testing.T) {
	lengths := []int{1 << 20, 1 << 20, 777, 1 << 20, 0, 4096, 4096, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 4096, 130, 1 << 20}
	chunks := make([][]byte, len(lengths))
	for i, n := range lengths {
		chunks[i] = make([]byte, n)
		for j := range chunks[i] {
			chunks[i][j] = byte(i*31 + j*7 + j>>9)
		}
	}
	for k := 0; k <= len(chunks); k++ {
		out := make([]crypto.Hash, k)
		crypto.ChunkHashes(out, chunks[:k])
		for i := range k {
			if want := crypto.ChunkHash(chunks[i]); out[i] != want {
				t.Fatalf("%d chunks: chunk %d (%d bytes): got %s, want %s", k, i, lengths[i], out[i], want)
			}
		}
	}
}

func TestChunkHashesAllocatesNothing(t *testing.T) {
	chunks := make([][]byte, crypto.HashLanes)
	for i := range chunks {
		chunks[i] = make([]byte, 64<<10)
	}
	out := make([]crypto.Hash, len(chunks))
	if n := testing.AllocsPerRun(10, func() { crypto.ChunkHashes(out, chunks) }); n != 0 {
		t.Fatalf("ChunkHashes allocates %v times per call", n)
	}
}

func BenchmarkChunkHashes(b *testing.B) {
	chunks := make([][]byte, crypto.HashLanes)
	for i := range chunks {
		chunks[i] = make([]byte, 1<<20)
	}
	out := make([]crypto.Hash, len(chunks))
	b.SetBytes(int64(len(chunks)) << 20)
	b.ReportAllocs()
	for b.Loop() {
		crypto.ChunkHashes(out, chunks)
	}
}
