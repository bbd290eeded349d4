package transfer

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/sys/unix"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
	"xfer/resume"
	"xfer/transport"
)

// rfile is a file being received, from Open until Done or Error.
type rfile struct {
	streamDone atomic.Bool // counted out of receiver.streaming (endStream)

	id       uint32
	open     protocol.Open
	wirePath string
	destRel  string   // destination, relative to the receiver's root
	dirRel   string   // its directory
	dir      *os.Root // open on dirRel (from the receiver's dirCache)
	name     string   // destination name in dir
	partName string   // partial file in dir
	jrnName  string   // journal in dir
	mhash    [32]byte
	aead     *crypto.ChunkAEAD
	nchunks  uint64
	start    time.Time

	f  *os.File
	j  *resume.Journal // nil for single-chunk files
	tr *resume.Tracker // nil for single-chunk files

	mu       sync.Mutex
	hashes   []crypto.Hash
	have     []bool // hash known: held from a partial, or received now
	got      []bool // received in this attempt
	received uint64
	wire     uint64
	end      *protocol.End
	done     bool // finalized or failed

	inflight sync.WaitGroup // chunk writes under way

	existing     uint8       // AcceptExists or AcceptExistsKeep, once offered
	existingRoot crypto.Hash // the existing destination\'s root
}

// sessionError is a peer's protocol violation that ends the session.
type sessionError struct{ err error }

func (e *sessionError) Error() string { return e.err.Error() }

// bigFile is the size from which an Open is checked against the free
// space before anything is allocated for it; smaller files cost little,
// and their writes report a full disk just as clearly.
const bigFile = 64 << 20

// maxChunks bounds the chunks of one file (16 Mi: 1 TiB at the smallest
// chunk size), so that the per-chunk state of an Open stays bounded.
const maxChunks = 1 << 24

// PartialNames returns the names of the partial file and journal for a
// destination file name, in the same directory. They start with
// protocol.ReservedPrefix, which no peer path may use.
func PartialNames(name string) (part, journal string) {
	h := blake2b.Sum256([]byte(name))
	base := protocol.ReservedPrefix + hex.EncodeToString(h[:12])
	return base + ".part", base + ".journal"
}

func (r *receiver) handleOpen(m *protocol.Open) error {
	if _, err := r.prepare(m); err != nil {
		var se *sessionError
		if errors.As(err, &se) {
			r.c.Send(protocol.Errorf(0, protocol.CodeProtocol, "%v", se.err))
			return se.err
		}
		perr := toProtoError(m.ID, m.Path, err)
		r.mu.Lock()
		r.failed[m.ID] = true
		r.mu.Unlock()
		r.send(perr)
		r.report(FileResult{Path: m.Path, Size: m.Size, Err: perr})
	}
	return nil
}

