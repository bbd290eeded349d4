// Package chunk splits files into fixed-size chunks and prepares their
// payloads: the per-file LZ4 compression policy, compression and exact
// decompression, reusable buffers, and parallel hashing of local files.
//
// # Chunks
//
// A file of size bytes is cut into Count(size, chunkSize) chunks; chunk i
// starts at offset i·chunkSize and is chunkSize bytes long except the last,
// which holds the remainder (Len). An empty file has no chunks. A chunk
// size of 0 describes no chunks at all: callers validate negotiated chunk
// sizes (protocol.MinChunkSize … protocol.MaxChunkSize) before using them.
//
// # Payloads
//
// A chunk travels raw (protocol.CodecRaw) or as one LZ4 block
// (protocol.CodecLZ4). An Encoder compresses, guided by the file's Policy;
// Decode reverses it and accepts only output of exactly the declared raw
// length.
package chunk

// Count returns the number of chunks of a file of size bytes (0 for an
// empty file). It is 0 when chunkSize is 0.
func Count(size uint64, chunkSize uint32) uint64 {
	if chunkSize == 0 {
		return 0
	}
	cs := uint64(chunkSize)
	n := size / cs
	if size%cs != 0 {
		n++
	}
	return n
}

// Len returns the length of chunk index of a file of size bytes; 0 when
// index is out of range.
func Len(size uint64, chunkSize uint32, index uint64) uint32 {
	if index >= Count(size, chunkSize) {
		return 0
	}
	// index < Count, so index·chunkSize < size and cannot overflow.
	rest := size - index*uint64(chunkSize)
	if rest < uint64(chunkSize) {
		return uint32(rest)
	}
	return chunkSize
}

// Offset returns the file offset of chunk index: index·chunkSize. It does
// not check the index; use it for indexes below Count.
func Offset(chunkSize uint32, index uint64) uint64 {
	return index * uint64(chunkSize)
}
