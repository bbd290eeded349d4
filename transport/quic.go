package transport

// QUIC sessions.
//
// # Layers and identity
//
// QUIC cannot run without TLS 1.3, but xfer's identities are the Noise
// keys, so the TLS layer here authenticates nothing: the listener makes an
// ephemeral self-signed certificate when it starts and the client accepts
// any certificate (InsecureSkipVerify). What makes this safe is the channel
// binding: both ends export keying material from the TLS session
// (Session.Binding) and mix it into the Noise prologue, so a middlebox that
// terminates TLS on either side ends up with two different TLS sessions,
// two different bindings, and a failing Noise handshake. The TLS settings
// are otherwise strict: TLS 1.3 only, ALPN "xfer/1", no session tickets and
// hence no resumption and no 0-RTT.
//
// # Streams
//
// The client opens the only bidirectional stream, the control channel; it
// carries uint16-length-prefixed messages in order. A QUIC stream becomes
// visible to the peer only when its first byte arrives, so the listener
// hands out a session only once the client has written on it; xfer's
// client always speaks first (the first Noise handshake message), and a
// client that stays silent for the handshake timeout is disconnected.
//
// Chunk frames travel on unidirectional data streams, each frame (header
// and ciphertext) whole on one stream. The side that sends frames opens up
// to QUICOptions.Streams data streams as concurrent WriteFrame calls need
// them; one writer at a time uses a stream. The receiving side starts
// accepting data streams at its first ReadFrame call (after the Noise
// handshake, in xfer), reads each on its own goroutine and merges the
// frames into one bounded queue. Frames on different streams, and frames
// relative to control messages, are not ordered: a receiver must not assume
// that the frames sent before a control message have arrived when the
// message does.
//
// # Limits
//
// A listener caps its connections (QUICOptions.MaxConns, handshaking ones
// included) and the connections whose QUIC handshake or control stream is
// still pending (QUICOptions.MaxHandshakes); once half of the latter are
// in use, new clients must first prove their address with a Retry, so
// spoofed or garbage Initial packets can hold at most half the slots, each
// for at most the handshake timeout. Extra connection attempts are refused
// (CONNECTION_REFUSED). A peer may open one bidirectional stream and at most
// QUICOptions.MaxIncomingStreams unidirectional ones at a time. Until
// ReadFrame is called, data streams are not read at all, so what an
// unauthenticated peer can make a session buffer is bounded by the initial
// connection flow-control window (quicInitialConnWindow).
//
// # Closing
//
// Closing a QUIC connection discards whatever is not yet delivered, so
// Close first ends the control stream and idle data streams (FIN) and
// waits briefly for the peer to do the same or to close the connection;
// the message written last before Close thus arrives, as on TCP. On the
// other side, ReadMessage returns io.EOF once the control stream's FIN
// arrives, and ReadFrame once, in addition, every data stream accepted so
// far has been read to its end; a connection closed normally by the peer
// also reads as io.EOF.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"

	"xfer/protocol"
)

// Values fixed by the protocol.
const (
	// QUICALPN is the TLS application protocol of xfer over QUIC.
	QUICALPN = "xfer/1"
	// QUICBindingLabel is the TLS exporter label of the channel binding
	// (RFC 8446, section 7.5; empty context).
	QUICBindingLabel = "EXPORTER-xfer/1 noise binding"
	// QUICBindingSize is the length of the channel binding.
	QUICBindingSize = 32
)

// Defaults of QUICOptions.
const (
	DefaultQUICStreams        = 4
	DefaultMaxIncomingStreams = 16
	DefaultMaxConns           = 64
	DefaultMaxHandshakes      = 16
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultIdleTimeout        = 15 * time.Second
)

