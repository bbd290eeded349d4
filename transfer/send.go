package transfer

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2b"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
)

// SendOptions configure a Sender.
type SendOptions struct {
	ChunkSize uint32 // negotiated chunk size (Welcome)
	// RunID, when set, makes each file's TransferID stable across the
	// attempts of one run (derived from RunID and the path), and Attempt
	// numbers those attempts (1 if 0). A receiver told not to resume
	// still continues a partial that this run began. Without RunID each
	// Open gets a random TransferID.
	RunID    [16]byte
	Attempt  uint32
	Compress chunk.Mode // compression policy
	Workers  int        // hash/compress/seal workers, each on batches of crypto.HashLanes chunks; GOMAXPROCS (at least 2, at most 8) if 0
	Hooks    *Hooks
}

// sfile is a file on the sending side, from Open until Done or Error.
type sfile struct {
	id      uint32
	item    Item
	f       File
	open    protocol.Open
	mhash   [32]byte
	aead    *crypto.ChunkAEAD
	policy  *chunk.Policy
	nchunks uint64
	start   time.Time
	size    int64 // at open, to detect changes
	mtime   time.Time

	action uint8
	root   crypto.Hash                    // receiver's root (AcceptExists*)
	held   map[uint64]crypto.Hash         // receiver's held chunks (AcceptResume)
	hashes []crypto.Hash                  // source chunk hashes, by index
	queued atomic.Bool                    // handed to the pipeline, which closes f
	pend   atomic.Int64                   // chunks in the pipeline + 1 until all are queued
	frames atomic.Uint64                  // frames sent this attempt
	wire   atomic.Uint64                  // frame bytes sent
	abort  atomic.Pointer[protocol.Error] // set when the file must stop
}

type job struct {
	f     *sfile
	index uint64
	buf   []byte // HashSize + chunk + TagSize; raw data at buf[HashSize:]
	n     int
}

// sender is the state of one Send call.
type sender struct {
	c     *Conn
	opt   SendOptions
	hooks *Hooks

	mu    sync.Mutex
	files map[uint32]*sfile
	dirs  map[uint32]Item

	window  chan struct{} // one token per unanswered Dir/Open
	ready   chan *sfile   // accepted files, to the reader
	jobs    chan job
	slots   chan struct{} // one token per chunk buffer between read and sent
	batches *gatherer[job]
	reading atomic.Bool // the reader is reading a file's chunks
	bufs    *chunk.Pool
	bye     chan struct{}
	failed  chan struct{} // closed on a session failure
	failErr error
	once    sync.Once
	stats   Stats
	statsMu sync.Mutex
	mon     *linkMonitor

	finishSent atomic.Bool // Bye is only valid after Finish
}

// Send offers items to the receiver on c and sends what it accepts. It
// returns when the receiver said Bye, or on the first session failure
// (per-file failures are reported through Hooks and counted in Stats).
// The caller closes c.
func Send(ctx context.Context, c *Conn, items <-chan Item, opt SendOptions) (Stats, error) {
	if opt.Workers <= 0 {
		opt.Workers = defaultWorkers()
	}
	if opt.ChunkSize < protocol.MinChunkSize || opt.ChunkSize > protocol.MaxChunkSize {
		return Stats{}, fmt.Errorf("transfer: chunk size %d out of range", opt.ChunkSize)
	}
	s := &sender{
		c:      c,
		opt:    opt,
		hooks:  opt.Hooks,
		files:  make(map[uint32]*sfile),
		dirs:   make(map[uint32]Item),
		window: make(chan struct{}, protocol.MaxOpenWindow),
		ready:  make(chan *sfile, protocol.MaxOpenWindow),
		jobs:   make(chan job, inFlightFor(opt.Workers)),
		slots:  make(chan struct{}, inFlightFor(opt.Workers)),
		bufs:   chunk.NewPool(protocol.HashSize + int(opt.ChunkSize) + protocol.TagSize),
		bye:    make(chan struct{}),
		failed: make(chan struct{}),
	}
	stop := context.AfterFunc(ctx, func() { s.fail(ctx.Err()) })
	defer stop()
	s.batches = newGatherer(s.jobs, s.moreChunks)
	s.mon = newLinkMonitor()
	defer s.mon.close()

	controlDone := make(chan struct{})
	go func() { defer close(controlDone); s.controlLoop() }()
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); s.worker() }()
	}
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); s.reader() }()

	err := s.offer(items)
	if err == nil {
		// Wait until every item is answered, then finish.
		for range protocol.MaxOpenWindow {
			select {
			case s.window <- struct{}{}:
			case <-s.failed:
			}
		}
		if err = s.failure(); err == nil {
			s.finishSent.Store(true)
			err = s.c.Send(&protocol.Finish{})
		}
		if err == nil {
			select {
			case <-s.bye:
			case <-s.failed:
			}
			err = s.failure()
		}
	}
	if err != nil {
		s.fail(err)
	}
	// The control loop queues accepted files on s.ready; it ends after
	// Bye or once fail has closed the connection under it.
	<-controlDone
	close(s.ready)
	<-readerDone
	close(s.jobs)
	wg.Wait()
	s.closeAll()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats, err
}

