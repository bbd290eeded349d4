package crypto_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"xfer/crypto"
)

// pipeEnd is one end of an in-memory MessageConn pair.
type pipeEnd struct {
	in     <-chan []byte
	out    chan<- []byte
	done   chan struct{}
	once   *sync.Once
	sent   atomic.Int32
	tamper func(i int, msg []byte) []byte // applied to the i-th outgoing message (from 0)
}

func newPipe() (a, b *pipeEnd) {
	ab := make(chan []byte, 64)
	ba := make(chan []byte, 64)
	done := make(chan struct{})
	once := new(sync.Once)
	return &pipeEnd{in: ba, out: ab, done: done, once: once},
		&pipeEnd{in: ab, out: ba, done: done, once: once}
}

func (p *pipeEnd) WriteMessage(b []byte) error {
	if len(b) > crypto.MaxMessageSize {
		return errors.New("pipe: message too long")
	}
	msg := bytes.Clone(b)
	i := int(p.sent.Add(1)) - 1
	if p.tamper != nil {
		msg = p.tamper(i, msg)
	}
	select {
	case <-p.done:
		return io.ErrClosedPipe
	default:
	}
	select {
	case p.out <- msg:
		return nil
	case <-p.done:
		return io.ErrClosedPipe
	}
}

func (p *pipeEnd) ReadMessage() ([]byte, error) {
	select {
	case msg := <-p.in:
		return msg, nil
	case <-p.done:
		return nil, io.EOF
	}
}

// inject delivers msg to the other end as if it came from this end.
func (p *pipeEnd) inject(msg []byte) { p.out <- msg }

func (p *pipeEnd) Close() { p.once.Do(func() { close(p.done) }) }

// flipAt returns a tamper function flipping one bit of message n.
func flipAt(n, byteIndex int) func(int, []byte) []byte {
	return func(i int, msg []byte) []byte {
		if i == n && len(msg) > 0 {
			msg[byteIndex%len(msg)] ^= 0x10
		}
		return msg
	}
}

type hsResult struct {
	ch  *crypto.Channel
	err error
}

// handshakePair runs both sides of a handshake; a side that fails closes
// the pipe, as a real caller closes the connection.
func handshakePair(t *testing.T, client, server crypto.HandshakeConfig, cp, sp *pipeEnd) (c, s hsResult) {
	t.Helper()
	client.Initiator, server.Initiator = true, false
	var wg sync.WaitGroup
	run := func(p *pipeEnd, cfg crypto.HandshakeConfig, r *hsResult) {
		defer wg.Done()
		r.ch, r.err = crypto.Handshake(p, cfg)
		if r.err != nil {
			p.Close()
		}
	}
	wg.Add(2)
	go run(cp, client, &c)
	go run(sp, server, &s)
	wg.Wait()
	if (c.ch == nil) == (c.err == nil) || (s.ch == nil) == (s.err == nil) {
		t.Fatalf("Handshake must return exactly one of channel and error: client %v, server %v", c, s)
	}
	return c, s
}

type testPeers struct {
	clientID, serverID *crypto.Identity
	cp, sp             *pipeEnd
	client, server     *crypto.Channel
}

func connectedPair(t *testing.T) *testPeers {
	t.Helper()
	tp := &testPeers{clientID: mustGenerate(t, "client"), serverID: mustGenerate(t, "server")}
	tp.cp, tp.sp = newPipe()
	c, s := handshakePair(t,
		crypto.HandshakeConfig{Identity: tp.clientID},
		crypto.HandshakeConfig{Identity: tp.serverID}, tp.cp, tp.sp)
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake failed: client %v, server %v", c.err, s.err)
	}
	tp.client, tp.server = c.ch, s.ch
	t.Cleanup(tp.cp.Close)
	return tp
}

