package netsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// tcpSink accepts connections and hands each one's received bytes (until
// EOF or error) to the test.
func tcpSink(t *testing.T) (addr string, got <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := make(chan []byte, 8)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				b, _ := io.ReadAll(conn)
				c <- b
			}()
		}
	}()
	return ln.Addr().String(), c
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func receive(t *testing.T, c <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-c:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		return nil
	}
}

func newTCPProxy(t *testing.T, target string, faults ...TCPFault) *TCPProxy {
	t.Helper()
	p, err := NewTCPProxy(target, faults...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// send writes data through the proxy and closes the write side.
func send(t *testing.T, p *TCPProxy, data []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	return c
}

func TestTCPProxyForwards(t *testing.T) {
	addr, got := tcpSink(t)
	p := newTCPProxy(t, addr)
	data := pattern(1 << 20)
	send(t, p, data)
	if b := receive(t, got); !bytes.Equal(b, data) {
		t.Fatalf("received %d bytes, want the %d sent", len(b), len(data))
	}
	if up, _ := p.Forwarded(); up != int64(len(data)) {
		t.Fatalf("forwarded %d bytes", up)
	}
}

func TestTCPProxyEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	p := newTCPProxy(t, ln.Addr().String())
	c := send(t, p, []byte("ping"))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "ping" {
		t.Fatalf("echo: %q, %v", b, err)
	}
}

func TestTCPProxyCut(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 32 << 10, 100000} {
		addr, got := tcpSink(t)
		p := newTCPProxy(t, addr, CutAfter(n))
		data := pattern(200000)
		c := send(t, p, data)
		if b := receive(t, got); !bytes.Equal(b, data[:n]) {
			t.Fatalf("cut after %d: server got %d bytes", n, len(b))
		}
		// The client's side is closed too.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("cut after %d: client connection still open", n)
		}
	}
}

func TestTCPProxyFlip(t *testing.T) {
	for _, off := range []int64{0, 5, 32<<10 - 1, 32 << 10, 99999} {
		addr, got := tcpSink(t)
		p := newTCPProxy(t, addr, FlipAt(off))
		data := pattern(100000)
		send(t, p, data)
		want := bytes.Clone(data)
		want[off] ^= 0xff
		if b := receive(t, got); !bytes.Equal(b, want) {
			t.Fatalf("flip at %d: wrong bytes arrived", off)
		}
	}
}

func TestTCPProxyStall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	server := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			server <- c
		}
	}()
	p := newTCPProxy(t, ln.Addr().String(), StallAfter(10))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(pattern(100))
	s := <-server
	defer s.Close()
	buf := make([]byte, 100)
	s.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := io.ReadAtLeast(s, buf, 10)
	if err != nil || n != 10 {
		t.Fatalf("before the stall: %d bytes, %v", n, err)
	}
	// Nothing more passes, either way, and nothing is closed.
	s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("during the stall the server read %d bytes, %v", n, err)
	}
	s.Write([]byte("reply"))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("during the stall the client read %d bytes, %v", n, err)
	}
	// Close ends the stall by closing everything.
	p.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("client connection open after Close")
	}
}

func TestTCPProxySetFaults(t *testing.T) {
	addr, got := tcpSink(t)
	p := newTCPProxy(t, addr, CutAfter(5))
	data := pattern(1000)
	send(t, p, data)
	if b := receive(t, got); len(b) != 5 {
		t.Fatalf("first connection: %d bytes", len(b))
	}
	p.SetFaults()
	send(t, p, data)
	if b := receive(t, got); !bytes.Equal(b, data) {
		t.Fatalf("second connection: %d bytes", len(b))
	}
	if p.Conns() != 2 {
		t.Fatalf("%d connections", p.Conns())
	}
}

// udpEcho echoes datagrams and records the sequence numbers (first 4
// bytes) it received.
type udpEcho struct {
	conn *net.UDPConn
	mu   sync.Mutex
	seqs []uint32
}

func newUDPEcho(t *testing.T) *udpEcho {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadBuffer(4 << 20)
	e := &udpEcho{conn: c}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				e.mu.Lock()
				e.seqs = append(e.seqs, binary.BigEndian.Uint32(buf))
				e.mu.Unlock()
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return e
}

