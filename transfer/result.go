package transfer

import (
	"errors"
	"io"
	"io/fs"
	"time"

	"xfer/crypto"
	"xfer/protocol"
)

// FileResult is the outcome of one file or directory.
type FileResult struct {
	Path         string // wire path
	Dir          bool
	Size         uint64
	Root         crypto.Hash
	Skipped      bool   // already up to date
	ResumedBytes uint64 // bytes the receiver already held
	WireBytes    uint64 // chunk frame bytes sent in this attempt
	Duration     time.Duration
	Err          error // nil when the file arrived verified (or was up to date)
}

// Code returns the protocol error code of a failed result (CodeInternal
// when the error carries none), or 0.
func (r *FileResult) Code() uint16 {
	if r.Err == nil {
		return 0
	}
	return ErrorCode(r.Err)
}

// ErrorCode returns the protocol code an error carries, CodeInternal if
// none.
func ErrorCode(err error) uint16 {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return protocol.CodeInternal
}

// Stats sums up a session.
type Stats struct {
	Files        int // verified or up to date
	Skipped      int // of Files, up to date
	Dirs         int
	Failed       int
	Bytes        uint64
	WireBytes    uint64
	ResumedBytes uint64
}

// add counts one result.
func (s *Stats) add(r FileResult) {
	switch {
	case r.Err != nil:
		s.Failed++
	case r.Dir:
		s.Dirs++
	default:
		s.Files++
		s.Bytes += r.Size
		s.WireBytes += r.WireBytes
		s.ResumedBytes += r.ResumedBytes
		if r.Skipped {
			s.Skipped++
		}
	}
}

// Hooks observe a transfer; nil members are not called. They may be
// called from several goroutines at once.
type Hooks struct {
	// Progress reports n more bytes of the file at path done (sent, or
	// found already held by the receiver).
	Progress func(path string, n uint64)
	// File reports the final result of one file or directory.
	File func(r FileResult)
	// Begin reports a file about to be transferred and its size.
	Begin func(path string, size uint64)
}

func (h *Hooks) begin(path string, size uint64) {
	if h != nil && h.Begin != nil {
		h.Begin(path, size)
	}
}

func (h *Hooks) progress(path string, n uint64) {
	if h != nil && h.Progress != nil && n > 0 {
		h.Progress(path, n)
	}
}

func (h *Hooks) file(r FileResult) {
	if h != nil && h.File != nil {
		h.File(r)
	}
}

// File is an open source file.
type File interface {
	io.ReaderAt
	Stat() (fs.FileInfo, error)
	Close() error
}

// Item is one directory or file a sender offers, in walk order: a
// directory before its contents.
type Item struct {
	Path  string // wire path, relative to the destination
	Dir   bool
	Mode  fs.FileMode
	MTime time.Time
	Size  uint64
	// Open opens the file for reading (files only).
	Open func() (File, error)
	// Err, when set, reports a source that cannot be sent (unreadable,
	// a symlink, ...); it is reported and not sent.
	Err error
}
