package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"xfer/crypto"
	"xfer/protocol"
	"xfer/transfer"
	"xfer/transport"
)

// A hostile daemon (issue 5): a fake xferd, written here with the
// protocol, crypto, transfer and transport packages, that completes a real
// handshake (the client trusts its key with --accept-new-host) and then,
// during `xfer get`, sends names with "..", absolute paths, NUL, reserved
// names and terminal escape sequences, escape sequences in Error messages,
// files larger than announced and files whose root does not verify. The
// client must refuse them (non-zero exit), write nothing outside the
// destination, and never print a raw ESC (0x1b) or CR: they are escaped.

const fakeChunk = protocol.MinChunkSize

// fakeDaemon accepts sessions and runs a script on each.
type fakeDaemon struct {
	hostport string
	script   func(*fakeSession) error
	mu       sync.Mutex
	errs     []error
}

func startFakeDaemon(t *testing.T, tr string, script func(*fakeSession) error) *fakeDaemon {
	t.Helper()
	id, err := crypto.GenerateIdentity("hostile")
	if err != nil {
		t.Fatal(err)
	}
	var l transport.Listener
	if tr == "tcp" {
		l, err = transport.ListenTCP("127.0.0.1:0")
	} else {
		l, err = transport.ListenQUIC("127.0.0.1:0", &transport.QUICOptions{Logger: quietLog})
	}
	if err != nil {
		t.Fatal(err)
	}
	fd := &fakeDaemon{hostport: l.Addr().String(), script: script}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			s, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { fd.serve(s, id) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		fd.mu.Lock()
		defer fd.mu.Unlock()
		if err := errors.Join(fd.errs...); t.Failed() && err != nil {
			t.Logf("fake daemon: %v", err)
		}
	})
	return fd
}

func (fd *fakeDaemon) serve(s transport.Session, id *crypto.Identity) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(150 * time.Second))
	ch, err := crypto.Handshake(s, crypto.HandshakeConfig{Identity: id, Binding: s.Binding()})
	if err != nil {
		fd.fail(err)
		return
	}
	fs := &fakeSession{c: transfer.NewConn(s, ch), hh: ch.HandshakeHash()}
	m, err := fs.c.Recv()
	if err != nil {
		fd.fail(err)
		return
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		fd.fail(fmt.Errorf("got %T, want Hello", m))
		return
	}
	fs.hello = hello
	if err := fs.c.Send(&protocol.Welcome{ChunkSize: fakeChunk, ServerName: "xferd \x1b[2J\r"}); err != nil {
		fd.fail(err)
		return
	}
	if err := fd.script(fs); err != nil {
		fd.fail(err)
	}
}

func (fd *fakeDaemon) fail(err error) {
	fd.mu.Lock()
	fd.errs = append(fd.errs, err)
	fd.mu.Unlock()
}

// fakeSession is one session of the fake daemon, after Welcome: the daemon
// is the sender.
type fakeSession struct {
	c     *transfer.Conn
	hh    []byte
	hello *protocol.Hello
}

// dir announces a directory and returns the client's answer.
func (f *fakeSession) dir(id uint32, path string) (protocol.Message, error) {
	if err := f.c.Send(&protocol.Dir{ID: id, Path: path, Mode: 0o755, MTime: time.Now().UnixNano()}); err != nil {
		return nil, err
	}
	return f.c.Recv()
}

// fileSpec describes a file the fake daemon offers, and how it lies.
type fileSpec struct {
	id       uint32
	path     string
	data     []byte
	announce int64  // Open.Size; 0 means len(data)
	badRoot  bool   // End carries a wrong file root
	endExtra uint64 // End claims this many more frames than were sent
	silent   bool   // after End, send nothing more and keep the session open
}

