package transfer

import (
	"runtime"
	"sync"
	"time"

	"xfer/crypto"
)

// gatherWait bounds how long a gatherer waits for a batch to fill.
const gatherWait = 20 * time.Millisecond

// maxWorkers caps the default worker count of each side: eight workers
// hash, seal and open far more than any network link carries, and each
// holds a batch of chunk buffers.
const maxWorkers = 8

// defaultWorkers is the worker count of each side unless set: one per
// core (each works on batches of crypto.HashLanes chunks), at least two
// (so that a worker blocked on the socket or the disk does not stop the
// pipeline on a single core), at most maxWorkers.
func defaultWorkers() int { return min(max(runtime.GOMAXPROCS(0), 2), maxWorkers) }

// inFlightFor is how many chunks one side holds at most in its pipeline
// (read and not yet sent; received and not yet written): a batch for
// each worker and at least two, so that one worker finds a full batch
// waiting while another is being sealed. Memory stays near this many
// chunk buffers whatever the file size.
func inFlightFor(workers int) int { return max(2, workers) * crypto.HashLanes }

// A gatherer hands batches of up to crypto.HashLanes items from in to
// workers. A full batch hashes about four times faster than the same
// chunks one by one (crypto.ChunkHashes), so a worker waits for the
// batch to fill, up to gatherWait, as long as more items are due soon
// (more reports it, and wake is signalled when that may have changed).
// Items already held cost no throughput: the producer goes on filling
// the other in-flight slots. One worker gathers at a time, so that a
// burst of items is not split between workers.
type gatherer[T any] struct {
	mu      sync.Mutex
	in      <-chan T
	more    func() bool
	wake    chan struct{}
	maxWait time.Duration // gatherWait
}

func newGatherer[T any](in <-chan T, more func() bool) *gatherer[T] {
	return &gatherer[T]{in: in, more: more, wake: make(chan struct{}, 1), maxWait: gatherWait}
}

// poke tells a waiting gatherer to look at more again.
func (g *gatherer[T]) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// gather fills dst with the next batch and returns its length: at least
// one item, or 0 once in is closed and drained. wait is the caller's own
// stopped timer.
func (g *gatherer[T]) gather(dst []T, wait *time.Timer) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	item, ok := <-g.in
	if !ok {
		return 0
	}
	dst[0] = item
	n := 1
	armed := false
	defer func() {
		if armed {
			wait.Stop()
		}
	}()
	for n < len(dst) {
		select {
		case item, ok = <-g.in:
		default:
			if !g.more() {
				return n
			}
			if !armed {
				wait.Reset(g.maxWait)
				armed = true
			}
			select {
			case item, ok = <-g.in:
			case <-g.wake:
				continue // look at more again
			case <-wait.C:
				armed = false
				return n
			}
		}
		if !ok {
			return n
		}
		dst[n] = item
		n++
	}
	return n
}

// newStoppedTimer returns a timer for gather.
func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
