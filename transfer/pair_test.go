package transfer_test

// Shared helpers of the engine tests: real sessions on 127.0.0.1 over TCP
// and QUIC with the real Noise handshake, a runner for Send and Receive,
// deterministic content, and file checks. Nothing of ours is mocked.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
	"xfer/transfer"
	"xfer/transport"
)

// transports are the transports every engine test runs over.
var transports = []string{"tcp", "quic"}

// cs is the chunk size of the engine tests: the smallest allowed, so that
// multi-chunk files stay small.
const cs = protocol.MinChunkSize

// testTimeout bounds one transfer; reaching it means the engine hung.
const testTimeout = 30 * time.Second

var quietLog = slog.New(slog.DiscardHandler)

// connPair connects a client and a daemon over kind ("tcp" or "quic") on
// 127.0.0.1, runs the Noise handshake between two fresh identities (the
// client initiates and pins the daemon's key; the daemon checks the
// client's), and returns the client's end as the sender and the daemon's
// as the receiver, as for xfer send. Both are closed at cleanup.
func connPair(tb testing.TB, kind string) (snd, rcv *transfer.Conn) {
	tb.Helper()
	cid, err := crypto.GenerateIdentity("client")
	if err != nil {
		tb.Fatal(err)
	}
	sid, err := crypto.GenerateIdentity("daemon")
	if err != nil {
		tb.Fatal(err)
	}
	qopts := &transport.QUICOptions{Logger: quietLog}
	var ln transport.Listener
	switch kind {
	case "tcp":
		ln, err = transport.ListenTCP("127.0.0.1:0")
	case "quic":
		ln, err = transport.ListenQUIC("127.0.0.1:0", qopts)
	default:
		tb.Fatalf("unknown transport %q", kind)
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close() // accepted sessions outlive the listener

	type accepted struct {
		s   transport.Session
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		s, err := ln.Accept()
		acc <- accepted{s, err}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cs transport.Session
	switch kind {
	case "tcp":
		cs, err = transport.DialTCP(ln.Addr().String(), 10*time.Second)
	case "quic":
		cs, err = transport.DialQUIC(ctx, ln.Addr().String(), qopts)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs.Close() })
	deadline := time.Now().Add(protocol.HandshakeTimeout)
	cs.SetDeadline(deadline)

	// The client speaks first; on QUIC the listener hands out the
	// session only once the client's control stream carries data.
	type shook struct {
		ch  *crypto.Channel
		err error
	}
	cch := make(chan shook, 1)
	go func() {
		ch, err := crypto.Handshake(cs, crypto.HandshakeConfig{
			Initiator: true,
			Identity:  cid,
			Binding:   cs.Binding(),
			VerifyPeer: func(k crypto.PublicKey) error {
				if k != sid.Public {
					return errors.New("unexpected daemon key")
				}
				return nil
			},
		})
		cch <- shook{ch, err}
	}()
	var a accepted
	select {
	case a = <-acc:
	case <-ctx.Done():
		tb.Fatal("accept timed out")
	}
	if a.err != nil {
		tb.Fatal(a.err)
	}
	ss := a.s
	tb.Cleanup(func() { ss.Close() })
	ss.SetDeadline(deadline)
	sch, err := crypto.Handshake(ss, crypto.HandshakeConfig{
		Identity: sid,
		Binding:  ss.Binding(),
		VerifyPeer: func(k crypto.PublicKey) error {
			if k != cid.Public {
				return errors.New("unexpected client key")
			}
			return nil
		},
	})
	if err != nil {
		tb.Fatalf("daemon handshake: %v", err)
	}
	c := <-cch
	if c.err != nil {
		tb.Fatalf("client handshake: %v", c.err)
	}
	if !bytes.Equal(c.ch.HandshakeHash(), sch.HandshakeHash()) {
		tb.Fatal("handshake hashes differ")
	}
	cs.SetDeadline(time.Time{})
	ss.SetDeadline(time.Time{})
	return transfer.NewConn(cs, c.ch), transfer.NewConn(ss, sch)
}

// recorder collects what Hooks report; safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	results  []transfer.FileResult
	progress atomic.Uint64
}

// hooks returns Hooks that record and then forward to next (may be nil).
func (r *recorder) hooks(next *transfer.Hooks) *transfer.Hooks {
	h := &transfer.Hooks{
		Progress: func(p string, n uint64) {
			r.progress.Add(n)
			if next != nil && next.Progress != nil {
				next.Progress(p, n)
			}
		},
		File: func(res transfer.FileResult) {
			r.mu.Lock()
			r.results = append(r.results, res)
			r.mu.Unlock()
			if next != nil && next.File != nil {
				next.File(res)
			}
		},
	}
	if next != nil {
		h.Begin = next.Begin
	}
	return h
}