// file offers a file (Open), sends its chunks after Accept, then End, and
// returns the client's final answer (Done or Error).
func (f *fakeSession) file(sp fileSpec) (protocol.Message, error) {
	size := uint64(len(sp.data))
	if sp.announce > 0 {
		size = uint64(sp.announce)
	}
	open := protocol.Open{ID: sp.id, Path: sp.path, Size: size, Mode: 0o644, MTime: time.Now().UnixNano(), ChunkSize: fakeChunk, Attempt: 1}
	rand.Read(open.TransferID[:])
	rand.Read(open.Secret[:])
	if err := f.c.Send(&open); err != nil {
		return nil, err
	}
	m, err := f.c.Recv()
	if err != nil {
		return nil, err
	}
	switch a := m.(type) {
	case *protocol.Accept:
		for a.Action == protocol.AcceptResume {
			h, err := f.c.Recv()
			if err != nil {
				return nil, err
			}
			if held, ok := h.(*protocol.Held); !ok || held.Final {
				break
			}
		}
	default:
		return m, nil // refused
	}
	aead := crypto.NewChunkAEAD(crypto.DeriveChunkKey(open.Secret, f.hh, open.TransferID, open.Attempt))
	mh := protocol.ManifestHash(&open)
	var hashes []crypto.Hash
	var n uint64
	for off := 0; off < len(sp.data); off += fakeChunk {
		piece := sp.data[off:min(off+fakeChunk, len(sp.data))]
		last := off+fakeChunk >= len(sp.data)
		h := crypto.ChunkHash(piece)
		hashes = append(hashes, h)
		hdr := protocol.ChunkHeader{
			TransferID: open.TransferID, Attempt: open.Attempt, Index: n, Offset: uint64(off),
			RawLen: uint32(len(piece)), Codec: protocol.CodecRaw, CTLen: uint32(protocol.HashSize + len(piece) + protocol.TagSize),
		}
		if last {
			hdr.Flags = protocol.FlagLast
		}
		hb, _ := hdr.AppendBinary(nil)
		aad := append(append([]byte(nil), hb...), mh[:]...)
		ct := aead.Seal(nil, n, last, append(h[:], piece...), aad)
		if err := f.c.Session().WriteFrame(hb, ct); err != nil {
			return nil, err
		}
		n++
	}
	root := crypto.FileRoot(uint64(len(sp.data)), fakeChunk, hashes)
	if sp.badRoot {
		root[0] ^= 1
	}
	if err := f.c.Send(&protocol.End{ID: sp.id, Chunks: n + sp.endExtra, Root: [32]byte(root)}); err != nil {
		return nil, err
	}
	if sp.silent {
		// A daemon that stops talking but keeps the session open: wait
		// for the client to give up and go away.
		f.c.Recv()
		return nil, nil
	}
	return f.c.Recv()
}

// finish ends the session as a sender does.
func (f *fakeSession) finish() error {
	if err := f.c.Send(&protocol.Finish{}); err != nil {
		return err
	}
	m, err := f.c.Recv()
	if err != nil {
		return err
	}
	if _, ok := m.(*protocol.Bye); !ok {
		return fmt.Errorf("got %T, want Bye", m)
	}
	return nil
}

// refused expects the client to have answered an item with Error.
func refused(m protocol.Message, err error) error {
	if err != nil {
		return err
	}
	if _, ok := m.(*protocol.Error); !ok {
		return fmt.Errorf("the client accepted a hostile item: %T %+v", m, m)
	}
	return nil
}

// hostileCase is one hostile script, given the absolute path of a
// directory outside the client's destination.
type hostileCase struct {
	name   string
	op     string // "get" (default) or "ls"
	script func(outside string) func(*fakeSession) error
	// escapes: the script sends escape sequences the client must print
	// escaped ("\x1b") in text mode.
	escapes bool
	// intoOnly: run only into the existing destination directory (the
	// case plants something in it).
	intoOnly bool
	idle     string // the client's --idle-timeout
	// noState: the client must leave no partial or journal (a file that
	// failed verification is discarded).
	noState bool
	long    string
	bug     string
}

const (
	evilESC = "\x1b[2J\x1b]0;pwned\x07"
	evilCR  = "\rOK "
)

var payload = bytes.Repeat([]byte("hostile "), 1000)

// offerAll offers each path as a file, expects every one refused, then
// finishes.
func offerAll(paths ...string) func(string) func(*fakeSession) error {
	return func(outside string) func(*fakeSession) error {
		return func(f *fakeSession) error {
			for i, p := range paths {
				p = strings.ReplaceAll(p, "OUTSIDE", outside)
				if err := refused(f.file(fileSpec{id: uint32(i + 1), path: p, data: payload})); err != nil {
					return fmt.Errorf("%q: %w", p, err)
				}
			}
			return f.finish()
		}
	}
}

