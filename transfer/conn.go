// Package transfer is xfer's transfer engine: the Sender and the Receiver
// of files over an authenticated session. The same code runs in the client
// and in the daemon; which side sends depends only on the operation (send
// or get).
//
// A sender announces directories (Dir) and files (Open) in order, keeping
// at most protocol.MaxOpenWindow unanswered. For each Accept it reads the
// file once, chunk by chunk, and a bounded pool of workers hashes,
// compresses when it pays, seals, and writes each chunk frame; End carries
// the file root. A receiver opens, decompresses and verifies each frame on
// its own worker pool, writes it into a partial file with WriteAt, records
// it in the resume journal after the data is fsynced, and renames the
// partial into place once the file root verifies.
//
// Workers take chunks in batches of up to crypto.HashLanes (gather.go) and
// hash each batch side by side (crypto.ChunkHashes); each side holds at
// most inFlightFor(workers) chunks between reading and sending, or
// receiving and writing, so memory does not depend on the file size.
package transfer

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"xfer/crypto"
	"xfer/protocol"
	"xfer/transport"
)

// Conn is an authenticated session: control messages over the Noise
// channel, chunk frames directly on the transport.
type Conn struct {
	ch     *crypto.Channel
	s      transport.Session
	last   atomic.Int64 // unix nanoseconds of the last progress in either direction
	closed chan struct{}
	once   sync.Once
}

// NewConn pairs a transport session with the channel its handshake made.
func NewConn(s transport.Session, ch *crypto.Channel) *Conn {
	c := &Conn{ch: ch, s: s, closed: make(chan struct{})}
	c.touch()
	return c
}

// touch records progress: a message or frame received, a frame sent.
func (c *Conn) touch() { c.last.Store(time.Now().UnixNano()) }

// Idle returns how long the session has made no progress: nothing
// received and no frame sent. A peer that neither talks nor reads shows
// up here.
func (c *Conn) Idle() time.Duration { return time.Duration(time.Now().UnixNano() - c.last.Load()) }

// Session returns the underlying transport session.
func (c *Conn) Session() transport.Session { return c.s }

// Channel returns the secure control channel.
func (c *Conn) Channel() *crypto.Channel { return c.ch }

// Send encodes and sends one control message.
func (c *Conn) Send(m protocol.Message) error {
	b, err := protocol.Marshal(m)
	if err != nil {
		return err
	}
	return c.ch.Send(b)
}

// Recv reads and decodes one control message.
func (c *Conn) Recv() (protocol.Message, error) {
	b, err := c.ch.Receive()
	if err != nil {
		return nil, err
	}
	c.touch()
	return protocol.Unmarshal(b)
}

// KeepAliveEvery is how often a side that is busy without anything to say
// (hashing a large existing file) sends KeepAlive, well within the idle
// timeouts (the client's 10 minutes, the daemon's 15). A variable for
// tests.
var KeepAliveEvery = 30 * time.Second

// keepAlivesSent counts the KeepAlives Busy sent (for tests).
var keepAlivesSent atomic.Int64

// Busy runs f and, while it runs, sends the peer a KeepAlive every
// KeepAliveEvery and counts that as progress on this side's own idle
// clock: the session is working, only not on the wire. A failed send
// ends the keep-alives, not f.
func (c *Conn) Busy(f func()) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(KeepAliveEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-c.closed:
				return
			case <-t.C:
				c.touch()
				if c.Send(&protocol.KeepAlive{}) != nil {
					return
				}
				keepAlivesSent.Add(1)
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	f()
}

// Close closes the session.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.s.Close()
}

// Closed is closed once Close has been called.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// unexpected builds the protocol error for a message that has no place
// where it arrived.
func unexpected(m protocol.Message, where string) error {
	return fmt.Errorf("transfer: unexpected %T %s", m, where)
}