// prepare validates an Open, claims its destination, and answers Accept
// (with Held messages for a resume). Slow work (hashing an existing file)
// happens in a goroutine.
func (r *receiver) prepare(m *protocol.Open) (*rfile, error) {
	r.mu.Lock()
	_, dupID := r.byID[m.ID]
	_, dupTID := r.byTID[m.TransferID]
	dupID = dupID || r.failed[m.ID]
	open := len(r.byID)
	r.mu.Unlock()
	switch {
	case dupID || dupTID:
		return nil, &sessionError{fmt.Errorf("transfer: Open reuses id %d or its transfer id", m.ID)}
	case open >= protocol.MaxOpenWindow:
		return nil, &sessionError{fmt.Errorf("transfer: more than %d files open at once", protocol.MaxOpenWindow)}
	}
	if m.ChunkSize != r.opt.ChunkSize {
		return nil, protocol.Errorf(m.ID, protocol.CodeProtocol, "%s: chunk size %d, negotiated %d", m.Path, m.ChunkSize, r.opt.ChunkSize)
	}
	if r.opt.MaxFileSize > 0 && m.Size > r.opt.MaxFileSize {
		return nil, protocol.Errorf(m.ID, protocol.CodeTooLarge, "%s: %d bytes exceeds the receiver's limit of %d", m.Path, m.Size, r.opt.MaxFileSize)
	}
	if m.Size > 1<<62 || chunk.Count(m.Size, m.ChunkSize) > maxChunks {
		return nil, protocol.Errorf(m.ID, protocol.CodeTooLarge, "%s: %d bytes in chunks of %d is more than %d chunks", m.Path, m.Size, m.ChunkSize, maxChunks)
	}
	rel, err := r.mapPath(m.Path)
	if err != nil {
		return nil, protocol.Errorf(m.ID, protocol.CodeBadPath, "%s: %v", m.Path, err)
	}
	dir, name := path.Split(rel)
	dir = path.Clean(dir)
	part, jrn := PartialNames(name)
	rf := &rfile{
		id: m.ID, open: *m, wirePath: m.Path, destRel: rel,
		dirRel: dir, name: name, partName: part, jrnName: jrn,
		nchunks: chunk.Count(m.Size, m.ChunkSize), start: time.Now(),
	}
	if !r.opt.Locks.TryLockAs(rel, r.opt.Holder) {
		return nil, protocol.Errorf(m.ID, protocol.CodeBusy, "%s: busy: another transfer to this destination is in progress", m.Path)
	}
	ok := false
	defer func() {
		if !ok {
			rf.closeFiles()
			r.releaseDir(rf)
			r.opt.Locks.Unlock(rel)
		}
	}()
	dr, err := r.dcache.acquire(dir)
	if err != nil {
		if err := r.mkdirAll(dir); err != nil {
			return nil, err
		}
		if dr, err = r.dcache.acquire(dir); err != nil {
			return nil, err
		}
	}
	rf.dir = dr
	// An existing destination may be the same file already.
	existing := uint8(0)
	if fi, err := dr.Lstat(name); err == nil {
		switch {
		case fi.IsDir():
			return nil, protocol.Errorf(m.ID, protocol.CodeExists, "%s: destination is a directory", m.Path)
		case fi.Mode()&fs.ModeSymlink != 0:
			// Never followed (it may point out of the root) and not
			// silently replaced either.
			return nil, protocol.Errorf(m.ID, protocol.CodeBadPath, "%s: destination is a symbolic link (not followed, not replaced)", m.Path)
		case fi.Mode().IsRegular() && uint64(fi.Size()) == m.Size && r.opt.NoClobber:
			existing = protocol.AcceptExistsKeep
		case fi.Mode().IsRegular() && uint64(fi.Size()) == m.Size:
			existing = protocol.AcceptExists
		case r.opt.NoClobber:
			return nil, r.notReplaced(m.ID, m.Path)
		}
	}
	if existing == 0 && m.Size > bigFile {
		if err := checkSpace(dr, m, name); err != nil {
			return nil, err
		}
	}
	rf.mhash = protocol.ManifestHash(m)
	rf.aead = crypto.NewChunkAEAD(crypto.DeriveChunkKey(m.Secret, r.hh, m.TransferID, m.Attempt))
	rf.hashes = make([]crypto.Hash, rf.nchunks)
	rf.have = make([]bool, rf.nchunks)
	rf.got = make([]bool, rf.nchunks)
	held, resumed, err := r.openPartial(rf, existing == 0)
	if err != nil {
		return nil, err
	}
	ok = true
	r.register(rf)
	r.active.Add(1)
	r.hooks.begin(rf.wirePath, m.Size)
	switch {
	case resumed:
		r.send(&protocol.Accept{ID: m.ID, Action: protocol.AcceptResume})
		for len(held) > protocol.MaxHeldPerMessage {
			r.send(&protocol.Held{ID: m.ID, Chunks: held[:protocol.MaxHeldPerMessage]})
			held = held[protocol.MaxHeldPerMessage:]
		}
		r.send(&protocol.Held{ID: m.ID, Chunks: held, Final: true})
	case existing != 0:
		go r.acceptExisting(rf, existing)
	default:
		r.send(&protocol.Accept{ID: m.ID, Action: protocol.AcceptFresh})
	}
	return rf, nil
}

func (r *receiver) register(rf *rfile) {
	r.streaming.Add(1)
	r.mu.Lock()
	r.byID[rf.id] = rf
	r.byTID[rf.open.TransferID] = rf
	r.mu.Unlock()
}

