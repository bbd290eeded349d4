// Package crypto implements xfer's cryptography: X25519 identities and
// their text forms, authorized_keys and known_hosts files, the
// Noise_XX_25519_ChaChaPoly_BLAKE2b handshake and the secure control
// channel it yields, chunk sealing with ChaCha20-Poly1305, and BLAKE2b
// chunk hashes and file roots.
package crypto

import (
	"crypto/cipher"
	"errors"
)

// PublicKey is an X25519 public key.
type PublicKey [32]byte

// KeyType is the type word of a public key's text form.
const KeyType = "xfer-x25519"

// String returns the key's text form: "xfer-x25519 " followed by the
// standard base64 encoding (with padding) of the key.
func (k PublicKey) String() string { panic("unimplemented") }

// Fingerprint returns the short form shown wherever keys are reported:
// "b2:" followed by the unpadded standard base64 of the first 16 bytes of
// BLAKE2b-256("xfer fingerprint" || key), e.g. "b2:3q2+7w…".
func (k PublicKey) Fingerprint() string { panic("unimplemented") }

// ParsePublicKey parses a text form "xfer-x25519 BASE64 [comment]" and
// returns the key and the comment (may be empty).
func ParsePublicKey(s string) (PublicKey, string, error) { panic("unimplemented") }

// Identity is a long-term X25519 key pair.
type Identity struct {
	Private [32]byte
	Public  PublicKey
	Comment string // e.g. "alice@laptop"; written into the .pub line
}

// GenerateIdentity makes a new random identity.
func GenerateIdentity(comment string) (*Identity, error) { panic("unimplemented") }

// ErrIdentityExists is returned (wrapped, naming the file) by SaveIdentity
// when the file already exists.
var ErrIdentityExists = errors.New("crypto: identity file already exists")

// MarshalIdentity returns the identity file's contents: a comment line and
// "XFER-X25519-PRIVATE-KEY BASE64 comment".
func MarshalIdentity(id *Identity) []byte { panic("unimplemented") }

// ParseIdentity parses an identity file's contents; it derives the public
// key from the private one.
func ParseIdentity(data []byte) (*Identity, error) { panic("unimplemented") }

// SaveIdentity writes id to path (mode 0600, created exclusively; the
// parent directory is created with mode 0700 if missing) and its public
// line to path+".pub" (0644). It refuses to overwrite an existing
// identity.
func SaveIdentity(path string, id *Identity) error { panic("unimplemented") }

// LoadIdentity reads an identity file; errors name the file.
func LoadIdentity(path string) (*Identity, error) { panic("unimplemented") }

// LoadOrCreateIdentity loads path, or when it does not exist generates an
// identity with the given comment, saves it, and reports created=true.
func LoadOrCreateIdentity(path, comment string) (id *Identity, created bool, err error) {
	panic("unimplemented")
}

// KeyOptions are the per-key options of an authorized_keys line.
type KeyOptions struct {
	Dir         string // "dir=SUB": confined to SUB under the root (cleaned, relative)
	ReadOnly    bool   // "read-only": may get and list, not send
	WriteOnly   bool   // "write-only": may send, not get or list
	NoOverwrite bool   // "no-overwrite": may not replace existing files
}

// AuthorizedKey is one parsed authorized_keys line.
type AuthorizedKey struct {
	Key     PublicKey
	Comment string
	Options KeyOptions
	Line    int
}

// ParseAuthorizedKeys parses an authorized_keys file: one key per line,
// "[options] xfer-x25519 BASE64 [comment]", where options is a
// comma-separated list without spaces (dir=PATH, read-only, write-only,
// no-overwrite). Blank lines and lines starting with '#' are ignored. Any
// malformed line is an error naming its line number ("line 3: ...").
func ParseAuthorizedKeys(data []byte) ([]AuthorizedKey, error) { panic("unimplemented") }

// LoadAuthorizedKeys reads and parses an authorized_keys file; errors name
// the file.
func LoadAuthorizedKeys(path string) ([]AuthorizedKey, error) { panic("unimplemented") }

// ErrUnknownHost is returned (wrapped, naming the host) by CheckKnownHost
// when the host has no entry.
var ErrUnknownHost = errors.New("crypto: unknown host")

// HostKeyChangedError reports that a host presented a key different from
// the one pinned in known_hosts.
type HostKeyChangedError struct {
	Host      string
	Known     PublicKey
	Presented PublicKey
	File      string
	Line      int
}

func (e *HostKeyChangedError) Error() string { panic("unimplemented") }

// CheckKnownHost looks host (as "host:port", the canonical form the client
// uses) up in the known_hosts file at path: lines "HOST xfer-x25519 BASE64
// [comment]", '#' comments and blank lines allowed. It returns nil when
// the key matches, an error wrapping ErrUnknownHost when the host (or the
// file) is absent, *HostKeyChangedError when the key differs, and a
// line-numbered error for a malformed file.
func CheckKnownHost(path, host string, key PublicKey) error { panic("unimplemented") }

