package protocol

import (
	"bytes"
	"path"
	"reflect"
	"strings"
	"testing"
)

// FuzzUnmarshal checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes (the encoding is canonical) and
// decodes again to an equal message.
func FuzzUnmarshal(f *testing.F) {
	for _, tc := range validMessages {
		b, err := Marshal(tc.m)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{byte(TypeListEntries), 0xff, 0xff})
	f.Add(be(TypeHeld, uint32(1), uint16(2), uint64(0), zero32, byte(1)))
	f.Add(be(TypeWelcome, uint32(0), byte(2), uint16(0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if m != nil {
				t.Fatalf("Unmarshal returned %+v with error %v", m, err)
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Fatalf("error %q lacks prefix", err)
			}
			return
		}
		b2, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of decoded %+v: %v", m, err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
		}
		if EncodedLen(m) != len(b) {
			t.Fatalf("EncodedLen = %d, want %d", EncodedLen(m), len(b))
		}
		m2, err := Unmarshal(b2)
		if err != nil {
			t.Fatalf("second Unmarshal: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("second decode differs: %+v vs %+v", m, m2)
		}
	})
}

// FuzzParseChunkHeader checks that parsing never panics, that an accepted
// header re-encodes to the same bytes, and that it satisfies the
// documented limits.
func FuzzParseChunkHeader(f *testing.F) {
	for _, h := range []ChunkHeader{
		validHeader(),
		{RawLen: MaxChunkSize, CTLen: MaxCiphertext},
		{RawLen: 1000, Codec: CodecLZ4, CTLen: HashSize + 14 + TagSize, Flags: FlagLast},
	} {
		b, _ := h.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte{FrameChunk})
	f.Add(make([]byte, ChunkHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseChunkHeader(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "protocol: chunk header: ") {
				t.Fatalf("error %q lacks prefix", err)
			}
			return
		}
		enc, _ := h.AppendBinary(nil)
		if !bytes.Equal(enc, b[:ChunkHeaderSize]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc, b[:ChunkHeaderSize])
		}
		full := uint64(HashSize) + uint64(h.RawLen) + TagSize
		if h.RawLen > MaxChunkSize || h.CTLen > MaxCiphertext || h.CTLen < HashSize+TagSize ||
			h.Flags&^FlagLast != 0 ||
			(h.Codec == CodecRaw && uint64(h.CTLen) != full) ||
			(h.Codec == CodecLZ4 && uint64(h.CTLen) >= full) ||
			(h.Codec != CodecRaw && h.Codec != CodecLZ4) {
			t.Fatalf("accepted invalid header %+v", h)
		}
	})
}

// FuzzCheckPath checks that an accepted path is ".", or clean, relative,
// bounded, and made of elements that CheckName accepts.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{
		".", "a", "a/b/c", "..", "../x", "a//b", "/abs", "a/", "a\x00", "a\x1b", `a\b`,
		".xfer-part", "d/.xfer-j", "ünï/日本", "\xff", name(MaxNameLen + 1), longPath(MaxPathLen),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := CheckPath(p)
		if !strings.Contains(p, "/") && p != "." {
			if (err == nil) != (CheckName(p) == nil) {
				t.Fatalf("CheckPath(%q) = %v but CheckName = %v", p, err, CheckName(p))
			}
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Fatalf("error %q lacks prefix", err)
			}
			return
		}
		if p == "." {
			return
		}
		if len(p) > MaxPathLen || path.Clean(p) != p || path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." {
			t.Fatalf("accepted %q", p)
		}
		for elem := range strings.SplitSeq(p, "/") {
			if err := CheckName(elem); err != nil {
				t.Fatalf("accepted %q with element %q: %v", p, elem, err)
			}
			if strings.ContainsAny(elem, "\x00\\\x7f") || strings.HasPrefix(elem, ReservedPrefix) {
				t.Fatalf("accepted %q", p)
			}
			for i := 0; i < len(elem); i++ {
				if elem[i] < 0x20 {
					t.Fatalf("accepted %q", p)
				}
			}
		}
	})
}
