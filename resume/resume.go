// Package resume keeps the durable receiver state of partial files: an
// append-only journal per partial file that records which chunks are
// written, fsynced and verified, so that an interrupted transfer continues
// from them.
//
// A journal starts with a header (file identity, no key material) and
// continues with fixed-size chunk records; the header and every record
// carry their own checksum, so a torn or corrupt tail is detected and
// ignored. A record is appended only after the data it describes has been
// fsynced (see Tracker).
package resume

import (
	"errors"
	"os"
	"time"

	"xfer/crypto"
)

// Header identifies the file a partial belongs to.
type Header struct {
	Dest       string // destination path relative to the receiver's root
	Size       uint64
	ChunkSize  uint32
	Mode       uint32
	MTime      int64
	TransferID [16]byte // of the transfer that created the partial
	Created    int64    // Unix nanoseconds
}

// Record says that chunk Index, whose plaintext hashes to Hash, is on disk
// and fsynced.
type Record struct {
	Index uint64
	Hash  crypto.Hash
}

// ErrBusy is returned when another process or goroutine holds the
// journal's lock.
var ErrBusy = errors.New("resume: journal is in use")

// Journal is an open, locked journal file. Append and Sync are safe for
// concurrent use.
type Journal struct {
	// implementation fields
}

// Create writes a new journal with header h into f (truncating it), locks
// it (flock LOCK_EX|LOCK_NB, ErrBusy if held) and fsyncs it. The journal
// takes ownership of f.
func Create(f *os.File, h Header) (*Journal, error) { panic("unimplemented") }

// Open locks and reads the journal in f, returns its header and the valid
// records (in file order, duplicates removed, last wins), and truncates a
// torn or corrupt tail so that later appends follow the last valid record.
// A journal whose header is corrupt is an error (the caller discards the
// partial). The journal takes ownership of f.
func Open(f *os.File) (*Journal, Header, []Record, error) { panic("unimplemented") }

// Decode parses journal bytes: the header, the records up to the first
// invalid one, and the length of the valid prefix. It never panics.
func Decode(data []byte) (h Header, recs []Record, valid int, err error) {
	panic("unimplemented")
}

// Append writes records at the end of the journal (no fsync).
func (j *Journal) Append(recs ...Record) error { panic("unimplemented") }

// Sync fsyncs the journal.
func (j *Journal) Sync() error { panic("unimplemented") }

// Close unlocks and closes the journal.
func (j *Journal) Close() error { panic("unimplemented") }

// Tracker batches durability for one partial file: chunks reported with
// Written are recorded in the journal only after the data file has been
// fsynced. A background goroutine flushes when MaxBytes of unsynced data
// accumulate or MaxDelay passes, so callers never wait for an fsync.
// Safe for concurrent use.
type Tracker struct {
	// implementation fields
}

// TrackerConfig sets the batching thresholds; zero values mean 64 MiB and
// 1 s.
type TrackerConfig struct {
	MaxBytes int64
	MaxDelay time.Duration
}

// NewTracker starts a tracker for data (the partial file) and j.
func NewTracker(data *os.File, j *Journal, cfg TrackerConfig) *Tracker { panic("unimplemented") }

// Written notes that chunk r (n bytes) has been written to the data file.
// It returns the first error of a background flush, if any.
func (t *Tracker) Written(r Record, n int) error { panic("unimplemented") }

// Flush fsyncs the data file, appends every pending record and fsyncs the
// journal, then returns.
func (t *Tracker) Flush() error { panic("unimplemented") }

// Close flushes and stops the background goroutine; it does not close the
// data file or the journal.
func (t *Tracker) Close() error { panic("unimplemented") }