// Choices of this implementation.
const (
	// maxQUICStreams caps QUICOptions.Streams and MaxIncomingStreams.
	maxQUICStreams = 256

	quicKeepAlive = 15 * time.Second

	// Flow-control windows. quic-go starts at the initial windows and
	// doubles them, up to the maxima, while the application keeps up;
	// 32 MiB per stream and 64 MiB per connection cover the
	// bandwidth-delay product of a 1 Gbit/s path with 500 ms of RTT. The
	// initial connection window is also what an unauthenticated peer can
	// make a session buffer (nothing reads before ReadFrame).
	quicInitialStreamWindow = 4 << 20
	quicMaxStreamWindow     = 32 << 20
	quicInitialConnWindow   = 8 << 20
	quicMaxConnWindow       = 64 << 20

	// udpBufferSize is the UDP socket buffer size requested in each
	// direction.
	udpBufferSize = 8 << 20

	// frameQueue is how many received frames wait for ReadFrame, beyond
	// the one each data stream's reader may hold.
	frameQueue = 8

	// Close waits up to quicLinger plus four round trips, and at most
	// quicLingerMax, for the peer to end the session too before it closes
	// the connection.
	quicLinger    = 250 * time.Millisecond
	quicLingerMax = 2 * time.Second
)

// Application error codes (CONNECTION_CLOSE) and stream error codes
// (RESET_STREAM, STOP_SENDING).
const (
	quicCodeNoError   quic.ApplicationErrorCode = 0x0
	quicCodeNoControl quic.ApplicationErrorCode = 0x1 // no control stream in time
	quicCodeShutdown  quic.ApplicationErrorCode = 0x2 // listener closed

	quicStreamCancelled quic.StreamErrorCode = 0x1 // writer gave up mid-frame
	quicStreamMalformed quic.StreamErrorCode = 0x2 // bad frame on a data stream
	quicStreamUnwanted  quic.StreamErrorCode = 0x3 // session closed or failed
)

// QUICOptions configures ListenQUIC and DialQUIC. A nil *QUICOptions, and
// zero fields, mean the defaults.
type QUICOptions struct {
	// Streams is the number of unidirectional data streams this side
	// opens when it sends chunk frames (default 4). Streams beyond the
	// peer's MaxIncomingStreams are not used.
	Streams int
	// MaxIncomingStreams is the number of unidirectional data streams the
	// peer may have open at once (default 16).
	MaxIncomingStreams int
	// MaxConns bounds a listener's connections, established and
	// handshaking (default 64). Further attempts are refused.
	MaxConns int
	// MaxHandshakes bounds a listener's connections whose QUIC handshake
	// or control stream is pending (default 16).
	MaxHandshakes int
	// HandshakeTimeout bounds the QUIC handshake and, on a listener, the
	// wait for the client's control stream (default 10s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection after this long without any
	// packet from the peer (default 60s); keep-alives are sent every
	// 15s, or half of IdleTimeout when that is shorter.
	IdleTimeout time.Duration
	// StatelessResetKey, on a listener, lets quic-go answer packets of
	// connections it does not know (those of a previous run of the
	// daemon) with a stateless reset, so their clients fail at once
	// instead of after IdleTimeout. It must be the same across restarts
	// and secret: xferd derives it from its host key
	// (crypto.Identity.StatelessResetKey). Nil: no resets.
	StatelessResetKey *[32]byte
	// Logger receives the UDP buffer warning and debug events such as
	// refused connections (default slog.Default()).
	Logger *slog.Logger
}

