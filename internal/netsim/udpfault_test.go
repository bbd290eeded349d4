package netsim

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// ufEcho starts a UDP echo server and returns its address.
func ufEcho(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c.LocalAddr().String()
}

func newUDPFaultProxy(t *testing.T, target string, faults ...UDPFault) *UDPFaultProxy {
	t.Helper()
	p, err := NewUDPFaultProxy(target, faults...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// ufRoundTrip sends msg and reports the echo, or nil when none arrives
// within wait.
func ufRoundTrip(t *testing.T, c *net.UDPConn, msg []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestUDPFaultProxyForwards(t *testing.T) {
	p := newUDPFaultProxy(t, ufEcho(t))
	c := dialUDP(t, p.Addr())
	for i := range 10 {
		msg := bytes.Repeat([]byte{byte(i)}, 100)
		if got := ufRoundTrip(t, c, msg, 5*time.Second); !bytes.Equal(got, msg) {
			t.Fatalf("datagram %d: echo %x", i, got)
		}
	}
	if up, down := p.Forwarded(); up != 1000 || down != 1000 {
		t.Fatalf("forwarded %d up, %d down; want 1000 each", up, down)
	}
	if p.Flows() != 1 || p.Dropped() != 0 {
		t.Fatalf("flows %d, dropped %d", p.Flows(), p.Dropped())
	}
}

func TestUDPFaultProxyBlackhole(t *testing.T) {
	p := newUDPFaultProxy(t, ufEcho(t), BlackholeAfter(250))
	c := dialUDP(t, p.Addr())
	msg := make([]byte, 100)
	// Datagrams starting at 0, 100 and 200 pass; the one at 300 does not,
	// nor anything after it.
	for i := range 3 {
		if got := ufRoundTrip(t, c, msg, 5*time.Second); got == nil {
			t.Fatalf("datagram %d lost before the blackhole", i)
		}
	}
	for i := range 3 {
		if got := ufRoundTrip(t, c, msg, 100*time.Millisecond); got != nil {
			t.Fatalf("datagram %d after the blackhole came back", i)
		}
	}
	// A new flow (another client socket) after SetFaults passes.
	p.SetFaults()
	c2 := dialUDP(t, p.Addr())
	if got := ufRoundTrip(t, c2, msg, 5*time.Second); got == nil {
		t.Fatal("a new flow after SetFaults() was dropped")
	}
	if got := ufRoundTrip(t, c, msg, 100*time.Millisecond); got != nil {
		t.Fatal("the old flow came back to life")
	}
	if p.Flows() != 2 || p.Dropped() < 4 {
		t.Fatalf("flows %d, dropped %d", p.Flows(), p.Dropped())
	}
}

func TestUDPFaultProxyOutage(t *testing.T) {
	const outage = 300 * time.Millisecond
	p := newUDPFaultProxy(t, ufEcho(t), OutageAfter(100, outage))
	c := dialUDP(t, p.Addr())
	msg := make([]byte, 100)
	if ufRoundTrip(t, c, msg, 5*time.Second) == nil {
		t.Fatal("first datagram lost")
	}
	start := time.Now()
	if ufRoundTrip(t, c, msg, 100*time.Millisecond) != nil {
		t.Fatal("datagram during the outage came back")
	}
	time.Sleep(outage - time.Since(start) + 50*time.Millisecond)
	if ufRoundTrip(t, c, msg, 5*time.Second) == nil {
		t.Fatal("datagram after the outage lost")
	}
}

func TestUDPFaultProxyCorrupt(t *testing.T) {
	p := newUDPFaultProxy(t, ufEcho(t), CorruptAt(150))
	c := dialUDP(t, p.Addr())
	for i := range 3 {
		msg := make([]byte, 100)
		got := ufRoundTrip(t, c, msg, 5*time.Second)
		want := make([]byte, 100)
		if i == 1 {
			want[50] = 0xff
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("datagram %d: echo %x, want %x", i, got, want)
		}
	}
}