// endStream notes that no more frames are due for rf: its End arrived,
// or it was released. It only steers how long gather waits.
func (r *receiver) endStream(rf *rfile) {
	if rf.streamDone.CompareAndSwap(false, true) && r.streaming.Add(-1) == 0 {
		r.batches.poke()
	}
}

// acceptExisting hashes an existing destination of the same size and
// offers its root; the sender answers Skip or sends the file. At most
// Workers files are hashed at once (r.hashing), each by one goroutine:
// the sender may have 256 Opens outstanding, and each hash holds a batch
// of chunk buffers.
func (r *receiver) acceptExisting(rf *rfile, action uint8) {
	select {
	case r.hashing <- struct{}{}:
	case <-r.fatal:
		return // abandonAll releases rf
	}
	var root crypto.Hash
	var err error
	r.c.Busy(func() { root, err = r.hashExisting(rf) })
	<-r.hashing
	if err != nil {
		r.failFile(rf, toProtoError(rf.id, rf.wirePath, err))
		return
	}
	rf.mu.Lock()
	rf.existingRoot = root
	rf.existing = action
	rf.mu.Unlock()
	r.send(&protocol.Accept{ID: rf.id, Action: action, Root: [32]byte(root)})
}

func (r *receiver) hashExisting(rf *rfile) (crypto.Hash, error) {
	f, err := rf.dir.Open(rf.name)
	if err != nil {
		return crypto.Hash{}, err
	}
	defer f.Close()
	return chunk.HashFile(f, rf.open.Size, rf.open.ChunkSize, 1)
}

// openPartial opens the partial file for rf: it resumes a matching
// partial (returning the chunks it holds and resumed=true) or starts a
// fresh one, reserving its space when reserve is set.
func (r *receiver) openPartial(rf *rfile, reserve bool) (held []protocol.HeldChunk, resumed bool, err error) {
	root := rf.dir
	// The partial is locked first (then the journal, if any), by every
	// receiver in every process, so two transfers to one destination
	// never share a partial.
	var f *os.File
	existed := false
	if rf.nchunks > 1 { // only these can resume
		f, err = root.OpenFile(rf.partName, os.O_RDWR, 0)
		existed = err == nil
	}
	if !existed {
		f, err = root.OpenFile(rf.partName, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, protocol.Errorf(rf.id, protocol.CodeBusy, "%s: busy: another transfer to this destination is in progress", rf.wirePath)
		}
		return nil, false, err
	}
	rf.f = f
	// A partial is resumed unless the destination exists and must not be
	// replaced (no-clobber): then the existing file decides.
	if existed && rf.nchunks > 1 && !(r.opt.NoClobber && !reserve) {
		if jf, err := root.OpenFile(rf.jrnName, os.O_RDWR, 0); err == nil {
			j, hdr, recs, err := resume.Open(jf)
			switch {
			case errors.Is(err, resume.ErrBusy):
				return nil, false, protocol.Errorf(rf.id, protocol.CodeBusy, "%s: busy: another transfer to this destination is in progress", rf.wirePath)
			case err == nil && hdr.Dest == rf.destRel && hdr.Size == rf.open.Size && hdr.ChunkSize == rf.open.ChunkSize &&
				// NoResume discards partials of earlier runs, not one
				// this run began in an earlier attempt.
				(!r.opt.NoResume || hdr.TransferID == rf.open.TransferID):
				rf.j = j
				for _, rec := range recs {
					if rec.Hash == (crypto.Hash{}) {
						continue // invalidated: the chunk was being replaced
					}
					if rec.Index < rf.nchunks && !rf.have[rec.Index] {
						rf.have[rec.Index] = true
						rf.hashes[rec.Index] = rec.Hash
						held = append(held, protocol.HeldChunk{Index: rec.Index, Hash: [32]byte(rec.Hash)})
					}
				}
				if err := r.reserve(rf); err != nil {
					return nil, false, err
				}
				rf.tr = resume.NewTracker(rf.f, rf.j, resume.TrackerConfig{MaxBytes: r.opt.SyncBytes, MaxDelay: r.opt.SyncDelay})
				return held, true, nil
			case err == nil:
				j.Close()
			}
			// Stale, mismatched or unreadable: start over.
		}
	}
	if err := f.Truncate(0); err != nil {
		return nil, false, err
	}
	r.touch(rf.dirRel)
	if rf.nchunks <= 1 {
		// A small file: no journal, and no reservation (its one write
		// reports a full disk as clearly).
		return nil, false, nil
	}
	root.Remove(rf.jrnName)
	if reserve {
		if err := r.reserve(rf); err != nil {
			root.Remove(rf.partName)
			return nil, false, err
		}
	}
	if rf.nchunks > 1 {
		// No O_TRUNC: Create truncates after taking the lock.
		jf, err := root.OpenFile(rf.jrnName, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, false, err
		}
		j, err := resume.Create(jf, resume.Header{
			Dest: rf.destRel, Size: rf.open.Size, ChunkSize: rf.open.ChunkSize,
			Mode: rf.open.Mode, MTime: rf.open.MTime, TransferID: rf.open.TransferID,
			Created: time.Now().UnixNano(),
		})
		if err != nil {
			return nil, false, err
		}
		rf.j = j
		rf.tr = resume.NewTracker(rf.f, rf.j, resume.TrackerConfig{MaxBytes: r.opt.SyncBytes, MaxDelay: r.opt.SyncDelay})
		// Make the new names durable, so a crash keeps what the journal
		// will record.
		if err := syncDir(root, "."); err != nil {
			return nil, false, err
		}
	}
	return nil, false, nil
}

