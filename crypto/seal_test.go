package crypto_test

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"testing"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"

	"xfer/crypto"
)

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func TestChunkNonce(t *testing.T) {
	tests := []struct {
		index uint64
		last  bool
		want  string
	}{
		{0, false, "000000000000000000000000"},
		{0, true, "000000000000000000000001"},
		{1, false, "000000000000000000000100"},
		{0x0102030405060708, true, "000000010203040506070801"},
		{^uint64(0), false, "000000ffffffffffffffff00"},
	}
	for _, tt := range tests {
		n := crypto.ChunkNonce(tt.index, tt.last)
		if got := fmt.Sprintf("%x", n); got != tt.want {
			t.Errorf("ChunkNonce(%#x, %v) = %s, want %s", tt.index, tt.last, got, tt.want)
		}
	}
}

// hkdfReference is RFC 5869 HKDF written out with HMAC-BLAKE2b-256, to
// check that DeriveChunkKey passes secret, salt and info in the right
// places.
func hkdfReference(ikm, salt, info []byte, n int) []byte {
	h := func() hash.Hash { h, _ := blake2b.New256(nil); return h }
	ext := hmac.New(h, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	var out, prev []byte
	for i := byte(1); len(out) < n; i++ {
		m := hmac.New(h, prk)
		m.Write(prev)
		m.Write(info)
		m.Write([]byte{i})
		prev = m.Sum(nil)
		out = append(out, prev...)
	}
	return out[:n]
}

func TestDeriveChunkKey(t *testing.T) {
	secret := [32]byte(seq(32, 0))
	hh := seq(64, 0x40)
	id := [16]byte(seq(16, 0xa0))
	key := crypto.DeriveChunkKey(secret, hh, id, 7)

	info := append(append([]byte("xfer/1 chunk key"), id[:]...), 0, 0, 0, 7)
	if want := hkdfReference(secret[:], hh, info, 32); !bytes.Equal(key[:], want) {
		t.Errorf("DeriveChunkKey = %x, want %x (RFC 5869 reference)", key, want)
	}

	// Every input changes the key.
	secret2 := secret
	secret2[31] ^= 1
	hh2 := bytes.Clone(hh)
	hh2[0] ^= 1
	id2 := id
	id2[15] ^= 1
	for name, k := range map[string][32]byte{
		"secret":         crypto.DeriveChunkKey(secret2, hh, id, 7),
		"handshake hash": crypto.DeriveChunkKey(secret, hh2, id, 7),
		"short hash":     crypto.DeriveChunkKey(secret, hh[:32], id, 7),
		"transfer id":    crypto.DeriveChunkKey(secret, hh, id2, 7),
		"attempt":        crypto.DeriveChunkKey(secret, hh, id, 8),
		"attempt high":   crypto.DeriveChunkKey(secret, hh, id, 7|1<<24),
	} {
		if k == key {
			t.Errorf("changing the %s does not change the key", name)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	a := crypto.NewChunkAEAD([32]byte(seq(32, 0x80)))
	aad := []byte("header and manifest hash")
	for _, size := range []int{0, 1, 15, 16, 17, 1000, 65536, 1 << 20} {
		pt := seq(size, byte(size))
		for _, last := range []bool{false, true} {
			index := uint64(size) * 3
			ct := a.Seal(nil, index, last, pt, aad)
			if len(ct) != size+crypto.ChunkOverhead {
				t.Fatalf("size %d: sealed length %d, want %d", size, len(ct), size+crypto.ChunkOverhead)
			}
			// The ciphertext is plain ChaCha20-Poly1305 with ChunkNonce.
			ref, _ := chacha20poly1305.New(seq(32, 0x80))
			nonce := crypto.ChunkNonce(index, last)
			if want := ref.Seal(nil, nonce[:], pt, aad); !bytes.Equal(ct, want) {
				t.Fatalf("size %d: Seal differs from ChaCha20-Poly1305 with ChunkNonce", size)
			}
			got, err := a.Open(nil, index, last, ct, aad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("size %d last %v: Open = %d bytes, %v", size, last, len(got), err)
			}
			// Appending to a prefix keeps the prefix.
			prefix := []byte("prefix")
			sealed := a.Seal(bytes.Clone(prefix), index, last, pt, aad)
			opened, err := a.Open(bytes.Clone(prefix), index, last, sealed[len(prefix):], aad)
			if err != nil || !bytes.HasPrefix(sealed, prefix) || !bytes.Equal(opened, append(prefix, pt...)) {
				t.Fatalf("size %d: appending to dst broken: %v", size, err)
			}
			// In place.
			buf := make([]byte, size, size+crypto.ChunkOverhead)
			copy(buf, pt)
			inPlace := a.Seal(buf[:0], index, last, buf, aad)
			if !bytes.Equal(inPlace, ct) {
				t.Fatalf("size %d: in-place Seal differs", size)
			}
			back, err := a.Open(inPlace[:0], index, last, inPlace, aad)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("size %d: in-place Open: %v", size, err)
			}
		}
	}
}

// TestOpenRejectsEveryChange flips every bit of the ciphertext and the
// associated data, and changes the index and last flag: each must fail.
func TestOpenRejectsEveryChange(t *testing.T) {
	key := [32]byte(seq(32, 0x80))
	a := crypto.NewChunkAEAD(key)
	const index = 0x0102030405060708
	pt := seq(40, 1)
	aad := seq(24, 0x30)
	ct := a.Seal(nil, index, false, pt, aad)

	expectFail := func(what string, key [32]byte, index uint64, last bool, ct, aad []byte) {
		t.Helper()
		got, err := crypto.NewChunkAEAD(key).Open(nil, index, last, ct, aad)
		if err == nil {
			t.Errorf("%s: Open succeeded", what)
			return
		}
		if got != nil {
			t.Errorf("%s: Open returned data with the error", what)
		}
		if want := fmt.Sprintf("crypto: chunk %d failed authentication", index); err.Error() != want {
			t.Errorf("%s: error %q, want %q", what, err, want)
		}
	}
	for i := 0; i < len(ct)*8; i++ {
		bad := bytes.Clone(ct)
		bad[i/8] ^= 1 << (i % 8)
		expectFail(fmt.Sprintf("ciphertext bit %d", i), key, index, false, bad, aad)
	}
	for i := 0; i < len(aad)*8; i++ {
		bad := bytes.Clone(aad)
		bad[i/8] ^= 1 << (i % 8)
		expectFail(fmt.Sprintf("aad bit %d", i), key, index, false, ct, bad)
	}
	for i := 0; i < 64; i++ {
		expectFail(fmt.Sprintf("index bit %d", i), key, index^(1<<i), false, ct, aad)
	}
	expectFail("last flag", key, index, true, ct, aad)
	expectFail("aad truncated", key, index, false, ct, aad[:len(aad)-1])
	expectFail("aad extended", key, index, false, ct, append(bytes.Clone(aad), 0))
	expectFail("aad missing", key, index, false, ct, nil)
	expectFail("ciphertext truncated", key, index, false, ct[:len(ct)-1], aad)
	expectFail("ciphertext extended", key, index, false, append(bytes.Clone(ct), 0), aad)
	expectFail("tag only", key, index, false, ct[len(ct)-16:], aad)
	expectFail("shorter than tag", key, index, false, ct[:15], aad)
	expectFail("empty", key, index, false, nil, aad)
	key[0] ^= 1
	expectFail("other key", key, index, false, ct, aad)
}

func TestChunkAEADConcurrent(t *testing.T) {
	a := crypto.NewChunkAEAD([32]byte(seq(32, 9)))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := make([]byte, 4096)
			dst := make([]byte, 0, len(pt)+crypto.ChunkOverhead)
			out := make([]byte, 0, len(pt))
			for i := range 200 {
				index := uint64(g*1000 + i)
				binary.BigEndian.PutUint64(pt, index)
				ct := a.Seal(dst[:0], index, i == 199, pt, pt[:8])
				got, err := a.Open(out[:0], index, i == 199, ct, pt[:8])
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("goroutine %d chunk %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSealOpenAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	a := crypto.NewChunkAEAD([32]byte(seq(32, 0)))
	pt := make([]byte, 64<<10)
	aad := make([]byte, 64)
	ct := make([]byte, 0, len(pt)+crypto.ChunkOverhead)
	out := make([]byte, 0, len(pt))
	if n := testing.AllocsPerRun(100, func() { ct = a.Seal(ct[:0], 1, false, pt, aad) }); n != 0 {
		t.Errorf("Seal allocates %v times per call with a pre-sized dst", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := a.Open(out[:0], 1, false, ct, aad); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Open allocates %v times per call with a pre-sized dst", n)
	}
}

func TestChunkHash(t *testing.T) {
	for _, p := range [][]byte{nil, {}, []byte("abc"), seq(1<<16+1, 3)} {
		if got, want := crypto.ChunkHash(p), blake2b.Sum256(p); got != crypto.Hash(want) {
			t.Errorf("ChunkHash(%d bytes) = %v, want BLAKE2b-256 %x", len(p), got, want)
		}
	}
	// BLAKE2b-256("abc"), from the reference implementation.
	if got := crypto.ChunkHash([]byte("abc")).String(); got != "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319" {
		t.Errorf("ChunkHash(abc) = %s", got)
	}
}

func TestHashString(t *testing.T) {
	h := crypto.Hash(seq(32, 0xf0))
	want := "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"
	if h.String() != want {
		t.Errorf("String() = %s, want %s", h, want)
	}
}

func TestFileRoot(t *testing.T) {
	hashes := []crypto.Hash{crypto.ChunkHash([]byte("a")), crypto.ChunkHash([]byte("b")), crypto.ChunkHash([]byte("c"))}
	const size, chunkSize = 130000, 65536

	var input []byte
	input = append(input, "xfer/1 file root"...)
	input = binary.BigEndian.AppendUint64(input, size)
	input = binary.BigEndian.AppendUint32(input, chunkSize)
	for _, h := range hashes {
		input = append(input, h[:]...)
	}
	want := crypto.Hash(blake2b.Sum256(input))

	root := crypto.FileRoot(size, chunkSize, hashes)
	if root != want {
		t.Errorf("FileRoot = %v, want %v", root, want)
	}
	r := crypto.NewRootHasher(size, chunkSize)
	for i, h := range hashes {
		r.Add(h)
		if got := r.Sum(); got != crypto.FileRoot(size, chunkSize, hashes[:i+1]) {
			t.Errorf("after %d hashes: Sum = %v, want the FileRoot of those", i+1, got)
		}
	}
	if r.Sum() != root {
		t.Error("Sum is not stable")
	}
	for name, other := range map[string]crypto.Hash{
		"size":       crypto.FileRoot(size+1, chunkSize, hashes),
		"chunk size": crypto.FileRoot(size, chunkSize*2, hashes),
		"order":      crypto.FileRoot(size, chunkSize, []crypto.Hash{hashes[1], hashes[0], hashes[2]}),
		"missing":    crypto.FileRoot(size, chunkSize, hashes[:2]),
		"no label":   crypto.Hash(blake2b.Sum256(input[len("xfer/1 file root"):])),
	} {
		if other == root {
			t.Errorf("changing the %s does not change the root", name)
		}
	}
}