// fail records the first session failure and tears the session down.
func (s *sender) fail(err error) {
	s.once.Do(func() {
		s.failErr = err
		close(s.failed)
		s.c.Close()
	})
}

func (s *sender) failure() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

// offer announces every item, holding a window token for each until it is
// answered.
func (s *sender) offer(items <-chan Item) error {
	var id uint32
	for {
		var it Item
		select {
		case i, ok := <-items:
			if !ok {
				return s.failure()
			}
			it = i
		case <-s.failed:
			return s.failErr
		}
		id++
		if it.Err != nil {
			// Tell the receiver too: on a get it is the user's side.
			perr := toProtoError(id, it.Path, it.Err)
			s.report(FileResult{Path: it.Path, Dir: it.Dir, Err: perr})
			if err := s.c.Send(perr); err != nil {
				return err
			}
			continue
		}
		select {
		case s.window <- struct{}{}:
		case <-s.failed:
			return s.failErr
		}
		if it.Dir {
			s.mu.Lock()
			s.dirs[id] = it
			s.mu.Unlock()
			err := s.c.Send(&protocol.Dir{ID: id, Path: it.Path, Mode: uint32(it.Mode.Perm()), MTime: it.MTime.UnixNano()})
			if err != nil {
				return err
			}
			continue
		}
		f, err := s.openFile(id, it)
		if err != nil {
			<-s.window
			perr := toProtoError(id, it.Path, sourceErr(it.Path, err))
			s.report(FileResult{Path: it.Path, Err: perr})
			if err := s.c.Send(perr); err != nil {
				return err
			}
			continue
		}
		s.mu.Lock()
		s.files[id] = f
		s.mu.Unlock()
		s.hooks.begin(it.Path, f.open.Size)
		if err := s.c.Send(&f.open); err != nil {
			return err
		}
	}
}

func (s *sender) openFile(id uint32, it Item) (*sfile, error) {
	fh, err := it.Open()
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, protocol.Errorf(0, protocol.CodeUnsupported, "%s: not a regular file", it.Path)
	}
	f := &sfile{
		id: id, item: it, f: fh, start: time.Now(),
		size: fi.Size(), mtime: fi.ModTime(),
		policy: chunk.NewPolicy(s.opt.Compress),
	}
	f.open = protocol.Open{
		ID:        id,
		Path:      it.Path,
		Size:      uint64(fi.Size()),
		Mode:      uint32(fi.Mode().Perm()),
		MTime:     fi.ModTime().UnixNano(),
		ChunkSize: s.opt.ChunkSize,
		Attempt:   max(s.opt.Attempt, 1),
	}
	if s.opt.RunID == ([16]byte{}) {
		rand.Read(f.open.TransferID[:])
	} else {
		h, _ := blake2b.New(16, s.opt.RunID[:])
		h.Write([]byte(it.Path))
		h.Sum(f.open.TransferID[:0])
	}
	rand.Read(f.open.Secret[:])
	f.mhash = protocol.ManifestHash(&f.open)
	key := crypto.DeriveChunkKey(f.open.Secret, s.c.ch.HandshakeHash(), f.open.TransferID, f.open.Attempt)
	f.aead = crypto.NewChunkAEAD(key)
	f.nchunks = chunk.Count(f.open.Size, s.opt.ChunkSize)
	f.hashes = make([]crypto.Hash, f.nchunks)
	return f, nil
}

