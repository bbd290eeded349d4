package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"xfer/crypto"
	"xfer/protocol"
	"xfer/transport"
)

// Daemon robustness (issues 3 and 4): garbage and half-finished
// connections on the daemon's TCP and UDP ports. While they are held open,
// and after they are gone, a normal client must still succeed promptly over
// both transports, and the daemon must not exit.

// attack does something nasty to a daemon and returns a function that
// releases whatever it holds open.
type attack func(t *testing.T, d *daemon, rng *rand.Rand) (release func())

type robustCase struct {
	name   string
	attack attack
	// settle is how long to wait after the attack before the client
	// runs (for attacks that are meant to be cleaned up by a timeout).
	settle time.Duration
	// limit bounds each client run; retries is its --retries.
	limit   time.Duration
	retries string
	bug     string
}

const prompt = 8 * time.Second

var robustCases = []robustCase{
	{name: "tcp-random-bytes", attack: tcpRandomBytes, limit: prompt, retries: "0"},
	{name: "tcp-half-open", attack: tcpHold(16, nil), limit: prompt, retries: "0"},
	{name: "tcp-half-record", attack: tcpHold(16, []byte{protocol.RecordMessage, 0, 32, 1, 2, 3}), limit: prompt, retries: "0"},
	{name: "tcp-half-handshake", attack: halfHandshakes("tcp", 16), limit: prompt, retries: "0"},
	{
		// A chunk-frame record before the handshake, on more connections
		// than the daemon admits unauthenticated (32), then closed. The
		// 10 s handshake deadline must free their slots.
		name:    "tcp-frame-before-handshake",
		attack:  tcpFrameFirst(40),
		settle:  protocol.HandshakeTimeout + 2*time.Second,
		limit:   prompt,
		retries: "0",
	},
	{
		// More idle connections than the daemon admits unauthenticated
		// (32): the client is refused until the handshake deadline (10 s)
		// frees them; its retries must carry it through.
		name:    "tcp-over-handshake-cap",
		attack:  tcpHold(40, nil),
		limit:   40 * time.Second,
		retries: "8",
	},
	{name: "udp-garbage", attack: udpGarbage, limit: prompt, retries: "0"},
	{name: "quic-half-open", attack: quicHold(6), limit: prompt, retries: "0"},
	{name: "quic-half-handshake", attack: halfHandshakes("quic", 6), limit: prompt, retries: "0"},
	// Data streams full of chunk frames before any handshake: the daemon
	// must not read (or buffer beyond flow control) what an
	// unauthenticated peer sends.
	{name: "quic-frames-before-handshake", attack: quicFramesFirst(4), limit: prompt, retries: "0"},
	{
		// More QUIC connections without a control stream than pending
		// handshake slots (16): refused until they time out (10 s).
		name:    "quic-over-handshake-cap",
		attack:  quicHold(20),
		limit:   40 * time.Second,
		retries: "8",
	},
}

func TestDaemonRobustness(t *testing.T) {
	t.Parallel()
	for i, rc := range robustCases {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			if rc.bug != "" {
				skipBug(t, rc.bug)
			}
			w := newWorld(t)
			root := w.path("root")
			d := w.startDaemon(root)
			src := w.path("src", "f.bin")
			writeRandom(t, src, 1<<20, 5)
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			release := rc.attack(t, d, rng)
			defer release()
			time.Sleep(rc.settle)
			client := func(tr, dest string) {
				t.Helper()
				r := w.xfer(rc.limit+5*time.Second, w.clientArgs("send", true, "--retries", rc.retries, src, d.addr(tr, dest))...)
				if r.code != 0 || r.elapsed > rc.limit {
					t.Errorf("over %s the client did not succeed within %v:\n%s", tr, rc.limit, r)
					return
				}
				t.Logf("%s: %v", tr, r.elapsed.Round(time.Millisecond))
				sameFile(t, src, root+"/"+dest)
			}
			for _, tr := range transports {
				client(tr, "during-"+tr)
			}
			d.alive()
			release()
			for _, tr := range transports {
				client(tr, "after-"+tr)
			}
			d.alive()
		})
	}
}

// tcpRandomBytes opens 32 connections, writes 64 KiB of random bytes on
// each and closes them. The first byte is never 0x02 (a chunk-frame
// record), which tcp-frame-before-handshake covers on its own.
func tcpRandomBytes(t *testing.T, d *daemon, rng *rand.Rand) func() {
	var wg sync.WaitGroup
	for range 32 {
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if buf[0] == protocol.FrameChunk {
			buf[0] = 0xff
		}
		wg.Go(func() {
			c, err := net.Dial("tcp", d.hostport())
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write(buf)
			c.Close()
		})
	}
	wg.Wait()
	return func() {}
}

// tcpHold opens n connections, writes prefix on each, and holds them open
// until released.
func tcpHold(n int, prefix []byte) attack {
	return func(t *testing.T, d *daemon, _ *rand.Rand) func() {
		var conns []net.Conn
		for range n {
			c, err := net.Dial("tcp", d.hostport())
			if err != nil {
				t.Fatal(err)
			}
			if len(prefix) > 0 {
				c.Write(prefix)
			}
			conns = append(conns, c)
		}
		var once sync.Once
		return func() {
			once.Do(func() {
				for _, c := range conns {
					c.Close()
				}
			})
		}
	}
}

