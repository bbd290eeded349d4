// Package crypto implements xfer's cryptography: X25519 identities and
// their text forms, authorized_keys and known_hosts files, the
// Noise_XX_25519_ChaChaPoly_BLAKE2b handshake and the secure control
// channel it yields, chunk sealing with ChaCha20-Poly1305, and BLAKE2b
// chunk hashes and file roots.
//
// # Files
//
// The package owns four small text formats, all line based and UTF-8.
// Blank lines and lines starting with '#' are ignored, a trailing "\r" is
// tolerated on every line, fields are separated by spaces or tabs, and a
// line holding any other control character is rejected. Parsers report
// the number of the first bad line and accept a file completely or not
// at all.
//
//   - A public key: "xfer-x25519 BASE64 [comment]" ([PublicKey.String],
//     [ParsePublicKey]); an identity's FILE.pub holds exactly this line.
//   - An identity file: a comment line and "XFER-X25519-PRIVATE-KEY BASE64
//     [comment]" ([MarshalIdentity], [ParseIdentity]).
//   - authorized_keys: "[options] xfer-x25519 BASE64 [comment]"
//     ([ParseAuthorizedKeys]).
//   - known_hosts: "HOST xfer-x25519 BASE64 [comment]" ([CheckKnownHost],
//     [AddKnownHost]).
//
// BASE64 is always the standard encoding with padding of the 32 key bytes.
//
// # Handshake and control channel
//
// [Handshake] runs Noise XX over a [MessageConn] with the prologue given by
// [Prologue] and returns a [Channel] that carries sealed control messages.
//
// # Chunks
//
// A chunk of a transfer attempt is sealed with ChaCha20-Poly1305 under the
// key from [DeriveChunkKey], with the nonce from [ChunkNonce]
// ([ChunkAEAD]). Chunks are hashed with [ChunkHash] and a file's chunk
// hashes are folded into a file root with [RootHasher] or [FileRoot].
//
// Test vectors for the derivations, sealing and hashing live in
// testdata/vectors/crypto.json at the repository root.
package crypto

// Limits fixed by the Noise specification.
const (
	// MaxMessageSize is the largest Noise message, handshake or transport,
	// a MessageConn carries.
	MaxMessageSize = 65535

	// MaxMessagePayload is the largest plaintext Channel.Send accepts:
	// MaxMessageSize minus the 16-byte Poly1305 tag.
	MaxMessagePayload = MaxMessageSize - tagSize

	tagSize = 16
)
