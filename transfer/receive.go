package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"xfer/chunk"
	"xfer/protocol"
)

// ReceiveOptions configure a Receiver.
type ReceiveOptions struct {
	// Root confines every file operation; Base is the destination
	// directory inside it ("." for the root itself), which must exist.
	Root *os.Root
	Base string
	// RenameTop, when set, replaces the first element of every incoming
	// path: a single source is stored under the destination's name.
	RenameTop string
	ChunkSize uint32 // the negotiated chunk size; Opens must use it
	NoClobber bool   // never replace an existing file that differs
	// DenyOverwrite is NoClobber imposed by the receiver's policy (the
	// daemon's --no-overwrite or a key's no-overwrite): refusals are
	// "permission denied" rather than "exists".
	DenyOverwrite bool
	NoResume      bool // discard partials instead of resuming them
	// MaxFileSize refuses larger files (0: no limit).
	MaxFileSize uint64
	Workers     int // open/verify/write workers; GOMAXPROCS (at least 2, at most 8) if 0
	Locks       *LockSet
	// Holder identifies this receiver's session to Locks (nil: never
	// replaced, never replaces).
	Holder *Holder
	Hooks  *Hooks
	// Journal batching thresholds: the partial is fsynced and its chunks
	// recorded after SyncBytes of new data or SyncDelay, whichever comes
	// first (zero: 16 MiB and 250 ms). They bound what a receiver killed
	// mid-file makes the sender send again.
	SyncBytes int64
	SyncDelay time.Duration
}

// Journal batching defaults (see ReceiveOptions.SyncBytes).
const (
	DefaultSyncBytes = 16 << 20
	DefaultSyncDelay = 250 * time.Millisecond
)

// LockSet serializes receivers writing the same destination within one
// process; the partial's flock covers other processes. The zero value is
// ready to use.
type LockSet struct {
	mu   sync.Mutex
	held map[string]*Holder
}

// Holder says who holds a destination, so that a new session of the same
// peer can replace one presumed dead: a client whose path died reconnects
// long before the daemon notices its old session is gone.
type Holder struct {
	Owner  string               // the peer's identity (key fingerprint); "" never preempts
	Idle   func() time.Duration // how long the holder's session has made no progress
	Cancel func()               // ends the holder's session
}

const (
	// staleAfter is how long a holder must have made no progress before a
	// new session of the same owner may replace it. A live session makes
	// progress many times a second.
	staleAfter = 3 * time.Second
	// preemptWait bounds the wait for a replaced holder to let go.
	preemptWait = 5 * time.Second
)

// TryLock claims name, reporting false when it is already claimed.
func (l *LockSet) TryLock(name string) bool { return l.TryLockAs(name, nil) }