func (e *udpEcho) received() []uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]uint32(nil), e.seqs...)
}

func newUDPProxy(t *testing.T, target string, cfg UDPConfig) *UDPProxy {
	t.Helper()
	p, err := NewUDPProxy(target, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dialUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadBuffer(4 << 20)
	return c
}

func TestUDPProxyDelay(t *testing.T) {
	e := newUDPEcho(t)
	const delay = 30 * time.Millisecond
	p := newUDPProxy(t, e.conn.LocalAddr().String(), UDPConfig{Delay: delay})
	c := dialUDP(t, p.Addr())
	buf := make([]byte, 100)
	for i := range 5 {
		msg := binary.BigEndian.AppendUint32(nil, uint32(i))
		start := time.Now()
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo %d: %x, %v", i, buf[:n], err)
		}
		if rtt := time.Since(start); rtt < 2*delay {
			t.Fatalf("round trip %v, want at least %v", rtt, 2*delay)
		}
	}
}

func TestUDPProxyOrderAndCompleteness(t *testing.T) {
	e := newUDPEcho(t)
	p := newUDPProxy(t, e.conn.LocalAddr().String(), UDPConfig{Delay: time.Millisecond})
	c := dialUDP(t, p.Addr())
	const n = 500
	for i := range n {
		c.Write(binary.BigEndian.AppendUint32(make([]byte, 0, 1200), uint32(i)))
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // stay within the sockets' buffers
		}
	}
	buf := make([]byte, 2048)
	for i := range n {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d echoes: %v", i, err)
		}
		if got := binary.BigEndian.Uint32(buf[:m]); got != uint32(i) {
			t.Fatalf("echo %d: got %d", i, got)
		}
	}
	// The proxy counts a datagram after sending it, so the last echo
	// may be read before it is counted: wait a little (bounded).
	st := p.Stats()
	for i := 0; i < 200 && st.Forwarded < 2*n; i++ {
		time.Sleep(10 * time.Millisecond)
		st = p.Stats()
	}
	if st.Forwarded != 2*n || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUDPProxyLoss: the loss rate is as configured, and the same seed
// drops the same datagrams.
func TestUDPProxyLoss(t *testing.T) {
	const n = 4000
	const loss = 0.25
	run := func(seed uint64) []uint32 {
		e := newUDPEcho(t)
		p := newUDPProxy(t, e.conn.LocalAddr().String(), UDPConfig{Loss: loss, Seed: seed})
		c := dialUDP(t, p.Addr())
		for i := range n {
			c.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		// Wait until the datagrams stop arriving.
		for last := -1; ; time.Sleep(100 * time.Millisecond) {
			k := len(e.received())
			if k == last {
				break
			}
			last = k
		}
		got := e.received()
		rate := 1 - float64(len(got))/n
		if rate < loss-0.04 || rate > loss+0.04 {
			t.Fatalf("seed %d: lost %.3f of datagrams toward the server, want about %.2f", seed, rate, loss)
		}
		return got
	}
	a, b, c := run(1), run(1), run(2)
	if !equalSeqs(a, b) {
		t.Fatal("the same seed dropped different datagrams")
	}
	if equalSeqs(a, c) {
		t.Fatal("different seeds dropped the same datagrams")
	}
}

func equalSeqs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUDPProxyRejectsBadLoss(t *testing.T) {
	for _, l := range []float64{-0.1, 1.5} {
		if p, err := NewUDPProxy("127.0.0.1:9", UDPConfig{Loss: l}); err == nil {
			p.Close()
			t.Fatalf("loss %v accepted", l)
		}
	}
}

func TestUDPProxySeparateFlows(t *testing.T) {
	e := newUDPEcho(t)
	p := newUDPProxy(t, e.conn.LocalAddr().String(), UDPConfig{})
	buf := make([]byte, 64)
	for i := range 3 {
		c := dialUDP(t, p.Addr())
		msg := []byte{0, 0, 0, byte(i), 'x'}
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("client %d: %q, %v", i, buf[:n], err)
		}
	}
}
