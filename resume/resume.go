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
//
// # Format
//
// All integers are big-endian. FORMAT.md in this directory has the same
// description with a worked example.
//
//	magic       8 bytes  "XFERJNL1"
//	header len  uint32   length L of the header fields (50 + len(Dest))
//	header      L bytes  uint16 len(Dest), Dest, uint64 Size,
//	                     uint32 ChunkSize, uint32 Mode, int64 MTime,
//	                     [16]byte TransferID, int64 Created
//	header sum  16 bytes BLAKE2b-256(magic || header len || header),
//	                     first 16 bytes
//	records     44 bytes each: uint64 Index, [32]byte Hash,
//	                     uint32 CRC-32C(Index || Hash)
//
// Dest is at most MaxDest bytes and ChunkSize is not 0. A record is valid
// when it is complete, its checksum matches and its index is below the
// header's chunk count. Reading stops at the first record that is not
// valid: a torn append (crash mid-write) or a corrupt record ends the
// journal there, and everything after it is ignored, even records that
// look valid, because nothing after a damaged spot can be trusted to
// follow the write order. Open cuts such a tail off. A damaged header
// makes the whole journal unusable (ErrCorrupt).
//
// A journal holds no key material: chunk keys are fresh per transfer
// attempt and never touch the disk.
package resume

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/sys/unix"

	"xfer/crypto"
)

// Format constants.
const (
	// Magic starts every journal; a new format gets a new magic.
	Magic = "XFERJNL1"
	// MaxDest bounds the destination path stored in a header.
	MaxDest = 4096
	// RecordSize is the size of one encoded record.
	RecordSize = 8 + 32 + 4

	headerFixed  = 2 + 8 + 4 + 4 + 8 + 16 + 8 // header fields without Dest
	maxHeaderLen = headerFixed + MaxDest
	headerSumLen = 16
	prefixLen    = len(Magic) + 4 // magic and header length
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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

// ErrCorrupt is returned (wrapped, with details) when a journal's header
// is missing, truncated or damaged. The partial file it belongs to cannot
// be trusted and should be discarded.
var ErrCorrupt = errors.New("resume: journal header is corrupt")

// ErrClosed is returned by operations on a closed Journal or Tracker.
var ErrClosed = errors.New("resume: journal is closed")

// chunkCount is the number of chunks of the file h describes.
func (h *Header) chunkCount() uint64 {
	cs := uint64(h.ChunkSize)
	return h.Size/cs + min(h.Size%cs, 1)
}

func (h *Header) check() error {
	if len(h.Dest) > MaxDest {
		return fmt.Errorf("resume: destination path of %d bytes exceeds limit %d", len(h.Dest), MaxDest)
	}
	if h.ChunkSize == 0 {
		return errors.New("resume: chunk size is 0")
	}
	return nil
}

// appendHeader appends the encoded magic, header and header checksum.
func appendHeader(b []byte, h *Header) []byte {
	start := len(b)
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint32(b, uint32(headerFixed+len(h.Dest)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Dest)))
	b = append(b, h.Dest...)
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = binary.BigEndian.AppendUint32(b, h.ChunkSize)
	b = binary.BigEndian.AppendUint32(b, h.Mode)
	b = binary.BigEndian.AppendUint64(b, uint64(h.MTime))
	b = append(b, h.TransferID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created))
	sum := blake2b.Sum256(b[start:])
	return append(b, sum[:headerSumLen]...)
}

