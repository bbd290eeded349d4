package chunk

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"xfer/crypto"
)

// ErrShortFile is returned (wrapped, naming the chunk) by HashChunks and
// HashFile when the reader ends before the size it was said to have,
// typically because the file shrank while it was being read.
var ErrShortFile = errors.New("chunk: file shorter than its size")

// HashChunks returns the chunk hashes of the given chunk indexes of r
// (size bytes), computed in parallel on workers goroutines (GOMAXPROCS if
// workers <= 0). Memory is bounded by workers × chunkSize.
//
// Chunks are read with ReadAt into pooled buffers of chunkSize bytes. An
// index outside the file is an error, as is a read that ends early
// (ErrShortFile). The returned error is that of the first failing index
// in the order given.
func HashChunks(r io.ReaderAt, size uint64, chunkSize uint32, indexes []uint64, workers int) ([]crypto.Hash, error) {
	if err := checkGeometry(size, chunkSize); err != nil {
		return nil, err
	}
	count := Count(size, chunkSize)
	for _, i := range indexes {
		if i >= count {
			return nil, fmt.Errorf("chunk: index %d out of range (file has %d chunks)", i, count)
		}
	}
	out := make([]crypto.Hash, len(indexes))
	err := hashOrdered(r, size, chunkSize, uint64(len(indexes)),
		func(pos uint64) uint64 { return indexes[pos] }, workers,
		func(pos uint64, h crypto.Hash) { out[pos] = h })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HashFile returns the file root of r (size bytes),
// computed in parallel like HashChunks.
//
// Memory does not depend on the file size: chunk hashes are folded into
// the root in order as they complete.
func HashFile(r io.ReaderAt, size uint64, chunkSize uint32, workers int) (crypto.Hash, error) {
	if err := checkGeometry(size, chunkSize); err != nil {
		return crypto.Hash{}, err
	}
	root := crypto.NewRootHasher(size, chunkSize)
	err := hashOrdered(r, size, chunkSize, Count(size, chunkSize),
		func(pos uint64) uint64 { return pos }, workers,
		func(_ uint64, h crypto.Hash) { root.Add(h) })
	if err != nil {
		return crypto.Hash{}, err
	}
	return root.Sum(), nil
}

func checkGeometry(size uint64, chunkSize uint32) error {
	if chunkSize == 0 {
		return errors.New("chunk: chunk size is 0")
	}
	if size > math.MaxInt64 {
		return fmt.Errorf("chunk: file size %d too large", size)
	}
	return nil
}

// hashResult is one chunk hash or the error of reading it.
type hashResult struct {
	h   crypto.Hash
	err error
}

// hashAhead is how many results each worker may have finished before the
// consumer takes them.
const hashAhead = 2

// hashOrdered hashes the chunks index(0) … index(n−1) on up to workers
// goroutines and calls emit(pos, hash) in order of pos from the calling
// goroutine. Worker w handles the positions w, w+W, w+2W …, so the
// consumer reads position pos from worker pos mod W, and each worker runs
// at most hashAhead results ahead. It stops at the first error in
// position order.
func hashOrdered(r io.ReaderAt, size uint64, chunkSize uint32, n uint64, index func(uint64) uint64, workers int, emit func(uint64, crypto.Hash)) error {
	if n == 0 {
		return nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if uint64(workers) > n {
		workers = int(n)
	}
	pool := poolFor(chunkSize)
	quit := make(chan struct{})
	results := make([]chan hashResult, workers)
	var wg sync.WaitGroup
	for w := range results {
		results[w] = make(chan hashResult, hashAhead)
		wg.Go(func() {
			buf := pool.Get()
			defer pool.Put(buf)
			for pos := uint64(w); pos < n; pos += uint64(workers) {
				var res hashResult
				res.h, res.err = hashChunk(r, size, chunkSize, index(pos), buf)
				select {
				case results[w] <- res:
				case <-quit:
					return
				}
				if res.err != nil {
					return
				}
			}
		})
	}
	var err error
	for pos := uint64(0); pos < n; pos++ {
		res := <-results[pos%uint64(workers)]
		if res.err != nil {
			err = res.err
			break
		}
		emit(pos, res.h)
	}
	close(quit)
	wg.Wait()
	return err
}

// hashChunk reads chunk i into buf and hashes it.
func hashChunk(r io.ReaderAt, size uint64, chunkSize uint32, i uint64, buf []byte) (crypto.Hash, error) {
	p := buf[:Len(size, chunkSize, i)]
	off := Offset(chunkSize, i)
	n, err := r.ReadAt(p, int64(off))
	if n < len(p) {
		if err == nil || err == io.EOF {
			return crypto.Hash{}, fmt.Errorf("%w: chunk %d at offset %d: read %d of %d bytes", ErrShortFile, i, off, n, len(p))
		}
		return crypto.Hash{}, fmt.Errorf("chunk: reading chunk %d at offset %d: %w", i, off, err)
	}
	// n == len(p): an io.EOF alongside a full read is fine.
	return crypto.ChunkHash(p), nil
}

// Hashing buffers are shared by size class, so that hashing many files
// does not allocate new chunk buffers for each. Only a few classes are
// kept; others get a pool of their own per call.
var (
	poolsMu sync.Mutex
	pools   = map[uint32]*Pool{}
)

const maxPoolClasses = 8

func poolFor(chunkSize uint32) *Pool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	if p := pools[chunkSize]; p != nil {
		return p
	}
	p := NewPool(int(chunkSize))
	if len(pools) < maxPoolClasses {
		pools[chunkSize] = p
	}
	return p
}
