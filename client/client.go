package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"xfer/address"
	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
	"xfer/transfer"
	"xfer/transport"
)

// Options configure every client operation: Send, Get and List. The zero
// value is not usable: Identity is required (except for a dry run).
// Defaults are documented per field; fields marked "Send only" make Get
// and List fail with a KindUsage error.
type Options struct {
	// Identity authenticates the client to the daemon.
	Identity *crypto.Identity
	// KnownHostsFile pins daemon host keys. Empty disables pinning,
	// which only tests should do.
	KnownHostsFile string
	// AcceptNewHost trusts (and records) the key of a host not yet in
	// KnownHostsFile. A changed key is refused regardless.
	AcceptNewHost bool
	// ConfirmHost, when set, is asked about an unknown host key (an
	// interactive prompt); returning true records it.
	ConfirmHost func(host string, key crypto.PublicKey) bool

	NoResume  bool       // discard partial files and start over
	NoClobber bool       // never replace an existing destination that differs
	ChunkSize uint32     // proposed chunk size; protocol.DefaultChunkSize if 0
	Compress  chunk.Mode // LZ4 policy (chunk.Auto by default)
	Streams   int        // QUIC data streams (0: transport default)

	// Retries is how many times a dropped connection is retried
	// (exponential back-off with jitter, from RetryDelay, capped at 30 s).
	// 0 or negative (NoRetries) means no retry; cmd/xfer uses
	// DefaultRetries.
	Retries    int
	RetryDelay time.Duration // first back-off delay; 1 s if 0
	// IdleTimeout drops a session that made no progress (nothing
	// received, no frame sent) for this long, so a stalled path or peer
	// ends in a retry rather than a hang (10 minutes if 0: long enough for
	// the peer to hash a few hundred GB of an existing file, which sends
	// nothing meanwhile).
	IdleTimeout time.Duration

	// Events receives progress, per-file results and the summary (the
	// last event of a Send or Get), as *Progress, *FileDone, *FileError,
	// *Reconnect, *DryRun and *Summary values; docs/json.md gives their
	// meaning and order. It is called from several goroutines, one event
	// at a time, so it needs no locking of its own; it should return
	// quickly, as the transfer waits for it.
	Events func(Event)
	// DialTimeout bounds connecting (10 s if 0).
	DialTimeout time.Duration
	// Logger receives transport warnings, such as a kernel that limits
	// the UDP buffers QUIC asks for (nil: discarded).
	Logger *slog.Logger

	// Filter, when set, leaves out the paths its rules exclude (Send
	// only). See [Filter] for the pattern language.
	Filter *Filter
	// FilesFrom, when set, lists the sources (Send only; the srcs
	// argument must then be empty). See [FileList].
	FilesFrom *FileList
	// DryRun makes Send walk the sources and report, as *DryRun events
	// and a Summary with DryRun set, what it would send and what the
	// Filter excludes, without connecting to the daemon or writing
	// anything (Send only). It cannot tell which files the daemon
	// already holds.
	DryRun bool
}

// sendOnly returns a usage error if o sets a Send-only field.
func (o *Options) sendOnly(op string) error {
	switch {
	case o.Filter != nil:
		return errorf(KindUsage, "", "%s: include/exclude rules apply to send only", op)
	case o.FilesFrom != nil:
		return errorf(KindUsage, "", "%s: a file list applies to send only", op)
	case o.DryRun:
		return errorf(KindUsage, "", "%s: dry run applies to send only", op)
	}
	return nil
}

// DefaultRetries is the retry count cmd/xfer uses unless told otherwise.
const DefaultRetries = 5

// NoRetries, as Options.Retries, makes the first failure final.
const NoRetries = -1

// Kind classifies a client error; cmd/xfer maps kinds to exit codes
// (given in brackets; docs/json.md lists them).
type Kind int

const (
	KindInternal    Kind = iota // anything else [1]
	KindUsage                   // bad arguments, patterns or destination [2]
	KindConnection              // could not connect, or the connection kept dropping [3]
	KindAuth                    // not authorized, unknown or changed host key [4]
	KindPermission              // the daemon's policy refused the operation, or every file failed with permission_denied [5]
	KindNotFound                // a remote path does not exist, or every file failed with not_found [7]
	KindPartial                 // some files failed, others arrived (or failed otherwise) [6]
	KindInterrupted             // cancelled (SIGINT/SIGTERM) [130]
)