// AddKnownHost appends "host key" to the known_hosts file at path,
// creating it (0600) and its directory (0700) if needed.
func AddKnownHost(path, host string, key PublicKey) error { panic("unimplemented") }

// MessageConn carries whole messages of at most 65535 bytes in order; it
// is implemented by transport sessions.
type MessageConn interface {
	WriteMessage(b []byte) error
	ReadMessage() ([]byte, error)
}

// HandshakeConfig configures one side of the Noise handshake.
type HandshakeConfig struct {
	Initiator bool // the client
	Identity  *Identity
	// Binding is mixed into the prologue after "xfer/1"; QUIC passes a TLS
	// exporter value, TCP nil.
	Binding []byte
	// VerifyPeer, if set, is called on the initiator with the responder's
	// static key as soon as it is known, before the initiator reveals its
	// own identity; an error aborts the handshake and is returned as is.
	VerifyPeer func(PublicKey) error
}

// Prologue returns the Noise prologue for a binding:
// "xfer/1 Noise_XX_25519_ChaChaPoly_BLAKE2b" || uint16 len(binding) || binding.
func Prologue(binding []byte) []byte { panic("unimplemented") }

// Channel is the secure control channel left by a completed handshake.
// Send and Receive are each safe for use by one goroutine at a time
// (internally locked), and may run concurrently with each other.
type Channel struct {
	// implementation fields
}

// Handshake runs Noise_XX_25519_ChaChaPoly_BLAKE2b over mc. Handshake
// messages carry empty payloads. Deadlines are the caller's business
// (close or time out mc).
func Handshake(mc MessageConn, cfg HandshakeConfig) (*Channel, error) { panic("unimplemented") }

// PeerKey returns the peer's static public key.
func (c *Channel) PeerKey() PublicKey { panic("unimplemented") }

// HandshakeHash returns the Noise handshake hash h (32 bytes).
func (c *Channel) HandshakeHash() []byte { panic("unimplemented") }

// Send seals p (at most 65519 bytes) and writes it as one message.
func (c *Channel) Send(p []byte) error { panic("unimplemented") }

// Receive reads and opens one message. After the first failure every call
// fails.
func (c *Channel) Receive() ([]byte, error) { panic("unimplemented") }

// Hash is a BLAKE2b-256 chunk hash or file root.
type Hash [32]byte

// String returns h in lowercase hex.
func (h Hash) String() string { panic("unimplemented") }

// ChunkHash returns BLAKE2b-256 of a plaintext chunk.
func ChunkHash(p []byte) Hash { panic("unimplemented") }

// RootHasher computes a file root incrementally:
// BLAKE2b-256("xfer/1 file root" || uint64 size || uint32 chunkSize ||
// chunk hash 0 || chunk hash 1 || ...), integers big-endian.
type RootHasher struct {
	// implementation fields
}

// NewRootHasher starts a file root.
func NewRootHasher(size uint64, chunkSize uint32) *RootHasher { panic("unimplemented") }

// Add appends the next chunk hash.
func (r *RootHasher) Add(h Hash) { panic("unimplemented") }

// Sum returns the root.
func (r *RootHasher) Sum() Hash { panic("unimplemented") }

// FileRoot is NewRootHasher + Add for each hash + Sum.
func FileRoot(size uint64, chunkSize uint32, hashes []Hash) Hash { panic("unimplemented") }

// DeriveChunkKey returns the chunk key of one transfer attempt:
// HKDF-BLAKE2b-256 with secret as input keying material, handshakeHash as
// salt, and info "xfer/1 chunk key" || transferID || uint32 attempt.
func DeriveChunkKey(secret [32]byte, handshakeHash []byte, transferID [16]byte, attempt uint32) [32]byte {
	panic("unimplemented")
}

// ChunkNonce returns the 12-byte nonce of a chunk: 3 zero bytes, the
// index as uint64 big-endian, and 0x01 for the last chunk, else 0x00.
func ChunkNonce(index uint64, last bool) [12]byte { panic("unimplemented") }

// ChunkAEAD seals and opens the chunks of one transfer attempt with
// ChaCha20-Poly1305. Each key is used for exactly one attempt, so a (key,
// nonce) pair never repeats as long as each index is sealed once per
// attempt. Safe for concurrent use.
type ChunkAEAD struct {
	aead cipher.AEAD
}

// NewChunkAEAD returns a ChunkAEAD for key.
func NewChunkAEAD(key [32]byte) *ChunkAEAD { panic("unimplemented") }

// Seal appends the sealed plaintext for chunk index to dst.
func (a *ChunkAEAD) Seal(dst []byte, index uint64, last bool, plaintext, aad []byte) []byte {
	panic("unimplemented")
}

// Open appends the opened ciphertext to dst, or returns an error
// ("crypto: chunk N failed authentication").
func (a *ChunkAEAD) Open(dst []byte, index uint64, last bool, ciphertext, aad []byte) ([]byte, error) {
	panic("unimplemented")
}
