package transfer

import (
	"sync/atomic"
	"testing"
	"time"
)

// gatherOrFail runs g.gather and fails the test if it has not returned
// within 10 s (the gatherers below never time out on their own).
func gatherOrFail(t *testing.T, g *gatherer[int], dst []int) int {
	t.Helper()
	done := make(chan int, 1)
	go func() { done <- g.gather(dst, newStoppedTimer()) }()
	select {
	case n := <-done:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("gather did not return")
		return 0
	}
}

func newTestGatherer(in chan int, more *atomic.Bool) *gatherer[int] {
	g := newGatherer(in, more.Load)
	g.maxWait = time.Hour // a wrong wait shows as a hang, not as a slow test
	return g
}

func TestGatherTakesQueuedItemsUpToTheBatch(t *testing.T) {
	in := make(chan int, 20)
	for i := range 11 {
		in <- i
	}
	var more atomic.Bool
	g := newTestGatherer(in, &more)
	dst := make([]int, 8)
	if n := gatherOrFail(t, g, dst); n != 8 || dst[0] != 0 || dst[7] != 7 {
		t.Fatalf("first batch: %d items %v, want 0…7", n, dst[:n])
	}
	if n := gatherOrFail(t, g, dst); n != 3 || dst[0] != 8 || dst[2] != 10 {
		t.Fatalf("second batch: %d items %v, want 8, 9, 10", n, dst[:n])
	}
	close(in)
	if n := gatherOrFail(t, g, dst); n != 0 {
		t.Fatalf("closed input: %d items, want 0", n)
	}
}

func TestGatherWaitsForMoreWhileMoreAreDue(t *testing.T) {
	in := make(chan int)
	var more atomic.Bool
	more.Store(true)
	g := newTestGatherer(in, &more)
	go func() {
		for i := range 8 {
			in <- i
			time.Sleep(time.Millisecond)
		}
	}()
	dst := make([]int, 8)
	if n := gatherOrFail(t, g, dst); n != 8 {
		t.Fatalf("got a batch of %d, want 8 (gather did not wait)", n)
	}
}

func TestGatherStopsWaitingWhenPoked(t *testing.T) {
	in := make(chan int, 1)
	in <- 1
	var more atomic.Bool
	more.Store(true)
	g := newTestGatherer(in, &more)
	go func() {
		time.Sleep(10 * time.Millisecond)
		more.Store(false)
		g.poke()
	}()
	if n := gatherOrFail(t, g, make([]int, 8)); n != 1 {
		t.Fatalf("got %d items, want 1", n)
	}
}

func TestGatherReturnsWhatItHasWhenInputCloses(t *testing.T) {
	in := make(chan int, 2)
	in <- 1
	in <- 2
	var more atomic.Bool
	more.Store(true)
	g := newTestGatherer(in, &more)
	go func() { time.Sleep(10 * time.Millisecond); close(in) }()
	if n := gatherOrFail(t, g, make([]int, 8)); n != 2 {
		t.Fatalf("got %d items, want 2", n)
	}
}

func TestGatherGivesUpAfterMaxWait(t *testing.T) {
	in := make(chan int, 1)
	in <- 1
	var more atomic.Bool
	more.Store(true) // never comes
	g := newGatherer(in, more.Load)
	g.maxWait = time.Millisecond
	if n := gatherOrFail(t, g, make([]int, 8)); n != 1 {
		t.Fatalf("got %d items, want 1", n)
	}
}
