package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"xfer/crypto"
	"xfer/protocol"
	"xfer/transfer"
	"xfer/transport"
)

// session is one authenticated client connection.
type session struct {
	conn   *transfer.Conn
	cancel context.CancelFunc
}

// stop tells the client the daemon is going away and ends the session.
// It never blocks: a client that stopped reading may keep the session's
// writer stuck, so the notice gets a second to go out, then the session is
// cancelled, which closes the connection and unblocks everything.
func (ss *session) stop() {
	go func() {
		ss.conn.Session().SetDeadline(time.Now().Add(time.Second))
		done := make(chan struct{})
		go func() {
			ss.conn.Send(protocol.Errorf(0, protocol.CodeShuttingDown, "daemon shutting down"))
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		ss.cancel()
	}()
}

func (s *Server) handle(ctx context.Context, sess transport.Session) {
	defer sess.Close()
	remote := sess.RemoteAddr().String()
	sess.SetDeadline(time.Now().Add(protocol.HandshakeTimeout))
	ch, err := crypto.Handshake(sess, crypto.HandshakeConfig{Identity: s.cfg.HostKey, Binding: sess.Binding()})
	if err != nil {
		s.handshakeDone()
		s.log.Debug("handshake failed", "remote", remote, "err", err)
		return
	}
	s.handshakeDone()
	conn := transfer.NewConn(sess, ch)
	peer := ch.PeerKey()
	fp := peer.Fingerprint()
	ak, ok := s.keys.Load().byKey[peer]
	if !ok {
		s.log.Warn("refused unauthorized key", "key", fp, "remote", remote)
		conn.Send(protocol.Errorf(0, protocol.CodeNotAuthorized, "not authorized: key %s is not in the daemon's authorized_keys", fp))
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.log.Warn("session refused: too many sessions", "key", fp, "remote", remote, "max", s.cfg.MaxSessions)
		conn.Send(protocol.Errorf(0, protocol.CodeBusy, "busy: the daemon serves %d sessions already; try again later", s.cfg.MaxSessions))
		return
	}
	log := s.log.With("key", fp, "remote", remote)
	if ak.Comment != "" {
		log = log.With("comment", ak.Comment)
	}
	m, err := conn.Recv()
	if err != nil {
		log.Debug("no hello", "err", err)
		return
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		conn.Send(protocol.Errorf(0, protocol.CodeProtocol, "expected Hello, got %T", m))
		return
	}
	sess.SetDeadline(time.Time{})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx = context.WithValue(ctx, cancelKey{}, cancel)
	go watchIdle(ctx, conn, log)
	ss := &session{conn: conn, cancel: cancel}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Send(protocol.Errorf(0, protocol.CodeShuttingDown, "daemon shutting down"))
		return
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
	}()

	root, err := s.rootFor(ak)
	if err != nil {
		log.Error("opening the key's directory", "dir", ak.Options.Dir, "err", err)
		conn.Send(protocol.Errorf(0, protocol.CodeInternal, "daemon cannot open the key's directory"))
		return
	}
	if root != s.root {
		defer root.Close()
	}
	var perr *protocol.Error
	if hello.Flags&protocol.HelloDryRun != 0 {
		conn.Send(protocol.Errorf(0, protocol.CodeUnsupported, "this daemon does not support dry runs"))
		return
	}
	switch hello.Op {
	case protocol.OpSend:
		perr = s.serveSend(ctx, log, conn, root, ak, hello)
	case protocol.OpGet:
		perr = s.serveGet(ctx, log, conn, root, ak, hello)
	case protocol.OpList:
		perr = s.serveList(log, conn, root, ak, hello)
	default:
		perr = protocol.Errorf(0, protocol.CodeUnsupported, "unknown operation %d", hello.Op)
	}
	if perr != nil {
		if perr.Code == protocol.CodePermissionDenied {
			log.Warn("permission denied", "err", perr.Message)
		}
		conn.Send(perr)
	}
}

