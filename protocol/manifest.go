package protocol

import (
	"encoding/binary"

	"golang.org/x/crypto/blake2b"
)

// manifestLabel starts the input of ManifestHash.
const manifestLabel = "xfer/1 manifest"

// ManifestHash returns the hash of a file's announced metadata, bound into
// every chunk's associated data:
//
//	BLAKE2b-256("xfer/1 manifest" || uint16 len(Path) || Path || uint64 Size ||
//	            uint32 Mode || int64 MTime || uint32 ChunkSize || TransferID)
//
// with integers big-endian. o.Path must be at most MaxPathLen bytes, as
// Marshal and Unmarshal enforce.
func ManifestHash(o *Open) [32]byte {
	var buf [len(manifestLabel) + 2 + MaxPathLen + 8 + 4 + 8 + 4 + 16]byte
	b := append(buf[:0], manifestLabel...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(o.Path)))
	b = append(b, o.Path...)
	b = binary.BigEndian.AppendUint64(b, o.Size)
	b = binary.BigEndian.AppendUint32(b, o.Mode)
	b = binary.BigEndian.AppendUint64(b, uint64(o.MTime))
	b = binary.BigEndian.AppendUint32(b, o.ChunkSize)
	b = append(b, o.TransferID[:]...)
	return blake2b.Sum256(b)
}
