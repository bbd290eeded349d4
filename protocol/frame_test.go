package protocol

import (
	"bytes"
	"strings"
	"testing"
)

func validHeader() ChunkHeader {
	return ChunkHeader{
		TransferID: fill16(0xa0),
		Attempt:    1,
		Index:      1,
		Offset:     MinChunkSize,
		RawLen:     10,
		Codec:      CodecRaw,
		Flags:      FlagLast,
		CTLen:      HashSize + 10 + TagSize,
	}
}

// validHeaders are chunk headers ParseChunkHeader accepts.
var validHeaders = []ChunkHeader{
	validHeader(),
	{CTLen: HashSize + TagSize},                  // empty raw chunk: well-formed, rejected later by the receiver's bounds check
	{RawLen: MaxChunkSize, CTLen: MaxCiphertext}, // largest raw chunk
	{RawLen: MaxChunkSize, Codec: CodecLZ4, CTLen: MaxCiphertext - 1}, // largest lz4 chunk
	{RawLen: 1, Codec: CodecLZ4, CTLen: HashSize + TagSize},           // smallest lz4 chunk
	{TransferID: fill16(1), Attempt: 1<<32 - 1, Index: 1<<64 - 1, Offset: 1<<64 - 1, RawLen: 0x010203, Codec: CodecLZ4, CTLen: 0x0100},
}

