// Package netsim provides fault-injecting TCP and UDP proxies for tests:
// they sit between a client and a server on the loopback interface and cut,
// stall or corrupt a TCP byte stream, or delay and drop UDP datagrams.
//
// Everything here is meant for tests on 127.0.0.1; nothing is tuned for or
// safe on a real network.
package netsim

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// A TCPFault is something a TCPProxy does to a connection when the
// client-to-server byte stream reaches a given offset. Build one with
// CutAfter, StallAfter or FlipAt.
type TCPFault struct {
	kind faultKind
	at   int64
}

type faultKind int

const (
	faultCut faultKind = iota + 1
	faultStall
	faultFlip
)

// CutAfter forwards the first n client-to-server bytes of a connection and
// then closes both sides: the server reads exactly n bytes and then EOF,
// the client sees EOF or a reset.
func CutAfter(n int64) TCPFault { return TCPFault{faultCut, n} }

// StallAfter forwards the first n client-to-server bytes and then stops
// forwarding in both directions while keeping both connections open, as a
// black-holed path would. The stall lasts until the proxy is closed.
func StallAfter(n int64) TCPFault { return TCPFault{faultStall, n} }

// FlipAt inverts every bit of the client-to-server byte at offset off
// (counted from 0), leaving the rest of the stream intact.
func FlipAt(off int64) TCPFault { return TCPFault{faultFlip, off} }

// TCPProxy listens on 127.0.0.1 and forwards each accepted connection to a
// target address, applying its faults to every connection independently.
// Its methods are safe for concurrent use.
type TCPProxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	faults []TCPFault
	links  map[*tcpLink]struct{}
	closed bool

	conns    atomic.Int64
	toServer atomic.Int64
	toClient atomic.Int64

	wg sync.WaitGroup
}

// NewTCPProxy starts a proxy to target ("host:port") that applies faults to
// every connection. Close it when done.
func NewTCPProxy(target string, faults ...TCPFault) (*TCPProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &TCPProxy{
		target: target,
		ln:     ln,
		faults: faults,
		links:  make(map[*tcpLink]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients should dial instead of the target.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

// SetFaults replaces the faults applied to connections accepted from now
// on; connections already open keep theirs. With no arguments, new
// connections are forwarded untouched (say, for the retry after a cut).
func (p *TCPProxy) SetFaults(faults ...TCPFault) {
	p.mu.Lock()
	p.faults = faults
	p.mu.Unlock()
}

// Conns is the number of connections accepted so far.
func (p *TCPProxy) Conns() int { return int(p.conns.Load()) }

// Forwarded reports the bytes forwarded so far in each direction, over all
// connections.
func (p *TCPProxy) Forwarded() (toServer, toClient int64) {
	return p.toServer.Load(), p.toClient.Load()
}

// Close stops the proxy, closes every connection it forwards and waits for
// its goroutines to finish.
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := make([]*tcpLink, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

func (p *TCPProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// tcpLink is one proxied connection: the client's and the one to the
// target.
type tcpLink struct {
	client, server net.Conn
	faults         []TCPFault

	once    sync.Once
	done    chan struct{} // closed when the link is torn down
	stalled chan struct{} // closed when a stall fault fires
	stall   sync.Once
}

func (l *tcpLink) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		l.server.Close()
	})
}

func (p *TCPProxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	l := &tcpLink{
		client:  client,
		server:  server,
		faults:  p.faults,
		done:    make(chan struct{}),
		stalled: make(chan struct{}),
	}
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.clientToServer(l) }()
	go func() { defer wg.Done(); p.serverToClient(l) }()
	wg.Wait()
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// trigger returns the first cut or stall fault at or after off.
func (l *tcpLink) trigger(off int64) (TCPFault, bool) {
	var best TCPFault
	found := false
	for _, f := range l.faults {
		if f.kind == faultFlip || f.at < off {
			continue
		}
		if !found || f.at < best.at {
			best, found = f, true
		}
	}
	return best, found
}

// fire carries out a cut or stall; either way, forwarding in the calling
// direction is over when it returns.
func (l *tcpLink) fire(f TCPFault) {
	switch f.kind {
	case faultCut:
		l.close()
	case faultStall:
		l.stall.Do(func() { close(l.stalled) })
		<-l.done
	}
}

func (p *TCPProxy) clientToServer(l *tcpLink) {
	buf := make([]byte, 32<<10)
	var off int64
	for {
		next, ok := l.trigger(off)
		if ok && next.at == off {
			l.fire(next)
			return
		}
		n, err := l.client.Read(buf)
		if n > 0 {
			b := buf[:n]
			if ok && next.at < off+int64(n) {
				b = b[:next.at-off]
			}
			for _, f := range l.faults {
				if f.kind == faultFlip && f.at >= off && f.at < off+int64(len(b)) {
					b[f.at-off] ^= 0xff
				}
			}
			if _, werr := l.server.Write(b); werr != nil {
				l.close()
				return
			}
			off += int64(len(b))
			p.toServer.Add(int64(len(b)))
			if len(b) < n {
				// The rest of this read lies beyond the fault; it fires
				// at the top of the loop and the rest is never sent.
				continue
			}
		}
		if err != nil {
			halfClose(l.server, err)
			return
		}
	}
}

func (p *TCPProxy) serverToClient(l *tcpLink) {
	buf := make([]byte, 32<<10)
	for {
		n, err := l.server.Read(buf)
		if n > 0 {
			select {
			case <-l.stalled:
				<-l.done
				return
			default:
			}
			if _, werr := l.client.Write(buf[:n]); werr != nil {
				l.close()
				return
			}
			p.toClient.Add(int64(n))
		}
		if err != nil {
			select {
			case <-l.stalled:
				<-l.done
				return
			default:
			}
			halfClose(l.client, err)
			return
		}
	}
}

// halfClose passes a clean EOF on as a FIN and anything else as a full
// close.
func halfClose(c net.Conn, err error) {
	if errors.Is(err, io.EOF) {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
			return
		}
	}
	c.Close()
}
