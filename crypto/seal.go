package crypto

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// chunkKeyLabel starts the HKDF info of a chunk key.
const chunkKeyLabel = "xfer/1 chunk key"

// ChunkOverhead is how many bytes sealing adds to a chunk (the Poly1305
// tag).
const ChunkOverhead = chacha20poly1305.Overhead

func newBLAKE2b256() hash.Hash {
	h, err := blake2b.New256(nil)
	if err != nil {
		panic("crypto: blake2b.New256: " + err.Error()) // only fails for long keys
	}
	return h
}

// DeriveChunkKey returns the chunk key of one transfer attempt:
// HKDF-BLAKE2b-256 with secret as input keying material, handshakeHash as
// salt, and info "xfer/1 chunk key" || transferID || uint32 attempt.
// The handshake hash is Channel.HandshakeHash (64 bytes); the integer is
// big-endian.
func DeriveChunkKey(secret [32]byte, handshakeHash []byte, transferID [16]byte, attempt uint32) [32]byte {
	info := make([]byte, 0, len(chunkKeyLabel)+16+4)
	info = append(info, chunkKeyLabel...)
	info = append(info, transferID[:]...)
	info = binary.BigEndian.AppendUint32(info, attempt)
	var key [32]byte
	if _, err := io.ReadFull(hkdf.New(newBLAKE2b256, secret[:], handshakeHash, info), key[:]); err != nil {
		panic("crypto: HKDF: " + err.Error()) // only fails past 255 blocks
	}
	return key
}

// ChunkNonce returns the 12-byte nonce of a chunk: 3 zero bytes, the
// index as uint64 big-endian, and 0x01 for the last chunk, else 0x00.
func ChunkNonce(index uint64, last bool) [12]byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[3:11], index)
	if last {
		n[11] = 1
	}
	return n
}

// ChunkAEAD seals and opens the chunks of one transfer attempt with
// ChaCha20-Poly1305. Each key is used for exactly one attempt, so a (key,
// nonce) pair never repeats as long as each index is sealed once per
// attempt. Safe for concurrent use.
//
// The nonce binds the chunk index and whether it is the file's last chunk
// (see ChunkNonce); the associated data binds everything else the caller
// passes. Seal and Open do not allocate when dst has room for the result.
type ChunkAEAD struct {
	aead cipher.AEAD
}

// NewChunkAEAD returns a ChunkAEAD for key.
func NewChunkAEAD(key [32]byte) *ChunkAEAD {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("crypto: chacha20poly1305.New: " + err.Error()) // only fails for a wrong key size
	}
	return &ChunkAEAD{aead: aead}
}

// noncePool holds nonce buffers: a nonce passed through the cipher.AEAD
// interface escapes to the heap, and pooling it keeps Seal and Open free
// of per-call allocations.
var noncePool = sync.Pool{New: func() any { return new([12]byte) }}

// Seal appends the sealed plaintext for chunk index to dst: len(plaintext)
// bytes of ciphertext and a 16-byte tag. To reuse plaintext's storage for
// the output, use plaintext[:0] as dst; otherwise dst must not overlap
// plaintext.
func (a *ChunkAEAD) Seal(dst []byte, index uint64, last bool, plaintext, aad []byte) []byte {
	nonce := noncePool.Get().(*[12]byte)
	*nonce = ChunkNonce(index, last)
	out := a.aead.Seal(dst, nonce[:], plaintext, aad)
	noncePool.Put(nonce)
	return out
}

// Open appends the opened ciphertext to dst, or returns an error
// ("crypto: chunk N failed authentication"). On error dst's spare capacity
// may have been overwritten. To reuse ciphertext's storage for the output,
// use ciphertext[:0] as dst; otherwise dst must not overlap ciphertext.
func (a *ChunkAEAD) Open(dst []byte, index uint64, last bool, ciphertext, aad []byte) ([]byte, error) {
	nonce := noncePool.Get().(*[12]byte)
	*nonce = ChunkNonce(index, last)
	out, err := a.aead.Open(dst, nonce[:], ciphertext, aad)
	noncePool.Put(nonce)
	if err != nil {
		return nil, fmt.Errorf("crypto: chunk %d failed authentication", index)
	}
	return out, nil
}
