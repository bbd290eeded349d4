// Package protocol defines xfer's wire format: the constants the
// specification fixes, the control messages exchanged over the Noise
// channel, and the cleartext chunk frame header. The specification is
// PROTOCOL.md in this directory.
package protocol

// Constants fixed by the specification.
const (
	// Version is the protocol version carried in the Noise prologue.
	Version = 1
	// DefaultPort is the TCP and UDP port xferd listens on.
	DefaultPort = 7420
	// MaxMessage is the largest Noise transport message (ciphertext), as
	// fixed by the Noise specification.
	MaxMessage = 65535
	// MaxPayload is the largest control-message plaintext.
	MaxPayload = MaxMessage - 16

	// DefaultChunkSize is the chunk size a sender proposes by default.
	DefaultChunkSize = 1 << 20
	// MinChunkSize and MaxChunkSize bound a negotiated chunk size.
	MinChunkSize = 64 << 10
	MaxChunkSize = 4 << 20

	// HashSize is the size of a BLAKE2b-256 chunk hash or file root.
	HashSize = 32
	// TagSize is the ChaCha20-Poly1305 tag size.
	TagSize = 16
	// MaxCiphertext is the largest sealed chunk payload: the chunk hash,
	// at most MaxChunkSize bytes of (raw or smaller compressed) data, and
	// the tag.
	MaxCiphertext = HashSize + MaxChunkSize + TagSize

	// MaxPathLen bounds a relative path in any message.
	MaxPathLen = 4096
	// MaxNameLen bounds one path element.
	MaxNameLen = 255
)

// Codecs of a chunk payload.
const (
	CodecRaw uint8 = 0
	CodecLZ4 uint8 = 1
)

// Chunk header flags.
const (
	// FlagLast marks the final chunk of a file. It is also bound into the
	// nonce.
	FlagLast uint8 = 1 << 0
)