// appendRecord appends one encoded record.
func appendRecord(b []byte, r Record) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint64(b, r.Index)
	b = append(b, r.Hash[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// decodeHeader parses the header at the start of data and returns it with
// its encoded length.
func decodeHeader(data []byte) (Header, int, error) {
	var h Header
	if len(data) < prefixLen {
		return h, 0, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(data))
	}
	if string(data[:len(Magic)]) != Magic {
		return h, 0, fmt.Errorf("%w: bad magic %q", ErrCorrupt, data[:len(Magic)])
	}
	hlen := binary.BigEndian.Uint32(data[len(Magic):])
	if hlen < headerFixed || hlen > maxHeaderLen {
		return h, 0, fmt.Errorf("%w: header length %d out of range", ErrCorrupt, hlen)
	}
	end := prefixLen + int(hlen) + headerSumLen
	if len(data) < end {
		return h, 0, fmt.Errorf("%w: truncated header", ErrCorrupt)
	}
	sum := blake2b.Sum256(data[:end-headerSumLen])
	if string(sum[:headerSumLen]) != string(data[end-headerSumLen:end]) {
		return h, 0, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	p := data[prefixLen : end-headerSumLen]
	dlen := int(binary.BigEndian.Uint16(p))
	if headerFixed+dlen != int(hlen) {
		return h, 0, fmt.Errorf("%w: destination length %d does not match header length %d", ErrCorrupt, dlen, hlen)
	}
	p = p[2:]
	h.Dest = string(p[:dlen])
	p = p[dlen:]
	h.Size = binary.BigEndian.Uint64(p)
	h.ChunkSize = binary.BigEndian.Uint32(p[8:])
	h.Mode = binary.BigEndian.Uint32(p[12:])
	h.MTime = int64(binary.BigEndian.Uint64(p[16:]))
	copy(h.TransferID[:], p[24:40])
	h.Created = int64(binary.BigEndian.Uint64(p[40:]))
	if err := h.check(); err != nil {
		return Header{}, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return h, end, nil
}

// Decode parses journal bytes: the header, the records up to the first
// invalid one, and the length of the valid prefix. It never panics.
//
// A damaged header is an error wrapping ErrCorrupt, with valid 0. Records
// are returned as stored, duplicates included. Memory use is bounded by
// len(data).
func Decode(data []byte) (h Header, recs []Record, valid int, err error) {
	h, valid, err = decodeHeader(data)
	if err != nil {
		return Header{}, nil, 0, err
	}
	count := h.chunkCount()
	recs = make([]Record, 0, (len(data)-valid)/RecordSize)
	for len(data)-valid >= RecordSize {
		p := data[valid : valid+RecordSize]
		if crc32.Checksum(p[:40], castagnoli) != binary.BigEndian.Uint32(p[40:]) {
			break
		}
		r := Record{Index: binary.BigEndian.Uint64(p)}
		if r.Index >= count {
			break
		}
		copy(r.Hash[:], p[8:40])
		recs = append(recs, r)
		valid += RecordSize
	}
	return h, recs, valid, nil
}

// dedup removes all but the last record of each index, keeping file
// order.
func dedup(recs []Record) []Record {
	last := make(map[uint64]int, len(recs))
	for i, r := range recs {
		last[r.Index] = i
	}
	if len(last) == len(recs) {
		return recs
	}
	out := recs[:0]
	for i, r := range recs {
		if last[r.Index] == i {
			out = append(out, r)
		}
	}
	return slices.Clip(out)
}

// Journal is an open, locked journal file. Append and Sync are safe for
// concurrent use.
type Journal struct {
	f      *os.File
	header Header
	count  uint64 // chunks of the file: records must have smaller indexes

	mu     sync.Mutex
	end    int64  // length of the valid journal; appends go here
	buf    []byte // encoding buffer for Append
	err    error  // sticky: the journal's state on disk is unknown
	closed bool
}

// flock applies how (unix.LOCK_*) to f, retrying on EINTR.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), how)
			if ferr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return ferr
}

// lock takes the journal's exclusive lock without waiting. flock locks
// belong to the open file description, so a second open of the same file
// is refused even within one process.
func lock(f *os.File) error {
	switch err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err {
	case nil:
		return nil
	case unix.EWOULDBLOCK:
		return ErrBusy
	default:
		return fmt.Errorf("resume: locking journal: %w", err)
	}
}

// Create writes a new journal with header h into f (truncating it), locks
// it (flock LOCK_EX|LOCK_NB, ErrBusy if held) and fsyncs it. The journal
// takes ownership of f.
//
// f must be open for reading and writing. The lock is taken before
// anything is written, so a journal in use is never truncated. On error f
// is closed. Create does not fsync the
// directory holding f; a caller that just created the file does that.
func Create(f *os.File, h Header) (*Journal, error) {
	if err := h.check(); err != nil {
		f.Close()
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, err
	}
	hdr := appendHeader(nil, &h)
	err := f.Truncate(0)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err == nil {
		_, err = f.Write(hdr)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: creating journal: %w", err)
	}
	return &Journal{f: f, header: h, count: h.chunkCount(), end: int64(len(hdr))}, nil
}

// Open locks and reads the journal in f, returns its header and the valid
// records (in file order, duplicates removed, last wins), and truncates a
// torn or corrupt tail so that later appends follow the last valid record.
// A journal whose header is corrupt is an error (the caller discards the
// partial). The journal takes ownership of f.
//
// A corrupt header gives an error wrapping ErrCorrupt; a journal held by
// someone else gives ErrBusy. On error f is closed. Records keep the
// position of their last occurrence.
func Open(f *os.File) (*Journal, Header, []Record, error) {
	if err := lock(f); err != nil {
		f.Close()
		return nil, Header{}, nil, err
	}
	fail := func(err error) (*Journal, Header, []Record, error) {
		f.Close()
		return nil, Header{}, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("resume: reading journal: %w", err))
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(fmt.Errorf("resume: reading journal: %w", err))
	}
	h, recs, valid, err := Decode(data)
	if err != nil {
		return fail(err)
	}
	if valid < len(data) {
		if err := f.Truncate(int64(valid)); err != nil {
			return fail(fmt.Errorf("resume: cutting journal tail: %w", err))
		}
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("resume: cutting journal tail: %w", err))
		}
	}
	if _, err := f.Seek(int64(valid), io.SeekStart); err != nil {
		return fail(fmt.Errorf("resume: reading journal: %w", err))
	}
	j := &Journal{f: f, header: h, count: h.chunkCount(), end: int64(valid)}
	return j, h, dedup(recs), nil
}

