package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// QUIC-specific behaviour: TLS settings, limits, hostile peers.

func listenQUIC(t testing.TB, opts *QUICOptions) Listener {
	t.Helper()
	l, err := ListenQUIC("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dialQUIC(addr string, opts *QUICOptions) (Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return DialQUIC(ctx, addr, opts)
}

// rawQUICClient connects to an xfer QUIC listener with plain quic-go, so
// that tests can misbehave; mod may adjust the TLS configuration.
func rawQUICClient(t testing.TB, addr string, mod func(*tls.Config)) *quic.Conn {
	t.Helper()
	conn, err := dialRawQUIC(addr, mod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return conn
}

func dialRawQUIC(addr string, mod func(*tls.Config)) (*quic.Conn, error) {
	tc := quicClientTLS()
	if mod != nil {
		mod(tc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return quic.DialAddr(ctx, addr, tc, &quic.Config{HandshakeIdleTimeout: 5 * time.Second})
}

// acceptWithControl opens conn's control stream, greets, and returns the
// listener's session for it and the stream.
func acceptWithControl(t testing.TB, l Listener, conn *quic.Conn) (Session, *quic.Stream) {
	t.Helper()
	ctrl, err := conn.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write([]byte{0, 2, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	s, err := acceptTimeout(l, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if m, err := s.ReadMessage(); err != nil || string(m) != "hi" {
		t.Fatalf("greeting: %q, %v", m, err)
	}
	return s, ctrl
}

func acceptTimeout(l Listener, d time.Duration) (Session, error) {
	type result struct {
		s   Session
		err error
	}
	c := make(chan result, 1)
	go func() {
		s, err := l.Accept()
		c <- result{s, err}
	}()
	select {
	case r := <-c:
		return r.s, r.err
	case <-time.After(d):
		return nil, errors.New("accept timed out")
	}
}

func connectAndClose(t testing.TB, k kind, l Listener) error {
	c, s, err := tryConnect(t, k, l)
	if err == nil {
		c.Close()
		s.Close()
	}
	return err
}

// eventually retries f until it succeeds or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	var err error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func TestQUICTLS(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, nil)

	tickets := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	conn := rawQUICClient(t, l.Addr().String(), func(c *tls.Config) {
		c.SessionTicketsDisabled = false
		c.ClientSessionCache = tickets
	})
	s, ctrl := acceptWithControl(t, l, conn)
	st := conn.ConnectionState()
	if st.TLS.Version != tls.VersionTLS13 || st.TLS.NegotiatedProtocol != QUICALPN {
		t.Fatalf("TLS version %#x, ALPN %q", st.TLS.Version, st.TLS.NegotiatedProtocol)
	}
	if st.TLS.DidResume || st.Used0RTT {
		t.Fatal("resumption or 0-RTT used")
	}
	// Tickets would follow the handshake; wait for a round trip and more.
	if err := s.WriteMessage([]byte("x")); err != nil {
		t.Fatal(err)
	}
	var buf [3]byte
	if _, err := io.ReadFull(ctrl, buf[:]); err != nil || string(buf[2:]) != "x" {
		t.Fatalf("%q, %v", buf, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := tickets.puts.Load(); n != 0 {
		t.Fatalf("listener issued %d session tickets", n)
	}

	// The client binds to the same exporter the raw connection sees.
	b, err := st.TLS.ExportKeyingMaterial(QUICBindingLabel, nil, QUICBindingSize)
	if err != nil || !bytes.Equal(b, s.Binding()) {
		t.Fatalf("binding %x, exporter %x (%v)", s.Binding(), b, err)
	}

	// A client that does not speak xfer/1 fails the TLS handshake.
	if _, err := dialRawQUIC(l.Addr().String(), func(c *tls.Config) { c.NextProtos = []string{"h3"} }); err == nil {
		t.Fatal("client with ALPN h3 connected")
	}
}

type countingCache struct {
	tls.ClientSessionCache
	puts atomic.Int64
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts.Add(1)
	}
	c.ClientSessionCache.Put(key, cs)
}

func TestQUICConnLimit(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, &QUICOptions{MaxConns: 2})
	k := kind{name: "quic", dial: func(_ testing.TB, addr string) (Session, error) { return dialQUIC(addr, nil) }}
	c1, _ := connect(t, k, l)
	connect(t, k, l)
	if s, err := dialQUIC(l.Addr().String(), nil); err == nil {
		s.Close()
		t.Fatal("third connection admitted with MaxConns 2")
	} else {
		t.Logf("third connection: %v", err)
	}
	c1.Close()
	eventually(t, 5*time.Second, "connection after one closed", func() error {
		return connectAndClose(t, k, l)
	})
}

// TestQUICSilentClient: a client that completes the QUIC handshake but
// never opens its control stream holds a handshake slot only until the
// handshake timeout.
func TestQUICSilentClient(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, &QUICOptions{MaxHandshakes: 1, HandshakeTimeout: 500 * time.Millisecond})
	silent := rawQUICClient(t, l.Addr().String(), nil)
	if s, err := dialQUIC(l.Addr().String(), nil); err == nil {
		s.Close()
		t.Fatal("second pending handshake admitted with MaxHandshakes 1")
	}
	select {
	case <-silent.Context().Done():
		var ae *quic.ApplicationError
		if err := context.Cause(silent.Context()); !errors.As(err, &ae) || ae.ErrorCode != quicCodeNoControl {
			t.Fatalf("silent client closed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("silent client still connected")
	}
	k := kind{name: "quic", dial: func(_ testing.TB, addr string) (Session, error) { return dialQUIC(addr, nil) }}
	eventually(t, 5*time.Second, "connection after the silent one left", func() error {
		return connectAndClose(t, k, l)
	})
}

// TestQUICStreamFlood: before ReadFrame, a peer can open only
// MaxIncomingStreams data streams and make the session buffer at most the
// initial connection window, and it cannot open a second bidirectional
// stream.
func TestQUICStreamFlood(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, nil)
	conn := rawQUICClient(t, l.Addr().String(), nil)
	acceptWithControl(t, l, conn)

	if _, err := conn.OpenStream(); err == nil {
		t.Fatal("second bidirectional stream opened")
	}
	var streams []*quic.SendStream
	for {
		str, err := conn.OpenUniStream()
		if err != nil {
			var limit *quic.StreamLimitReachedError
			if !errors.As(err, &limit) {
				t.Fatal(err)
			}
			break
		}
		streams = append(streams, str)
		if len(streams) > 1000 {
			t.Fatal("no stream limit")
		}
	}
	if len(streams) != DefaultMaxIncomingStreams {
		t.Fatalf("peer opened %d data streams, want %d", len(streams), DefaultMaxIncomingStreams)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	junk := make([]byte, 1<<20)
	for _, str := range streams {
		wg.Go(func() {
			str.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			for {
				n, err := str.Write(junk)
				total.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	// quic-go's Write returns once the data is queued, which can run
	// ahead of the peer's window by one write per stream.
	if got, limit := total.Load(), int64(quicInitialConnWindow+len(streams)*len(junk)); got > limit {
		t.Fatalf("peer wrote %d bytes before ReadFrame, limit %d", got, limit)
	} else {
		t.Logf("peer wrote %d bytes before being blocked", got)
	}
}

// TestQUICStreamsBeyondPeerLimit: a sender configured for more streams
// than the receiver allows uses only as many as it may.
func TestQUICStreamsBeyondPeerLimit(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, &QUICOptions{MaxIncomingStreams: 2})
	k := kind{name: "quic", dial: func(_ testing.TB, addr string) (Session, error) {
		return dialQUIC(addr, &QUICOptions{Streams: 8})
	}}
	client, server := connect(t, k, l)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				hdr, ct := testFrame(uint64(w*each+i), 3000*i)
				if err := client.WriteFrame(hdr, ct); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range writers * each {
		f, err := server.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if err := checkFrame(f); err != nil {
			t.Fatal(err)
		}
		f.Release()
	}
	wg.Wait()
}

// TestQUICGarbageDatagrams: random datagrams, some shaped like QUIC
// Initial packets, do not stop a real client from connecting.
func TestQUICGarbageDatagrams(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, nil)
	var conns []*net.UDPConn
	for range 4 {
		c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i := range 3000 {
		var b []byte
		switch i % 3 {
		case 0: // anything
			b = make([]byte, 1+i%1500)
			rand.Read(b)
		case 1: // a long header, version 1, Initial, random connection IDs
			b = make([]byte, 1200)
			rand.Read(b)
			b[0] = 0xc0 | b[0]&0x0f
			binary.BigEndian.PutUint32(b[1:], 1)
			b[5] = 8 + b[5]%13
		case 2: // a short header
			b = make([]byte, 60)
			rand.Read(b)
			b[0] = 0x40 | b[0]&0x3f
		}
		conns[i%len(conns)].Write(b)
	}
	k := kind{name: "quic", dial: func(_ testing.TB, addr string) (Session, error) { return dialQUIC(addr, nil) }}
	client, server := connect(t, k, l)
	if err := server.WriteMessage([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	if m, err := client.ReadMessage(); err != nil || string(m) != "still here" {
		t.Fatalf("%q, %v", m, err)
	}
	ql := l.(*quicListener)
	ql.mu.Lock()
	pending, conns2 := ql.pending, ql.conns
	ql.mu.Unlock()
	if pending > DefaultMaxHandshakes || conns2 > DefaultMaxConns {
		t.Fatalf("%d pending, %d connections: over the limits", pending, conns2)
	}
	t.Logf("after the flood: %d pending handshakes, %d connections", pending, conns2)
}

// TestQUICListenerClose: closing a listener refuses new sessions but keeps
// accepted ones running.
func TestQUICListenerClose(t *testing.T) {
	t.Parallel()
	l, err := ListenQUIC("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	k := kind{name: "quic", dial: func(_ testing.TB, addr string) (Session, error) { return dialQUIC(addr, nil) }}
	client, server := connect(t, k, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if s, err := dialQUIC(l.Addr().String(), &QUICOptions{HandshakeTimeout: 500 * time.Millisecond}); err == nil {
		s.Close()
		t.Fatal("dial after listener Close succeeded")
	}
	if err := client.WriteMessage([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if m, err := server.ReadMessage(); err != nil || string(m) != "ping" {
		t.Fatalf("%q, %v", m, err)
	}
	hdr, ct := testFrame(5, 1000)
	if err := server.WriteFrame(hdr, ct); err != nil {
		t.Fatal(err)
	}
	f, err := client.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	f.Release()
	server.Close()
	client.Close()
	// The socket closes with the last session: the port can be reused.
	l2, err := ListenQUIC(l.Addr().String(), nil)
	if err != nil {
		t.Fatalf("port still in use after the last session closed: %v", err)
	}
	l2.Close()
}

// TestQUICPeerResetsDataStream: a data stream reset by the sender fails
// ReadFrame.
func TestQUICPeerResetsDataStream(t *testing.T) {
	t.Parallel()
	l := listenQUIC(t, nil)
	conn := rawQUICClient(t, l.Addr().String(), nil)
	s, _ := acceptWithControl(t, l, conn)
	hdr, ct := testFrame(1, 1000)
	str, err := conn.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	str.Write(hdr)
	str.Write(ct[:10])
	str.CancelWrite(7)
	err = wantErr(t, "ReadFrame", readFrameErr(s))
	var se *quic.StreamError
	if !errors.As(err, &se) || se.ErrorCode != 7 {
		t.Fatalf("ReadFrame: %v, want the stream reset", err)
	}
}

// TestQUICPeerCloseIsEOF: a peer's Close ends reads with io.EOF as soon as
// its FINs arrive, after the frames it sent, without waiting for the
// connection to close; closing in response ends the peer's Close.
func TestQUICPeerCloseIsEOF(t *testing.T) {
	t.Parallel()
	client, server := pair(t, kinds[1])
	// Only the FIN path, not the timer, can end this Close in time.
	client.(*quicSession).linger = time.Minute
	const n = 10
	for i := range n {
		hdr, ct := testFrame(uint64(i), 5000)
		if err := client.WriteFrame(hdr, ct); err != nil {
			t.Fatal(err)
		}
	}
	closed := readResult(client.Close)
	for i := range n {
		f, err := server.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		f.Release()
	}
	if _, err := server.ReadFrame(); err != io.EOF {
		t.Fatalf("ReadFrame after the peer closed: %v, want io.EOF", err)
	}
	if _, err := server.ReadMessage(); err != io.EOF {
		t.Fatalf("ReadMessage after the peer closed: %v, want io.EOF", err)
	}
	server.Close()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the peer's Close waited for its timer")
	}
	if err := server.WriteMessage([]byte("x")); err == nil {
		t.Fatal("WriteMessage after Close succeeded")
	}
}

// TestQUICWriteAfterPeerClosed: writes to a peer that has closed the
// connection fail.
func TestQUICWriteAfterPeerClosed(t *testing.T) {
	t.Parallel()
	client, server := pair(t, kinds[1])
	client.Close()
	eventually(t, 10*time.Second, "write after the peer closed", func() error {
		if err := server.WriteMessage([]byte("x")); !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("WriteMessage: %v", err)
		}
		return nil
	})
	hdr, ct := testFrame(1, 10)
	if err := server.WriteFrame(hdr, ct); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteFrame after the peer closed: %v", err)
	}
}

func TestQUICOptionsDefaults(t *testing.T) {
	t.Parallel()
	var o *QUICOptions
	d := o.withDefaults()
	if d.Streams != DefaultQUICStreams || d.MaxIncomingStreams != DefaultMaxIncomingStreams ||
		d.MaxConns != DefaultMaxConns || d.MaxHandshakes != DefaultMaxHandshakes ||
		d.HandshakeTimeout != DefaultHandshakeTimeout || d.IdleTimeout != DefaultIdleTimeout || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
	c := d.quicConfig(true)
	if c.Allow0RTT || c.MaxIncomingStreams != 1 || c.MaxIncomingUniStreams != DefaultMaxIncomingStreams ||
		c.KeepAlivePeriod == 0 || c.MaxIdleTimeout != DefaultIdleTimeout {
		t.Fatalf("server config: %+v", c)
	}
	if c := d.quicConfig(false); c.MaxIncomingStreams >= 0 {
		t.Fatalf("client accepts %d bidirectional streams", c.MaxIncomingStreams)
	}
	big := (&QUICOptions{Streams: 1 << 20}).withDefaults()
	if big.Streams != maxQUICStreams {
		t.Fatalf("Streams not capped: %d", big.Streams)
	}
}

// TestUDPBufferWarning: a socket with small buffers produces one warning
// per process, naming the fix.
func TestUDPBufferWarning(t *testing.T) {
	udpWarnOnce = sync.Once{}
	t.Cleanup(func() { udpWarnOnce = sync.Once{} })
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadBuffer(64 << 10)
	c.SetWriteBuffer(64 << 10)
	rd, wr, err := udpBufferSizes(c)
	if err != nil {
		t.Fatal(err)
	}
	if rd <= 0 || wr <= 0 || rd >= udpBufferSize {
		t.Fatalf("buffer sizes %d, %d", rd, wr)
	}
	checkUDPBuffers(c, log)
	checkUDPBuffers(c, log)
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings:\n%s", n, out)
	}
	if runtime.GOOS == "linux" && !strings.Contains(out, "sysctl -w net.core.rmem_max=8388608 net.core.wmem_max=8388608") {
		t.Fatalf("warning without the fix:\n%s", out)
	}
	t.Log(out)
}

// BenchmarkBareQUICStream copies 256 MiB over one plain quic-go stream with
// the same configuration and sockets as the transport: the ceiling for
// BenchmarkSessionThroughput/quic.
func BenchmarkBareQUICStream(b *testing.B) {
	const total = 256 << 20
	o := (&QUICOptions{}).withDefaults()
	sconn, err := listenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	str := &quic.Transport{Conn: sconn}
	defer func() { str.Close(); sconn.Close() }()
	tlsConf, err := quicServerTLS()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := str.Listen(tlsConf, o.quicConfig(true))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cconn, err := listenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		b.Fatal(err)
	}
	ctr := &quic.Transport{Conn: cconn}
	defer func() { ctr.Close(); cconn.Close() }()
	ctx := context.Background()
	client, err := ctr.Dial(ctx, sconn.LocalAddr(), quicClientTLS(), o.quicConfig(false))
	if err != nil {
		b.Fatal(err)
	}
	defer client.CloseWithError(0, "")
	server, err := ln.Accept(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer server.CloseWithError(0, "")
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	rbuf := make([]byte, 1<<20)
	b.SetBytes(total)
	for b.Loop() {
		w, err := client.OpenUniStream()
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range total / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			w.Close()
		}()
		r, err := server.AcceptUniStream(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, rbuf)
		if err != nil || n != total {
			b.Fatalf("copied %d bytes: %v", n, err)
		}
	}
}

// TestQUICStatelessResetAfterRestart: a daemon killed without a word and
// restarted on the same port with the same reset key resets its previous
// run's connections, so the client fails at once instead of after the
// idle timeout (15 s).
func TestQUICStatelessResetAfterRestart(t *testing.T) {
	key := [32]byte{1, 2, 3}
	l, err := ListenQUIC("127.0.0.1:0", &QUICOptions{StatelessResetKey: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	client, err := dialQUIC(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.WriteMessage([]byte("hello")); err != nil { // the client speaks first
		t.Fatal(err)
	}
	srv, err := acceptTimeout(l, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.ReadMessage(); err != nil {
		t.Fatal(err)
	}

	// The daemon dies: its socket goes away under quic-go, nothing is sent.
	l.(*quicListener).udp.Close()
	l2, err := ListenQUIC(addr, &QUICOptions{StatelessResetKey: &key})
	if err != nil {
		t.Fatalf("restarting on %s: %v", addr, err)
	}
	defer l2.Close()

	// Bounded: 500 writes 20 ms apart, well below the 15 s idle timeout.
	// quic-go answers only packets longer than a possible reset (about 40
	// bytes) with a reset, so each write fills a packet of its own, as
	// chunk data does.
	msg := bytes.Repeat([]byte("anyone? "), 128)
	for range 500 {
		err := client.WriteMessage(msg)
		if err == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var reset *quic.StatelessResetError
		if !errors.As(err, &reset) {
			t.Fatalf("client error %v, want a stateless reset", err)
		}
		return
	}
	t.Fatal("the client's session survived 10 s of writes to a restarted daemon")
}