var hostileCases = []hostileCase{
	{name: "dotdot-file", script: offerAll("../evil", "root/../../evil", "root/a/../../../evil", "..")},
	{name: "absolute-file", script: offerAll("OUTSIDE/abs-evil", "/etc/xfer-e2e-evil", "//evil")},
	{name: "nul-and-separators", script: offerAll("evil\x00name", "root\x00/../evil", "root\\..\\..\\evil", "root//evil", "root/", ".", "")},
	{name: "reserved-name", script: offerAll(".xfer-000000000000000000000000.part", "root/.xfer-x.journal")},
	{name: "escape-names", escapes: true, script: offerAll("root/"+evilESC+"evil", "root/evil"+evilCR+"name", "\x1b[31mred")},
	{
		name: "dotdot-dir",
		script: func(outside string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				for i, p := range []string{"../evildir", outside + "/evildir", "root/../../evildir", evilESC} {
					if err := refused(f.dir(uint32(i+1), p)); err != nil {
						return fmt.Errorf("%q: %w", p, err)
					}
				}
				return f.finish()
			}
		},
	},
	{
		// A symbolic link planted in the destination that points
		// outside: os.Root must not follow it. (Onto a new name, the
		// first path element is replaced by that name, so the link is
		// not reached at all.)
		name:     "symlink-escape",
		intoOnly: true,
		script: func(string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				if err := refused(f.file(fileSpec{id: 1, path: "link/evil", data: payload})); err != nil {
					return err
				}
				if err := refused(f.dir(2, "link/evildir")); err != nil {
					return err
				}
				return f.finish()
			}
		},
	},
	{
		name:    "escape-in-errors",
		escapes: true,
		script: func(string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				// A source the sender "cannot send", then a session error.
				if err := f.c.Send(&protocol.Error{ID: 7, Code: protocol.CodeNotFound, Message: "gone" + evilESC + evilCR + ": no such file"}); err != nil {
					return err
				}
				if err := f.c.Send(&protocol.Error{ID: 8, Code: protocol.CodeIO, Message: "root/x: " + evilESC + evilCR}); err != nil {
					return err
				}
				return f.c.Send(&protocol.Error{ID: 0, Code: protocol.CodeIO, Message: "daemon failed " + evilESC + evilCR + "\n\x1b[1A"})
			}
		},
	},
	{
		// Open announces 100000 bytes (2 chunks); the daemon sends three
		// full chunks.
		name:    "larger-than-announced",
		noState: true,
		script: func(string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				if err := refused(f.file(fileSpec{id: 1, path: "root", data: bytes.Repeat([]byte{7}, 3*fakeChunk), announce: 100000})); err != nil {
					return err
				}
				return f.finish()
			}
		},
	},
	{
		name:    "bad-root",
		noState: true,
		script: func(string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				if err := refused(f.file(fileSpec{id: 1, path: "root", data: bytes.Repeat([]byte{9}, 3*fakeChunk+5), badRoot: true})); err != nil {
					return err
				}
				return f.finish()
			}
		},
	},
	{
		// End claims more frames than were sent, then the daemon goes
		// quiet with the session open: the client's idle timeout (2 s
		// here) must end the wait.
		name:     "end-claims-more-then-silence",
		idle:     "2s",
		intoOnly: true,
		script: func(string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				_, err := f.file(fileSpec{id: 1, path: "root", data: bytes.Repeat([]byte{3}, 2*fakeChunk), endExtra: 3, silent: true})
				return err
			}
		},
	},
	{
		// Listing entries whose names carry escapes, NUL, "/" and "..".
		name:    "ls-evil-names",
		op:      "ls",
		escapes: true,
		script: func(string) func(*fakeSession) error {
			return func(f *fakeSession) error {
				return sendRawEntries(f, []string{evilESC + "x", "a\rb", "..", "a/b", "nul\x00"})
			}
		},
	},
}