func (o *QUICOptions) withDefaults() QUICOptions {
	var c QUICOptions
	if o != nil {
		c = *o
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
		*v = min(*v, maxQUICStreams)
	}
	def(&c.Streams, DefaultQUICStreams)
	def(&c.MaxIncomingStreams, DefaultMaxIncomingStreams)
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// quicConfig returns the quic-go configuration of one side.
func (o *QUICOptions) quicConfig(server bool) *quic.Config {
	c := &quic.Config{
		HandshakeIdleTimeout:           o.HandshakeTimeout,
		MaxIdleTimeout:                 o.IdleTimeout,
		KeepAlivePeriod:                quicKeepAlive,
		InitialStreamReceiveWindow:     quicInitialStreamWindow,
		MaxStreamReceiveWindow:         quicMaxStreamWindow,
		InitialConnectionReceiveWindow: quicInitialConnWindow,
		MaxConnectionReceiveWindow:     quicMaxConnWindow,
		MaxIncomingUniStreams:          int64(o.MaxIncomingStreams),
		Allow0RTT:                      false,
	}
	if server {
		c.MaxIncomingStreams = 1 // the control stream
	} else {
		c.MaxIncomingStreams = -1 // the daemon opens no bidirectional stream
	}
	return c
}

// ListenQUIC listens for QUIC sessions on the UDP address addr
// ("host:port").
func ListenQUIC(addr string, opts *QUICOptions) (Listener, error) {
	o := opts.withDefaults()
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	tlsConf, err := quicServerTLS()
	if err != nil {
		return nil, err
	}
	udp, err := listenUDP("udp", uaddr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &quicListener{
		udp:    udp,
		opts:   o,
		ready:  make(chan Session),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
		refs:   1,
	}
	l.tr = &quic.Transport{
		Conn:                udp,
		ConnContext:         l.admit,
		VerifySourceAddress: l.mustRetry,
		StatelessResetKey:   (*quic.StatelessResetKey)(o.StatelessResetKey),
	}
	ln, err := l.tr.Listen(tlsConf, o.quicConfig(true))
	if err != nil {
		cancel()
		l.tr.Close()
		udp.Close()
		return nil, fmt.Errorf("transport: quic listen: %w", err)
	}
	l.ln = ln
	checkUDPBuffers(udp, o.Logger)
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// DialQUIC connects to a QUIC listener at addr ("host:port"). ctx bounds
// the connection attempt only.
func DialQUIC(ctx context.Context, addr string, opts *QUICOptions) (Session, error) {
	o := opts.withDefaults()
	raddr, err := resolveUDP(ctx, addr)
	if err != nil {
		return nil, err
	}
	network, laddr := "udp4", &net.UDPAddr{IP: net.IPv4zero}
	if raddr.IP.To4() == nil {
		network, laddr = "udp6", &net.UDPAddr{IP: net.IPv6unspecified}
	}
	udp, err := listenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: udp}
	closeTransport := func() {
		tr.Close()
		udp.Close()
	}
	hctx, cancel := context.WithTimeout(ctx, o.HandshakeTimeout)
	defer cancel()
	conn, err := tr.Dial(hctx, raddr, quicClientTLS(), o.quicConfig(false))
	if err != nil {
		closeTransport()
		return nil, fmt.Errorf("transport: quic dial %s: %w", addr, err)
	}
	checkUDPBuffers(udp, o.Logger)
	ctrl, err := conn.OpenStream()
	if err != nil {
		conn.CloseWithError(quicCodeNoError, "")
		closeTransport()
		return nil, fmt.Errorf("transport: quic dial %s: %w", addr, err)
	}
	s, err := newQUICSession(conn, ctrl, &o, closeTransport)
	if err != nil {
		closeTransport()
		return nil, err
	}
	return s, nil
}

func resolveUDP(ctx context.Context, addr string) (*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	p, err := net.DefaultResolver.LookupPort(ctx, "udp", port)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("transport: no address for %s", host)
	}
	return &net.UDPAddr{IP: ips[0].Unmap().AsSlice(), Port: p, Zone: ips[0].Zone()}, nil
}

// quicServerTLS returns a TLS configuration with a fresh self-signed
// Ed25519 certificate.
func quicServerTLS() (*tls.Config, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "xfer"},
		DNSNames:     []string{"xfer"},
		NotBefore:    now.Add(-time.Hour),
		// The certificate authenticates nothing (see the top of this
		// file); it only has to stay valid while the listener runs.
		NotAfter:    now.AddDate(100, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("transport: certificate: %w", err)
	}
	return &tls.Config{
		Certificates:           []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}},
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		NextProtos:             []string{QUICALPN},
		SessionTicketsDisabled: true,
	}, nil
}

func quicClientTLS() *tls.Config {
	return &tls.Config{
		// The daemon is authenticated by the Noise handshake, which is
		// bound to this TLS session (Session.Binding); the certificate
		// is ephemeral and proves nothing.
		InsecureSkipVerify:     true,
		ServerName:             "xfer",
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		NextProtos:             []string{QUICALPN},
		SessionTicketsDisabled: true,
	}
}

// UDP socket buffers.

var (
	udpWarnOnce    sync.Once
	quicGoWarnOnce sync.Once
)

