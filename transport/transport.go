// Package transport carries xfer sessions over TCP and QUIC behind one
// small interface: an ordered control channel of whole messages (the Noise
// handshake and control messages) and unordered chunk frames.
//
// On TCP both share one connection as typed records: RecordMessage,
// uint16 length, message; or a chunk frame (its header starts with
// protocol.FrameChunk) followed by its ciphertext. On QUIC the control
// channel is the first bidirectional stream (uint16 length, message) and
// chunk frames travel over several unidirectional streams.
package transport

import (
	"errors"
	"net"
	"time"

	"xfer/protocol"
)

// Session is one connection between a client and a daemon.
//
// WriteMessage and WriteFrame are safe for concurrent use; ReadMessage and
// ReadFrame are each used by one goroutine, which may run concurrently.
type Session interface {
	// WriteMessage sends one control message (at most protocol.MaxMessage bytes).
	WriteMessage(b []byte) error
	// ReadMessage returns the next control message. The slice is valid
	// until the next call.
	ReadMessage() ([]byte, error)
	// WriteFrame sends one chunk frame: an encoded protocol.ChunkHeader
	// and its ciphertext.
	WriteFrame(hdr, ct []byte) error
	// ReadFrame returns the next chunk frame. The caller owns f and
	// returns it with f.Release when done.
	ReadFrame() (*Frame, error)
	// Binding returns the channel binding mixed into the Noise prologue
	// (a TLS exporter value on QUIC, nil on TCP).
	Binding() []byte
	// SetDeadline bounds every pending and future read and write; the
	// zero time removes it. A deadline that expires fails the session
	// for good (a record may have been cut short).
	SetDeadline(t time.Time) error
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
	// Close tears the session down; pending reads and writes fail.
	Close() error
}

// Listener accepts sessions.
type Listener interface {
	// Accept returns the next session. The handshake deadline is the
	// caller's business (SetDeadline).
	Accept() (Session, error)
	Addr() net.Addr
	Close() error
}

// ErrClosed is returned by reads after the session was closed.
var ErrClosed = errors.New("transport: session closed")

// Frame is a received chunk frame.
type Frame struct {
	Header protocol.ChunkHeader
	Raw    []byte // the encoded header (protocol.ChunkHeaderSize bytes); AAD input
	Data   []byte // ciphertext, Header.CTLen bytes
	buf    []byte
	pooled bool // in a pool: releasing it again is a bug of ours
}

// newFrame returns a frame whose buffer holds a header and n ciphertext
// bytes.
func newFrame(n int) *Frame {
	f := getFrame(protocol.ChunkHeaderSize + n)
	f.Header = protocol.ChunkHeader{}
	f.Raw, f.Data = f.buf[:protocol.ChunkHeaderSize], f.buf[protocol.ChunkHeaderSize:]
	return f
}

// Release returns the frame's buffer for reuse; f must not be used after.
func (f *Frame) Release() {
	if f.buf != nil {
		f.Raw, f.Data = nil, nil
		putFrame(f)
	}
}