// sendRawEntries sends a ListEntries message with names the encoder would
// refuse: it encodes placeholders of the same length and patches them.
func sendRawEntries(f *fakeSession, names []string) error {
	var le protocol.ListEntries
	for i, n := range names {
		le.Entries = append(le.Entries, protocol.Entry{Name: strings.Repeat(string(rune('A'+i)), len(n)), Kind: protocol.EntryFile, Size: 1, Mode: 0o644})
	}
	le.Final = true
	b, err := protocol.Marshal(&le)
	if err != nil {
		return err
	}
	for i, n := range names {
		ph := []byte(strings.Repeat(string(rune('A'+i)), len(n)))
		j := bytes.Index(b, ph)
		if j < 0 {
			return errors.New("placeholder not found")
		}
		copy(b[j:], n)
	}
	if err := f.c.Channel().Send(b); err != nil {
		return err
	}
	f.c.Recv() // wait for the client to go away
	return nil
}

func TestHostileDaemon(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			for _, hc := range hostileCases {
				t.Run(hc.name, func(t *testing.T) {
					if hc.long != "" {
						needLong(t, hc.long)
					}
					if hc.bug != "" {
						skipBug(t, hc.bug)
					}
					runHostile(t, tr, hc)
				})
			}
		})
	}
}

func runHostile(t *testing.T, tr string, hc hostileCase) {
	w := newWorld(t)
	base := w.path("get")
	outside := filepath.Join(base, "outside")
	dest := filepath.Join(base, "dest")
	for _, d := range []string{outside, dest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "sentinel"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dest, "link")); err != nil {
		t.Fatal(err)
	}
	fd := startFakeDaemon(t, tr, hc.script(outside))
	before := listFiles(t, base)
	timeout := 20 * time.Second
	if hc.long != "" {
		timeout = 100 * time.Second
	}
	// Each output mode, into an existing directory and onto a new name.
	for _, mode := range []string{"json", "text"} {
		for _, target := range []string{dest, filepath.Join(dest, "new")} {
			if hc.intoOnly && target != dest {
				continue
			}
			var args []string
			if hc.op == "ls" {
				args = w.clientArgs("ls", mode == "json", "--retries", "0", "-l", remote(tr, fd.hostport, "/"))
			} else {
				args = w.clientArgs("get", mode == "json", "--retries", "0", remote(tr, fd.hostport, "root"), target)
			}
			if mode == "text" {
				args = append(args, "-v")
			}
			if hc.idle != "" {
				args = append(args, "--idle-timeout", hc.idle)
			}
			r := w.xfer(timeout, args...)
			if r.code == 0 {
				t.Errorf("%s mode: the client accepted the hostile daemon's session (exit 0)\n%s", mode, r)
			}
			for _, out := range []struct {
				name string
				b    []byte
			}{{"stderr", r.stderr}, {"stdout", r.stdout}} {
				if i := bytes.IndexAny(out.b, "\x1b\r"); i >= 0 {
					t.Errorf("%s mode: raw control byte %#x on %s at %d:\n%q", mode, out.b[i], out.name, i, out.b)
				}
			}
			if os.Getenv("XFER_E2E_DEBUG") != "" {
				t.Logf("%s", r)
			}
			if mode == "json" {
				r.events(t) // stdout is JSON lines only
			}
			if mode == "text" && hc.escapes && !bytes.Contains(r.stderr, []byte(`\x1b`)) {
				t.Errorf("text mode: the escape sequences were not shown escaped:\n%s", r)
			}
			if hc.op == "ls" {
				break
			}
		}
	}
	// Nothing was created outside the destination, and nothing but
	// directories (from Dir) inside it.
	after := listFiles(t, base)
	was := make(map[string]bool)
	for _, p := range before {
		was[p] = true
	}
	for _, p := range after {
		if was[p] {
			continue
		}
		state := strings.HasPrefix(filepath.Base(p), protocol.ReservedPrefix)
		switch fi, err := os.Lstat(filepath.Join(base, p)); {
		case !strings.HasPrefix(p, "dest"+string(filepath.Separator)):
			t.Errorf("created outside the destination: %s", p)
		case err != nil || fi.IsDir():
		case !state:
			t.Errorf("a refused file was written: %s (%v)", p, fi.Mode())
		case hc.noState:
			t.Errorf("state of a file that failed verification was kept: %s", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "sentinel")); err != nil || string(b) != "keep" {
		t.Errorf("outside/sentinel changed: %q, %v", b, err)
	}
	if _, err := os.Lstat("/etc/xfer-e2e-evil"); err == nil {
		t.Error("/etc/xfer-e2e-evil was created")
	}
}
