package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"xfer/protocol"
)

// tcpSession multiplexes control messages and chunk frames on one TCP
// connection. A demultiplexing goroutine reads records in order and hands
// them to ReadMessage and ReadFrame through bounded channels.
type tcpSession struct {
	conn net.Conn

	wmu  sync.Mutex  // serializes record writes
	werr error       // first write error; sticky, a record may be cut short
	wb   net.Buffers // reused for writev, guarded by wmu
	wba  [2][]byte

	msgs    chan []byte
	frames  chan *Frame
	done    chan struct{} // closed when the reader stops
	rerr    error         // why the reader stopped; read after done
	closing chan struct{} // closed by Close
	once    sync.Once

	wantFrames chan struct{} // closed by the first ReadFrame
	wantOnce   sync.Once
}

// NewTCPSession wraps an established TCP connection.
func NewTCPSession(c net.Conn) Session {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(15 * time.Second)
		tc.SetReadBuffer(4 << 20)
		tc.SetWriteBuffer(4 << 20)
	}
	s := &tcpSession{
		conn:    c,
		msgs:    make(chan []byte, 64),
		frames:  make(chan *Frame, 8),
		done:    make(chan struct{}),
		closing: make(chan struct{}),

		wantFrames: make(chan struct{}),
	}
	go s.readLoop()
	return s
}

// DialTCP connects to addr ("host:port").
func DialTCP(addr string, timeout time.Duration) (Session, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return NewTCPSession(c), nil
}

func (s *tcpSession) readLoop() {
	defer close(s.done)
	defer func() {
		select {
		case <-s.closing:
			s.rerr = ErrClosed
		default:
		}
	}()
	r := bufio.NewReaderSize(s.conn, 256<<10)
	var hdr [protocol.ChunkHeaderSize]byte
	for {
		t, err := r.ReadByte()
		if err != nil {
			s.rerr = readErr(err)
			return
		}
		switch t {
		case protocol.RecordMessage:
			var lb [2]byte
			if _, err := io.ReadFull(r, lb[:]); err != nil {
				s.rerr = readErr(err)
				return
			}
			n := int(binary.BigEndian.Uint16(lb[:]))
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				s.rerr = readErr(err)
				return
			}
			select {
			case s.msgs <- b:
			case <-s.closing:
				s.rerr = ErrClosed
				return
			}
		case protocol.FrameChunk:
			// Frames are read only once the owner asked for one, so an
			// unauthenticated peer cannot make us buffer them.
			// A frame nobody asks for within the handshake timeout is
			// a peer sending frames before its session exists: give
			// up rather than park the reader (and the handshake
			// waiting on it) forever.
			wait := time.NewTimer(protocol.HandshakeTimeout)
			select {
			case <-s.wantFrames:
				wait.Stop()
			case <-s.closing:
				wait.Stop()
				s.rerr = ErrClosed
				return
			case <-wait.C:
				s.rerr = errors.New("transport: chunk frame before the session was ready")
				s.conn.Close()
				return
			}
			hdr[0] = t
			if _, err := io.ReadFull(r, hdr[1:]); err != nil {
				s.rerr = readErr(err)
				return
			}
			h, err := protocol.ParseChunkHeader(hdr[:])
			if err != nil {
				s.rerr = err
				return
			}
			f := newFrame(int(h.CTLen))
			f.Header = h
			copy(f.Raw, hdr[:])
			if _, err := io.ReadFull(r, f.Data); err != nil {
				f.Release()
				s.rerr = readErr(err)
				return
			}
			select {
			case s.frames <- f:
			case <-s.closing:
				f.Release()
				s.rerr = ErrClosed
				return
			}
		default:
			s.rerr = fmt.Errorf("transport: unknown record type 0x%02x", t)
			return
		}
	}
}

// readErr names a connection that closed in the middle of a record.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("transport: connection closed mid-record: %w", err)
	}
	return err
}

func (s *tcpSession) ReadMessage() ([]byte, error) {
	select {
	case b := <-s.msgs:
		return b, nil
	case <-s.done:
		// Drain what arrived before the reader stopped.
		select {
		case b := <-s.msgs:
			return b, nil
		default:
		}
		return nil, s.rerr
	}
}

func (s *tcpSession) ReadFrame() (*Frame, error) {
	s.wantOnce.Do(func() { close(s.wantFrames) })
	select {
	case f := <-s.frames:
		return f, nil
	case <-s.done:
		select {
		case f := <-s.frames:
			return f, nil
		default:
		}
		return nil, s.rerr
	}
}

func (s *tcpSession) WriteMessage(b []byte) error {
	if len(b) > protocol.MaxMessage {
		return fmt.Errorf("transport: message of %d bytes exceeds %d", len(b), protocol.MaxMessage)
	}
	rec := make([]byte, 3+len(b))
	rec[0] = protocol.RecordMessage
	binary.BigEndian.PutUint16(rec[1:], uint16(len(b)))
	copy(rec[3:], b)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return s.werr
	}
	_, err := s.conn.Write(rec)
	return s.writeFailed(err)
}

// writeFailed makes a write error sticky and closes the connection: a
// record cut short would make the peer misread everything after it.
// Called with wmu held.
func (s *tcpSession) writeFailed(err error) error {
	if err == nil {
		return nil
	}
	s.werr = err
	s.conn.Close()
	return err
}

func (s *tcpSession) WriteFrame(hdr, ct []byte) error {
	if len(hdr) != protocol.ChunkHeaderSize || hdr[0] != protocol.FrameChunk {
		return errors.New("transport: malformed chunk header")
	}
	if n := binary.BigEndian.Uint32(hdr[protocol.ChunkHeaderSize-4:]); int(n) != len(ct) {
		return fmt.Errorf("transport: header announces %d ciphertext bytes, frame has %d", n, len(ct))
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return s.werr
	}
	s.wba = [2][]byte{hdr, ct}
	s.wb = s.wba[:]
	_, err := s.wb.WriteTo(s.conn)
	s.wba = [2][]byte{}
	return s.writeFailed(err)
}

func (s *tcpSession) Binding() []byte { return nil }

func (s *tcpSession) SetDeadline(t time.Time) error { return s.conn.SetDeadline(t) }

func (s *tcpSession) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

func (s *tcpSession) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		err = s.conn.Close()
		// Release frames nobody will read.
		go func() {
			<-s.done
			for {
				select {
				case f := <-s.frames:
					f.Release()
				default:
					return
				}
			}
		}()
	})
	return err
}

// tcpListener accepts TCP sessions.
type tcpListener struct{ l net.Listener }

// ListenTCP listens on addr ("host:port").
func ListenTCP(addr string) (Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &tcpListener{l}, nil
}

func (l *tcpListener) Accept() (Session, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return NewTCPSession(c), nil
}

func (l *tcpListener) Addr() net.Addr { return l.l.Addr() }
func (l *tcpListener) Close() error   { return l.l.Close() }
