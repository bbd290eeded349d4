package protocol

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// FrameChunk is the first byte of every chunk frame. On TCP, where control
// messages and chunk frames share one connection, it doubles as the record
// type; control records start with RecordMessage.
const (
	RecordMessage byte = 0x01
	FrameChunk    byte = 0x02
)

// ChunkHeaderSize is the encoded size of a ChunkHeader, type byte included.
const ChunkHeaderSize = 1 + 16 + 4 + 8 + 8 + 4 + 1 + 1 + 4

// ChunkHeader is the cleartext header of a chunk frame. Its encoding,
// followed by the file's manifest hash, is the AEAD's associated data.
//
// Layout (big-endian): type(1)=FrameChunk, transfer id(16), attempt(4),
// index(8), offset(8), raw length(4), codec(1), flags(1), ciphertext
// length(4).
type ChunkHeader struct {
	TransferID [16]byte
	Attempt    uint32
	Index      uint64
	Offset     uint64
	RawLen     uint32
	Codec      uint8
	Flags      uint8
	CTLen      uint32
}

// Last reports whether FlagLast is set.
func (h *ChunkHeader) Last() bool { return h.Flags&FlagLast != 0 }

// AppendBinary appends the encoding of h (ChunkHeaderSize bytes) to b. It
// does not validate h and never fails; it allocates only when b lacks
// capacity. It implements encoding.BinaryAppender.
func (h *ChunkHeader) AppendBinary(b []byte) ([]byte, error) {
	b = slices.Grow(b, ChunkHeaderSize)
	b = append(b, FrameChunk)
	b = append(b, h.TransferID[:]...)
	b = binary.BigEndian.AppendUint32(b, h.Attempt)
	b = binary.BigEndian.AppendUint64(b, h.Index)
	b = binary.BigEndian.AppendUint64(b, h.Offset)
	b = binary.BigEndian.AppendUint32(b, h.RawLen)
	b = append(b, h.Codec, h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.CTLen)
	return b, nil
}

// ParseChunkHeader decodes a chunk header from the first ChunkHeaderSize
// bytes of b. It checks everything that can be checked without knowing the
// file: the type byte, a known codec, no unknown flags, RawLen <=
// MaxChunkSize, CTLen <= MaxCiphertext and CTLen >= HashSize+TagSize, and
// for CodecRaw CTLen == HashSize+RawLen+TagSize, for CodecLZ4 CTLen <
// HashSize+RawLen+TagSize (LZ4 is used only when it saves). Bytes after
// the header are ignored. Errors start with "protocol: chunk header: ".
//
// Whether the header fits the file (transfer id, attempt, index, offset,
// raw length, last flag) is the receiver's check; see PROTOCOL.md.
func ParseChunkHeader(b []byte) (ChunkHeader, error) {
	if len(b) < ChunkHeaderSize {
		return ChunkHeader{}, fmt.Errorf("protocol: chunk header: %d bytes, need %d", len(b), ChunkHeaderSize)
	}
	if b[0] != FrameChunk {
		return ChunkHeader{}, fmt.Errorf("protocol: chunk header: type byte 0x%02x, want 0x%02x", b[0], FrameChunk)
	}
	var h ChunkHeader
	copy(h.TransferID[:], b[1:17])
	h.Attempt = binary.BigEndian.Uint32(b[17:21])
	h.Index = binary.BigEndian.Uint64(b[21:29])
	h.Offset = binary.BigEndian.Uint64(b[29:37])
	h.RawLen = binary.BigEndian.Uint32(b[37:41])
	h.Codec = b[41]
	h.Flags = b[42]
	h.CTLen = binary.BigEndian.Uint32(b[43:47])
	if err := h.check(); err != nil {
		return ChunkHeader{}, err
	}
	return h, nil
}

// knownFlags are the flags this version defines.
const knownFlags = FlagLast

// check applies ParseChunkHeader's checks to h.
func (h *ChunkHeader) check() error {
	if h.Codec != CodecRaw && h.Codec != CodecLZ4 {
		return fmt.Errorf("protocol: chunk header: unknown codec %d", h.Codec)
	}
	if f := h.Flags &^ knownFlags; f != 0 {
		return fmt.Errorf("protocol: chunk header: unknown flags 0x%02x", f)
	}
	if h.RawLen > MaxChunkSize {
		return fmt.Errorf("protocol: chunk header: raw length %d exceeds %d", h.RawLen, MaxChunkSize)
	}
	if h.CTLen > MaxCiphertext {
		return fmt.Errorf("protocol: chunk header: ciphertext length %d exceeds %d", h.CTLen, MaxCiphertext)
	}
	if h.CTLen < HashSize+TagSize {
		return fmt.Errorf("protocol: chunk header: ciphertext length %d is less than %d", h.CTLen, HashSize+TagSize)
	}
	full := HashSize + h.RawLen + TagSize // no overflow: RawLen <= MaxChunkSize
	switch {
	case h.Codec == CodecRaw && h.CTLen != full:
		return fmt.Errorf("protocol: chunk header: raw chunk of %d bytes has ciphertext length %d, want %d", h.RawLen, h.CTLen, full)
	case h.Codec == CodecLZ4 && h.CTLen >= full:
		return fmt.Errorf("protocol: chunk header: lz4 chunk of %d bytes has ciphertext length %d, want less than %d", h.RawLen, h.CTLen, full)
	}
	return nil
}
