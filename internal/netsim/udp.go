package netsim

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
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
	r   *relay
	cfg UDPConfig

	forwarded atomic.Int64
	dropped   atomic.Int64
}

// NewUDPProxy starts a proxy to target ("host:port"). Close it when done.
func NewUDPProxy(target string, cfg UDPConfig) (*UDPProxy, error) {
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return nil, errors.New("netsim: loss must be within [0, 1]")
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1 << 14
	}
	p := &UDPProxy{cfg: cfg}
	r, err := startRelay(target, p.newFlow)
	if err != nil {
		return nil, err
	}
	p.r = r
	return p, nil
}

// Addr is the address clients should send to instead of the target.
func (p *UDPProxy) Addr() string { return p.r.addr() }

// Stats returns the datagram counts so far.
func (p *UDPProxy) Stats() UDPStats {
	return UDPStats{Forwarded: p.forwarded.Load(), Dropped: p.dropped.Load()}
}

// Close stops the proxy, closes its sockets and waits for its goroutines;
// datagrams still being delayed are discarded.
func (p *UDPProxy) Close() error { return p.r.close() }

// udpFlow delays and loses one client's datagrams in each direction.
type udpFlow struct {
	toServer *delayLine
	toClient *delayLine
}

func (f *udpFlow) fromClient(b []byte) { f.toServer.push(b) }
func (f *udpFlow) fromServer(b []byte) { f.toClient.push(b) }

// newFlow makes the delay lines of the n-th flow; each direction draws its
// losses from its own stream of the seed.
func (p *UDPProxy) newFlow(r *relay, n uint64, client netip.AddrPort, up *net.UDPConn) flowHandler {
	return &udpFlow{
		toServer: p.newDelayLine(r, 2*n, func(b []byte) error {
			_, err := up.Write(b)
			return err
		}),
		toClient: p.newDelayLine(r, 2*n+1, func(b []byte) error {
			return r.toClient(b, client)
		}),
	}
}

// delayLine holds datagrams of one direction of one flow for the
// configured delay, in order, then sends them. push is called by a single
// goroutine.
type delayLine struct {
	p    *UDPProxy
	r    *relay
	rng  *rand.Rand
	q    chan datagram
	send func([]byte) error
}

type datagram struct {
	b   []byte
	due time.Time
}

func (p *UDPProxy) newDelayLine(r *relay, stream uint64, send func([]byte) error) *delayLine {
	d := &delayLine{
		p:    p,
		r:    r,
		rng:  rand.New(rand.NewPCG(p.cfg.Seed, stream)),
		q:    make(chan datagram, p.cfg.QueueLen),
		send: send,
	}
	r.wg.Add(1)
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
	defer d.r.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var dg datagram
		select {
		case dg = <-d.q:
		case <-d.r.done:
			return
		}
		if wait := time.Until(dg.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.r.done:
				return
			}
		}
		if d.send(dg.b) == nil {
			d.p.forwarded.Add(1)
		}
	}
}
