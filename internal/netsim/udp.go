package netsim

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// UDPConfig describes the path a UDPProxy simulates. The zero value
// forwards every datagram at once.
type UDPConfig struct {
	// Delay is added to every datagram in each direction, so the round
	// trip grows by twice Delay.
	Delay time.Duration
	// Loss is the probability, in [0, 1], that a datagram is dropped; it
	// is drawn independently for each datagram in each direction.
	Loss float64
	// Seed seeds the loss decisions: with the same seed, the same
	// sequence of datagrams in a direction loses the same datagrams.
	Seed uint64
	// QueueLen bounds the datagrams each direction of a flow holds while
	// delaying them; beyond it, datagrams are dropped as a full router
	// queue would. Zero means 16384.
	QueueLen int
}

// UDPStats counts datagrams over all flows and both directions.
type UDPStats struct {
	Forwarded int64 // delivered to the other side
	Dropped   int64 // lost on purpose or to a full queue
}

// UDPProxy listens on 127.0.0.1 and relays datagrams between each client
// address and a target, through a separate socket per client so that the
// target sees one peer per client. Its methods are safe for concurrent use.
type UDPProxy struct {
	conn   *net.UDPConn // faces the clients
	target *net.UDPAddr
	cfg    UDPConfig

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	nflows uint64
	closed bool

	forwarded atomic.Int64
	dropped   atomic.Int64

	done chan struct{}
	wg   sync.WaitGroup
}

// udpSocketBuffer is requested for the proxy's sockets, so that the proxy
// itself drops as little as possible beyond what it is told to.
const udpSocketBuffer = 4 << 20

// NewUDPProxy starts a proxy to target ("host:port"). Close it when done.
func NewUDPProxy(target string, cfg UDPConfig) (*UDPProxy, error) {
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return nil, errors.New("netsim: loss must be within [0, 1]")
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1 << 14
	}
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
	p := &UDPProxy{
		conn:   c,
		target: taddr,
		cfg:    cfg,
		flows:  make(map[netip.AddrPort]*udpFlow),
		done:   make(chan struct{}),
	}
	p.wg.Add(1)
	go p.clientLoop()
	return p, nil
}

// Addr is the address clients should send to instead of the target.
func (p *UDPProxy) Addr() string { return p.conn.LocalAddr().String() }

// Stats returns the datagram counts so far.
func (p *UDPProxy) Stats() UDPStats {
	return UDPStats{Forwarded: p.forwarded.Load(), Dropped: p.dropped.Load()}
}

// Close stops the proxy, closes its sockets and waits for its goroutines;
// datagrams still being delayed are discarded.
func (p *UDPProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	for _, f := range p.flows {
		f.up.Close()
	}
	p.mu.Unlock()
	err := p.conn.Close()
	p.wg.Wait()
	return err
}

// udpFlow relays one client's datagrams.
type udpFlow struct {
	client   netip.AddrPort
	up       *net.UDPConn // connected to the target
	toServer *delayLine
	toClient *delayLine
}

func (p *UDPProxy) clientLoop() {
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
		f.toServer.push(buf[:n])
	}
}

// flow returns the flow for a client address, creating it on first use; nil
// when the proxy is closed or the target cannot be reached.
func (p *UDPProxy) flow(client netip.AddrPort) *udpFlow {
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
	p.nflows++
	f := &udpFlow{client: client, up: up}
	f.toServer = p.newDelayLine(2*p.nflows, func(b []byte) error {
		_, err := up.Write(b)
		return err
	})
	f.toClient = p.newDelayLine(2*p.nflows+1, func(b []byte) error {
		_, err := p.conn.WriteToUDPAddrPort(b, client)
		return err
	})
	p.flows[client] = f
	p.wg.Add(1)
	go p.serverLoop(f)
	return f
}

func (p *UDPProxy) serverLoop(f *udpFlow) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors (target not listening yet) surface here;
			// a real path would drop them silently.
			continue
		}
		f.toClient.push(buf[:n])
	}
}

// delayLine holds datagrams of one direction of one flow for the
// configured delay, in order, then sends them. push is called by a single
// goroutine.
type delayLine struct {
	p    *UDPProxy
	rng  *rand.Rand
	q    chan datagram
	send func([]byte) error
}

type datagram struct {
	b   []byte
	due time.Time
}

func (p *UDPProxy) newDelayLine(stream uint64, send func([]byte) error) *delayLine {
	d := &delayLine{
		p:    p,
		rng:  rand.New(rand.NewPCG(p.cfg.Seed, stream)),
		q:    make(chan datagram, p.cfg.QueueLen),
		send: send,
	}
	p.wg.Add(1)
	go d.run()
	return d
}

func (d *delayLine) push(b []byte) {
	if d.p.cfg.Loss > 0 && d.rng.Float64() < d.p.cfg.Loss {
		d.p.dropped.Add(1)
		return
	}
	dg := datagram{b: append([]byte(nil), b...), due: time.Now().Add(d.p.cfg.Delay)}
	select {
	case d.q <- dg:
	default:
		d.p.dropped.Add(1)
	}
}

func (d *delayLine) run() {
	defer d.p.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var dg datagram
		select {
		case dg = <-d.q:
		case <-d.p.done:
			return
		}
		if wait := time.Until(dg.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.p.done:
				return
			}
		}
		if d.send(dg.b) == nil {
			d.p.forwarded.Add(1)
		}
	}
}