func TestChunkHeaderRoundTrip(t *testing.T) {
	for _, h := range validHeaders {
		b, err := h.AppendBinary([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len("prefix")+ChunkHeaderSize || string(b[:6]) != "prefix" || b[6] != FrameChunk {
			t.Fatalf("AppendBinary = %x", b)
		}
		got, err := ParseChunkHeader(append(b[6:], "ciphertext follows"...))
		if err != nil {
			t.Fatalf("ParseChunkHeader(%+v): %v", h, err)
		}
		if got != h {
			t.Fatalf("ParseChunkHeader = %+v, want %+v", got, h)
		}
		if got.Last() != (h.Flags&FlagLast != 0) {
			t.Fatalf("Last = %v", got.Last())
		}
	}
}

// TestChunkHeaderLayout pins every field's offset.
func TestChunkHeaderLayout(t *testing.T) {
	h := ChunkHeader{
		TransferID: fill16(0x10),
		Attempt:    0x20212223,
		Index:      0x3031323334353637,
		Offset:     0x4041424344454647,
		RawLen:     0x00050607,
		Codec:      CodecLZ4,
		Flags:      FlagLast,
		CTLen:      0x00050000,
	}
	b, _ := h.AppendBinary(nil)
	want := be(FrameChunk, h.TransferID[:], uint32(0x20212223), uint64(0x3031323334353637),
		uint64(0x4041424344454647), uint32(0x00050607), CodecLZ4, FlagLast, uint32(0x00050000))
	if !bytes.Equal(b, want) || len(b) != 47 {
		t.Fatalf("encoding\n%x\nwant\n%x", b, want)
	}
}

// invalidHeaders are chunk headers ParseChunkHeader rejects: validHeader
// changed by mod, or its encoding changed by b.
var invalidHeaders = []struct {
	name string
	mod  func(h *ChunkHeader)
	b    func(b []byte) []byte
	want string
}{
	{name: "short", b: func(b []byte) []byte { return b[:ChunkHeaderSize-1] }, want: "46 bytes, need 47"},
	{name: "empty", b: func(b []byte) []byte { return nil }, want: "0 bytes, need 47"},
	{name: "type-message", b: func(b []byte) []byte { b[0] = RecordMessage; return b }, want: "type byte 0x01, want 0x02"},
	{name: "type-zero", b: func(b []byte) []byte { b[0] = 0; return b }, want: "type byte 0x00"},
	{name: "codec-2", mod: func(h *ChunkHeader) { h.Codec = 2 }, want: "unknown codec 2"},
	{name: "codec-255", mod: func(h *ChunkHeader) { h.Codec = 255 }, want: "unknown codec 255"},
	{name: "flag-2", mod: func(h *ChunkHeader) { h.Flags = 2 }, want: "unknown flags 0x02"},
	{name: "flag-high", mod: func(h *ChunkHeader) { h.Flags = FlagLast | 0x80 }, want: "unknown flags 0x80"},
	{name: "rawlen", mod: func(h *ChunkHeader) { h.RawLen = MaxChunkSize + 1; h.CTLen = MaxCiphertext }, want: "raw length 4194305 exceeds 4194304"},
	{name: "rawlen-max", mod: func(h *ChunkHeader) { h.RawLen = 1<<32 - 1 }, want: "raw length 4294967295"},
	{name: "ctlen-max", mod: func(h *ChunkHeader) { h.RawLen = MaxChunkSize; h.CTLen = MaxCiphertext + 1 }, want: "ciphertext length 4194353 exceeds 4194352"},
	{name: "ctlen-huge", mod: func(h *ChunkHeader) { h.CTLen = 1<<32 - 1 }, want: "ciphertext length 4294967295 exceeds"},
	{name: "ctlen-min", mod: func(h *ChunkHeader) { h.RawLen = 0; h.CTLen = HashSize + TagSize - 1 }, want: "ciphertext length 47 is less than 48"},
	{name: "ctlen-zero", mod: func(h *ChunkHeader) { h.CTLen = 0 }, want: "ciphertext length 0 is less than 48"},
	{name: "raw-ctlen-short", mod: func(h *ChunkHeader) { h.CTLen-- }, want: "raw chunk of 10 bytes has ciphertext length 57, want 58"},
	{name: "raw-ctlen-long", mod: func(h *ChunkHeader) { h.CTLen++ }, want: "raw chunk of 10 bytes has ciphertext length 59, want 58"},
	{name: "lz4-not-smaller", mod: func(h *ChunkHeader) { h.Codec = CodecLZ4 }, want: "lz4 chunk of 10 bytes has ciphertext length 58, want less than 58"},
	{name: "lz4-larger", mod: func(h *ChunkHeader) { h.Codec = CodecLZ4; h.CTLen = 100 }, want: "lz4 chunk of 10 bytes has ciphertext length 100"},
	{name: "lz4-empty", mod: func(h *ChunkHeader) { h.Codec = CodecLZ4; h.RawLen = 0; h.CTLen = HashSize + TagSize }, want: "lz4 chunk of 0 bytes"},
}

// encoding returns the bytes of an invalidHeaders case.
func invalidHeaderBytes(i int) []byte {
	tc := invalidHeaders[i]
	h := validHeader()
	if tc.mod != nil {
		tc.mod(&h)
	}
	b, _ := h.AppendBinary(nil)
	if tc.b != nil {
		b = tc.b(b)
	}
	return b
}

func TestParseChunkHeaderErrors(t *testing.T) {
	for i, tc := range invalidHeaders {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseChunkHeader(invalidHeaderBytes(i))
			if err == nil {
				t.Fatalf("parsed %+v", got)
			}
			if got != (ChunkHeader{}) {
				t.Errorf("returned non-zero header %+v with error", got)
			}
			if !strings.HasPrefix(err.Error(), "protocol: chunk header: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAppendBinaryAllocs(t *testing.T) {
	h := validHeader()
	buf := make([]byte, 0, ChunkHeaderSize)
	n := testing.AllocsPerRun(100, func() {
		buf, _ = h.AppendBinary(buf[:0])
	})
	if n != 0 {
		t.Fatalf("AppendBinary allocates %.0f times with capacity", n)
	}
	n = testing.AllocsPerRun(100, func() {
		if _, err := ParseChunkHeader(buf); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("ParseChunkHeader allocates %.0f times", n)
	}
}

func BenchmarkAppendBinary(b *testing.B) {
	h := validHeader()
	buf := make([]byte, 0, ChunkHeaderSize)
	b.ReportAllocs()
	b.SetBytes(ChunkHeaderSize)
	for b.Loop() {
		buf, _ = h.AppendBinary(buf[:0])
	}
}

func BenchmarkParseChunkHeader(b *testing.B) {
	h := validHeader()
	buf, _ := h.AppendBinary(nil)
	b.ReportAllocs()
	b.SetBytes(ChunkHeaderSize)
	for b.Loop() {
		if _, err := ParseChunkHeader(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalOpen(b *testing.B) {
	m := openMsg()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalHeld(b *testing.B) {
	buf, _ := Marshal(&Held{ID: 1, Chunks: heldChunks(MaxHeldPerMessage)})
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}