// rootFor returns the root a key is confined to.
func (s *Server) rootFor(ak crypto.AuthorizedKey) (*os.Root, error) {
	if ak.Options.Dir == "" {
		return s.root, nil
	}
	dir := cleanDir(ak.Options.Dir)
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return s.root.OpenRoot(dir)
}

func negotiateChunk(proposed uint32) uint32 {
	switch {
	case proposed == 0:
		return protocol.DefaultChunkSize
	case proposed < protocol.MinChunkSize:
		return protocol.MinChunkSize
	case proposed > protocol.MaxChunkSize:
		return protocol.MaxChunkSize
	}
	return proposed
}

func (s *Server) serveSend(ctx context.Context, log *slog.Logger, conn *transfer.Conn, root *os.Root, ak crypto.AuthorizedKey, h *protocol.Hello) *protocol.Error {
	if s.cfg.ReadOnly || ak.Options.ReadOnly {
		return protocol.Errorf(0, protocol.CodePermissionDenied, "permission denied: this key may not send files (read-only)")
	}
	if len(h.Paths) != 1 {
		return protocol.Errorf(0, protocol.CodeProtocol, "send needs exactly one destination")
	}
	dest := h.Paths[0]
	if err := protocol.CheckPath(dest); err != nil {
		return protocol.Errorf(0, protocol.CodeBadPath, "destination %q: %v", dest, err)
	}
	into := h.Flags&protocol.HelloInto != 0
	fi, err := root.Stat(dest)
	destIsDir := err == nil && fi.IsDir()
	opt := transfer.ReceiveOptions{
		Root:          root,
		ChunkSize:     negotiateChunk(h.ChunkSize),
		NoClobber:     h.Flags&protocol.HelloNoClobber != 0,
		DenyOverwrite: s.cfg.NoOverwrite || ak.Options.NoOverwrite,
		NoResume:      h.Flags&protocol.HelloNoResume != 0,
		MaxFileSize:   s.cfg.MaxFileSize,
		Locks:         &s.locks,
		// A reconnecting client replaces its own session that stalled.
		Holder: &transfer.Holder{Owner: ak.Key.Fingerprint(), Idle: conn.Idle, Cancel: cancelSession(ctx)},
	}
	switch {
	case destIsDir:
		opt.Base = dest
	case err == nil:
		if into {
			return protocol.Errorf(0, protocol.CodeExists, "destination %q exists and is not a directory", dest)
		}
		opt.Base, opt.RenameTop = path.Dir(dest), path.Base(dest)
	case !errors.Is(err, fs.ErrNotExist):
		return fsError(dest, err)
	case into:
		if err := root.MkdirAll(dest, 0o755); err != nil {
			return fsError(dest, err)
		}
		opt.Base = dest
	default:
		opt.Base, opt.RenameTop = path.Dir(dest), path.Base(dest)
		if err := root.MkdirAll(opt.Base, 0o755); err != nil {
			return fsError(opt.Base, err)
		}
	}
	start := time.Now()
	opt.Hooks = &transfer.Hooks{File: func(r transfer.FileResult) {
		if r.Dir {
			return
		}
		if r.Err != nil {
			if transfer.ErrorCode(r.Err) == protocol.CodePermissionDenied {
				log.Warn("permission denied", "path", r.Path, "err", r.Err)
			} else {
				log.Warn("receive failed", "path", r.Path, "err", r.Err)
			}
			return
		}
		log.Info("received", "path", r.Path, "bytes", r.Size, "resumed", r.ResumedBytes, "skipped", r.Skipped,
			"duration", r.Duration.Round(time.Millisecond), "rate", rate(r.Size-r.ResumedBytes, r.Duration))
	}}
	if err := conn.Send(&protocol.Welcome{ChunkSize: opt.ChunkSize, DestIsDir: destIsDir, ServerName: "xferd"}); err != nil {
		return nil
	}
	st, err := transfer.Receive(ctx, conn, opt)
	d := time.Since(start)
	log.Info("send session ended", "dest", dest, "files", st.Files, "failed", st.Failed, "bytes", st.Bytes,
		"resumed", st.ResumedBytes, "duration", d.Round(time.Millisecond), "rate", rate(st.Bytes-st.ResumedBytes, d), "err", errString(err))
	return nil
}

