package netsim

import (
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
	r *relay

	mu     sync.Mutex
	faults []UDPFault

	nflows   atomic.Int64
	toServer atomic.Int64
	toClient atomic.Int64
	dropped  atomic.Int64
}

// faultFlow is one client's flow and its fault state.
type faultFlow struct {
	p      *UDPFaultProxy
	r      *relay
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
	p := &UDPFaultProxy{faults: faults}
	r, err := startRelay(target, p.newFlow)
	if err != nil {
		return nil, err
	}
	p.r = r
	return p, nil
}

// Addr is the address clients should send to instead of the target.
func (p *UDPFaultProxy) Addr() string { return p.r.addr() }

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
func (p *UDPFaultProxy) Close() error { return p.r.close() }

// newFlow gives a new flow the faults set now.
func (p *UDPFaultProxy) newFlow(r *relay, _ uint64, client netip.AddrPort, up *net.UDPConn) flowHandler {
	p.mu.Lock()
	faults := append([]UDPFault(nil), p.faults...)
	p.mu.Unlock()
	p.nflows.Add(1)
	return &faultFlow{p: p, r: r, client: client, up: up, faults: faults, fired: make([]bool, len(faults))}
}

func (f *faultFlow) fromClient(b []byte) {
	if !f.toServer(b, time.Now()) {
		f.p.dropped.Add(1)
		return
	}
	if _, err := f.up.Write(b); err == nil {
		f.p.toServer.Add(int64(len(b)))
	}
}

func (f *faultFlow) fromServer(b []byte) {
	if f.dead(time.Now()) {
		f.p.dropped.Add(1)
		return
	}
	if f.r.toClient(b, f.client) == nil {
		f.p.toClient.Add(int64(len(b)))
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
