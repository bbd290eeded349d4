package resume

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Tracker batches durability for one partial file: chunks reported with
// Written are recorded in the journal only after the data file has been
// fsynced. A background goroutine flushes when MaxBytes of unsynced data
// accumulate or MaxDelay passes, so callers never wait for an fsync.
// Safe for concurrent use.
//
// A flush takes the records reported so far, then fsyncs the data file,
// then appends exactly those records and fsyncs the journal. A record
// reported while a flush is under way waits for the next one, because its
// data may have reached the file after the fsync began. Flushes never
// overlap. The first error of any flush is sticky: Written, Flush and
// Close return it from then on, and the tracker stops writing to the
// journal.
//
// The background goroutine flushes when the unsynced bytes reach MaxBytes
// and otherwise every MaxDelay while records are pending; an idle tracker
// does no I/O.
type Tracker struct {
	data syncer
	j    *Journal
	cfg  TrackerConfig

	flushMu sync.Mutex // held for a whole flush

	mu      sync.Mutex
	pending []Record
	spare   []Record // the buffer of the previous batch, for reuse
	bytes   int64    // data bytes behind pending
	err     error
	closed  bool

	kick chan struct{} // MaxBytes reached
	stop chan struct{}
	done chan struct{}
}

// syncer is the part of the data file a Tracker uses.
type syncer interface{ Sync() error }

// TrackerConfig sets the batching thresholds; zero values mean 64 MiB and
// 1 s.
type TrackerConfig struct {
	MaxBytes int64
	MaxDelay time.Duration
}

// NewTracker starts a tracker for data (the partial file) and j.
func NewTracker(data *os.File, j *Journal, cfg TrackerConfig) *Tracker {
	return newTracker(data, j, cfg)
}

func newTracker(data syncer, j *Journal, cfg TrackerConfig) *Tracker {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Second
	}
	t := &Tracker{
		data: data,
		j:    j,
		cfg:  cfg,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go t.run()
	return t
}

// errTrackerClosed is returned by Written after Close.
var errTrackerClosed = errors.New("resume: tracker is closed")

// Written notes that chunk r (n bytes) has been written to the data file.
// It returns the first error of a background flush, if any.
//
// Call it only after the write of the chunk's data has returned: the next
// flush that starts afterwards records it. An index outside the file is
// an error and is not recorded.
func (t *Tracker) Written(r Record, n int) error {
	if r.Index >= t.j.count {
		return fmt.Errorf("resume: record index %d out of range (file has %d chunks)", r.Index, t.j.count)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	if t.closed {
		return errTrackerClosed
	}
	t.pending = append(t.pending, r)
	t.bytes += int64(n)
	if t.bytes >= t.cfg.MaxBytes {
		select {
		case t.kick <- struct{}{}:
		default: // a flush is already requested
		}
	}
	return nil
}

// Flush fsyncs the data file, appends every pending record and fsyncs the
// journal, then returns.
//
// "Pending" means reported by a Written call that returned before Flush
// was called. After Close, Flush only returns the sticky error.
func (t *Tracker) Flush() error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return t.Err()
	}
	return t.flush(true)
}

// Err returns the sticky error, if any.
func (t *Tracker) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close flushes and stops the background goroutine; it does not close the
// data file or the journal.
//
// Close the tracker before the journal: its final flush appends to it.
// Written fails after Close. Closing twice returns the sticky error.
func (t *Tracker) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return t.Err()
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	<-t.done
	return t.flush(true)
}

// run is the background goroutine.
func (t *Tracker) run() {
	defer close(t.done)
	tick := time.NewTicker(t.cfg.MaxDelay)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-t.kick:
		case <-tick.C:
		}
		t.flush(false)
	}
}

// flush performs one flush. Unless always is set it does nothing when no
// records are pending.
func (t *Tracker) flush(always bool) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()

	// Capture the batch before the data fsync starts: only chunks whose
	// writes finished before it may be recorded by this flush.
	t.mu.Lock()
	if t.err != nil {
		err := t.err
		t.mu.Unlock()
		return err
	}
	batch := t.pending
	t.pending, t.spare = t.spare[:0], nil
	t.bytes = 0
	t.mu.Unlock()

	if len(batch) == 0 && !always {
		t.recycle(batch)
		return nil
	}
	err := t.data.Sync()
	if err != nil {
		err = fmt.Errorf("resume: syncing data file: %w", err)
	}
	if err == nil && len(batch) > 0 {
		err = t.j.Append(batch...)
	}
	if err == nil {
		err = t.j.Sync()
	}
	t.recycle(batch)
	if err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		err = t.err
		t.mu.Unlock()
	}
	return err
}

// recycle keeps batch's array for the next batch.
func (t *Tracker) recycle(batch []Record) {
	if cap(batch) > 1<<16 {
		return // let an unusually large batch go
	}
	t.mu.Lock()
	t.spare = batch[:0]
	t.mu.Unlock()
}