func TestHandshake(t *testing.T) {
	for _, binding := range [][]byte{nil, []byte("tls exporter value 32 bytes long"), bytes.Repeat([]byte{7}, 65535)} {
		clientID, serverID := mustGenerate(t, ""), mustGenerate(t, "")
		cp, sp := newPipe()
		var verified crypto.PublicKey
		var sentBeforeVerify int32
		c, s := handshakePair(t,
			crypto.HandshakeConfig{Identity: clientID, Binding: binding, VerifyPeer: func(k crypto.PublicKey) error {
				verified = k
				sentBeforeVerify = cp.sent.Load()
				return nil
			}},
			crypto.HandshakeConfig{Identity: serverID, Binding: bytes.Clone(binding)}, cp, sp)
		if c.err != nil || s.err != nil {
			t.Fatalf("binding len %d: client %v, server %v", len(binding), c.err, s.err)
		}
		if verified != serverID.Public {
			t.Errorf("VerifyPeer got %v, want the server key", verified)
		}
		if sentBeforeVerify != 1 {
			t.Errorf("client had sent %d messages when VerifyPeer ran, want 1", sentBeforeVerify)
		}
		if c.ch.PeerKey() != serverID.Public || s.ch.PeerKey() != clientID.Public {
			t.Error("peer keys do not match the identities")
		}
		hc, hs := c.ch.HandshakeHash(), s.ch.HandshakeHash()
		if len(hc) != crypto.HandshakeHashSize || !bytes.Equal(hc, hs) {
			t.Errorf("handshake hashes differ or are not %d bytes: %x / %x", crypto.HandshakeHashSize, hc, hs)
		}
		cp.Close()
	}
}

func TestHandshakeHashUnique(t *testing.T) {
	a, b := connectedPair(t), connectedPair(t)
	if bytes.Equal(a.client.HandshakeHash(), b.client.HandshakeHash()) {
		t.Error("two sessions have the same handshake hash")
	}
}

func TestHandshakeVerifyPeerRejects(t *testing.T) {
	errNotPinned := errors.New("test: host not pinned")
	clientID, serverID := mustGenerate(t, ""), mustGenerate(t, "")
	cp, sp := newPipe()
	c, s := handshakePair(t,
		crypto.HandshakeConfig{Identity: clientID, VerifyPeer: func(crypto.PublicKey) error { return errNotPinned }},
		crypto.HandshakeConfig{Identity: serverID}, cp, sp)
	if c.err != errNotPinned {
		t.Errorf("client error %v, want VerifyPeer's error as is", c.err)
	}
	if s.err == nil {
		t.Error("responder completed the handshake although the initiator aborted")
	}
	if n := cp.sent.Load(); n != 1 {
		t.Errorf("client sent %d messages, want 1 (its identity must stay hidden)", n)
	}
}

func TestHandshakeResponderVerifyPeer(t *testing.T) {
	errDenied := errors.New("test: not authorized")
	clientID, serverID := mustGenerate(t, ""), mustGenerate(t, "")
	var got crypto.PublicKey
	cp, sp := newPipe()
	_, s := handshakePair(t,
		crypto.HandshakeConfig{Identity: clientID},
		crypto.HandshakeConfig{Identity: serverID, VerifyPeer: func(k crypto.PublicKey) error { got = k; return errDenied }}, cp, sp)
	if s.err != errDenied || got != clientID.Public {
		t.Errorf("responder: %v with key %v, want VerifyPeer's error for the client key", s.err, got)
	}
}

