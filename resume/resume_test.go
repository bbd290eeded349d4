package resume

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"xfer/crypto"
)

func testHeader() Header {
	return Header{
		Dest:       "docs/a.txt",
		Size:       10 << 20,
		ChunkSize:  1 << 20,
		Mode:       0o644,
		MTime:      -1234567890,
		TransferID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Created:    1_700_000_000_000_000_000,
	}
}

func rec(i uint64) Record {
	var h crypto.Hash
	for k := range h {
		h[k] = byte(i*31 + uint64(k))
	}
	return Record{Index: i, Hash: h}
}

func openFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func create(t testing.TB, path string, h Header) *Journal {
	t.Helper()
	j, err := Create(openFile(t, path), h)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func reopen(t testing.TB, path string) (*Journal, Header, []Record) {
	t.Helper()
	j, h, recs, err := Open(openFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return j, h, recs
}

func TestCreateAppendReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	h := testHeader()
	j := create(t, path, h)
	if err := j.Append(rec(3), rec(0)); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(rec(9)); err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := j.Append(rec(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}

	j, got, recs := reopen(t, path)
	if got != h {
		t.Errorf("header %+v, want %+v", got, h)
	}
	if want := []Record{rec(3), rec(0), rec(9)}; !slices.Equal(recs, want) {
		t.Errorf("records %v, want %v", recs, want)
	}
	if j.Header() != h {
		t.Error("Header() differs")
	}
	// Appending after reopening continues the journal.
	if err := j.Append(rec(5)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, _, recs = reopen(t, path)
	defer j.Close()
	if want := []Record{rec(3), rec(0), rec(9), rec(5)}; !slices.Equal(recs, want) {
		t.Errorf("records %v, want %v", recs, want)
	}

	// Create over an existing journal starts afresh.
	j.Close()
	h.Dest = "other"
	j = create(t, path, h)
	j.Close()
	j, got, recs = reopen(t, path)
	defer j.Close()
	if got != h || len(recs) != 0 {
		t.Errorf("after re-create: %+v, %v", got, recs)
	}
}

func TestDuplicatesLastWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := create(t, path, testHeader())
	other := rec(2)
	other.Hash[0] ^= 0xff
	j.Append(rec(1), rec(2), rec(3), other, rec(1), rec(4))
	j.Close()
	j, _, recs := reopen(t, path)
	defer j.Close()
	if want := []Record{rec(3), other, rec(1), rec(4)}; !slices.Equal(recs, want) {
		t.Errorf("records %v, want %v", recs, want)
	}
}

func TestRecordIndexRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	h := testHeader() // 10 chunks
	j := create(t, path, h)
	defer j.Close()
	if err := j.Append(rec(9), rec(10)); err == nil || !strings.HasPrefix(err.Error(), "resume: record index 10 out of range") {
		t.Errorf("Append out of range: %v", err)
	}
	if err := j.Append(rec(9)); err != nil {
		t.Fatal(err)
	}
	// Nothing of the rejected call was written.
	data, _ := os.ReadFile(path)
	if _, recs, _, _ := Decode(data); !slices.Equal(recs, []Record{rec(9)}) {
		t.Errorf("records %v", recs)
	}
	// Decode stops at a record outside the file even if its CRC is right.
	data = appendRecord(data, rec(10))
	data = appendRecord(data, rec(1))
	if _, recs, valid, _ := Decode(data); !slices.Equal(recs, []Record{rec(9)}) || valid != len(data)-2*RecordSize {
		t.Errorf("records %v valid %d", recs, valid)
	}
}

func TestHeaderLimits(t *testing.T) {
	dir := t.TempDir()
	h := testHeader()
	h.Dest = strings.Repeat("d", MaxDest)
	j := create(t, filepath.Join(dir, "max"), h)
	j.Close()
	_, got, _ := reopen(t, filepath.Join(dir, "max"))
	if got.Dest != h.Dest {
		t.Error("long Dest not kept")
	}
	h.Dest += "d"
	if _, err := Create(openFile(t, filepath.Join(dir, "long")), h); err == nil {
		t.Error("Dest longer than MaxDest accepted")
	}
	h = testHeader()
	h.ChunkSize = 0
	if _, err := Create(openFile(t, filepath.Join(dir, "zero")), h); err == nil {
		t.Error("chunk size 0 accepted")
	}
	// Empty files and files of zero size are fine.
	h = testHeader()
	h.Dest, h.Size = "", 0
	j = create(t, filepath.Join(dir, "empty"), h)
	if err := j.Append(rec(0)); err == nil {
		t.Error("record for a file without chunks accepted")
	}
	j.Close()
	_, got, _ = reopen(t, filepath.Join(dir, "empty"))
	if got != h {
		t.Errorf("header %+v", got)
	}
}

// journalBytes returns an encoded journal with records 0..n-1.
func journalBytes(h Header, n int) []byte {
	b := appendHeader(nil, &h)
	for i := range n {
		b = appendRecord(b, rec(uint64(i)))
	}
	return b
}

func TestTornTail(t *testing.T) {
	h := testHeader()
	full := journalBytes(h, 4)
	hdrLen := len(full) - 4*RecordSize
	path := filepath.Join(t.TempDir(), "j")
	for cut := len(full) - RecordSize; cut < len(full); cut++ {
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		j, _, recs := reopen(t, path)
		if want := []Record{rec(0), rec(1), rec(2)}; !slices.Equal(recs, want) {
			t.Fatalf("cut at %d: records %v", cut, recs)
		}
		if fi, _ := os.Stat(path); fi.Size() != int64(hdrLen+3*RecordSize) {
			t.Fatalf("cut at %d: torn tail not truncated (size %d)", cut, fi.Size())
		}
		if err := j.Append(rec(7)); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j, _, recs = reopen(t, path)
		j.Close()
		if want := []Record{rec(0), rec(1), rec(2), rec(7)}; !slices.Equal(recs, want) {
			t.Fatalf("cut at %d, after append: records %v", cut, recs)
		}
	}
}

// TestBitFlip flips each bit of the second record: that record and all
// after it are ignored.
func TestBitFlip(t *testing.T) {
	h := testHeader()
	full := journalBytes(h, 4)
	second := len(full) - 3*RecordSize
	for bit := range RecordSize * 8 {
		data := bytes.Clone(full)
		data[second+bit/8] ^= 1 << (bit % 8)
		got, recs, valid, err := Decode(data)
		if err != nil || got != h {
			t.Fatalf("bit %d: %v", bit, err)
		}
		if !slices.Equal(recs, []Record{rec(0)}) || valid != second {
			t.Fatalf("bit %d: records %v valid %d", bit, recs, valid)
		}
	}
}

func TestCorruptHeader(t *testing.T) {
	h := testHeader()
	full := journalBytes(h, 2)
	hdrLen := len(full) - 2*RecordSize
	for i := range hdrLen {
		for _, flip := range []byte{0x01, 0x80} {
			data := bytes.Clone(full)
			data[i] ^= flip
			if _, _, valid, err := Decode(data); !errors.Is(err, ErrCorrupt) || valid != 0 {
				t.Fatalf("flip in byte %d: err %v valid %d", i, err, valid)
			}
		}
	}
	for n := range hdrLen {
		if _, _, _, err := Decode(full[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("header cut at %d: %v", n, err)
		}
	}
	// Open reports it and does not touch the file.
	path := filepath.Join(t.TempDir(), "j")
	data := bytes.Clone(full)
	data[20] ^= 1
	os.WriteFile(path, data, 0o600)
	if _, _, _, err := Open(openFile(t, path)); !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "resume: ") {
		t.Errorf("Open: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("Open changed a corrupt journal")
	}
	os.WriteFile(path, nil, 0o600)
	if _, _, _, err := Open(openFile(t, path)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open of an empty file: %v", err)
	}
}

func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := create(t, path, testHeader())
	j.Append(rec(1))
	before, _ := os.ReadFile(path)

	// A second open file description of the same path is locked out,
	// within this process too.
	if _, _, _, err := Open(openFile(t, path)); err != ErrBusy {
		t.Errorf("Open while held: %v", err)
	}
	if _, err := Create(openFile(t, path), testHeader()); err != ErrBusy {
		t.Errorf("Create while held: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("Create of a held journal changed it")
	}
	j.Close()
	j, _, recs := reopen(t, path)
	defer j.Close()
	if !slices.Equal(recs, []Record{rec(1)}) {
		t.Errorf("records %v", recs)
	}
}

// TestFormatExample checks the example in FORMAT.md.
func TestFormatExample(t *testing.T) {
	h := Header{Dest: "docs/a.txt", Size: 10, ChunkSize: 1 << 20, Mode: 0o644}
	b := journalBytes(h, 1)
	if len(b) != 132 {
		t.Errorf("example journal is %d bytes", len(b))
	}
	want := "58464552" + "4a4e4c31" + "0000003c" + "000a" + hex.EncodeToString([]byte("docs/a.txt")) +
		"000000000000000a" + "00100000" + "000001a4"
	if got := hex.EncodeToString(b[:len(want)/2]); got != want {
		t.Errorf("prefix\n got %s\nwant %s", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	h := testHeader()
	full := journalBytes(h, 3)
	f.Add(full)
	f.Add(full[:len(full)-1])
	f.Add(full[:len(full)-RecordSize*3])
	f.Add(full[:30])
	f.Add([]byte{})
	f.Add([]byte(Magic))
	f.Add(append([]byte(Magic), 0xff, 0xff, 0xff, 0xff))
	h.Dest = strings.Repeat("x", MaxDest)
	f.Add(journalBytes(h, 1))
	h.Dest, h.Size = "", 0
	f.Add(journalBytes(h, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, recs, valid, err := Decode(data)
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid %d of %d", valid, len(data))
		}
		if err != nil {
			if valid != 0 || recs != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v with valid %d, %d records", err, valid, len(recs))
			}
			return
		}
		// Re-encoding gives back exactly the valid prefix.
		b := appendHeader(nil, &h)
		for _, r := range recs {
			b = appendRecord(b, r)
		}
		if !bytes.Equal(b, data[:valid]) {
			t.Fatal("re-encoding differs from the valid prefix")
		}
		if len(h.Dest) > MaxDest || h.ChunkSize == 0 {
			t.Fatalf("bad header accepted: %+v", h)
		}
	})
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	h := testHeader()
	h.Size, h.ChunkSize = 1000, 1
	j := create(t, path, h)
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for k := range 100 {
				if k%2 == 0 {
					j.Append(rec(uint64(w*100 + k)))
				} else {
					j.Append(rec(uint64(w*100+k)), rec(uint64(w*100+k)))
				}
				if k%10 == 0 {
					if err := j.Sync(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	j.Close()
	j, _, recs := reopen(t, path)
	defer j.Close()
	if len(recs) != 1000 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r != rec(r.Index) {
			t.Fatalf("record %d garbled", r.Index)
		}
	}
}