// controlLoop handles the receiver's messages.
func (s *sender) controlLoop() {
	for {
		m, err := s.c.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		switch m := m.(type) {
		case *protocol.Accept:
			f := s.file(m.ID)
			if f == nil || f.action != 0 {
				s.fail(unexpected(m, "for an unknown or accepted file"))
				return
			}
			f.action = m.Action
			f.root = m.Root
			switch m.Action {
			case protocol.AcceptResume:
				f.held = make(map[uint64]crypto.Hash)
				continue // Held messages follow
			case protocol.AcceptFresh, protocol.AcceptExists, protocol.AcceptExistsKeep:
			default:
				s.fail(fmt.Errorf("transfer: unknown accept action %d", m.Action))
				return
			}
			f.queued.Store(true)
			s.ready <- f // never blocks: at most MaxOpenWindow files exist
		case *protocol.Held:
			f := s.file(m.ID)
			if f == nil || f.action != protocol.AcceptResume || f.held == nil {
				s.fail(unexpected(m, "for a file not being resumed"))
				return
			}
			for _, h := range m.Chunks {
				if h.Index >= f.nchunks {
					s.fail(fmt.Errorf("transfer: held chunk %d beyond the end of %s", h.Index, f.item.Path))
					return
				}
				f.held[h.Index] = h.Hash
			}
			if m.Final {
				f.queued.Store(true)
				s.ready <- f
			}
		case *protocol.Done:
			s.answered(m.ID, m, nil)
		case *protocol.KeepAlive:
			// The receiver is hashing an existing destination.
		case *protocol.Error:
			if m.ID == 0 {
				s.fail(m)
				return
			}
			s.answered(m.ID, nil, m)
		case *protocol.Bye:
			if !s.finishSent.Load() {
				s.fail(unexpected(m, "before Finish"))
				return
			}
			close(s.bye)
			return
		default:
			s.fail(unexpected(m, "from a receiver"))
			return
		}
	}
}

func (s *sender) file(id uint32) *sfile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[id]
}

// answered handles the receiver's final word on an item.
func (s *sender) answered(id uint32, done *protocol.Done, perr *protocol.Error) {
	s.mu.Lock()
	f, isFile := s.files[id]
	dir, isDir := s.dirs[id]
	delete(s.files, id)
	delete(s.dirs, id)
	s.mu.Unlock()
	switch {
	case isDir:
		r := FileResult{Path: dir.Path, Dir: true}
		if perr != nil {
			r.Err = perr
		}
		s.report(r)
	case isFile:
		if perr != nil {
			f.abort.CompareAndSwap(nil, perr)
		}
		r := FileResult{
			Path: f.item.Path, Size: f.open.Size,
			WireBytes: f.wire.Load(), Duration: time.Since(f.start),
		}
		if perr != nil {
			r.Err = perr
			// Our own reason, when we withdrew a changing source first,
			// says more than the receiver's echo of it.
			if own := f.abort.Load(); own != nil && own.Code == protocol.CodeSourceChanged {
				r.Err = own
			}
		} else {
			r.Root = done.Root
			r.Skipped = done.Skipped
			r.ResumedBytes = done.ResumedBytes
		}
		s.report(r)
		if !f.queued.Load() {
			f.f.Close()
		} // else the pipeline closes it when it finishes with it

	default:
		s.fail(fmt.Errorf("transfer: answer for unknown item %d", id))
		return
	}
	<-s.window
}

func (s *sender) report(r FileResult) {
	s.statsMu.Lock()
	s.stats.add(r)
	s.statsMu.Unlock()
	s.hooks.file(r)
}

func (s *sender) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range s.files {
		f.f.Close()
		delete(s.files, id)
	}
}
