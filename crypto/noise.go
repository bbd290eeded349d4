package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/flynn/noise"
)

// protocolName is the Noise protocol name; it starts the prologue.
const protocolName = "Noise_XX_25519_ChaChaPoly_BLAKE2b"

// prologueLabel is the fixed part of the prologue.
const prologueLabel = "xfer/1 " + protocolName

var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b)

// MessageConn carries whole messages of at most 65535 bytes in order; it
// is implemented by transport sessions.
//
// Handshake and Channel neither retain a slice passed to WriteMessage
// after it returns nor modify or retain a slice returned by ReadMessage, so
// implementations may reuse their buffers.
type MessageConn interface {
	WriteMessage(b []byte) error
	ReadMessage() ([]byte, error)
}

// HandshakeConfig configures one side of the Noise handshake.
type HandshakeConfig struct {
	Initiator bool // the client
	Identity  *Identity
	// Binding is mixed into the prologue after "xfer/1" and the protocol
	// name (see Prologue); QUIC passes a TLS exporter value, TCP nil. At
	// most 65535 bytes. Both sides must pass the same bytes.
	Binding []byte
	// VerifyPeer, if set, is called on the initiator with the responder's
	// static key as soon as it is known, before the initiator reveals its
	// own identity; an error aborts the handshake and is returned as is.
	//
	// On the responder, VerifyPeer (if set) is called with the initiator's
	// static key once the last handshake message has been authenticated,
	// and an error is likewise returned as is. The responder sends nothing
	// further either way; its caller reports the refusal, if it wants to,
	// over the Channel or by closing the connection.
	VerifyPeer func(PublicKey) error
}

// HandshakeHashSize is the length of Channel.HandshakeHash: Noise's HASHLEN
// for BLAKE2b.
const HandshakeHashSize = 64

// ErrHandshakeFailed is wrapped by the errors Handshake returns when the
// peer's messages are malformed, forged or do not fit this handshake
// (including a mismatched binding). I/O errors and VerifyPeer's errors are
// not wrapped in it. Its message deliberately gives no cryptographic
// detail.
var ErrHandshakeFailed = errors.New("crypto: handshake failed")

// Prologue returns the Noise prologue for a binding:
// "xfer/1 Noise_XX_25519_ChaChaPoly_BLAKE2b" || uint16 len(binding) || binding.
//
// It panics if binding is longer than 65535 bytes; Handshake checks this
// first.
func Prologue(binding []byte) []byte {
	if len(binding) > 0xffff {
		panic("crypto: Prologue: binding longer than 65535 bytes")
	}
	p := make([]byte, 0, len(prologueLabel)+2+len(binding))
	p = append(p, prologueLabel...)
	p = binary.BigEndian.AppendUint16(p, uint16(len(binding)))
	return append(p, binding...)
}

// Channel is the secure control channel left by a completed handshake.
// Send and Receive are each safe for use by one goroutine at a time
// (internally locked), and may run concurrently with each other.
//
// Each message is one Noise transport message: ciphertext and 16-byte tag,
// nonces counting up from 0 in each direction, no associated data. The
// first failure in a direction breaks that direction for good: the peer
// has either lost a message or been tampered with, and the Noise nonces no
// longer line up.
type Channel struct {
	mc   MessageConn
	peer PublicKey
	hash []byte

	sendMu  sync.Mutex
	send    *noise.CipherState
	sendErr error

	recvMu  sync.Mutex
	recv    *noise.CipherState
	recvErr error
}

// Handshake runs Noise_XX_25519_ChaChaPoly_BLAKE2b over mc. Handshake
// messages carry empty payloads. Deadlines are the caller's business
// (close or time out mc).
//
// The initiator writes message 1, reads message 2, calls VerifyPeer with
// the responder's key, and only then writes message 3, which carries its
// own static key. The responder reads message 1, writes message 2 and
// reads message 3. Errors read "crypto: handshake: ..." for I/O and
// wrap ErrHandshakeFailed for a bad peer message; on any error the caller
// should close mc.
func Handshake(mc MessageConn, cfg HandshakeConfig) (*Channel, error) {
	if cfg.Identity == nil {
		return nil, errors.New("crypto: handshake: no identity")
	}
	if len(cfg.Binding) > 0xffff {
		return nil, fmt.Errorf("crypto: handshake: binding of %d bytes exceeds 65535", len(cfg.Binding))
	}
	priv := cfg.Identity.Private
	pub := publicFromPrivate(&priv)
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite,
		Pattern:       noise.HandshakeXX,
		Initiator:     cfg.Initiator,
		Prologue:      Prologue(cfg.Binding),
		StaticKeypair: noise.DHKey{Private: priv[:], Public: pub[:]},
	})
	if err != nil {
		return nil, fmt.Errorf("crypto: handshake: %w", err)
	}
	h := &handshake{mc: mc, hs: hs}
	if cfg.Initiator {
		return h.initiate(cfg.VerifyPeer)
	}
	return h.respond(cfg.VerifyPeer)
}

// handshake is one side of a handshake in progress.
type handshake struct {
	mc MessageConn
	hs *noise.HandshakeState
}

func (h *handshake) initiate(verify func(PublicKey) error) (*Channel, error) {
	if err := h.write(1); err != nil {
		return nil, err
	}
	if _, _, err := h.read(2); err != nil {
		return nil, err
	}
	peer, err := h.peerStatic()
	if err != nil {
		return nil, err
	}
	if verify != nil {
		if err := verify(peer); err != nil {
			return nil, err
		}
	}
	msg, cs1, cs2, err := h.hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("crypto: handshake: writing message 3: %v", err)
	}
	if cs1 == nil || cs2 == nil {
		return nil, errors.New("crypto: handshake: not complete after message 3")
	}
	if err := h.mc.WriteMessage(msg); err != nil {
		return nil, fmt.Errorf("crypto: handshake: sending message 3: %w", err)
	}
	return h.channel(peer, cs1, cs2), nil
}

