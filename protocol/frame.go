package protocol

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

// AppendBinary appends the encoding of h (ChunkHeaderSize bytes) to b.
func (h *ChunkHeader) AppendBinary(b []byte) ([]byte, error) {
	panic("unimplemented")
}

// ParseChunkHeader decodes a chunk header from the first ChunkHeaderSize
// bytes of b. It checks everything that can be checked without knowing the
// file: the type byte, a known codec, no unknown flags, RawLen <=
// MaxChunkSize, CTLen <= MaxCiphertext and CTLen >= HashSize+TagSize, and
// for CodecRaw CTLen == HashSize+RawLen+TagSize.
func ParseChunkHeader(b []byte) (ChunkHeader, error) {
	panic("unimplemented")
}