// Error is a classified client error, with an optional hint telling the
// user what to do next.
type Error struct {
	Kind Kind
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func errorf(k Kind, hint, format string, args ...any) *Error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...), Hint: hint}
}

// classify wraps err in an *Error.
func classify(ctx context.Context, err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	if ctx.Err() != nil {
		return &Error{Kind: KindInterrupted, Err: errors.New("interrupted")}
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case protocol.CodeNotAuthorized:
			return &Error{Kind: KindAuth, Err: pe, Hint: "add your public key (xfer keygen prints it; see ~/.config/xfer/identity.pub) to the daemon's authorized_keys"}
		case protocol.CodePermissionDenied:
			return &Error{Kind: KindPermission, Err: pe}
		case protocol.CodeNotFound:
			return &Error{Kind: KindNotFound, Err: pe}
		case protocol.CodeShuttingDown, protocol.CodeBusy:
			return &Error{Kind: KindConnection, Err: pe}
		case protocol.CodeBadPath, protocol.CodeExists:
			return &Error{Kind: KindUsage, Err: pe}
		}
		return &Error{Kind: KindInternal, Err: pe}
	}
	var hk *crypto.HostKeyChangedError
	if errors.As(err, &hk) {
		return &Error{Kind: KindAuth, Err: err, Hint: "someone may be intercepting the connection; if the daemon's key really changed, remove the line named above"}
	}
	if errors.Is(err, crypto.ErrUnknownHost) {
		return &Error{Kind: KindAuth, Err: err, Hint: "check the fingerprint with the daemon's operator, then run again with --accept-new-host"}
	}
	return &Error{Kind: KindConnection, Err: err}
}

// retryable reports whether another attempt may succeed.
func retryable(e *Error) bool { return e.Kind == KindConnection }

// session is one connected, authenticated session after Hello/Welcome.
type session struct {
	conn    *transfer.Conn
	welcome *protocol.Welcome
}

// hostPrompt is returned by the handshake's host check when the user must
// be asked, which happens outside the handshake's deadline.
type hostPrompt struct {
	host string
	key  crypto.PublicKey
}

func (h *hostPrompt) Error() string { return "unknown host " + h.host }

// open connects to a, authenticates both ends, sends hello and waits for
// the Welcome.
func (o *Options) open(ctx context.Context, a address.Address, hello *protocol.Hello) (*session, error) {
	if o.Identity == nil {
		return nil, errorf(KindUsage, "", "client: no identity")
	}
	for prompted := false; ; prompted = true {
		s, err := o.dialHello(ctx, a, hello)
		var hp *hostPrompt
		if errors.As(err, &hp) && !prompted {
			if o.ConfirmHost(hp.host, hp.key) {
				if err := crypto.AddKnownHost(o.KnownHostsFile, hp.host, hp.key); err != nil {
					return nil, errorf(KindInternal, "", "recording host key: %v", err)
				}
				continue
			}
			return nil, &Error{Kind: KindAuth, Err: fmt.Errorf("host key for %s not accepted", hp.host)}
		}
		return s, err
	}
}

func (o *Options) dialHello(ctx context.Context, a address.Address, hello *protocol.Hello) (*session, error) {
	timeout := o.DialTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	var sess transport.Session
	var err error
	switch a.Scheme {
	case "quic":
		dctx, cancel := context.WithTimeout(ctx, timeout)
		sess, err = dialQUIC(dctx, a.HostPort(), o.Streams, o.Logger)
		cancel()
	default:
		d := net.Dialer{Timeout: timeout}
		var c net.Conn
		c, err = d.DialContext(ctx, "tcp", a.HostPort())
		if err == nil {
			sess = transport.NewTCPSession(c)
		}
	}
	if err != nil {
		return nil, errorf(KindConnection, "is xferd running there? (default port 7420)", "connecting to %s: %v", a.HostPort(), err)
	}
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	sess.SetDeadline(time.Now().Add(protocol.HandshakeTimeout))
	host := a.HostPort()
	ch, err := crypto.Handshake(sess, crypto.HandshakeConfig{
		Initiator:  true,
		Identity:   o.Identity,
		Binding:    sess.Binding(),
		VerifyPeer: func(k crypto.PublicKey) error { return o.verifyHost(host, k) },
	})
	if err != nil {
		sess.Close()
		var hp *hostPrompt
		if errors.As(err, &hp) {
			return nil, hp
		}
		var hk *crypto.HostKeyChangedError
		if errors.As(err, &hk) || errors.Is(err, crypto.ErrUnknownHost) {
			return nil, classify(ctx, err)
		}
		return nil, errorf(KindConnection, "", "handshake with %s: %v", host, err)
	}
	conn := transfer.NewConn(sess, ch)
	if err := conn.Send(hello); err != nil {
		conn.Close()
		return nil, classify(ctx, fmt.Errorf("sending request: %w", err))
	}
	m, err := conn.Recv()
	if err != nil {
		conn.Close()
		return nil, classify(ctx, fmt.Errorf("waiting for the daemon: %w", err))
	}
	sess.SetDeadline(time.Time{})
	switch m := m.(type) {
	case *protocol.Welcome:
		go o.watchIdle(ctx, conn)
		return &session{conn: conn, welcome: m}, nil
	case *protocol.Error:
		conn.Close()
		return nil, classify(ctx, m)
	default:
		conn.Close()
		return nil, errorf(KindConnection, "", "daemon answered %T to the request", m)
	}
}