// reserve allocates the partial's full size so that a full disk shows up
// now, with the number of bytes missing, rather than mid-transfer.
func (r *receiver) reserve(rf *rfile) error {
	if rf.open.Size == 0 {
		return nil
	}
	err := unix.Fallocate(int(rf.f.Fd()), 0, 0, int64(rf.open.Size))
	if err == nil || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return nil
	}
	if isNoSpace(err) {
		var need uint64 = rf.open.Size
		if fi, serr := rf.f.Stat(); serr == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(st.Blocks)*512 < need {
				need -= uint64(st.Blocks) * 512
			}
		}
		return protocol.Errorf(rf.id, protocol.CodeNoSpace, "receiver out of space: %d bytes needed for %s", need, rf.wirePath)
	}
	return err
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func (r *receiver) handleEnd(m *protocol.End) error {
	rf := r.lookupID(m.ID)
	if rf == nil {
		if r.forgetFailed(m.ID) {
			return nil
		}
		return unexpected(m, "for an unknown file")
	}
	r.endStream(rf)
	rf.mu.Lock()
	if rf.end != nil || rf.aead == nil {
		rf.mu.Unlock()
		return unexpected(m, "twice or for a file not being sent")
	}
	rf.end = m
	complete := rf.completeLocked()
	rf.mu.Unlock()
	if complete {
		r.finalize(rf)
	}
	return nil
}

func (r *receiver) handleSkip(m *protocol.Skip) error {
	rf := r.lookupID(m.ID)
	if rf == nil {
		if r.forgetFailed(m.ID) {
			return nil
		}
		return unexpected(m, "for an unknown file")
	}
	if m.Reason == 0 {
		rf.mu.Lock()
		up := rf.existing != 0
		rf.mu.Unlock()
		if !up {
			r.failFile(rf, protocol.Errorf(m.ID, protocol.CodeProtocol, "%s: skipped as up to date, but it was not offered as existing", rf.wirePath))
			return nil
		}
		if !r.claimDone(rf) {
			return nil
		}
		r.answer(rf, &protocol.Done{ID: rf.id, Skipped: true, Root: [32]byte(rf.existingRoot)})
		r.report(FileResult{Path: rf.wirePath, Size: rf.open.Size, Root: rf.existingRoot, Skipped: true, Duration: time.Since(rf.start)})
		r.release(rf, true) // the fresh partial made for it is not needed
		return nil
	}
	msg := "withdrawn by the sender"
	switch m.Reason {
	case protocol.CodeSourceChanged:
		msg = "source changed during transfer"
	case protocol.CodeExists:
		if r.claimDone(rf) {
			r.failClaimed(rf, r.notReplaced(m.ID, rf.wirePath), true)
		}
		return nil
	}
	r.failFile(rf, protocol.Errorf(m.ID, m.Reason, "%s: %s", rf.wirePath, msg))
	return nil
}

