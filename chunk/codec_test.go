package chunk

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"

	"xfer/protocol"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	const cs = 1 << 16
	e := NewEncoder(cs)
	for _, tt := range []struct {
		name     string
		data     []byte
		wantLZ4  bool
		policies []Mode
	}{
		{"text", textData(cs, 2), true, []Mode{Auto, Always}},
		{"zeros", make([]byte, cs), true, []Mode{Auto, Always}},
		{"random", randomData(cs, 2), false, []Mode{Auto, Always}},
		{"text-never", textData(cs, 3), false, []Mode{Never}},
		{"empty", nil, false, []Mode{Auto, Always}},
		{"one", []byte{'x'}, false, []Mode{Always}},
		{"tiny", []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), true, []Mode{Always}},
		{"short-text", textData(200, 4), true, []Mode{Always}},
		{"short-random", randomData(100, 4), false, []Mode{Always}},
	} {
		for _, m := range tt.policies {
			t.Run(tt.name+"/"+m.String(), func(t *testing.T) {
				for _, n := range []int{len(tt.data), len(tt.data) - 1} {
					if n < 0 || (n != len(tt.data) && n < 1000) {
						continue
					}
					raw := tt.data[:n]
					codec, payload := e.Encode(NewPolicy(m), 0, raw)
					if got := codec == protocol.CodecLZ4; got != tt.wantLZ4 {
						t.Fatalf("len %d: compressed = %v, want %v", n, got, tt.wantLZ4)
					}
					if codec == protocol.CodecRaw && !sameSlice(payload, raw) {
						t.Fatal("raw payload is not the input")
					}
					if codec == protocol.CodecLZ4 && len(payload) > n-n/16 {
						t.Fatalf("lz4 payload %d bytes for %d raw: saves less than 1/16", len(payload), n)
					}
					dst := make([]byte, cs)
					out, err := Decode(dst, codec, payload, n)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(out, raw) {
						t.Fatal("round trip mismatch")
					}
				}
			})
		}
	}
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// TestEncodeLargerThanMax checks that a chunk larger than the encoder's
// maximum still encodes.
func TestEncodeLargerThanMax(t *testing.T) {
	e := NewEncoder(100)
	raw := textData(5000, 5)
	codec, payload := e.Encode(NewPolicy(Always), 0, raw)
	if codec != protocol.CodecLZ4 {
		t.Fatal("not compressed")
	}
	out, err := Decode(make([]byte, len(raw)), codec, payload, len(raw))
	if err != nil || !bytes.Equal(out, raw) {
		t.Fatalf("round trip: %v", err)
	}
}

func compress(t testing.TB, raw []byte) []byte {
	t.Helper()
	buf := make([]byte, lz4.CompressBlockBound(len(raw)))
	var c lz4.Compressor
	n, err := c.CompressBlock(raw, buf)
	if err != nil || n == 0 {
		t.Fatalf("CompressBlock: %d, %v", n, err)
	}
	return buf[:n]
}

func TestDecodeRejects(t *testing.T) {
	raw := textData(10000, 6)
	packed := compress(t, raw)
	short := compress(t, raw[:9990])
	for _, tt := range []struct {
		name    string
		codec   uint8
		payload []byte
		rawLen  int
		dstCap  int
		want    string
	}{
		{"truncated lz4", protocol.CodecLZ4, packed[:len(packed)-1], len(raw), len(raw), "chunk: lz4 payload"},
		{"truncated lz4 half", protocol.CodecLZ4, packed[:len(packed)/2], len(raw), len(raw), "chunk: lz4 payload"},
		{"lz4 decodes to fewer", protocol.CodecLZ4, short, len(raw), len(raw), "chunk: lz4 payload decodes to 9990 bytes, want 10000"},
		{"lz4 decodes to more", protocol.CodecLZ4, packed, len(raw) - 10, len(raw) + 100, "chunk: lz4 payload is corrupt or decodes to more than 9990 bytes"},
		{"empty lz4", protocol.CodecLZ4, nil, 10, 10, "chunk: lz4 payload decodes to 0 bytes, want 10"},
		{"garbage lz4", protocol.CodecLZ4, []byte{0xff, 0xff, 0xff}, 100, 100, "chunk: lz4 payload"},
		{"raw too short", protocol.CodecRaw, raw[:99], 100, 100, "chunk: raw payload is 99 bytes, want 100"},
		{"raw too long", protocol.CodecRaw, raw[:101], 100, 200, "chunk: raw payload is 101 bytes, want 100"},
		{"rawLen > cap", protocol.CodecLZ4, []byte{0x00}, 100, 99, "chunk: raw length 100 exceeds buffer capacity 99"},
		{"rawLen > limit", protocol.CodecRaw, nil, protocol.MaxChunkSize + 1, 0, "chunk: raw length 4194305 exceeds limit 4194304"},
		{"negative rawLen", protocol.CodecRaw, nil, -1, 0, "chunk: negative raw length -1"},
		{"unknown codec", 2, raw[:100], 100, 100, "chunk: unknown codec 2"},
		{"unknown codec 255", 255, nil, 0, 0, "chunk: unknown codec 255"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := bytes.Repeat([]byte{0xa5}, tt.dstCap)
			out, err := Decode(dst[:0], tt.codec, tt.payload, tt.rawLen)
			if err == nil {
				t.Fatalf("accepted, returned %d bytes", len(out))
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
			if tt.rawLen >= 0 && tt.rawLen < tt.dstCap {
				for i, b := range dst[tt.rawLen:] {
					if b != 0xa5 {
						t.Fatalf("wrote beyond rawLen at %d", tt.rawLen+i)
					}
				}
			}
		})
	}
}