// verifyHost checks the daemon's key against known_hosts.
func (o *Options) verifyHost(host string, key crypto.PublicKey) error {
	if o.KnownHostsFile == "" {
		return nil
	}
	err := crypto.CheckKnownHost(o.KnownHostsFile, host, key)
	if !errors.Is(err, crypto.ErrUnknownHost) {
		return err
	}
	switch {
	case o.AcceptNewHost:
		if err := crypto.AddKnownHost(o.KnownHostsFile, host, key); err != nil {
			return err
		}
		return nil
	case o.ConfirmHost != nil:
		return &hostPrompt{host: host, key: key}
	}
	return fmt.Errorf("%w %s (key %s) is not in %s", crypto.ErrUnknownHost, host, key.Fingerprint(), o.KnownHostsFile)
}

// backoff returns the delay before retry attempt n (1-based).
func (o *Options) backoff(n int) time.Duration {
	d := o.RetryDelay
	if d == 0 {
		d = time.Second
	}
	for i := 1; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1) // jitter: between half and the whole delay
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emitter serializes events and throttles progress.
type emitter struct {
	mu       sync.Mutex
	fn       func(Event)
	start    time.Time
	total    uint64 // bytes of files seen so far
	done     uint64
	files    map[string]*fileProgress
	lastEmit time.Time
}

type fileProgress struct{ done, size uint64 }

func newEmitter(fn func(Event)) *emitter {
	return &emitter{fn: fn, start: time.Now(), files: make(map[string]*fileProgress)}
}

func (e *emitter) emit(ev Event) {
	if e.fn == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fn(ev)
}

// expect adds a file's size to the run's total.
func (e *emitter) expect(path string, size uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.files[path]; !ok {
		e.files[path] = &fileProgress{size: size}
		e.total += size
	}
}

func (e *emitter) progress(path string, n uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fp := e.files[path]
	if fp == nil {
		fp = &fileProgress{}
		e.files[path] = fp
	}
	fp.done += n
	e.done += n
	now := time.Now()
	if e.fn == nil || (now.Sub(e.lastEmit) < 100*time.Millisecond && fp.done < fp.size) {
		return
	}
	e.lastEmit = now
	e.fn(&Progress{V: SchemaVersion, Event: "progress", File: path, BytesDone: min(fp.done, fp.size), BytesTotal: fp.size, TotalDone: e.done, TotalBytes: e.total})
}

// restart drops the progress of every file not finished, before an
// attempt sends (or finds held) their bytes again.
func (e *emitter) restart(finished func(string) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for p, fp := range e.files {
		if !finished(p) {
			e.done -= fp.done
			fp.done = 0
		}
	}
}

// forget drops a file's progress before it is sent again.
func (e *emitter) forget(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fp := e.files[path]; fp != nil {
		e.done -= fp.done
		fp.done = 0
	}
}

// DefaultIdleTimeout is Options.IdleTimeout's default.
const DefaultIdleTimeout = 10 * time.Minute

// watchIdle closes conn once it has made no progress for IdleTimeout; it
// ends with the session (or ctx).
func (o *Options) watchIdle(ctx context.Context, conn *transfer.Conn) {
	limit := o.IdleTimeout
	if limit <= 0 {
		limit = DefaultIdleTimeout
	}
	t := time.NewTicker(min(limit/4, 5*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-conn.Closed():
			return
		case <-t.C:
		}
		if conn.Idle() > limit {
			conn.Close()
			return
		}
	}
}
