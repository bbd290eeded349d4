package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"

	"xfer/crypto"
)

// refRoot computes a file root directly from its definition.
func refRoot(data []byte, chunkSize uint32) crypto.Hash {
	h, _ := blake2b.New256(nil)
	h.Write([]byte("xfer/1 file root"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(data))))
	h.Write(binary.BigEndian.AppendUint32(nil, chunkSize))
	for off := 0; off < len(data); off += int(chunkSize) {
		sum := blake2b.Sum256(data[off:min(off+int(chunkSize), len(data))])
		h.Write(sum[:])
	}
	var root crypto.Hash
	h.Sum(root[:0])
	return root
}

func TestHashFileBoundaries(t *testing.T) {
	for _, cs := range []uint32{64, 4096} {
		c := int(cs)
		for _, size := range []int{0, 1, c - 1, c, c + 1, 2*c + 17, 7*c + 1} {
			data := randomData(size, uint64(size))
			want := refRoot(data, cs)
			for _, workers := range []int{1, 3, 0, 100} {
				got, err := HashFile(bytes.NewReader(data), uint64(size), cs, workers)
				if err != nil {
					t.Fatalf("cs %d size %d workers %d: %v", cs, size, workers, err)
				}
				if got != want {
					t.Errorf("cs %d size %d workers %d: root %x, want %x", cs, size, workers, got, want)
				}
			}
		}
	}
}

// TestHashFileGolden pins the root of a known input.
func TestHashFileGolden(t *testing.T) {
	got, err := HashFile(strings.NewReader(""), 0, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := refRoot(nil, 1<<20); got != want {
		t.Errorf("empty file root %x, want %x", got, want)
	}
}

func TestHashChunks(t *testing.T) {
	const cs = 100
	data := randomData(1050, 11)
	indexes := []uint64{10, 0, 3, 3, 9, 1}
	for _, workers := range []int{1, 2, 4, 0} {
		got, err := HashChunks(bytes.NewReader(data), uint64(len(data)), cs, indexes, workers)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(indexes) {
			t.Fatalf("%d hashes for %d indexes", len(got), len(indexes))
		}
		for k, i := range indexes {
			want := crypto.Hash(blake2b.Sum256(data[i*cs : min(i*cs+cs, uint64(len(data)))]))
			if got[k] != want {
				t.Errorf("workers %d: hash of chunk %d wrong", workers, i)
			}
		}
	}
	got, err := HashChunks(bytes.NewReader(data), uint64(len(data)), cs, nil, 0)
	if err != nil || len(got) != 0 {
		t.Errorf("no indexes: %v, %v", got, err)
	}
	_, err = HashChunks(bytes.NewReader(data), uint64(len(data)), cs, []uint64{0, 11}, 0)
	if err == nil || err.Error() != "chunk: index 11 out of range (file has 11 chunks)" {
		t.Errorf("out of range index: %v", err)
	}
	if _, err := HashChunks(bytes.NewReader(data), 10, 0, []uint64{0}, 0); err == nil {
		t.Error("chunk size 0 accepted")
	}
	if _, err := HashFile(bytes.NewReader(data), 1<<63, 1<<20, 0); err == nil {
		t.Error("size beyond int64 accepted")
	}
}

func TestHashFileShort(t *testing.T) {
	const cs = 64
	for _, tt := range []struct{ have, claim int }{
		{0, 1}, {10, 11}, {cs, cs + 1}, {cs + 1, 3 * cs}, {5 * cs, 9*cs + 1},
	} {
		data := randomData(tt.have, 12)
		for _, workers := range []int{1, 4} {
			_, err := HashFile(bytes.NewReader(data), uint64(tt.claim), cs, workers)
			if !errors.Is(err, ErrShortFile) {
				t.Errorf("have %d claim %d: error %v, want ErrShortFile", tt.have, tt.claim, err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "chunk: file shorter than its size") {
				t.Errorf("message %q", err)
			}
		}
	}
}

// failingReader fails reading at or beyond offset bad.
type failingReader struct {
	r   io.ReaderAt
	bad int64
}

var errDisk = errors.New("disk on fire")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.bad {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

func TestHashFileReadError(t *testing.T) {
	const cs = 64
	data := randomData(100*cs, 13)
	for _, workers := range []int{1, 3, 16} {
		r := failingReader{bytes.NewReader(data), 40*cs + 1}
		_, err := HashFile(r, uint64(len(data)), cs, workers)
		if !errors.Is(err, errDisk) {
			t.Fatalf("workers %d: %v", workers, err)
		}
		// The error is the one of the first failing chunk.
		if want := "chunk: reading chunk 40 at offset 2560: disk on fire"; err.Error() != want {
			t.Errorf("workers %d: %q, want %q", workers, err, want)
		}
	}
}

func TestPool(t *testing.T) {
	p := NewPool(1000)
	for range 10 {
		b := p.Get()
		if len(b) != 1000 || cap(b) != 1000 {
			t.Fatalf("len %d cap %d", len(b), cap(b))
		}
		p.Put(b[:10])
	}
	p.Put(make([]byte, 10, 999)) // wrong class: dropped
	if b := p.Get(); len(b) != 1000 || cap(b) != 1000 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	// Get and Put do not allocate in steady state (sync.Pool drops some
	// Puts under the race detector, so only check without it).
	if !raceEnabled {
		b := p.Get()
		p.Put(b)
		if n := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); n != 0 {
			t.Errorf("%v allocations per Get/Put", n)
		}
	}
}

func BenchmarkHashFile(b *testing.B) {
	const size = 64 << 20
	path := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(path, randomData(size, 14), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, cs := range []uint32{64 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", cs>>10), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := HashFile(f, size, cs, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
