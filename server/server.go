// Package server is the xferd daemon: it accepts sessions on TCP and QUIC
// listeners, authenticates clients against authorized_keys, applies each
// key's access policy, and runs the transfer engine for send, get and ls.
//
// Every file access goes through an os.Root opened on the daemon's root
// (or on the subdirectory a key is confined to), so no client path can
// leave it, and nothing touches the disk before a client is authenticated.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"xfer/crypto"
	"xfer/transfer"
	"xfer/transport"
)

// Config configures a Server.
type Config struct {
	Root    string           // directory served and written
	HostKey *crypto.Identity // the daemon's identity
	// AuthorizedKeysFile is reloaded on Reload and when it changes; when
	// empty, AuthorizedKeys is used as is.
	AuthorizedKeysFile string
	AuthorizedKeys     []crypto.AuthorizedKey

	ReadOnly    bool   // refuse every send
	NoOverwrite bool   // never replace an existing file that differs
	MaxFileSize uint64 // refuse larger files (0: no limit)

	MaxSessions int // concurrent sessions (default 64)
	// PartialExpiry removes partial files untouched for this long
	// (default 7 days; negative disables).
	PartialExpiry time.Duration
	Logger        *slog.Logger
}

// Server is a running daemon.
type Server struct {
	cfg   Config
	log   *slog.Logger
	root  *os.Root
	keys  atomic.Pointer[keyTable]
	locks transfer.LockSet
	slots chan struct{} // authenticated sessions
	// handshakes counts connections not yet authenticated; a token is
	// returned exactly once, by handshakeDone.
	handshakes chan struct{}

	mu        sync.Mutex
	listeners []transport.Listener
	sessions  map[*session]struct{}
	closing   bool
	wg        sync.WaitGroup
	keysMod   time.Time
}

type keyTable struct {
	byKey map[crypto.PublicKey]crypto.AuthorizedKey
}

// New opens the root (creating it if missing) and loads authorized keys.
func New(cfg Config) (*Server, error) {
	if cfg.HostKey == nil {
		return nil, errors.New("server: no host key")
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 64
	}
	if cfg.PartialExpiry == 0 {
		cfg.PartialExpiry = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("server: root: %w", err)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("server: root: %w", err)
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		root:       root,
		slots:      make(chan struct{}, cfg.MaxSessions),
		handshakes: make(chan struct{}, maxPendingHandshakes),
		sessions:   make(map[*session]struct{}),
	}
	if err := s.Reload(); err != nil {
		root.Close()
		return nil, err
	}
	return s, nil
}

// maxPendingHandshakes bounds connections that have not authenticated
// yet; each lasts at most protocol.HandshakeTimeout.
const maxPendingHandshakes = 32

func (s *Server) handshakeDone() { <-s.handshakes }

// Reload rereads the authorized_keys file. Running sessions keep the
// policy they started with.
func (s *Server) Reload() error {
	keys := s.cfg.AuthorizedKeys
	if s.cfg.AuthorizedKeysFile != "" {
		fi, err := os.Stat(s.cfg.AuthorizedKeysFile)
		if err != nil {
			return fmt.Errorf("server: authorized keys: %w", err)
		}
		keys, err = crypto.LoadAuthorizedKeys(s.cfg.AuthorizedKeysFile)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.keysMod = fi.ModTime()
		s.mu.Unlock()
	}
	t := &keyTable{byKey: make(map[crypto.PublicKey]crypto.AuthorizedKey, len(keys))}
	for _, k := range keys {
		t.byKey[k.Key] = k
	}
	s.keys.Store(t)
	s.log.Info("authorized keys loaded", "count", len(keys), "file", s.cfg.AuthorizedKeysFile)
	return nil
}

// watchKeys reloads authorized_keys when its modification time changes.
func (s *Server) watchKeys(ctx context.Context) {
	if s.cfg.AuthorizedKeysFile == "" {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(s.cfg.AuthorizedKeysFile)
		if err != nil {
			continue
		}
		s.mu.Lock()
		changed := !fi.ModTime().Equal(s.keysMod)
		s.mu.Unlock()
		if changed {
			if err := s.Reload(); err != nil {
				s.log.Error("reloading authorized keys failed; keeping the previous set", "err", err)
				s.mu.Lock()
				s.keysMod = fi.ModTime()
				s.mu.Unlock()
			}
		}
	}
}

// Serve accepts sessions on l until Shutdown. It returns nil after
// Shutdown and the accept error otherwise.
func (s *Server) Serve(ctx context.Context, l transport.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	first := len(s.listeners) == 1
	s.mu.Unlock()
	if first {
		go s.watchKeys(ctx)
		go s.expireLoop(ctx)
	}
	for {
		sess, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		// Unauthenticated connections get their own, smaller cap, so
		// that connecting and saying nothing cannot lock clients out.
		select {
		case s.handshakes <- struct{}{}:
		default:
			s.log.Warn("connection refused: too many pending handshakes", "remote", sess.RemoteAddr().String(), "max", cap(s.handshakes))
			sess.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, sess)
		}()
	}
}

// Shutdown stops accepting, tells running sessions the daemon is going
// away, and waits (until ctx ends) for them to put what they received into
// their partial files.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, l := range s.listeners {
		l.Close()
	}
	for ss := range s.sessions {
		ss.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return s.root.Close()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Root is the directory the server serves.
func (s *Server) Root() string { return s.cfg.Root }

func cleanDir(d string) string {
	d = path.Clean("/" + d)
	if d == "/" {
		return "."
	}
	return d[1:]
}