// Header returns the journal's header.
func (j *Journal) Header() Header { return j.header }

// Append writes records at the end of the journal (no fsync).
//
// All records go out in one write. A record whose index is outside the
// file is an error, and nothing is written. If the write fails, Append
// cuts the journal back to its previous end; if that fails too, the
// journal refuses all further appends.
func (j *Journal) Append(recs ...Record) error {
	for _, r := range recs {
		if r.Index >= j.count {
			return fmt.Errorf("resume: record index %d out of range (file has %d chunks)", r.Index, j.count)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usable(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	b := j.buf[:0]
	for _, r := range recs {
		b = appendRecord(b, r)
	}
	j.buf = b
	if _, err := j.f.Write(b); err != nil {
		// Leave no torn record behind: later records would be unreachable.
		terr := j.f.Truncate(j.end)
		if terr == nil {
			_, terr = j.f.Seek(j.end, io.SeekStart)
		}
		if terr != nil {
			j.err = fmt.Errorf("resume: journal unusable after failed append: %w", err)
			return j.err
		}
		return fmt.Errorf("resume: appending to journal: %w", err)
	}
	j.end += int64(len(b))
	if cap(j.buf) > 64<<10 {
		j.buf = nil // do not pin a large buffer after a big batch
	}
	return nil
}

// usable reports the journal's sticky error, if any. j.mu is held.
func (j *Journal) usable() error {
	if j.closed {
		return ErrClosed
	}
	return j.err
}

// Sync fsyncs the journal.
//
// A failed fsync leaves the durability of earlier appends unknown, so
// after one the journal refuses further appends and syncs.
func (j *Journal) Sync() error {
	j.mu.Lock()
	err := j.usable()
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		err = fmt.Errorf("resume: syncing journal: %w", err)
		j.mu.Lock()
		if j.err == nil && !j.closed {
			j.err = err
		}
		j.mu.Unlock()
		return err
	}
	return nil
}

// Close unlocks and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	j.closed = true
	// Closing the only descriptor releases the flock as well; unlock
	// explicitly in case the caller duplicated it.
	uerr := flock(j.f, unix.LOCK_UN)
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("resume: closing journal: %w", err)
	}
	if uerr != nil {
		return fmt.Errorf("resume: unlocking journal: %w", uerr)
	}
	return nil
}