func (h *handshake) respond(verify func(PublicKey) error) (*Channel, error) {
	if _, _, err := h.read(1); err != nil {
		return nil, err
	}
	if err := h.write(2); err != nil {
		return nil, err
	}
	cs1, cs2, err := h.read(3)
	if err != nil {
		return nil, err
	}
	if cs1 == nil || cs2 == nil {
		return nil, errors.New("crypto: handshake: not complete after message 3")
	}
	peer, err := h.peerStatic()
	if err != nil {
		return nil, err
	}
	if verify != nil {
		if err := verify(peer); err != nil {
			return nil, err
		}
	}
	// Initiator sends with cs1; the responder sends with cs2.
	return h.channel(peer, cs2, cs1), nil
}

// write sends handshake message n with an empty payload.
func (h *handshake) write(n int) error {
	msg, _, _, err := h.hs.WriteMessage(nil, nil)
	if err != nil {
		return fmt.Errorf("crypto: handshake: writing message %d: %v", n, err)
	}
	if err := h.mc.WriteMessage(msg); err != nil {
		return fmt.Errorf("crypto: handshake: sending message %d: %w", n, err)
	}
	return nil
}

// read receives and processes handshake message n, which must carry an
// empty payload.
func (h *handshake) read(n int) (cs1, cs2 *noise.CipherState, err error) {
	msg, err := h.mc.ReadMessage()
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: handshake: reading message %d: %w", n, err)
	}
	if len(msg) > MaxMessageSize {
		return nil, nil, fmt.Errorf("%w: message %d too long", ErrHandshakeFailed, n)
	}
	payload, cs1, cs2, err := h.hs.ReadMessage(nil, msg)
	if err != nil {
		// Short, forged, or keyed to another prologue: the details do not
		// help a legitimate peer and may help an attacker.
		return nil, nil, fmt.Errorf("%w: message %d rejected", ErrHandshakeFailed, n)
	}
	if len(payload) != 0 {
		return nil, nil, fmt.Errorf("%w: message %d has unexpected payload", ErrHandshakeFailed, n)
	}
	return cs1, cs2, nil
}

func (h *handshake) peerStatic() (PublicKey, error) {
	rs := h.hs.PeerStatic()
	if len(rs) != len(PublicKey{}) {
		return PublicKey{}, fmt.Errorf("%w: no peer static key", ErrHandshakeFailed)
	}
	return PublicKey(rs), nil
}

func (h *handshake) channel(peer PublicKey, send, recv *noise.CipherState) *Channel {
	return &Channel{
		mc:   h.mc,
		peer: peer,
		hash: append([]byte(nil), h.hs.ChannelBinding()...),
		send: send,
		recv: recv,
	}
}

// PeerKey returns the peer's static public key.
func (c *Channel) PeerKey() PublicKey { return c.peer }

// HandshakeHash returns the Noise handshake hash h: HandshakeHashSize (64)
// bytes, because Noise's BLAKE2b is BLAKE2b-512. Both sides of a handshake
// get the same value; it is unique to the session and binds the prologue
// and both static keys. The caller must not modify it.
func (c *Channel) HandshakeHash() []byte { return c.hash }

// Send seals p (at most 65519 bytes) and writes it as one message.
//
// A p over the limit is rejected without sending anything. A write error
// breaks the channel for sending: it and every later Send return that
// error.
func (c *Channel) Send(p []byte) error {
	if len(p) > MaxMessagePayload {
		return fmt.Errorf("crypto: control message of %d bytes exceeds limit %d", len(p), MaxMessagePayload)
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.sendErr != nil {
		return c.sendErr
	}
	msg, err := c.send.Encrypt(make([]byte, 0, len(p)+tagSize), nil, p)
	if err != nil {
		c.sendErr = fmt.Errorf("crypto: sealing control message: %w", err)
		return c.sendErr
	}
	if err := c.mc.WriteMessage(msg); err != nil {
		c.sendErr = fmt.Errorf("crypto: sending control message: %w", err)
		return c.sendErr
	}
	return nil
}

// ErrChannelAuth is wrapped by the error Receive returns when a message
// fails authentication.
var ErrChannelAuth = errors.New("crypto: control message failed authentication")

// Receive reads and opens one message. After the first failure every call
// fails, returning the first error: a read error (wrapped), or one wrapping
// ErrChannelAuth for a message that is too short, too long, forged,
// reordered or replayed.
func (c *Channel) Receive() ([]byte, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.recvErr != nil {
		return nil, c.recvErr
	}
	msg, err := c.mc.ReadMessage()
	if err != nil {
		c.recvErr = fmt.Errorf("crypto: receiving control message: %w", err)
		return nil, c.recvErr
	}
	if len(msg) < tagSize || len(msg) > MaxMessageSize {
		c.recvErr = fmt.Errorf("%w (length %d)", ErrChannelAuth, len(msg))
		return nil, c.recvErr
	}
	p, err := c.recv.Decrypt(make([]byte, 0, len(msg)-tagSize), nil, msg)
	if err != nil {
		c.recvErr = ErrChannelAuth
		return nil, c.recvErr
	}
	return p, nil
}