func (s *Server) serveGet(ctx context.Context, log *slog.Logger, conn *transfer.Conn, root *os.Root, ak crypto.AuthorizedKey, h *protocol.Hello) *protocol.Error {
	if ak.Options.WriteOnly {
		return protocol.Errorf(0, protocol.CodePermissionDenied, "permission denied: this key may only send files (write-only)")
	}
	if len(h.Paths) == 0 {
		return protocol.Errorf(0, protocol.CodeProtocol, "get needs at least one source")
	}
	for _, p := range h.Paths {
		if err := protocol.CheckPath(p); err != nil {
			return protocol.Errorf(0, protocol.CodeBadPath, "source %q: %v", p, err)
		}
	}
	cs := negotiateChunk(h.ChunkSize)
	if err := conn.Send(&protocol.Welcome{ChunkSize: cs, ServerName: "xferd"}); err != nil {
		return nil
	}
	items := make(chan transfer.Item, 64)
	stop := make(chan struct{})
	// The items are opened through the directory roots src keeps open:
	// closed once the send is over and the walk has ended.
	src := transfer.NewSource(root)
	go func() {
		defer close(items)
		for _, p := range h.Paths {
			wire := path.Base(p)
			if p == "." {
				wire = "root" // the root has no name of its own
			}
			if !src.Walk(p, wire, items, stop) {
				return
			}
		}
	}()
	start := time.Now()
	st, err := transfer.Send(ctx, conn, items, transfer.SendOptions{ChunkSize: cs, Hooks: &transfer.Hooks{File: func(r transfer.FileResult) {
		if r.Err != nil && !r.Dir {
			log.Warn("serve failed", "path", r.Path, "err", r.Err)
		}
	}}})
	close(stop)
	for range items {
	}
	src.Close()
	d := time.Since(start)
	log.Info("get session ended", "paths", strings.Join(h.Paths, " "), "files", st.Files, "failed", st.Failed, "bytes", st.Bytes,
		"resumed", st.ResumedBytes, "duration", d.Round(time.Millisecond), "rate", rate(st.Bytes-st.ResumedBytes, d), "err", errString(err))
	return nil
}

func fsError(p string, err error) *protocol.Error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return protocol.Errorf(0, protocol.CodeNotFound, "%s: no such file or directory", p)
	case errors.Is(err, fs.ErrPermission):
		return protocol.Errorf(0, protocol.CodePermissionDenied, "permission denied: %s", p)
	case strings.Contains(err.Error(), "escapes"):
		return protocol.Errorf(0, protocol.CodeBadPath, "%s: path escapes the daemon's root", p)
	case strings.Contains(err.Error(), "not a directory"):
		return protocol.Errorf(0, protocol.CodeBadPath, "%s: not a directory", p)
	}
	return protocol.Errorf(0, protocol.CodeIO, "%s: %v", p, err)
}

func rate(n uint64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB/s", float64(n)/d.Seconds()/1e6)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// IdleTimeout ends an authenticated session that made no progress (no
// message or frame received, no frame sent) for this long, so a client
// that stalls — or stops reading — cannot hold a session slot forever.
const IdleTimeout = 15 * time.Minute

func watchIdle(ctx context.Context, conn *transfer.Conn, log *slog.Logger) {
	t := time.NewTicker(IdleTimeout / 10)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if conn.Idle() > IdleTimeout {
			log.Warn("closing idle session", "idle", conn.Idle().Round(time.Second))
			conn.Close()
			return
		}
	}
}

type cancelKey struct{}

// cancelSession returns the cancel function of the session whose context
// is ctx (set by handle).
func cancelSession(ctx context.Context) func() {
	if c, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		return c
	}
	return nil
}