func TestHandshakeFailures(t *testing.T) {
	appendAt := func(n int) func(int, []byte) []byte {
		return func(i int, msg []byte) []byte {
			if i == n {
				msg = append(msg, 0)
			}
			return msg
		}
	}
	truncateAt := func(n int) func(int, []byte) []byte {
		return func(i int, msg []byte) []byte {
			if i == n {
				msg = msg[:len(msg)-1]
			}
			return msg
		}
	}
	tests := []struct {
		name            string
		clientBinding   []byte
		serverBinding   []byte
		clientTamper    func(int, []byte) []byte
		serverTamper    func(int, []byte) []byte
		clientFails     bool // else the server fails
		wantErrContains string
	}{
		{name: "binding differs", clientBinding: []byte("a"), serverBinding: []byte("b"), clientFails: true},
		{name: "binding missing", clientBinding: []byte("a"), clientFails: true},
		{name: "binding prefix", clientBinding: []byte("ab"), serverBinding: []byte("a"), clientFails: true},
		{name: "msg1 ephemeral flipped", clientTamper: flipAt(0, 5), clientFails: true},
		{name: "msg1 payload", clientTamper: appendAt(0), wantErrContains: "unexpected payload"},
		{name: "msg2 ephemeral flipped", serverTamper: flipAt(0, 3), clientFails: true},
		{name: "msg2 static flipped", serverTamper: flipAt(0, 40), clientFails: true},
		{name: "msg2 tag flipped", serverTamper: flipAt(0, 95), clientFails: true},
		{name: "msg2 truncated", serverTamper: truncateAt(0), clientFails: true},
		{name: "msg2 extended", serverTamper: appendAt(0), clientFails: true},
		{name: "msg3 static flipped", clientTamper: flipAt(1, 10)},
		{name: "msg3 tag flipped", clientTamper: flipAt(1, 63)},
		{name: "msg3 truncated", clientTamper: truncateAt(1)},
		{name: "msg3 empty", clientTamper: func(i int, msg []byte) []byte {
			if i == 1 {
				return nil
			}
			return msg
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, sp := newPipe()
			cp.tamper, sp.tamper = tt.clientTamper, tt.serverTamper
			c, s := handshakePair(t,
				crypto.HandshakeConfig{Identity: mustGenerate(t, ""), Binding: tt.clientBinding},
				crypto.HandshakeConfig{Identity: mustGenerate(t, ""), Binding: tt.serverBinding}, cp, sp)
			failed := s
			if tt.clientFails {
				failed = c
			}
			if !errors.Is(failed.err, crypto.ErrHandshakeFailed) {
				t.Fatalf("client %v, server %v; want ErrHandshakeFailed on the %s", c.err, s.err,
					map[bool]string{true: "client", false: "server"}[tt.clientFails])
			}
			if s.err == nil {
				t.Error("server completed a failed handshake")
			}
			msg := failed.err.Error()
			if !strings.HasPrefix(msg, "crypto: handshake") || !strings.Contains(msg, tt.wantErrContains) {
				t.Errorf("error %q, want \"crypto: handshake...\" containing %q", msg, tt.wantErrContains)
			}
			if strings.Contains(msg, "chacha20") || strings.Contains(msg, "noise:") {
				t.Errorf("error %q leaks cryptographic detail", msg)
			}
		})
	}
}

func TestHandshakeConfigErrors(t *testing.T) {
	cp, _ := newPipe()
	if _, err := crypto.Handshake(cp, crypto.HandshakeConfig{Initiator: true}); err == nil {
		t.Error("Handshake without identity succeeded")
	}
	_, err := crypto.Handshake(cp, crypto.HandshakeConfig{Identity: mustGenerate(t, ""), Binding: make([]byte, 65536)})
	if err == nil || !strings.Contains(err.Error(), "binding") {
		t.Errorf("Handshake with 64 KiB binding: %v", err)
	}
	if n := cp.sent.Load(); n != 0 {
		t.Errorf("failed configurations sent %d messages", n)
	}
}

func TestPrologue(t *testing.T) {
	got := crypto.Prologue([]byte{0xaa, 0xbb})
	want := append([]byte("xfer/1 Noise_XX_25519_ChaChaPoly_BLAKE2b"), 0, 2, 0xaa, 0xbb)
	if !bytes.Equal(got, want) {
		t.Errorf("Prologue = %q, want %q", got, want)
	}
	if got := crypto.Prologue(nil); !bytes.Equal(got, append([]byte("xfer/1 Noise_XX_25519_ChaChaPoly_BLAKE2b"), 0, 0)) {
		t.Errorf("Prologue(nil) = %q", got)
	}
}

func TestChannelRoundTrip(t *testing.T) {
	tp := connectedPair(t)
	msgs := [][]byte{{}, []byte("hello"), bytes.Repeat([]byte{0xab}, crypto.MaxMessagePayload), []byte("after the big one")}
	for _, dir := range []struct {
		name     string
		from, to *crypto.Channel
	}{{"client to server", tp.client, tp.server}, {"server to client", tp.server, tp.client}} {
		for _, m := range msgs {
			if err := dir.from.Send(m); err != nil {
				t.Fatalf("%s: Send(%d bytes): %v", dir.name, len(m), err)
			}
			got, err := dir.to.Receive()
			if err != nil {
				t.Fatalf("%s: Receive: %v", dir.name, err)
			}
			if !bytes.Equal(got, m) {
				t.Fatalf("%s: received %d bytes, want %d", dir.name, len(got), len(m))
			}
		}
	}
}