// listenUDP opens a UDP socket with large buffers requested. The kernel
// may grant less; checkUDPBuffers reports it once quic-go has tried too.
func listenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	// quic-go prints its own warning (with log.Printf) when it cannot
	// get the buffers it wants; ours says the same through the
	// configured logger and names the fix, so quiet quic-go's unless the
	// user has set the variable.
	quicGoWarnOnce.Do(func() {
		const env = "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"
		if _, ok := os.LookupEnv(env); !ok {
			os.Setenv(env, "true")
		}
	})
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	c.SetReadBuffer(udpBufferSize)
	c.SetWriteBuffer(udpBufferSize)
	return c, nil
}

// checkUDPBuffers logs one warning per process when the socket's buffers
// are smaller than udpBufferSize.
func checkUDPBuffers(c *net.UDPConn, log *slog.Logger) {
	rd, wr, err := udpBufferSizes(c)
	if err != nil {
		log.Debug("transport: cannot read UDP buffer sizes", "err", err)
		return
	}
	if rd >= udpBufferSize && wr >= udpBufferSize {
		return
	}
	udpWarnOnce.Do(func() {
		log.Warn("transport: the kernel limits UDP socket buffers, QUIC may be slow; "+udpBufferHint(),
			"receive_buffer", rd, "send_buffer", wr, "wanted", udpBufferSize)
	})
}

func udpBufferHint() string {
	switch runtime.GOOS {
	case "linux":
		return fmt.Sprintf("raise the limits with: sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d", udpBufferSize, udpBufferSize)
	case "darwin", "freebsd", "netbsd", "openbsd", "dragonfly":
		return fmt.Sprintf("raise the limit with: sysctl -w kern.ipc.maxsockbuf=%d", 2*udpBufferSize)
	default:
		return "raise the system's socket buffer limits"
	}
}

