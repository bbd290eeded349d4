package resume

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// journalRecords reads the records currently in the journal at path.
func journalRecords(t testing.TB, path string) []Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, recs, _, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func newFiles(t testing.TB, h Header) (data *os.File, j *Journal, jpath string) {
	t.Helper()
	dir := t.TempDir()
	data, err := os.Create(filepath.Join(dir, "partial"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { data.Close() })
	jpath = filepath.Join(dir, "journal")
	j = create(t, jpath, h)
	t.Cleanup(func() { j.Close() })
	return data, j, jpath
}

func TestTrackerFlush(t *testing.T) {
	data, j, jpath := newFiles(t, testHeader())
	tr := NewTracker(data, j, TrackerConfig{MaxBytes: 1 << 40, MaxDelay: time.Hour})
	for i := range 3 {
		if _, err := data.WriteAt([]byte("chunk"), int64(i)<<20); err != nil {
			t.Fatal(err)
		}
		if err := tr.Written(rec(uint64(i)), 5); err != nil {
			t.Fatal(err)
		}
	}
	if recs := journalRecords(t, jpath); len(recs) != 0 {
		t.Fatalf("records before Flush: %v", recs)
	}
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	if recs := journalRecords(t, jpath); !slices.Equal(recs, []Record{rec(0), rec(1), rec(2)}) {
		t.Fatalf("records after Flush: %v", recs)
	}
	if err := tr.Flush(); err != nil { // nothing pending
		t.Fatal(err)
	}
	tr.Written(rec(5), 5)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if recs := journalRecords(t, jpath); len(recs) != 4 || recs[3] != rec(5) {
		t.Fatalf("records after Close: %v", recs)
	}
	if err := tr.Written(rec(6), 5); err == nil {
		t.Error("Written after Close accepted")
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tr.Written(rec(10), 5); err == nil {
		t.Error("index out of range accepted")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTrackerBackground(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		data, j, jpath := newFiles(t, testHeader())
		tr := NewTracker(data, j, TrackerConfig{MaxBytes: 100, MaxDelay: time.Hour})
		defer tr.Close()
		tr.Written(rec(0), 60)
		tr.Written(rec(1), 60) // reaches MaxBytes
		waitFor(t, "flush on MaxBytes", func() bool { return len(journalRecords(t, jpath)) == 2 })
	})
	t.Run("delay", func(t *testing.T) {
		data, j, jpath := newFiles(t, testHeader())
		tr := NewTracker(data, j, TrackerConfig{MaxBytes: 1 << 40, MaxDelay: 5 * time.Millisecond})
		defer tr.Close()
		tr.Written(rec(0), 1)
		waitFor(t, "flush on MaxDelay", func() bool { return len(journalRecords(t, jpath)) == 1 })
	})
}

// fakeData stands in for the data file: it tracks which chunks were
// written and which were written before an fsync started.
type fakeData struct {
	t     *testing.T
	jpath string

	mu      sync.Mutex
	written map[uint64]bool // write returned
	durable map[uint64]bool // written before some fsync started
	syncs   int
	fail    error
}

func newFakeData(t *testing.T, jpath string) *fakeData {
	return &fakeData{t: t, jpath: jpath, written: map[uint64]bool{}, durable: map[uint64]bool{}}
}

func (d *fakeData) write(i uint64) {
	d.mu.Lock()
	d.written[i] = true
	d.mu.Unlock()
}

// Sync checks that every record in the journal describes a chunk that was
// durable after an earlier fsync, then makes everything written so far
// durable.
func (d *fakeData) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncs++
	if d.fail != nil {
		return d.fail
	}
	d.check()
	for i := range d.written {
		d.durable[i] = true
	}
	return nil
}

// check verifies the journal against the durable set; d.mu is held.
func (d *fakeData) check() {
	data, err := os.ReadFile(d.jpath)
	if err != nil {
		d.t.Error(err)
		return
	}
	_, recs, _, err := Decode(data)
	if err != nil {
		d.t.Error(err)
		return
	}
	for _, r := range recs {
		if !d.durable[r.Index] {
			d.t.Errorf("journal records chunk %d before its data was fsynced", r.Index)
		}
	}
}

// TestTrackerRecordsOnlySyncedData runs writers, background flushes and
// explicit flushes concurrently and checks that no record reaches the
// journal before an fsync that started after its data was written.
func TestTrackerRecordsOnlySyncedData(t *testing.T) {
	const writers, perWriter = 8, 400
	h := testHeader()
	h.Size, h.ChunkSize = writers*perWriter, 1
	_, j, jpath := newFiles(t, h)
	d := newFakeData(t, jpath)
	tr := newTracker(d, j, TrackerConfig{MaxBytes: 7, MaxDelay: time.Millisecond})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 0))
			for k := range perWriter {
				i := uint64(w*perWriter + k)
				d.write(i)
				if err := tr.Written(rec(i), 1); err != nil {
					t.Error(err)
					return
				}
				if r.IntN(100) == 0 {
					if err := tr.Flush(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.check()
	syncs := d.syncs
	d.mu.Unlock()
	recs := journalRecords(t, jpath)
	if len(recs) != writers*perWriter {
		t.Errorf("%d records, want %d", len(recs), writers*perWriter)
	}
	seen := map[uint64]bool{}
	for _, r := range recs {
		if seen[r.Index] {
			t.Errorf("chunk %d recorded twice", r.Index)
		}
		seen[r.Index] = true
	}
	t.Logf("%d data fsyncs", syncs)
}

// blockingData blocks in Sync until released, to show that a record
// reported during an fsync waits for the next one.
type blockingData struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingData) Sync() error {
	b.started <- struct{}{}
	<-b.release
	return nil
}

func TestTrackerRecordDuringSync(t *testing.T) {
	_, j, jpath := newFiles(t, testHeader())
	d := &blockingData{started: make(chan struct{}), release: make(chan struct{})}
	tr := newTracker(d, j, TrackerConfig{MaxBytes: 1 << 40, MaxDelay: time.Hour})
	tr.Written(rec(0), 1)
	flushed := make(chan error)
	go func() { flushed <- tr.Flush() }()
	<-d.started // the data fsync of the first flush is under way
	tr.Written(rec(1), 1)
	d.release <- struct{}{}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if recs := journalRecords(t, jpath); !slices.Equal(recs, []Record{rec(0)}) {
		t.Fatalf("after first flush: %v", recs)
	}
	go func() { flushed <- tr.Close() }()
	<-d.started
	d.release <- struct{}{}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if recs := journalRecords(t, jpath); !slices.Equal(recs, []Record{rec(0), rec(1)}) {
		t.Fatalf("after Close: %v", recs)
	}
}

func TestTrackerStickyError(t *testing.T) {
	_, j, jpath := newFiles(t, testHeader())
	d := newFakeData(t, jpath)
	d.fail = errors.New("EIO")
	tr := newTracker(d, j, TrackerConfig{MaxBytes: 1, MaxDelay: time.Hour})
	tr.Written(rec(0), 1) // kicks a background flush, which fails
	waitFor(t, "background error", func() bool { return tr.Err() != nil })
	err := tr.Written(rec(1), 1)
	if err == nil || err.Error() != "resume: syncing data file: EIO" {
		t.Errorf("Written: %v", err)
	}
	d.mu.Lock()
	d.fail = nil
	d.mu.Unlock()
	if err := tr.Flush(); err == nil {
		t.Error("Flush after failure succeeded")
	}
	if err := tr.Close(); err == nil {
		t.Error("Close after failure succeeded")
	}
	if recs := journalRecords(t, jpath); len(recs) != 0 {
		t.Errorf("records after failed fsync: %v", recs)
	}
}

// BenchmarkTrackerWritten measures what a receiver worker pays per chunk.
// The background goroutine flushes every 4096 chunks of 64 KiB (the data
// file is empty, so its fsync is cheap; the journal append and fsync are
// real) concurrently with the Written calls.
func BenchmarkTrackerWritten(b *testing.B) {
	h := testHeader()
	h.Size, h.ChunkSize = 1<<40, 64<<10
	recs := make([]Record, 1<<12)
	for i := range recs {
		recs[i] = rec(uint64(i))
	}
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			data, j, _ := newFiles(b, h)
			tr := NewTracker(data, j, TrackerConfig{MaxBytes: int64(len(recs)) * 64 << 10, MaxDelay: time.Hour})
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					var i int
					for pb.Next() {
						tr.Written(recs[i%len(recs)], 64<<10)
						i++
					}
				})
			} else {
				var i int
				for b.Loop() {
					tr.Written(recs[i%len(recs)], 64<<10)
					i++
				}
			}
			b.StopTimer()
			if err := tr.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
