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
// workers <= 0, and at most GOMAXPROCS and 4). Memory is bounded by
// workers × crypto.HashLanes × chunkSize.
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

// hashGroup is the hashes of up to crypto.HashLanes consecutive
// positions, hashed together (crypto.ChunkHashes); err is the error of
// reading position k, the first one not hashed.
type hashGroup struct {
	h   [crypto.HashLanes]crypto.Hash
	k   int
	err error
}

// maxHashWorkers bounds the goroutines (and groups of buffers) of one
// HashChunks or HashFile call.
const maxHashWorkers = 4

// hashAhead is how many groups each worker may have finished before the
// consumer takes them.
const hashAhead = 1

// hashOrdered hashes the chunks index(0) … index(n−1) on up to workers
// goroutines and calls emit(pos, hash) in order of pos from the calling
// goroutine. Positions go in groups of crypto.HashLanes, which a worker
// reads and then hashes side by side; worker w handles the groups w,
// w+W, w+2W …, so the consumer reads group g from worker g mod W, and
// each worker runs at most hashAhead groups ahead. It stops at the first
// error in position order.
func hashOrdered(r io.ReaderAt, size uint64, chunkSize uint32, n uint64, index func(uint64) uint64, workers int, emit func(uint64, crypto.Hash)) error {
	if n == 0 {
		return nil
	}
	const lanes = crypto.HashLanes
	groups := (n + lanes - 1) / lanes
	if workers <= 0 || workers > runtime.GOMAXPROCS(0) {
		workers = runtime.GOMAXPROCS(0)
	}
	// Each worker holds a group of chunk buffers and hashes about
	// 3.5 GB/s with AVX-512; a few outrun any disk.
	workers = min(workers, maxHashWorkers)
	if uint64(workers) > groups {
		workers = int(groups)
	}
	pool := poolFor(chunkSize)
	quit := make(chan struct{})
	results := make([]chan *hashGroup, workers)
	var wg sync.WaitGroup
	for w := range results {
		results[w] = make(chan *hashGroup, hashAhead)
		wg.Go(func() {
			var bufs [lanes][]byte
			defer func() {
				for _, b := range bufs {
					if b != nil {
						pool.Put(b)
					}
				}
			}()
			var chunks [lanes][]byte
			for g := uint64(w); g < groups; g += uint64(workers) {
				res := new(hashGroup)
				first := g * lanes
				for ; res.k < lanes && first+uint64(res.k) < n; res.k++ {
					if bufs[res.k] == nil {
						bufs[res.k] = pool.Get()
					}
					chunks[res.k], res.err = readChunk(r, size, chunkSize, index(first+uint64(res.k)), bufs[res.k])
					if res.err != nil {
						break
					}
				}
				crypto.ChunkHashes(res.h[:res.k], chunks[:res.k])
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
	for g := uint64(0); g < groups && err == nil; g++ {
		res := <-results[g%uint64(workers)]
		for i := range res.k {
			emit(g*lanes+uint64(i), res.h[i])
		}
		err = res.err
	}
	close(quit)
	wg.Wait()
	return err
}

// readChunk reads chunk i into buf and returns it.
func readChunk(r io.ReaderAt, size uint64, chunkSize uint32, i uint64, buf []byte) ([]byte, error) {
	p := buf[:Len(size, chunkSize, i)]
	off := Offset(chunkSize, i)
	n, err := r.ReadAt(p, int64(off))
	if n < len(p) {
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("%w: chunk %d at offset %d: read %d of %d bytes", ErrShortFile, i, off, n, len(p))
		}
		return nil, fmt.Errorf("chunk: reading chunk %d at offset %d: %w", i, off, err)
	}
	// n == len(p): an io.EOF alongside a full read is fine.
	return p, nil
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