// all returns the recorded results.
func (r *recorder) all() []transfer.FileResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results)
}

// result returns the one result recorded for wire path p.
func (r *recorder) result(tb testing.TB, p string) transfer.FileResult {
	tb.Helper()
	var found []transfer.FileResult
	for _, res := range r.all() {
		if res.Path == p {
			found = append(found, res)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%d results for %q, want 1; all: %s", len(found), p, describe(r.all()))
	}
	return found[0]
}

// last returns the last result recorded for wire path p.
func (r *recorder) last(tb testing.TB, p string) transfer.FileResult {
	tb.Helper()
	all := r.all()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Path == p {
			return all[i]
		}
	}
	tb.Fatalf("no result for %q; all: %s", p, describe(all))
	return transfer.FileResult{}
}

func describe(rs []transfer.FileResult) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n\t%q dir=%v size=%d resumed=%d wire=%d skipped=%v err=%v (code %d)",
			r.Path, r.Dir, r.Size, r.ResumedBytes, r.WireBytes, r.Skipped, r.Err, r.Code())
	}
	return b.String()
}

// outcome is what one run of Send and Receive produced.
type outcome struct {
	send, recv       transfer.Stats
	sendErr, recvErr error
	sent, got        *recorder
}

// run describes one transfer: the top-level names under src to walk
// (their wire paths are the names), and the options of both sides.
// ChunkSize defaults to cs and ReceiveOptions.Root to dst.
type run struct {
	kind  string
	src   string
	names []string
	dst   string
	sopt  transfer.SendOptions
	ropt  transfer.ReceiveOptions
	// onConn, when set, is called with both ends before the transfer
	// starts (to close them from a hook, say).
	onConn func(snd, rcv *transfer.Conn)
	// leakOK turns off the check that no error the sender got from the
	// receiver names the receiver's own directory (for a known bug).
	leakOK bool
}

// do runs Send and Receive concurrently over a fresh session and waits
// for both, failing the test if either is still running after
// testTimeout.
func (r run) do(tb testing.TB) outcome {
	tb.Helper()
	return r.start(tb)()
}

// start begins the transfer and returns the function that waits for it.
// Call both from the test's goroutine.
func (r run) start(tb testing.TB) (wait func() outcome) {
	tb.Helper()
	snd, rcv := connPair(tb, r.kind)
	if r.onConn != nil {
		r.onConn(snd, rcv)
	}
	if r.sopt.ChunkSize == 0 {
		r.sopt.ChunkSize = cs
	}
	if r.ropt.ChunkSize == 0 {
		r.ropt.ChunkSize = r.sopt.ChunkSize
	}
	openRoot := func(dir string) *os.Root {
		root, err := os.OpenRoot(dir)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { root.Close() })
		return root
	}
	if r.ropt.Root == nil {
		r.ropt.Root = openRoot(r.dst)
	}
	// Items open their files through srcRoot later: it stays open until
	// the test ends.
	srcRoot := openRoot(r.src)
	o := &outcome{sent: &recorder{}, got: &recorder{}}
	r.sopt.Hooks = o.sent.hooks(r.sopt.Hooks)
	r.ropt.Hooks = o.got.hooks(r.ropt.Hooks)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	tb.Cleanup(cancel)
	items := make(chan transfer.Item)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(items)
		for _, n := range r.names {
			if !transfer.Walk(srcRoot, n, n, items, stop) {
				return
			}
		}
	})
	wg.Go(func() {
		o.recv, o.recvErr = transfer.Receive(ctx, rcv, r.ropt)
		rcv.Close()
	})
	wg.Go(func() {
		o.send, o.sendErr = transfer.Send(ctx, snd, items, r.sopt)
		close(stop)
		snd.Close()
	})
	return func() outcome {
		tb.Helper()
		wg.Wait()
		if ctx.Err() != nil {
			tb.Fatalf("transfer did not finish within %v (send: %v, receive: %v)", testTimeout, o.sendErr, o.recvErr)
		}
		// Messages from the peer must not reveal where it keeps files.
		if abs, err := filepath.Abs(r.dst); err == nil && !r.leakOK {
			for _, res := range o.sent.all() {
				if res.Err != nil && strings.Contains(res.Err.Error(), abs) {
					tb.Errorf("the receiver's error for %q names its directory: %q", res.Path, res.Err)
				}
			}
		}
		return *o
	}
}

