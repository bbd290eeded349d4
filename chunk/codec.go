package chunk

import (
	"fmt"

	"github.com/pierrec/lz4/v4"

	"xfer/protocol"
)

// Encoder compresses chunks; one per worker goroutine (not safe for
// concurrent use), reused across chunks and files without allocating.
type Encoder struct {
	c       lz4.Compressor
	scratch []byte
}

// NewEncoder returns an Encoder for chunks of at most maxChunk bytes.
// (A larger chunk still encodes correctly; the scratch buffer grows once.)
func NewEncoder(maxChunk int) *Encoder {
	return &Encoder{scratch: make([]byte, max(maxChunk, 0))}
}

// packLimit is the largest LZ4 payload worth sending for a raw chunk of n
// bytes: it must save at least n/16 bytes, and at least one byte.
func packLimit(n int) int {
	return n - max(n/16, 1)
}

// Encode returns the codec and payload for raw chunk index of the file
// governed by p. The payload is raw itself (protocol.CodecRaw) or a slice
// of the encoder's scratch buffer (protocol.CodecLZ4), valid until the
// next call.
//
// The chunk goes out as LZ4 when p says to try and the LZ4 block is at
// most len(raw) − max(len(raw)/16, 1) bytes; the compressor gives up as
// soon as its output would exceed that, so incompressible chunks cost
// little. Chunks are counted by p in the order Encode sees them; index
// does not influence the decision.
func (e *Encoder) Encode(p *Policy, index uint64, raw []byte) (codec uint8, payload []byte) {
	d := p.decide()
	if !d.try {
		return protocol.CodecRaw, raw
	}
	limit := packLimit(len(raw))
	if limit <= 0 {
		p.report(d, len(raw), 0)
		return protocol.CodecRaw, raw
	}
	if len(e.scratch) < limit {
		e.scratch = make([]byte, len(raw))
	}
	// With a destination shorter than CompressBlockBound the compressor
	// returns 0 or an error as soon as the output would not fit.
	n, err := e.c.CompressBlock(raw, e.scratch[:limit])
	if err != nil || n <= 0 || n > limit {
		p.report(d, len(raw), 0)
		return protocol.CodecRaw, raw
	}
	p.report(d, len(raw), n)
	return protocol.CodecLZ4, e.scratch[:n]
}

// Decode returns the decoded payload: payload itself for CodecRaw (no
// copy), otherwise written into dst[:rawLen], for which cap(dst) must be
// at least rawLen. It fails unless the output is exactly rawLen bytes
// ("chunk: lz4 payload decodes to N bytes, want M"), and rejects unknown
// codecs and a raw payload whose length is not rawLen.
//
// rawLen must be between 0 and protocol.MaxChunkSize. Decode never writes
// beyond dst[:rawLen], even for hostile payloads; an LZ4 payload that
// would decode to more than rawLen bytes is reported as corrupt.
func Decode(dst []byte, codec uint8, payload []byte, rawLen int) ([]byte, error) {
	switch {
	case rawLen < 0:
		return nil, fmt.Errorf("chunk: negative raw length %d", rawLen)
	case rawLen > protocol.MaxChunkSize:
		return nil, fmt.Errorf("chunk: raw length %d exceeds limit %d", rawLen, protocol.MaxChunkSize)
	case codec == protocol.CodecRaw:
		if len(payload) != rawLen {
			return nil, fmt.Errorf("chunk: raw payload is %d bytes, want %d", len(payload), rawLen)
		}
		return payload[:rawLen:rawLen], nil
	case rawLen > cap(dst):
		return nil, fmt.Errorf("chunk: raw length %d exceeds buffer capacity %d", rawLen, cap(dst))
	}
	out := dst[:rawLen:rawLen]
	switch codec {
	case protocol.CodecLZ4:
		n, err := lz4.UncompressBlock(payload, out)
		if err != nil {
			return nil, fmt.Errorf("chunk: lz4 payload is corrupt or decodes to more than %d bytes", rawLen)
		}
		if n != rawLen {
			return nil, fmt.Errorf("chunk: lz4 payload decodes to %d bytes, want %d", n, rawLen)
		}
		return out, nil
	}
	return nil, fmt.Errorf("chunk: unknown codec %d", codec)
}