// udpBufferSizes returns the usable receive and send buffer sizes of c.
func udpBufferSizes(c *net.UDPConn) (rd, wr int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var rerr, werr error
	cerr := raw.Control(func(fd uintptr) {
		rd, rerr = sockoptInt(syscall.GetsockoptInt, fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		wr, werr = sockoptInt(syscall.GetsockoptInt, fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	if err := errors.Join(cerr, rerr, werr); err != nil {
		return 0, 0, err
	}
	if runtime.GOOS == "linux" {
		// Linux reports twice the size asked for (and granted): the
		// other half is for its own bookkeeping.
		rd, wr = rd/2, wr/2
	}
	return rd, wr, nil
}

// sockoptInt calls getsockopt whatever the platform's type for a socket
// (an int on Unix, a Handle on Windows).
func sockoptInt[FD ~int | ~uintptr](get func(FD, int, int) (int, error), fd uintptr, level, opt int) (int, error) {
	return get(FD(fd), level, opt)
}

// quicListener accepts QUIC sessions. Its transport (and UDP socket) stays
// open while sessions accepted from it live: each holds a reference, and
// so does the listener until Close.
type quicListener struct {
	udp  *net.UDPConn
	tr   *quic.Transport
	ln   *quic.Listener
	opts QUICOptions

	ready  chan Session    // sessions whose control stream arrived
	done   chan struct{}   // closed by Close
	failed chan struct{}   // closed when the quic-go listener fails
	ferr   error           // why; read after failed
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   int // connections admitted and not yet closed
	pending int // of which still without a control stream
	refs    int // the listener's and each live session's
	closed  bool
}

// connSlot is a connection's share of the listener's limits. Its context
// value rides on the connection's context.
type connSlot struct {
	l           *quicListener
	established bool
	released    bool
}

type connSlotKey struct{}

var (
	errTooManyConns      = errors.New("transport: too many QUIC connections")
	errTooManyHandshakes = errors.New("transport: too many pending QUIC handshakes")
	errListenerClosed    = fmt.Errorf("transport: listener closed: %w", net.ErrClosed)
)

// admit is quic-go's ConnContext hook, called for every new connection
// attempt; an error refuses it (CONNECTION_REFUSED). ctx is canceled when
// the connection ends, whichever way.
func (l *quicListener) admit(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, errListenerClosed
	case l.conns >= l.opts.MaxConns:
		l.opts.Logger.Debug("transport: refusing QUIC connection", "remote", info.RemoteAddr, "err", errTooManyConns)
		return nil, errTooManyConns
	case l.pending >= l.opts.MaxHandshakes:
		l.opts.Logger.Debug("transport: refusing QUIC connection", "remote", info.RemoteAddr, "err", errTooManyHandshakes)
		return nil, errTooManyHandshakes
	}
	l.conns++
	l.pending++
	slot := &connSlot{l: l}
	context.AfterFunc(ctx, slot.release)
	return context.WithValue(ctx, connSlotKey{}, slot), nil
}

// mustRetry is quic-go's VerifySourceAddress hook: once half the handshake
// slots are taken, clients must prove their address first.
func (l *quicListener) mustRetry(net.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 2*l.pending >= l.opts.MaxHandshakes
}

func (s *connSlot) release() {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.released {
		return
	}
	s.released = true
	l.conns--
	if !s.established {
		l.pending--
	}
}

func (s *connSlot) establish() {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.released || s.established {
		return
	}
	s.established = true
	l.pending--
}

// acquire takes a reference on the transport for a new session; false
// when the listener is closed.
func (l *quicListener) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.refs++
	return true
}

// unref drops a reference and closes the transport with the last.
func (l *quicListener) unref() {
	l.mu.Lock()
	l.refs--
	last := l.refs == 0
	l.mu.Unlock()
	if last {
		l.tr.Close()
		l.udp.Close()
	}
}

func (l *quicListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept(l.ctx)
		if err != nil {
			select {
			case <-l.done:
			default:
				l.ferr = fmt.Errorf("transport: quic accept: %w", err)
				close(l.failed)
			}
			return
		}
		l.wg.Add(1)
		go l.awaitControl(c)
	}
}

// awaitControl waits for the client's control stream and then offers the
// session to Accept.
func (l *quicListener) awaitControl(c *quic.Conn) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
	ctrl, err := c.AcceptStream(ctx)
	cancel()
	if err != nil {
		l.opts.Logger.Debug("transport: no QUIC control stream", "remote", c.RemoteAddr(), "err", err)
		c.CloseWithError(quicCodeNoControl, "no control stream")
		return
	}
	if !l.acquire() {
		c.CloseWithError(quicCodeShutdown, "shutting down")
		return
	}
	s, err := newQUICSession(c, ctrl, &l.opts, l.unref)
	if err != nil {
		l.opts.Logger.Debug("transport: QUIC session setup failed", "remote", c.RemoteAddr(), "err", err)
		c.CloseWithError(quicCodeShutdown, "")
		l.unref()
		return
	}
	if slot, ok := c.Context().Value(connSlotKey{}).(*connSlot); ok {
		slot.establish()
	}
	select {
	case l.ready <- s:
	case <-l.done:
		s.abort(quicCodeShutdown, "shutting down")
	}
}

func (l *quicListener) Accept() (Session, error) {
	select {
	case s := <-l.ready:
		return s, nil
	case <-l.done:
		return nil, errListenerClosed
	case <-l.failed:
		return nil, l.ferr
	}
}

func (l *quicListener) Addr() net.Addr { return l.udp.LocalAddr() }

// Close stops accepting and refuses sessions not yet accepted. Sessions
// already accepted keep running; the UDP socket closes with the last of
// them.
func (l *quicListener) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.done)
		l.cancel()
		l.ln.Close()
		l.wg.Wait()
		l.unref()
	})
	return nil
}

// quicSession is a Session over one QUIC connection.
type quicSession struct {
	conn    *quic.Conn
	ctrl    *quic.Stream
	ctrlR   *bufio.Reader
	binding []byte
	release func() // releases the transport; called once, by Close

	rbroken error // sticky ReadMessage error; used by the reader only

	wmu     sync.Mutex // serializes control writes
	wbroken error      // sticky WriteMessage error; guarded by wmu

	// Sending frames. idle holds one entry per usable stream slot: an
	// open stream, or nil for a slot whose stream is not open yet. A
	// writer owns the stream it took until it puts it back.
	idle  chan *quic.SendStream
	smu   sync.Mutex
	sent  []*quic.SendStream // every data stream opened, for SetDeadline
	slots int                // entries in circulation; guarded by smu

	// Receiving frames.
	recvOnce sync.Once
	frames   chan *Frame
	rdone    chan struct{} // closed when receiving stopped, rerr says why
	rerr     error
	rerrOnce sync.Once
	rmu      sync.Mutex
	readers  int  // data streams being read; guarded by rmu
	peerDone bool // the peer ended its control stream; guarded by rmu

	dl        deadline
	closing   chan struct{} // closed by Close
	peerFin   chan struct{} // closed when the peer ends its control stream
	closeOnce sync.Once
	linger    time.Duration // quicLinger; tests lengthen it
}

