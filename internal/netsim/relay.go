package netsim

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// udpSocketBuffer is requested for the proxies' sockets, so that a proxy
// itself drops as little as possible beyond what it is told to.
const udpSocketBuffer = 4 << 20

// relay is the plumbing UDPProxy and UDPFaultProxy share: a socket facing
// the clients on 127.0.0.1, a socket connected to the target for each
// client address (so the target sees one peer per client), and a
// goroutine reading each. What becomes of a datagram is up to the flow's
// handler.
type relay struct {
	conn    *net.UDPConn // faces the clients
	target  *net.UDPAddr
	newFlow func(r *relay, n uint64, client netip.AddrPort, up *net.UDPConn) flowHandler

	mu     sync.Mutex
	flows  map[netip.AddrPort]*relayFlow
	nflows uint64
	closed bool

	done chan struct{} // closed by close
	wg   sync.WaitGroup
}

// A flowHandler decides the fate of one flow's datagrams. b is valid only
// during the call; each method is called from one goroutine.
type flowHandler interface {
	fromClient(b []byte)
	fromServer(b []byte)
}

type relayFlow struct {
	up *net.UDPConn // connected to the target
	h  flowHandler
}

// startRelay listens on 127.0.0.1 for datagrams to relay to target
// ("host:port"); newFlow makes the handler of the n-th client address
// (from 1), under the relay's lock.
func startRelay(target string, newFlow func(r *relay, n uint64, client netip.AddrPort, up *net.UDPConn) flowHandler) (*relay, error) {
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
	r := &relay{
		conn:    c,
		target:  taddr,
		newFlow: newFlow,
		flows:   make(map[netip.AddrPort]*relayFlow),
		done:    make(chan struct{}),
	}
	r.wg.Add(1)
	go r.clientLoop()
	return r, nil
}

// addr is the address clients send to instead of the target.
func (r *relay) addr() string { return r.conn.LocalAddr().String() }

// toClient sends b to a client from the relay's client-facing address.
func (r *relay) toClient(b []byte, client netip.AddrPort) error {
	_, err := r.conn.WriteToUDPAddrPort(b, client)
	return err
}

// close stops the relay, closes its sockets and waits for its goroutines
// (and for those its owner started with wg).
func (r *relay) close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	for _, f := range r.flows {
		f.up.Close()
	}
	r.mu.Unlock()
	err := r.conn.Close()
	r.wg.Wait()
	return err
}

func (r *relay) clientLoop() {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if f := r.flow(from); f != nil {
			f.h.fromClient(buf[:n])
		}
	}
}

// flow returns the flow of a client address, creating it on first use;
// nil when the relay is closed or the target cannot be reached.
func (r *relay) flow(client netip.AddrPort) *relayFlow {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if f := r.flows[client]; f != nil {
		return f
	}
	up, err := net.DialUDP("udp", nil, r.target)
	if err != nil {
		return nil
	}
	up.SetReadBuffer(udpSocketBuffer)
	up.SetWriteBuffer(udpSocketBuffer)
	r.nflows++
	f := &relayFlow{up: up, h: r.newFlow(r, r.nflows, client, up)}
	r.flows[client] = f
	r.wg.Add(1)
	go r.serverLoop(f)
	return f
}

func (r *relay) serverLoop(f *relayFlow) {
	defer r.wg.Done()
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
		f.h.fromServer(buf[:n])
	}
}
