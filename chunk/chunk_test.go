package chunk

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCountLen(t *testing.T) {
	const cs = 1 << 20
	tests := []struct {
		size  uint64
		cs    uint32
		count uint64
		last  uint32 // length of the last chunk
	}{
		{0, cs, 0, 0},
		{1, cs, 1, 1},
		{cs - 1, cs, 1, cs - 1},
		{cs, cs, 1, cs},
		{cs + 1, cs, 2, 1},
		{2*cs + 12345, cs, 3, 12345},
		{3 * cs, cs, 3, cs},
		{5, 1, 5, 1},
		{math.MaxUint64, cs, math.MaxUint64/cs + 1, math.MaxUint64 % cs},
		{math.MaxUint64, 1, math.MaxUint64, 1},
		{math.MaxUint64, math.MaxUint32, math.MaxUint64/math.MaxUint32 + 0, math.MaxUint32},
		{math.MaxUint64 - 1, math.MaxUint32, math.MaxUint64 / math.MaxUint32, math.MaxUint32 - 1},
		{100, 0, 0, 0},
	}
	for _, tt := range tests {
		if got := Count(tt.size, tt.cs); got != tt.count {
			t.Errorf("Count(%d, %d) = %d, want %d", tt.size, tt.cs, got, tt.count)
		}
		if tt.count == 0 {
			if got := Len(tt.size, tt.cs, 0); got != 0 {
				t.Errorf("Len(%d, %d, 0) = %d, want 0", tt.size, tt.cs, got)
			}
			continue
		}
		if got := Len(tt.size, tt.cs, tt.count-1); got != tt.last {
			t.Errorf("Len(%d, %d, last) = %d, want %d", tt.size, tt.cs, got, tt.last)
		}
		if tt.count > 1 {
			if got := Len(tt.size, tt.cs, 0); got != tt.cs {
				t.Errorf("Len(%d, %d, 0) = %d, want %d", tt.size, tt.cs, got, tt.cs)
			}
			if got := Len(tt.size, tt.cs, tt.count-2); got != tt.cs {
				t.Errorf("Len(%d, %d, last-1) = %d, want %d", tt.size, tt.cs, got, tt.cs)
			}
		}
		for _, out := range []uint64{tt.count, tt.count + 1, math.MaxUint64} {
			if out < tt.count {
				continue // wrapped
			}
			if got := Len(tt.size, tt.cs, out); got != 0 {
				t.Errorf("Len(%d, %d, %d) = %d, want 0 (out of range)", tt.size, tt.cs, out, got)
			}
		}
	}
}

// TestLenSums checks that the chunk lengths add up to the size.
func TestLenSums(t *testing.T) {
	for _, cs := range []uint32{1, 2, 3, 7, 64} {
		for size := uint64(0); size < 300; size++ {
			var sum uint64
			n := Count(size, cs)
			for i := range n {
				l := Len(size, cs, i)
				if l == 0 || l > cs {
					t.Fatalf("Len(%d, %d, %d) = %d", size, cs, i, l)
				}
				if Offset(cs, i) != sum {
					t.Fatalf("Offset(%d, %d) = %d, want %d", cs, i, Offset(cs, i), sum)
				}
				sum += uint64(l)
			}
			if sum != size {
				t.Fatalf("size %d chunk %d: lengths sum to %d", size, cs, sum)
			}
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Auto, Always, Never} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	for _, s := range []string{"", "AUTO", "yes", "lz4"} {
		if _, err := ParseMode(s); err == nil || !strings.HasPrefix(err.Error(), "chunk: ") {
			t.Errorf("ParseMode(%q) error = %v", s, err)
		}
	}
}

// textData returns n bytes of deterministic English-like text.
func textData(n int, seed uint64) []byte {
	words := strings.Fields(`the quick brown fox jumps over lazy dog file transfer
		secure chunk journal resume hash compress network daemon client
		receiver sender protocol noise key stream buffer pool worker index`)
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		if r.IntN(12) == 0 {
			b = append(b, ".\n"...)
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// randomData returns n bytes of deterministic incompressible data.
func randomData(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	r.Read(b)
	return b
}