func newQUICSession(conn *quic.Conn, ctrl *quic.Stream, o *QUICOptions, release func()) (*quicSession, error) {
	st := conn.ConnectionState()
	binding, err := st.TLS.ExportKeyingMaterial(QUICBindingLabel, nil, QUICBindingSize)
	if err != nil {
		conn.CloseWithError(quicCodeNoError, "")
		return nil, fmt.Errorf("transport: quic channel binding: %w", err)
	}
	s := &quicSession{
		conn:    conn,
		ctrl:    ctrl,
		ctrlR:   bufio.NewReaderSize(ctrl, 16<<10),
		binding: binding,
		release: release,
		idle:    make(chan *quic.SendStream, o.Streams),
		slots:   o.Streams,
		frames:  make(chan *Frame, frameQueue),
		rdone:   make(chan struct{}),
		closing: make(chan struct{}),
		peerFin: make(chan struct{}),
		linger:  quicLinger,
	}
	s.dl.c = make(chan struct{})
	for range o.Streams {
		s.idle <- nil
	}
	var finOnce sync.Once
	ctrl.SetReceiveFinalSizeCallback(func(int64) {
		finOnce.Do(func() { close(s.peerFin) })
	})
	return s, nil
}

func (s *quicSession) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// mapErr turns quic-go's errors into the transport's: ErrClosed after
// Close, io.EOF when the peer ended the session normally.
func (s *quicSession) mapErr(err error) error {
	if s.isClosing() {
		return ErrClosed
	}
	var ae *quic.ApplicationError
	switch {
	case errors.Is(err, io.EOF):
		return io.EOF
	case errors.As(err, &ae) && ae.Remote && ae.ErrorCode == quicCodeNoError:
		return io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("transport: connection closed mid-record: %w", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err
	}
	return fmt.Errorf("transport: quic: %w", err)
}

// errPeerClosed is returned by writes after the peer closed the session.
var errPeerClosed = fmt.Errorf("transport: session closed by peer: %w", net.ErrClosed)

// mapWriteErr is mapErr for writes, where the peer's normal close is an
// error rather than an end of stream.
func (s *quicSession) mapWriteErr(err error) error {
	err = s.mapErr(err)
	if err == io.EOF {
		return errPeerClosed
	}
	return err
}

func (s *quicSession) ReadMessage() ([]byte, error) {
	if s.isClosing() {
		return nil, ErrClosed
	}
	if s.rbroken != nil {
		return nil, s.rbroken
	}
	var lb [2]byte
	n, err := io.ReadFull(s.ctrlR, lb[:])
	if err != nil {
		err = s.mapErr(err)
		// A deadline before the first byte leaves the stream intact.
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			s.rbroken = err
		}
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(s.ctrlR, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		s.rbroken = s.mapErr(err)
		return nil, s.rbroken
	}
	return b, nil
}

func (s *quicSession) WriteMessage(b []byte) error {
	if len(b) > protocol.MaxMessage {
		return fmt.Errorf("transport: message of %d bytes exceeds %d", len(b), protocol.MaxMessage)
	}
	rec := make([]byte, 2+len(b))
	binary.BigEndian.PutUint16(rec, uint16(len(b)))
	copy(rec[2:], b)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosing() {
		return ErrClosed
	}
	if s.wbroken != nil {
		return s.wbroken
	}
	n, err := s.ctrl.Write(rec)
	if err != nil {
		err = s.mapWriteErr(err)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			s.wbroken = err
		}
	}
	return err
}