// TryLockAs claims name for h. When a holder of the same owner has made
// no progress for a few seconds, it is cancelled and its claim taken over
// once released (within a few seconds); otherwise TryLockAs reports false.
func (l *LockSet) TryLockAs(name string, h *Holder) bool {
	deadline := time.Now().Add(preemptWait)
	cancelled := false
	for {
		l.mu.Lock()
		if l.held == nil {
			l.held = make(map[string]*Holder)
		}
		cur, held := l.held[name]
		if !held {
			l.held[name] = h
			l.mu.Unlock()
			return true
		}
		stale := h != nil && cur != nil && h.Owner != "" && cur.Owner == h.Owner &&
			cur.Idle != nil && cur.Cancel != nil && (cancelled || cur.Idle() > staleAfter)
		l.mu.Unlock()
		if !stale || time.Now().After(deadline) {
			return false
		}
		if !cancelled {
			cur.Cancel()
			cancelled = true
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Unlock releases name.
func (l *LockSet) Unlock(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, name)
}

type dirMeta struct {
	rel   string
	mode  fs.FileMode
	mtime time.Time
}

// receiver is the state of one Receive call.
type receiver struct {
	c     *Conn
	opt   ReceiveOptions
	hooks *Hooks
	hh    []byte

	mu      sync.Mutex
	byTID   map[[16]byte]*rfile
	byID    map[uint32]*rfile
	failed  map[uint32]bool // IDs answered with an Error whose End/Skip may still come
	dirs    []dirMeta
	active  sync.WaitGroup
	stats   Stats
	frames  chan frameJob
	fatal   chan struct{}
	fatalE  error
	once    sync.Once
	touched map[string]bool // directories whose entries changed, to fsync
	dcache  *dirCache
	batch   *installBatch
	scratch *chunk.Pool   // decompression buffers of ChunkSize bytes
	slots   chan struct{} // one token per frame between read and written (inFlightFor)

	batches   *gatherer[frameJob] // batches of r.frames for the workers
	hashing   chan struct{}       // one token per existing destination being hashed (acceptExisting)
	streaming atomic.Int32        // registered files whose End has not come
}

// Receive receives files on c into opt.Root until the sender's Finish (it
// then answers Bye) or a session failure. The caller closes c.
func Receive(ctx context.Context, c *Conn, opt ReceiveOptions) (Stats, error) {
	if opt.Workers <= 0 {
		opt.Workers = defaultWorkers()
	}
	if opt.Locks == nil {
		opt.Locks = &LockSet{}
	}
	if opt.Base == "" {
		opt.Base = "."
	}
	if opt.DenyOverwrite {
		opt.NoClobber = true
	}
	if opt.SyncBytes == 0 {
		opt.SyncBytes = DefaultSyncBytes
	}
	if opt.SyncDelay == 0 {
		opt.SyncDelay = DefaultSyncDelay
	}
	r := &receiver{
		c:       c,
		opt:     opt,
		hooks:   opt.Hooks,
		hh:      c.ch.HandshakeHash(),
		byTID:   make(map[[16]byte]*rfile),
		byID:    make(map[uint32]*rfile),
		failed:  make(map[uint32]bool),
		frames:  make(chan frameJob, inFlightFor(opt.Workers)),
		slots:   make(chan struct{}, inFlightFor(opt.Workers)),
		hashing: make(chan struct{}, opt.Workers),
		fatal:   make(chan struct{}),
		touched: make(map[string]bool),
		dcache:  newDirCache(opt.Root),
	}
	r.batch = &installBatch{r: r}
	r.scratch = chunk.NewPool(int(opt.ChunkSize))
	r.batches = newGatherer(r.frames, func() bool { return r.streaming.Load() > 0 })
	stop := context.AfterFunc(ctx, func() { r.fail(ctx.Err()) })
	defer stop()

	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); r.worker() }()
	}
	frameDone := make(chan struct{})
	go func() { defer close(frameDone); r.readFrames() }()

	err := r.control()
	if err != nil {
		r.fail(err)
	}
	<-frameDone
	close(r.frames)
	wg.Wait()
	r.batch.flush() // verified files still get installed
	r.abandonAll()
	r.dcache.close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats, err
}

func (r *receiver) fail(err error) {
	r.once.Do(func() {
		r.fatalE = err
		close(r.fatal)
		r.c.Close()
	})
}

func (r *receiver) failure() error {
	select {
	case <-r.fatal:
		return r.fatalE
	default:
		return nil
	}
}

// control handles the sender's messages until Finish.
func (r *receiver) control() error {
	for {
		m, err := r.c.Recv()
		if err != nil {
			if ferr := r.failure(); ferr != nil {
				return ferr
			}
			return err
		}
		switch m := m.(type) {
		case *protocol.Dir:
			r.handleDir(m)
		case *protocol.Open:
			if err := r.handleOpen(m); err != nil {
				return err
			}
		case *protocol.End:
			if err := r.handleEnd(m); err != nil {
				return err
			}
		case *protocol.Skip:
			if err := r.handleSkip(m); err != nil {
				return err
			}
		case *protocol.Error:
			if m.ID == 0 {
				return m
			}
			// The sender could not send this source at all; its
			// message starts with the path.
			p, _, _ := strings.Cut(m.Message, ": ")
			if protocol.CheckPath(p) != nil {
				p = ""
			}
			r.report(FileResult{Path: p, Err: m})
		case *protocol.KeepAlive:
			// The sender is hashing its source of an existing destination.
		case *protocol.Finish:
			if err := r.awaitFiles(); err != nil {
				r.c.Send(protocol.Errorf(0, protocol.CodeProtocol, "%v", err))
				return err
			}
			if err := r.failure(); err != nil {
				return err
			}
			if err := r.finishDirs(); err != nil {
				r.c.Send(protocol.Errorf(0, protocol.CodeIO, "finishing directories: %v", err))
				return err
			}
			return r.c.Send(&protocol.Bye{})
		default:
			return unexpected(m, "from a sender")
		}
	}
}

// finishGrace bounds the wait, after Finish, for chunks still in flight
// (on QUIC, End may overtake the last frames).
const finishGrace = 30 * time.Second

// awaitFiles waits, after Finish, for the files whose End has arrived to
// be installed. A file the sender never ended is a protocol error.
func (r *receiver) awaitFiles() error {
	r.mu.Lock()
	for _, rf := range r.byID {
		rf.mu.Lock()
		open := rf.end == nil && !rf.done
		rf.mu.Unlock()
		if open {
			r.mu.Unlock()
			return fmt.Errorf("transfer: Finish while %s is still open", rf.wirePath)
		}
	}
	r.mu.Unlock()
	idle := make(chan struct{})
	go func() { r.active.Wait(); close(idle) }()
	select {
	case <-idle:
		return nil
	case <-r.fatal:
		return r.fatalE
	case <-time.After(finishGrace):
		return fmt.Errorf("transfer: chunks announced by End did not arrive within %v of Finish", finishGrace)
	}
}