func TestDecodeZeroLength(t *testing.T) {
	for _, codec := range []uint8{protocol.CodecRaw, protocol.CodecLZ4} {
		out, err := Decode(nil, codec, nil, 0)
		if err != nil || len(out) != 0 {
			t.Errorf("codec %d: %v, %d bytes", codec, err, len(out))
		}
	}
	// A valid block of one empty literal run.
	out, err := Decode(nil, protocol.CodecLZ4, []byte{0x00}, 0)
	if err != nil || len(out) != 0 {
		t.Errorf("empty block: %v, %d bytes", err, len(out))
	}
}

func FuzzDecode(f *testing.F) {
	text := textData(3000, 7)
	packed := compress(f, text)
	f.Add(protocol.CodecLZ4, packed, 3000)
	f.Add(protocol.CodecLZ4, packed, 2999)
	f.Add(protocol.CodecLZ4, packed, 3001)
	f.Add(protocol.CodecLZ4, packed[:len(packed)-3], 3000)
	f.Add(protocol.CodecLZ4, compress(f, make([]byte, 5000)), 5000)
	f.Add(protocol.CodecLZ4, []byte{0x00}, 0)
	f.Add(protocol.CodecLZ4, []byte{0x1f, 'a', 0x01, 0x00, 0xff, 0xff}, 300)
	f.Add(protocol.CodecLZ4, []byte{}, 1)
	f.Add(protocol.CodecRaw, []byte("hello"), 5)
	f.Add(protocol.CodecRaw, []byte("hello"), 4)
	f.Add(uint8(7), []byte("x"), 1)
	f.Add(protocol.CodecLZ4, []byte{0xf0, 0xff, 0xff, 0xff, 0xff}, 1<<20)
	f.Fuzz(func(t *testing.T, codec uint8, payload []byte, rawLen int) {
		const guard = 64
		size := rawLen
		if size < 0 || size > 1<<20 {
			size = 0 // Decode must reject lengths beyond the buffer
		}
		dst := make([]byte, size+guard)
		for i := range dst {
			dst[i] = 0xa5
		}
		out, err := Decode(dst[:0:size], codec, payload, rawLen)
		for i, b := range dst[size:] {
			if b != 0xa5 {
				t.Fatalf("wrote beyond the buffer at %d", size+i)
			}
		}
		if err != nil {
			if out != nil {
				t.Fatal("output with an error")
			}
			if !strings.HasPrefix(err.Error(), "chunk: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if len(out) != rawLen {
			t.Fatalf("decoded %d bytes, want %d", len(out), rawLen)
		}
		switch {
		case rawLen == 0:
		case codec == protocol.CodecRaw && &out[0] != &payload[0]:
			t.Fatal("raw output is not the payload itself")
		case codec != protocol.CodecRaw && &out[0] != &dst[0]:
			t.Fatal("output not in dst")
		}
		if codec == protocol.CodecRaw && !bytes.Equal(out, payload) {
			t.Fatal("raw payload changed")
		}
		if codec == protocol.CodecLZ4 {
			// Decoding is deterministic: a second decode agrees.
			again, err := Decode(make([]byte, rawLen), codec, payload, rawLen)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("second decode differs: %v", err)
			}
		}
	})
}

func TestEncodeAllocs(t *testing.T) {
	e := NewEncoder(1 << 20)
	p := NewPolicy(Always)
	text, random := textData(1<<20, 8), randomData(1<<20, 8)
	for name, raw := range map[string][]byte{"text": text, "random": random} {
		if n := testing.AllocsPerRun(5, func() { e.Encode(p, 0, raw) }); n != 0 {
			t.Errorf("%s: %v allocations per Encode", name, n)
		}
	}
	dst := make([]byte, 1<<20)
	codec, payload := e.Encode(p, 0, text)
	payload = bytes.Clone(payload)
	if n := testing.AllocsPerRun(5, func() { Decode(dst, codec, payload, len(text)) }); n != 0 {
		t.Errorf("%v allocations per Decode", n)
	}
}

func benchmarkEncode(b *testing.B, raw []byte) {
	e := NewEncoder(len(raw))
	p := NewPolicy(Always)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var packed int
	for b.Loop() {
		_, payload := e.Encode(p, 0, raw)
		packed = len(payload)
	}
	b.ReportMetric(float64(packed)/float64(len(raw)), "ratio")
}

func BenchmarkEncodeText(b *testing.B)   { benchmarkEncode(b, textData(1<<20, 9)) }
func BenchmarkEncodeRandom(b *testing.B) { benchmarkEncode(b, randomData(1<<20, 9)) }

func BenchmarkDecode(b *testing.B) {
	raw := textData(1<<20, 10)
	payload := compress(b, raw)
	dst := make([]byte, len(raw))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(dst, protocol.CodecLZ4, payload, len(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