func (s *quicSession) WriteFrame(hdr, ct []byte) error {
	if len(hdr) != protocol.ChunkHeaderSize || hdr[0] != protocol.FrameChunk {
		return errors.New("transport: malformed chunk header")
	}
	h, err := protocol.ParseChunkHeader(hdr)
	if err != nil {
		return fmt.Errorf("transport: sending: %w", err)
	}
	if int(h.CTLen) != len(ct) {
		return fmt.Errorf("transport: chunk header declares %d ciphertext bytes, got %d", h.CTLen, len(ct))
	}
	str, err := s.takeStream()
	if err != nil {
		return err
	}
	n, err := str.Write(hdr)
	if err == nil {
		_, err = str.Write(ct)
	}
	if err != nil {
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			s.idle <- str // nothing written: the stream is intact
		} else {
			// A partial frame would desynchronize the peer's reader;
			// reset the stream, which fails the peer's ReadFrame.
			str.CancelWrite(quicStreamCancelled)
			s.idle <- nil
		}
		return s.mapWriteErr(err)
	}
	s.idle <- str
	return nil
}

// takeStream returns an idle data stream, opening one for an empty slot.
func (s *quicSession) takeStream() (*quic.SendStream, error) {
	for {
		var str *quic.SendStream
		select {
		case <-s.closing:
			return nil, ErrClosed
		default:
		}
		select {
		case str = <-s.idle:
		case <-s.closing:
			return nil, ErrClosed
		case <-s.dl.wait():
			return nil, os.ErrDeadlineExceeded
		case <-s.conn.Context().Done():
			return nil, s.mapWriteErr(context.Cause(s.conn.Context()))
		}
		if str != nil {
			return str, nil
		}
		str, err := s.conn.OpenUniStream()
		if err == nil {
			s.smu.Lock()
			s.sent = append(s.sent, str)
			if t := s.dl.get(); !t.IsZero() {
				str.SetWriteDeadline(t)
			}
			s.smu.Unlock()
			return str, nil
		}
		var limit *quic.StreamLimitReachedError
		if !errors.As(err, &limit) {
			s.idle <- nil
			return nil, s.mapWriteErr(err)
		}
		// The peer takes fewer streams than we would open: retire the
		// slot and wait for a stream in use, unless none is open.
		s.smu.Lock()
		last := s.slots == 1
		if !last {
			s.slots--
		}
		s.smu.Unlock()
		if last {
			s.idle <- nil
			return nil, errors.New("transport: peer accepts no data streams")
		}
	}
}

func (s *quicSession) ReadFrame() (*Frame, error) {
	s.recvOnce.Do(func() {
		go s.acceptStreams()
		go s.awaitPeerEnd()
	})
	if s.isClosing() {
		return nil, ErrClosed
	}
	select {
	case f := <-s.frames:
		return f, nil
	default:
	}
	select {
	case f := <-s.frames:
		return f, nil
	case <-s.rdone:
		select {
		case f := <-s.frames:
			if !s.isClosing() {
				return f, nil
			}
			f.Release()
		default:
		}
		return nil, s.rerr
	case <-s.dl.wait():
		return nil, os.ErrDeadlineExceeded
	}
}

// failRecv stops receiving frames; ReadFrame returns err once the queue is
// empty.
func (s *quicSession) failRecv(err error) {
	s.rerrOnce.Do(func() {
		s.rerr = err
		close(s.rdone)
	})
}

func (s *quicSession) acceptStreams() {
	for {
		str, err := s.conn.AcceptUniStream(context.Background())
		if err != nil {
			s.failRecv(s.mapErr(err))
			return
		}
		s.rmu.Lock()
		s.readers++
		s.rmu.Unlock()
		go s.readStream(str)
	}
}

// awaitPeerEnd ends receiving with io.EOF once the peer has closed the
// session (its control stream is finished) and the data streams it opened
// have been read to their ends, as a TCP peer's FIN would; the connection
// itself may stay open a little longer (see Close).
func (s *quicSession) awaitPeerEnd() {
	select {
	case <-s.peerFin:
	case <-s.rdone:
		return
	}
	s.rmu.Lock()
	s.peerDone = true
	idle := s.readers == 0
	s.rmu.Unlock()
	if idle {
		s.failRecv(io.EOF)
	}
}