// mapPath checks a wire path and maps it into the root.
func (r *receiver) mapPath(p string) (string, error) {
	if err := protocol.CheckPath(p); err != nil {
		return "", err
	}
	if p == "." {
		return "", errors.New("protocol: path \".\" names the destination itself")
	}
	if r.opt.RenameTop != "" {
		first, rest, _ := strings.Cut(p, "/")
		_ = first
		p = r.opt.RenameTop
		if rest != "" {
			p += "/" + rest
		}
	}
	return path.Join(r.opt.Base, p), nil
}

func (r *receiver) handleDir(m *protocol.Dir) {
	rel, err := r.mapPath(m.Path)
	if err == nil {
		err = r.mkdirAll(rel)
	}
	if err != nil {
		perr := toProtoError(m.ID, m.Path, err)
		r.send(perr)
		r.report(FileResult{Path: m.Path, Dir: true, Err: perr})
		return
	}
	r.mu.Lock()
	r.dirs = append(r.dirs, dirMeta{rel: rel, mode: fs.FileMode(m.Mode) & fs.ModePerm, mtime: time.Unix(0, m.MTime)})
	r.mu.Unlock()
	r.send(&protocol.Done{ID: m.ID})
	r.report(FileResult{Path: m.Path, Dir: true})
}

// mkdirAll creates rel and its parents (mode 0755 until Finish applies
// the sender's), refusing a non-directory in the way.
func (r *receiver) mkdirAll(rel string) error {
	fi, err := r.opt.Root.Lstat(rel)
	if err == nil {
		switch {
		case fi.IsDir():
			return nil
		case fi.Mode()&fs.ModeSymlink != 0:
			return protocol.Errorf(0, protocol.CodeBadPath, "%s is a symbolic link (not followed)", rel)
		}
		return protocol.Errorf(0, protocol.CodeBadPath, "%s exists and is not a directory", rel)
	}
	if err := r.opt.Root.MkdirAll(rel, 0o755); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && (errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) || strings.Contains(err.Error(), "escapes")) {
			return protocol.Errorf(0, protocol.CodeBadPath, "%s: a parent is a symbolic link or not a directory", rel)
		}
		return err
	}
	r.touch(path.Dir(rel))
	return nil
}

func (r *receiver) touch(dir string) {
	r.mu.Lock()
	r.touched[dir] = true
	r.mu.Unlock()
}

// finishDirs applies directory modes and mtimes, deepest first (setting a
// directory's mtime after its entries changed), and fsyncs the directories
// whose entries changed.
func (r *receiver) finishDirs() error {
	r.mu.Lock()
	dirs := r.dirs
	r.dirs = nil
	touched := r.touched
	r.touched = make(map[string]bool)
	r.mu.Unlock()
	var first error
	for d := range touched {
		if err := syncDir(r.opt.Root, d); err != nil && first == nil {
			first = err
		}
	}
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i].rel, "/") > strings.Count(dirs[j].rel, "/")
	})
	for _, d := range dirs {
		if err := r.opt.Root.Chmod(d.rel, d.mode); err != nil && first == nil {
			first = err
		}
		if err := r.opt.Root.Chtimes(d.rel, d.mtime, d.mtime); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// send sends a control message, failing the session on error.
func (r *receiver) send(m protocol.Message) {
	if err := r.c.Send(m); err != nil {
		r.fail(err)
	}
}

func (r *receiver) report(res FileResult) {
	r.mu.Lock()
	r.stats.add(res)
	r.mu.Unlock()
	r.hooks.file(res)
}

// toProtoError turns a local error about path p into an Error for id.
func toProtoError(id uint32, p string, err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.ID == id {
			return pe
		}
		return &protocol.Error{ID: id, Code: pe.Code, Message: pe.Message}
	}
	code := protocol.CodeIO
	switch {
	case isNoSpace(err):
		code = protocol.CodeNoSpace
	case errors.Is(err, fs.ErrPermission):
		code = protocol.CodePermissionDenied
	case errors.Is(err, fs.ErrNotExist):
		code = protocol.CodeNotFound
	case strings.HasPrefix(err.Error(), "protocol: "), strings.Contains(err.Error(), "path escapes"):
		code = protocol.CodeBadPath
	}
	// Never tell the peer our own paths: keep only the system error of a
	// path error (the peer knows which file it is about).
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	var linkErr *os.LinkError
	if errors.As(err, &linkErr) {
		err = linkErr.Err
	}
	return &protocol.Error{ID: id, Code: code, Message: fmt.Sprintf("%s: %v", p, err)}
}