// fileError turns a local failure while writing rf into the Error the
// sender gets: a full disk says how much more room the file needs.
func (r *receiver) fileError(rf *rfile, err error) *protocol.Error {
	perr := toProtoError(rf.id, rf.wirePath, err)
	if perr.Code == protocol.CodeNoSpace {
		rf.mu.Lock()
		var have uint64
		for i, ok := range rf.have {
			if ok {
				have += uint64(chunk.Len(rf.open.Size, rf.open.ChunkSize, uint64(i)))
			}
		}
		rf.mu.Unlock()
		perr.Message = fmt.Sprintf("receiver out of space: %d bytes needed for %s", rf.open.Size-min(have, rf.open.Size), rf.wirePath)
	}
	return perr
}

// notReplaced is the refusal to replace an existing, different file.
func (r *receiver) notReplaced(id uint32, p string) *protocol.Error {
	if r.opt.DenyOverwrite {
		return protocol.Errorf(id, protocol.CodePermissionDenied, "permission denied: %s exists and the daemon does not allow replacing it (no-overwrite)", p)
	}
	return protocol.Errorf(id, protocol.CodeExists, "%s: destination exists and differs (not replaced: --no-clobber)", p)
}

func (r *receiver) lookupID(id uint32) *rfile {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// forgetFailed reports whether id was answered with an Error (so a late
// End or Skip for it is expected) and forgets it.
func (r *receiver) forgetFailed(id uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed[id] {
		delete(r.failed, id)
		return true
	}
	return false
}

// completeLocked reports whether every chunk is in and End has arrived.
func (rf *rfile) completeLocked() bool {
	return !rf.done && rf.end != nil && rf.received >= rf.end.Chunks
}

// claimDone marks rf finished, reporting false if it already was.
func (r *receiver) claimDone(rf *rfile) bool {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.done {
		return false
	}
	rf.done = true
	return true
}

// failFile answers rf with an Error and drops its state, keeping the
// partial for a later resume (unless verification failed).
func (r *receiver) failFile(rf *rfile, perr *protocol.Error) {
	if r.claimDone(rf) {
		r.failClaimed(rf, perr, perr.Code == protocol.CodeVerifyFailed)
	}
}

// failClaimed is failFile for a file already claimed (claimDone) by the
// caller; discard removes the partial and its journal.
func (r *receiver) failClaimed(rf *rfile, perr *protocol.Error, discard bool) {
	r.mu.Lock()
	r.failed[rf.id] = true
	r.mu.Unlock()
	r.answer(rf, perr)
	r.report(FileResult{Path: rf.wirePath, Size: rf.open.Size, Err: perr, Duration: time.Since(rf.start)})
	r.release(rf, discard)
}

// answer sends rf's final answer (Done or Error). rf leaves the open files
// first: the sender reuses the window slot as soon as the answer arrives,
// and its next Open must not find rf still counted against
// MaxOpenWindow. The rest of release follows the answer.
func (r *receiver) answer(rf *rfile, m protocol.Message) {
	r.mu.Lock()
	delete(r.byID, rf.id)
	if r.byTID[rf.open.TransferID] == rf {
		delete(r.byTID, rf.open.TransferID)
	}
	r.mu.Unlock()
	r.send(m)
}

// release unregisters rf, closes its files and unlocks its destination;
// discard removes the partial and journal.
func (r *receiver) release(rf *rfile, discard bool) {
	r.endStream(rf)
	r.mu.Lock()
	delete(r.byID, rf.id)
	if r.byTID[rf.open.TransferID] == rf {
		delete(r.byTID, rf.open.TransferID)
	}
	r.mu.Unlock()
	rf.closeFiles()
	if discard {
		rf.dir.Remove(rf.partName)
		rf.dir.Remove(rf.jrnName)
	}
	r.releaseDir(rf)
	r.opt.Locks.Unlock(rf.destRel)
	r.active.Done()
}

func (r *receiver) releaseDir(rf *rfile) {
	if rf.dir != nil {
		rf.dir = nil
		r.dcache.release(rf.dirRel)
	}
}

func (rf *rfile) closeFiles() {
	if rf.tr != nil {
		rf.tr.Close()
		rf.tr = nil
	}
	if rf.j != nil {
		rf.j.Close()
		rf.j = nil
	}
	if rf.f != nil {
		rf.f.Close()
		rf.f = nil
	}
}

// abandonAll drops every file still open after a session failure. Data
// already written is flushed to the journal so a resume keeps it.
func (r *receiver) abandonAll() {
	r.mu.Lock()
	var all []*rfile
	for _, rf := range r.byID {
		all = append(all, rf)
	}
	r.mu.Unlock()
	for _, rf := range all {
		if r.claimDone(rf) {
			// A partial with nothing in it is not worth keeping: it
			// would only hold its reserved space until expiry.
			rf.mu.Lock()
			empty := rf.received == 0 && !slices.Contains(rf.have, true)
			rf.mu.Unlock()
			r.release(rf, empty)
		}
	}
}

type frameJob struct{ f *transport.Frame }

// readFrames feeds incoming chunk frames to the workers.
// It reads a frame only when one of the inFlightFor slots is free (the
// workers free one per frame they are done with), so the frames held
// here stay bounded and a fast sender is held back by the transport.
func (r *receiver) readFrames() {
	for {
		select {
		case r.slots <- struct{}{}:
		case <-r.fatal:
			return
		}
		f, err := r.c.s.ReadFrame()
		if err != nil {
			r.fail(err)
			return
		}
		r.c.touch()
		select {
		case r.frames <- frameJob{f}:
		case <-r.fatal:
			f.Release()
			return
		}
	}
}

// worker opens, decodes, verifies and writes chunks. Like the sender's
// workers it hashes up to crypto.HashLanes chunks together
// (crypto.ChunkHashes); the gatherer waits for a batch to fill while some
// file has frames due (no End yet).
func (r *receiver) worker() {
	aad := make([]byte, 0, protocol.ChunkHeaderSize+32)
	var (
		jobs   [crypto.HashLanes]frameJob
		opened [crypto.HashLanes]openChunk
		raws   [crypto.HashLanes][]byte
		hashes [crypto.HashLanes]crypto.Hash
	)
	wait := newStoppedTimer()
	for {
		n := r.batches.gather(jobs[:], wait)
		if n == 0 {
			return
		}
		k := 0
		for i := range n {
			if o, ok := r.openChunk(jobs[i].f, &aad); ok {
				opened[k], raws[k] = o, o.raw
				k++
			}
		}
		crypto.ChunkHashes(hashes[:k], raws[:k])
		for i := range k {
			r.storeChunk(&opened[i], hashes[i])
			if b := opened[i].scratch; b != nil {
				r.scratch.Put(b)
			}
			opened[i], raws[i] = openChunk{}, nil
		}
		for i := range n {
			jobs[i].f.Release()
			jobs[i] = frameJob{}
			<-r.slots
		}
	}
}

// openChunk is a chunk that passed its header checks and opened: its
// plaintext, the hash the sender sealed with it, and where it goes.
type openChunk struct {
	rf      *rfile
	h       *protocol.ChunkHeader
	raw     []byte
	sum     crypto.Hash
	scratch []byte // from r.scratch when the chunk was compressed: raw is in it
}

// openChunk checks fr's header against its file, opens it and decodes
// the payload: a raw one stays in the frame, a compressed one is
// decompressed into a buffer from r.scratch, taken only once the chunk
// has authenticated (so forged frames cannot tie up buffers). It fails
// the file and returns false on any mismatch.
func (r *receiver) openChunk(fr *transport.Frame, aadp *[]byte) (openChunk, bool) {
	h := &fr.Header
	r.mu.Lock()
	rf := r.byTID[h.TransferID]
	r.mu.Unlock()
	if rf == nil {
		return openChunk{}, false // a late frame of a file that failed or was withdrawn
	}
	bad := func(format string, args ...any) {
		r.badChunk(rf, h, format, args...)
	}
	cs := uint64(rf.open.ChunkSize)
	switch {
	case h.Attempt != rf.open.Attempt:
		bad("attempt %d, want %d", h.Attempt, rf.open.Attempt)
		return openChunk{}, false
	case h.Index >= rf.nchunks:
		bad("index beyond the last chunk %d", rf.nchunks-1)
		return openChunk{}, false
	case h.Offset != h.Index*cs:
		bad("offset %d, want %d", h.Offset, h.Index*cs)
		return openChunk{}, false
	case h.RawLen != chunk.Len(rf.open.Size, rf.open.ChunkSize, h.Index):
		bad("length %d, want %d", h.RawLen, chunk.Len(rf.open.Size, rf.open.ChunkSize, h.Index))
		return openChunk{}, false
	case h.Last() != (h.Index == rf.nchunks-1):
		bad("last-chunk flag wrong")
		return openChunk{}, false
	}
	aad := append(append((*aadp)[:0], fr.Raw...), rf.mhash[:]...)
	*aadp = aad
	pt, err := rf.aead.Open(fr.Data[:0], h.Index, h.Last(), fr.Data, aad)
	if err != nil {
		bad("failed authentication")
		return openChunk{}, false
	}
	o := openChunk{rf: rf, h: h}
	copy(o.sum[:], pt[:protocol.HashSize])
	if h.Codec != protocol.CodecRaw {
		o.scratch = r.scratch.Get()
	}
	o.raw, err = chunk.Decode(o.scratch, h.Codec, pt[protocol.HashSize:], int(h.RawLen))
	if err != nil {
		if o.scratch != nil {
			r.scratch.Put(o.scratch)
		}
		bad("%v", err)
		return openChunk{}, false
	}
	return o, true
}

// badChunk fails rf for a chunk that does not verify.
func (r *receiver) badChunk(rf *rfile, h *protocol.ChunkHeader, format string, args ...any) {
	r.failFile(rf, protocol.Errorf(rf.id, protocol.CodeVerifyFailed, "%s: chunk %d: %s", rf.wirePath, h.Index, fmt.Sprintf(format, args...)))
}

// storeChunk compares an opened chunk's hash with the one computed here
// (got), writes it into the partial and records it.
func (r *receiver) storeChunk(o *openChunk, got crypto.Hash) {
	rf, h, raw, sum := o.rf, o.h, o.raw, o.sum
	bad := func(format string, args ...any) {
		r.badChunk(rf, h, format, args...)
	}
	if got != sum {
		bad("hash mismatch")
		return
	}
	rf.mu.Lock()
	if rf.done || rf.f == nil {
		rf.mu.Unlock()
		return
	}
	if rf.got[h.Index] {
		rf.mu.Unlock()
		bad("sent twice")
		return
	}
	rf.got[h.Index] = true        // claimed; written below outside the lock
	replacing := rf.have[h.Index] // held by the partial, with another hash
	f, tr, j := rf.f, rf.tr, rf.j
	rf.inflight.Add(1) // finalize waits for writes that got this far
	rf.mu.Unlock()
	wrote := false
	defer func() {
		if !wrote {
			rf.inflight.Done()
		}
	}()

	if replacing && j != nil {
		// The journal says this chunk holds other data. Invalidate that
		// record durably before overwriting it, or a crash could leave
		// the old hash describing new data (and a later attempt whose
		// source matches the old hash would splice).
		err := j.Append(resume.Record{Index: h.Index})
		if err == nil {
			err = j.Sync()
		}
		if err != nil {
			r.failFile(rf, r.fileError(rf, err))
			return
		}
	}
	if _, err := f.WriteAt(raw, int64(h.Offset)); err != nil {
		r.failFile(rf, r.fileError(rf, err))
		return
	}
	if tr != nil {
		if err := tr.Written(resume.Record{Index: h.Index, Hash: sum}, len(raw)); err != nil {
			r.failFile(rf, r.fileError(rf, err))
			return
		}
	}
	r.hooks.progress(rf.wirePath, uint64(len(raw)))
	rf.mu.Lock()
	rf.hashes[h.Index] = sum
	rf.have[h.Index] = true
	rf.received++
	rf.wire += uint64(protocol.ChunkHeaderSize) + uint64(h.CTLen)
	complete := rf.completeLocked()
	rf.mu.Unlock()
	wrote = true
	rf.inflight.Done()
	if complete {
		r.finalize(rf)
	}
}

// finalize verifies the file root, makes the data durable, applies mode
// and mtime, renames the partial into place, and answers Done.
func (r *receiver) finalize(rf *rfile) {
	rf.mu.Lock()
	if rf.done {
		rf.mu.Unlock()
		return
	}
	// Claimed from here on: late frames, failures from other workers and
	// a session teardown leave the file to this installation. Writes
	// already under way finish first (a sender lying in End.Chunks must
	// not get a chunk written after the root is checked).
	rf.done = true
	rf.mu.Unlock()
	rf.inflight.Wait()
	rf.mu.Lock()
	if rf.received != rf.end.Chunks {
		rf.mu.Unlock()
		r.failClaimed(rf, protocol.Errorf(rf.id, protocol.CodeProtocol, "%s: %d chunks received, sender says %d", rf.wirePath, rf.received, rf.end.Chunks), true)
		return
	}
	var resumed uint64
	for i, ok := range rf.have {
		if !ok {
			rf.mu.Unlock()
			r.failClaimed(rf, protocol.Errorf(rf.id, protocol.CodeProtocol, "%s: chunk %d never sent", rf.wirePath, i), false)
			return
		}
		if !rf.got[i] {
			resumed += uint64(chunk.Len(rf.open.Size, rf.open.ChunkSize, uint64(i)))
		}
	}
	root := crypto.FileRoot(rf.open.Size, rf.open.ChunkSize, rf.hashes)
	want := crypto.Hash(rf.end.Root)
	wire := rf.wire
	rf.mu.Unlock()
	if root != want {
		r.failClaimed(rf, protocol.Errorf(rf.id, protocol.CodeVerifyFailed, "%s: file root mismatch", rf.wirePath), true)
		return
	}
	done := &protocol.Done{ID: rf.id, ResumedBytes: resumed, Root: [32]byte(root)}
	res := FileResult{Path: rf.wirePath, Size: rf.open.Size, Root: root, ResumedBytes: resumed, WireBytes: wire}
	if rf.tr == nil {
		r.batch.add(rf, done, res) // small file: made durable with others
		return
	}
	if err := r.install(rf); err != nil {
		r.failClaimed(rf, r.fileError(rf, err), false)
		return
	}
	r.installed(rf, done, res)
}

// installed answers Done for a file renamed into place (claimed by
// finalize).
func (r *receiver) installed(rf *rfile, done *protocol.Done, res FileResult) {
	if rf.j != nil {
		rf.dir.Remove(rf.jrnName)
	}
	r.answer(rf, done)
	res.Duration = time.Since(rf.start)
	r.report(res)
	r.release(rf, false)
}

// install makes the partial durable and renames it over the destination.
func (r *receiver) install(rf *rfile) error {
	if err := rf.tr.Flush(); err != nil {
		return err
	}
	if err := rf.rename(); err != nil {
		return err
	}
	return syncDir(rf.dir, ".")
}

// rename applies mode and mtime to the (durable) partial and renames it
// over the destination.
func (rf *rfile) rename() error {
	if err := rf.f.Chmod(fs.FileMode(rf.open.Mode) & fs.ModePerm); err != nil {
		return err
	}
	mt := time.Unix(0, rf.open.MTime)
	if err := rf.dir.Chtimes(rf.partName, mt, mt); err != nil {
		return err
	}
	return rf.dir.Rename(rf.partName, rf.name)
}

// checkSpace refuses a file larger than the free space of the file system
// it would land on, before any memory or disk is committed to it. A
// partial already holding part of it is accounted for by reserve.
func checkSpace(dir *os.Root, m *protocol.Open, name string) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return nil // unknown: reserve will tell
	}
	free := st.Bavail * uint64(st.Bsize)
	// A partial from an earlier attempt may already hold blocks; allow
	// for it by checking only what could not possibly fit.
	if m.Size > free {
		part, _ := PartialNames(name)
		if fi, err := dir.Stat(part); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(st.Blocks)*512+free >= m.Size {
				return nil
			}
		}
		return protocol.Errorf(m.ID, protocol.CodeNoSpace, "receiver out of space: %d bytes needed for %s, %d free", m.Size, m.Path, free)
	}
	return nil
}