// readStream reads frames from one data stream until it ends.
func (s *quicSession) readStream(str *quic.ReceiveStream) {
	defer func() {
		s.rmu.Lock()
		s.readers--
		idle := s.readers == 0 && s.peerDone
		s.rmu.Unlock()
		if idle {
			s.failRecv(io.EOF)
		}
	}()
	var hdr [protocol.ChunkHeaderSize]byte
	for {
		if _, err := io.ReadFull(str, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return // the sender closed the stream between frames
			}
			s.failStream(str, quicStreamUnwanted, s.mapErr(err))
			return
		}
		h, err := protocol.ParseChunkHeader(hdr[:])
		if err != nil {
			s.failStream(str, quicStreamMalformed, fmt.Errorf("transport: data stream %d: %w", str.StreamID(), err))
			return
		}
		f := newFrame(int(h.CTLen))
		f.Header = h
		copy(f.Raw, hdr[:])
		if _, err := io.ReadFull(str, f.Data); err != nil {
			f.Release()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			s.failStream(str, quicStreamUnwanted, s.mapErr(err))
			return
		}
		select {
		case s.frames <- f:
		case <-s.rdone:
			f.Release()
			str.CancelRead(quicStreamUnwanted)
			return
		}
	}
}

func (s *quicSession) failStream(str *quic.ReceiveStream, code quic.StreamErrorCode, err error) {
	str.CancelRead(code)
	s.failRecv(err)
}

func (s *quicSession) Binding() []byte { return slices.Clone(s.binding) }

// SetDeadline bounds control reads and writes, frame writes (including
// the wait for a free data stream) and ReadFrame. An expired deadline
// leaves the session usable unless a message or frame was cut short.
func (s *quicSession) SetDeadline(t time.Time) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.dl.set(t)
	for _, str := range s.sent {
		str.SetWriteDeadline(t)
	}
	return s.ctrl.SetDeadline(t)
}

func (s *quicSession) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Close ends the session. Pending reads on this side return ErrClosed at
// once. The control stream and the idle data streams are then closed
// (FIN), and Close waits briefly, at most quicLingerMax, for the peer to
// end its side too or close the connection, so that the last message
// written before Close is delivered even if it has to be retransmitted;
// then it closes the connection. The peer's reads end with io.EOF as soon
// as the FINs arrive, so a peer that closes in response ends the wait.
func (s *quicSession) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.failRecv(ErrClosed)
		past := time.Unix(1, 0)
		s.ctrl.SetReadDeadline(past)
		// Interrupt a blocked WriteMessage, then end the control stream.
		s.ctrl.SetWriteDeadline(past)
		s.wmu.Lock()
		s.ctrl.Close()
		s.wmu.Unlock()
	idle:
		for {
			select {
			case str := <-s.idle:
				if str != nil {
					str.Close()
				}
			default:
				break idle
			}
		}
		rtt := s.conn.ConnectionStats().SmoothedRTT
		t := time.NewTimer(min(max(quicLingerMax, s.linger), s.linger+4*rtt))
		select {
		case <-s.peerFin:
		case <-s.conn.Context().Done():
		case <-t.C:
		}
		t.Stop()
		s.conn.CloseWithError(quicCodeNoError, "")
		s.drainFrames()
		s.release()
	})
	return nil
}

// abort closes the session without waiting for the peer.
func (s *quicSession) abort(code quic.ApplicationErrorCode, msg string) {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.failRecv(ErrClosed)
		s.conn.CloseWithError(code, msg)
		s.drainFrames()
		s.release()
	})
}

func (s *quicSession) drainFrames() {
	for {
		select {
		case f := <-s.frames:
			f.Release()
		default:
			return
		}
	}
}

// deadline is a settable point in time with a channel that is closed
// while it lies in the past. Set c before use.
type deadline struct {
	mu    sync.Mutex
	t     time.Time
	timer *time.Timer
	c     chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	if d.timer != nil && !d.timer.Stop() {
		<-d.c // the timer fired: wait until it closed the channel
	}
	d.timer = nil
	expired := false
	select {
	case <-d.c:
		expired = true
	default:
	}
	if t.IsZero() {
		if expired {
			d.c = make(chan struct{})
		}
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		if !expired {
			close(d.c)
		}
		return
	}
	if expired {
		d.c = make(chan struct{})
	}
	c := d.c
	d.timer = time.AfterFunc(wait, func() { close(c) })
}

func (d *deadline) get() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c
}