// mustSucceed fails the test unless both sides ended the session cleanly.
func (o outcome) mustSucceed(tb testing.TB) {
	tb.Helper()
	if o.sendErr != nil || o.recvErr != nil {
		tb.Fatalf("session failed: send: %v; receive: %v\nsender results:%s\nreceiver results:%s",
			o.sendErr, o.recvErr, describe(o.sent.all()), describe(o.got.all()))
	}
}

// randomData returns n deterministic incompressible bytes.
func randomData(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	r := rand.NewChaCha8(s)
	b := make([]byte, n)
	r.Read(b)
	return b
}

var words = strings.Fields(`the quick brown fox jumps over a lazy dog while
xfer moves files between machines securely fast and without ever losing or
corrupting a byte every chunk is hashed compressed when that pays and sealed
before it leaves the process func return package import struct error nil`)

// textData returns n deterministic bytes of text-like, compressible
// content.
func textData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	var b bytes.Buffer
	b.Grow(n + 64)
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// writeFile creates a source file with the given content, mode and mtime.
func writeFile(tb testing.TB, name string, data []byte, mode fs.FileMode, mtime time.Time) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(name, mtime, mtime); err != nil {
		tb.Fatal(err)
	}
}

// checkFile fails unless name holds exactly data with mode and mtime.
func checkFile(tb testing.TB, name string, data []byte, mode fs.FileMode, mtime time.Time) {
	tb.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		tb.Fatalf("destination: %v", err)
	}
	if !bytes.Equal(got, data) {
		tb.Fatalf("%s: content differs: %d bytes, want %d (first difference at %d)", name, len(got), len(data), firstDiff(got, data))
	}
	fi, err := os.Lstat(name)
	if err != nil {
		tb.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode {
		tb.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
	}
	if !fi.ModTime().Equal(mtime) {
		tb.Errorf("%s: mtime %v, want %v", name, fi.ModTime(), mtime)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// mustNotExist fails if name exists.
func mustNotExist(tb testing.TB, name string) {
	tb.Helper()
	if fi, err := os.Lstat(name); err == nil {
		tb.Fatalf("%s exists (%v, %d bytes); directory holds %v", name, fi.Mode(), fi.Size(), listDir(filepath.Dir(name)))
	} else if !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

func listDir(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// partialOf returns the partial and journal paths for the destination
// file name.
func partialOf(name string) (part, journal string) {
	p, j := transfer.PartialNames(filepath.Base(name))
	return filepath.Join(filepath.Dir(name), p), filepath.Join(filepath.Dir(name), j)
}

// rootOf returns the file root of data, computed by chunk.HashFile as
// xfer hash does.
func rootOf(tb testing.TB, data []byte) crypto.Hash {
	tb.Helper()
	root, err := chunk.HashFile(bytes.NewReader(data), uint64(len(data)), cs, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// frameBytes is the wire size of one frame of a chunk of n bytes sent
// raw.
func frameBytes(n int) uint64 {
	return uint64(protocol.ChunkHeaderSize + protocol.HashSize + n + protocol.TagSize)
}

// rawWire is what a file of size bytes costs on the wire when every chunk
// goes raw.
func rawWire(size int) uint64 {
	var w uint64
	for i := uint64(0); i < chunk.Count(uint64(size), cs); i++ {
		w += frameBytes(int(chunk.Len(uint64(size), cs, i)))
	}
	return w
}

// noLeftovers fails if any partial or journal remains under dir.
func noLeftovers(tb testing.TB, dir string) {
	tb.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), protocol.ReservedPrefix) {
			tb.Errorf("leftover state file %s", p)
		}
		return nil
	})
}

// openRootT opens dir as an os.Root closed at cleanup.
func openRootT(tb testing.TB, dir string) *os.Root {
	tb.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { root.Close() })
	return root
}

// atomic64 is a counter hooks share.
type atomic64 struct{ v atomic.Uint64 }

func (a *atomic64) add(n uint64) uint64 { return a.v.Add(n) }
func (a *atomic64) load() uint64        { return a.v.Load() }

// knownBug skips t, naming an engine bug not fixed yet, unless the
// environment sets XFER_KNOWN_BUGS=1: then the test runs, to check
// whether the bug is gone.
//
//	XFER_KNOWN_BUGS=1 go test ./transfer -run 'Busy|Hostile|NoSpace' -v
func knownBug(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("XFER_KNOWN_BUGS") == "" {
		t.Skip(msg)
	}
	t.Log(msg)
}