func TestChannelWireFormat(t *testing.T) {
	tp := connectedPair(t)
	tp.cp.tamper = func(i int, msg []byte) []byte {
		if len(msg) != len("secret")+16 || bytes.Contains(msg, []byte("secret")) {
			t.Errorf("message %x is not ciphertext plus a 16-byte tag", msg)
		}
		return msg
	}
	if err := tp.client.Send([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.server.Receive(); err != nil {
		t.Fatal(err)
	}
}

func TestChannelConcurrent(t *testing.T) {
	tp := connectedPair(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, pair := range [][2]*crypto.Channel{{tp.client, tp.server}, {tp.server, tp.client}} {
		from, to := pair[0], pair[1]
		wg.Add(3)
		for g := 0; g < 2; g++ {
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					if err := from.Send([]byte{byte(i)}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		go func() {
			defer wg.Done()
			for i := 0; i < 2*n; i++ {
				if _, err := to.Receive(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestChannelSendTooLarge(t *testing.T) {
	tp := connectedPair(t)
	err := tp.client.Send(make([]byte, crypto.MaxMessagePayload+1))
	if err == nil || !strings.Contains(err.Error(), "exceeds limit 65519") {
		t.Fatalf("Send(65520 bytes) = %v, want limit error", err)
	}
	if n := tp.cp.sent.Load(); n != 2 {
		t.Errorf("client sent %d messages, want only the 2 handshake messages", n)
	}
	// The channel still works: nothing was sent and no nonce was used.
	if err := tp.client.Send([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if got, err := tp.server.Receive(); err != nil || string(got) != "ok" {
		t.Errorf("Receive after rejected Send = %q, %v", got, err)
	}
}

func TestChannelReceiveSticky(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(tp *testPeers)
	}{
		{"tampered", func(tp *testPeers) {
			tp.cp.tamper = flipAt(2, 0)
			tp.client.Send([]byte("first"))
		}},
		{"tag tampered", func(tp *testPeers) {
			tp.cp.tamper = flipAt(2, 20)
			tp.client.Send([]byte("first"))
		}},
		{"replayed", func(tp *testPeers) {
			var saved []byte
			tp.cp.tamper = func(i int, msg []byte) []byte { saved = bytes.Clone(msg); return msg }
			tp.client.Send([]byte("first"))
			if _, err := tp.server.Receive(); err != nil {
				panic(err)
			}
			tp.cp.inject(saved)
		}},
		{"reordered", func(tp *testPeers) {
			var held [][]byte
			tp.cp.tamper = func(i int, msg []byte) []byte { held = append(held, msg); return msg }
			tp.client.Send([]byte("first"))
			tp.client.Send([]byte("second"))
			<-tp.sp.in
			<-tp.sp.in
			tp.cp.inject(held[1])
			tp.cp.inject(held[0])
		}},
		{"too short", func(tp *testPeers) { tp.cp.inject(make([]byte, 15)) }},
		{"empty", func(tp *testPeers) { tp.cp.inject(nil) }},
		{"too long", func(tp *testPeers) { tp.cp.inject(make([]byte, crypto.MaxMessageSize+1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := connectedPair(t)
			tt.break_(tp)
			_, err := tp.server.Receive()
			if !errors.Is(err, crypto.ErrChannelAuth) {
				t.Fatalf("Receive = %v, want ErrChannelAuth", err)
			}
			// A genuine message afterwards is refused too.
			tp.cp.tamper = nil
			if err := tp.client.Send([]byte("genuine")); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if got, err2 := tp.server.Receive(); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("Receive after failure = %q, %v; want the first error again", got, err2)
				}
			}
		})
	}
}

func TestChannelReadErrorSticky(t *testing.T) {
	tp := connectedPair(t)
	tp.cp.Close()
	_, err := tp.server.Receive()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Receive on closed conn = %v, want io.EOF wrapped", err)
	}
	for i := 0; i < 2; i++ {
		if _, err2 := tp.server.Receive(); err2 != err {
			t.Errorf("Receive after read error = %v, want %v", err2, err)
		}
	}
	if err := tp.client.Send([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Send on closed conn = %v", err)
	}
	if err := tp.client.Send([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("second Send on closed conn = %v, want the same error", err)
	}
}