// tcpFrameFirst opens n connections, sends the start of a chunk-frame
// record on each before any handshake, and closes them.
func tcpFrameFirst(n int) attack {
	return func(t *testing.T, d *daemon, _ *rand.Rand) func() {
		rec := make([]byte, protocol.ChunkHeaderSize)
		rec[0] = protocol.FrameChunk
		for range n {
			c, err := net.Dial("tcp", d.hostport())
			if err != nil {
				t.Fatal(err)
			}
			c.Write(rec)
			c.Close()
		}
		return func() {}
	}
}

// udpGarbage sends random datagrams to the QUIC port, and datagrams that
// look like QUIC Initial packets (long header, version 1, random
// connection IDs, padded to 1200 bytes) but are not.
func udpGarbage(t *testing.T, d *daemon, rng *rand.Rand) func() {
	c, err := net.Dial("udp", d.hostport())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for i := range 3000 {
		n := 1 + rng.IntN(1472)
		for j := range n {
			buf[j] = byte(rng.Uint32())
		}
		if i%3 == 0 {
			// Initial: 0b11000000 | reserved/packet-number bits.
			n = 1200
			buf[0] = 0xc0 | byte(rng.IntN(4))
			binary.BigEndian.PutUint32(buf[1:], 1)
			buf[5] = 8  // DCID length
			buf[14] = 8 // SCID length
		}
		c.Write(buf[:n])
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // let the daemon read
		}
	}
	return func() {}
}

var quietLog = slog.New(slog.DiscardHandler)

// quicHold opens n QUIC connections (the TLS handshake completes) that
// never open the control stream, and holds them.
func quicHold(n int) attack {
	return func(t *testing.T, d *daemon, _ *rand.Rand) func() {
		var sessions []transport.Session
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s, err := transport.DialQUIC(ctx, d.hostport(), &transport.QUICOptions{Logger: quietLog})
				if err != nil {
					return // refused beyond the daemon's caps
				}
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
			})
		}
		wg.Wait()
		t.Logf("holding %d of %d QUIC connections open", len(sessions), n)
		var once sync.Once
		return func() {
			once.Do(func() {
				for _, s := range sessions {
					s.Close()
				}
			})
		}
	}
}

// halfHandshakes starts n Noise handshakes over tr and stops each after
// the daemon's message 2: the client's last message never comes.
func halfHandshakes(tr string, n int) attack {
	return func(t *testing.T, d *daemon, _ *rand.Rand) func() {
		id, err := crypto.GenerateIdentity("intruder")
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		reached := make(chan struct{}, n)
		var sessions []transport.Session
		for range n {
			var s transport.Session
			if tr == "tcp" {
				c, err := net.Dial("tcp", d.hostport())
				if err != nil {
					t.Fatal(err)
				}
				s = transport.NewTCPSession(c)
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				s, err = transport.DialQUIC(ctx, d.hostport(), &transport.QUICOptions{Logger: quietLog})
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			sessions = append(sessions, s)
			go crypto.Handshake(s, crypto.HandshakeConfig{
				Initiator: true, Identity: id, Binding: s.Binding(),
				VerifyPeer: func(crypto.PublicKey) error {
					reached <- struct{}{}
					<-stop
					return errors.New("never mind")
				},
			})
		}
		for range n {
			select {
			case <-reached:
			case <-time.After(5 * time.Second):
				t.Fatal("the daemon did not answer a handshake within 5s")
			}
		}
		var once sync.Once
		return func() {
			once.Do(func() {
				close(stop)
				for _, s := range sessions {
					s.Close()
				}
			})
		}
	}
}

// quicFramesFirst opens n QUIC sessions and, before any handshake, writes
// 1 MiB chunk frames on their data streams until flow control stops them
// (or 2 s pass), then holds them open.
func quicFramesFirst(n int) attack {
	return func(t *testing.T, d *daemon, _ *rand.Rand) func() {
		hdr := protocol.ChunkHeader{Index: 0, RawLen: protocol.MaxChunkSize, CTLen: protocol.HashSize + protocol.MaxChunkSize + protocol.TagSize}
		hb, _ := hdr.AppendBinary(nil)
		ct := make([]byte, hdr.CTLen)
		var sessions []transport.Session
		var wg sync.WaitGroup
		for range n {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := transport.DialQUIC(ctx, d.hostport(), &transport.QUICOptions{Logger: quietLog})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, s)
			s.SetDeadline(time.Now().Add(2 * time.Second))
			for range 4 {
				wg.Go(func() {
					for s.WriteFrame(hb, ct) == nil {
					}
				})
			}
		}
		wg.Wait()
		var once sync.Once
		return func() {
			once.Do(func() {
				for _, s := range sessions {
					s.Close()
				}
			})
		}
	}
}
