package netsim

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// A UDPFault is something a UDPFaultProxy does to a flow (one client
// address) when the client-to-server datagram bytes of that flow reach a
// given offset. Build one with BlackholeAfter, OutageAfter or CorruptAt.
//
// Offsets count the bytes of the datagrams the proxy received from the
// client on that flow, dropped ones included, so a fault fires at the same
// point of a deterministic exchange whatever happened before it.
type UDPFault struct {
	kind udpFaultKind
	at   int64
	d    time.Duration
}

type udpFaultKind int

const (
	udpBlackhole udpFaultKind = iota + 1
	udpOutage
	udpCorrupt
)

// BlackholeAfter forwards the datagrams of a flow that start before
// client-to-server offset n, then drops every datagram of the flow in both
// directions for good, as a path that silently died would. Neither end is
// told; a QUIC peer notices only through its idle timeout.
func BlackholeAfter(n int64) UDPFault { return UDPFault{kind: udpBlackhole, at: n} }

// OutageAfter is BlackholeAfter for a limited time: once it fires, the
// flow's datagrams are dropped in both directions for d, then forwarded
// again.
func OutageAfter(n int64, d time.Duration) UDPFault {
	return UDPFault{kind: udpOutage, at: n, d: d}
}

// CorruptAt inverts one byte of the client-to-server datagram that holds
// offset off and forwards it; a QUIC receiver drops such a packet as it
// fails authentication, so it acts as a single, targeted loss.
func CorruptAt(off int64) UDPFault { return UDPFault{kind: udpCorrupt, at: off} }

// UDPFaultProxy listens on 127.0.0.1 and relays datagrams between each
// client address and a target, through a separate socket per client, and
// applies its faults to each flow independently. Unlike UDPProxy it adds no
// delay or random loss: it injects deterministic events (a dead path, an
// outage, a corrupted datagram). Its methods are safe for concurrent use.
type UDPFaultProxy struct {
	conn   *net.UDPConn
	target *net.UDPAddr

	mu     sync.Mutex
	faults []UDPFault
	flows  map[netip.AddrPort]*faultFlow
	closed bool

	nflows   atomic.Int64
	toServer atomic.Int64
	toClient atomic.Int64
	dropped  atomic.Int64

	wg sync.WaitGroup
}

// faultFlow is one client's flow and its fault state.
type faultFlow struct {
	client netip.AddrPort
	up     *net.UDPConn
	faults []UDPFault

	mu       sync.Mutex
	off      int64     // client-to-server bytes seen
	deadFrom time.Time // zero until a blackhole or outage fires
	deadTill time.Time // zero for a blackhole: forever
	fired    []bool    // per fault
}

// NewUDPFaultProxy starts a proxy to target ("host:port") that applies
// faults to every new flow. Close it when done.
func NewUDPFaultProxy(target string, faults ...UDPFault) (*UDPFaultProxy, error) {
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(udpSocketBuffer)
	c.SetWriteBuffer(udpSocketBuffer)
	p := &UDPFaultProxy{
		conn:   c,
		target: taddr,
		faults: faults,
		flows:  make(map[netip.AddrPort]*faultFlow),
	}
	p.wg.Add(1)
	go p.clientLoop()
	return p, nil
}

// Addr is the address clients should send to instead of the target.
func (p *UDPFaultProxy) Addr() string { return p.conn.LocalAddr().String() }

// SetFaults replaces the faults applied to flows created from now on;
// existing flows keep theirs. With no arguments, new flows are forwarded
// untouched (say, for the reconnection after a dead path).
func (p *UDPFaultProxy) SetFaults(faults ...UDPFault) {
	p.mu.Lock()
	p.faults = faults
	p.mu.Unlock()
}

// Flows is the number of flows (client addresses) seen so far.
func (p *UDPFaultProxy) Flows() int { return int(p.nflows.Load()) }

// Forwarded reports the datagram bytes forwarded so far in each direction,
// over all flows.
func (p *UDPFaultProxy) Forwarded() (toServer, toClient int64) {
	return p.toServer.Load(), p.toClient.Load()
}

// Dropped is the number of datagrams dropped by faults so far.
func (p *UDPFaultProxy) Dropped() int64 { return p.dropped.Load() }

// Close stops the proxy, closes its sockets and waits for its goroutines.
func (p *UDPFaultProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, f := range p.flows {
		f.up.Close()
	}
	p.mu.Unlock()
	err := p.conn.Close()
	p.wg.Wait()
	return err
}

func (p *UDPFaultProxy) clientLoop() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		f := p.flow(from)
		if f == nil {
			continue
		}
		b := buf[:n]
		if !f.toServer(b, time.Now()) {
			p.dropped.Add(1)
			continue
		}
		if _, err := f.up.Write(b); err == nil {
			p.toServer.Add(int64(n))
		}
	}
}

// flow returns the flow of a client address, creating it on first use;
// nil when the proxy is closed or the target cannot be reached.
func (p *UDPFaultProxy) flow(client netip.AddrPort) *faultFlow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if f := p.flows[client]; f != nil {
		return f
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	up.SetReadBuffer(udpSocketBuffer)
	up.SetWriteBuffer(udpSocketBuffer)
	f := &faultFlow{
		client: client,
		up:     up,
		faults: append([]UDPFault(nil), p.faults...),
		fired:  make([]bool, len(p.faults)),
	}
	p.flows[client] = f
	p.nflows.Add(1)
	p.wg.Add(1)
	go p.serverLoop(f)
	return f
}

func (p *UDPFaultProxy) serverLoop(f *faultFlow) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors: a real path drops them
		}
		if f.dead(time.Now()) {
			p.dropped.Add(1)
			continue
		}
		if _, err := p.conn.WriteToUDPAddrPort(buf[:n], f.client); err == nil {
			p.toClient.Add(int64(n))
		}
	}
}

// toServer applies the flow's faults to a client-to-server datagram,
// corrupting it in place if told to, and reports whether to forward it.
func (f *faultFlow) toServer(b []byte, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := f.off
	f.off += int64(len(b))
	for i, ft := range f.faults {
		if f.fired[i] {
			continue
		}
		switch ft.kind {
		case udpBlackhole, udpOutage:
			if start >= ft.at {
				f.fired[i] = true
				if f.deadFrom.IsZero() || (ft.kind == udpBlackhole) {
					f.deadFrom = now
					f.deadTill = time.Time{}
					if ft.kind == udpOutage {
						f.deadTill = now.Add(ft.d)
					}
				}
			}
		case udpCorrupt:
			if ft.at >= start && ft.at < f.off {
				f.fired[i] = true
				b[ft.at-start] ^= 0xff
			}
		}
	}
	return !f.deadLocked(now)
}

func (f *faultFlow) dead(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deadLocked(now)
}

func (f *faultFlow) deadLocked(now time.Time) bool {
	if f.deadFrom.IsZero() {
		return false
	}
	if f.deadTill.IsZero() {
		return true // blackhole
	}
	if now.Before(f.deadTill) {
		return true
	}
	f.deadFrom, f.deadTill = time.Time{}, time.Time{}
	return false
}
