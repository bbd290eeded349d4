package protocol

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"xfer/crypto"
)

var update = flag.Bool("update", false, "rewrite ../testdata/protocol/vectors.json")

const vectorFile = "../testdata/protocol/vectors.json"

// The vector file: what PROTOCOL.md specifies, as bytes. It is generated
// from the tables of these tests and an independent implementation of the
// chunk construction (golang.org/x/crypto directly), and every run checks
// the file against both the generator and the package (and package crypto).
type vectorSet struct {
	Comment        []string         `json:"comment"`
	Messages       []messageVector  `json:"messages"`
	MessageErrors  []errorVector    `json:"message_errors"`
	ChunkHeaders   []headerVector   `json:"chunk_headers"`
	HeaderErrors   []errorVector    `json:"chunk_header_errors"`
	ManifestHashes []manifestVector `json:"manifest_hashes"`
	ChunkFrames    []frameVector    `json:"chunk_frames"`
}

type messageVector struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	Fields   map[string]any `json:"fields"`
	Encoding string         `json:"encoding"`
}

type errorVector struct {
	Name     string `json:"name"`
	Encoding string `json:"encoding"`
	Error    string `json:"error"` // a substring of this implementation's error
}

type headerVector struct {
	Fields   map[string]any `json:"fields"`
	Encoding string         `json:"encoding"`
}

type manifestVector struct {
	Open         map[string]any `json:"open"`
	Input        string         `json:"input"`
	ManifestHash string         `json:"manifest_hash"`
}

type frameVector struct {
	Name          string         `json:"name"`
	Open          map[string]any `json:"open"`
	OpenEncoding  string         `json:"open_encoding"`
	HandshakeHash string         `json:"handshake_hash"`
	ChunkKey      string         `json:"chunk_key"`
	ManifestHash  string         `json:"manifest_hash"`
	Index         uint64         `json:"index"`
	Last          bool           `json:"last"`
	Chunk         string         `json:"chunk"`
	ChunkHash     string         `json:"chunk_hash"`
	Codec         uint8          `json:"codec"`
	Payload       string         `json:"payload"`
	Header        map[string]any `json:"header"`
	HeaderEnc     string         `json:"header_encoding"`
	AAD           string         `json:"aad"`
	Nonce         string         `json:"nonce"`
	Plaintext     string         `json:"plaintext"`
	Frame         string         `json:"frame"`
	FileRoot      string         `json:"file_root,omitempty"`
	EndEncoding   string         `json:"end_encoding,omitempty"`
}

// fields renders a message or header as JSON-ready values: byte arrays as
// hex, lists as lists, everything else as is.
func fields(v any) map[string]any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	out := make(map[string]any)
	for i := range rv.NumField() {
		out[rv.Type().Field(i).Name] = fieldValue(rv.Field(i))
	}
	return out
}

func fieldValue(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Array:
		b := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(b), v)
		return hex.EncodeToString(b)
	case reflect.Slice:
		l := make([]any, v.Len())
		for i := range l {
			l[i] = fieldValue(v.Index(i))
		}
		return l
	case reflect.Struct:
		return fields(v.Interface())
	}
	return v.Interface()
}

// canonical round-trips v through JSON so that values built in Go and
// values read from the file compare equal.
func canonical(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pattern returns bytes [off, off+n) of the vector file content, byte i
// being i mod 251.
func pattern(off uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + uint64(i)) % 251)
	}
	return b
}

// lz4Block1000a is a hand-made LZ4 block (no frame) of 1000 'a' bytes:
// literal "a", match offset 1 length 994, then 5 literals.
var lz4Block1000a = []byte{0x1f, 'a', 0x01, 0x00, 0xff, 0xff, 0xff, 0xd2, 0x50, 'a', 'a', 'a', 'a', 'a'}

// handshakeHash is the 64-byte Noise handshake hash of the frame vectors.
func handshakeHash() []byte {
	h := make([]byte, 64)
	for i := range h {
		h[i] = 0x40 + byte(i)
	}
	return h
}

func blake2b256() hash.Hash {
	h, _ := blake2b.New256(nil)
	return h
}

// makeFrame builds a frame vector with x/crypto primitives, independently
// of package crypto.
func makeFrame(t *testing.T, name string, o *Open, index uint64, chunkData []byte, codec uint8, payload []byte, root []byte) frameVector {
	hh := handshakeHash()
	info := append([]byte("xfer/1 chunk key"), o.TransferID[:]...)
	info = append(info, byte(o.Attempt>>24), byte(o.Attempt>>16), byte(o.Attempt>>8), byte(o.Attempt))
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(blake2b256, o.Secret[:], hh, info), key); err != nil {
		t.Fatal(err)
	}
	nchunks := (o.Size + uint64(o.ChunkSize) - 1) / uint64(o.ChunkSize)
	last := index == nchunks-1
	nonce := make([]byte, 12)
	for i := range 8 {
		nonce[3+i] = byte(index >> (56 - 8*i))
	}
	if last {
		nonce[11] = 1
	}
	sum := blake2b.Sum256(chunkData)
	pt := append(sum[:], payload...)
	h := ChunkHeader{
		TransferID: o.TransferID, Attempt: o.Attempt, Index: index,
		Offset: index * uint64(o.ChunkSize), RawLen: uint32(len(chunkData)),
		Codec: codec, CTLen: uint32(len(pt) + TagSize),
	}
	if last {
		h.Flags = FlagLast
	}
	hdr, _ := h.AppendBinary(nil)
	mh := ManifestHash(o)
	aad := append(bytes.Clone(hdr), mh[:]...)
	var aead cipher.AEAD
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := aead.Seal(nil, nonce, pt, aad)
	openEnc, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	v := frameVector{
		Name: name, Open: fields(o), OpenEncoding: hex.EncodeToString(openEnc),
		HandshakeHash: hex.EncodeToString(hh), ChunkKey: hex.EncodeToString(key),
		ManifestHash: hex.EncodeToString(mh[:]),
		Index:        index, Last: last,
		Chunk: hex.EncodeToString(chunkData), ChunkHash: hex.EncodeToString(sum[:]),
		Codec: codec, Payload: hex.EncodeToString(payload),
		Header: fields(&h), HeaderEnc: hex.EncodeToString(hdr), AAD: hex.EncodeToString(aad),
		Nonce: hex.EncodeToString(nonce), Plaintext: hex.EncodeToString(pt),
		Frame: hex.EncodeToString(append(bytes.Clone(hdr), ct...)),
	}
	if root != nil {
		end, err := Marshal(&End{ID: o.ID, Chunks: 1, Root: [32]byte(root)})
		if err != nil {
			t.Fatal(err)
		}
		v.FileRoot = hex.EncodeToString(root)
		v.EndEncoding = hex.EncodeToString(end)
	}
	return v
}

// fileRoot computes a file root with x/crypto, independently of package
// crypto.
func fileRoot(size uint64, chunkSize uint32, chunks ...[]byte) []byte {
	h := blake2b256()
	h.Write([]byte("xfer/1 file root"))
	h.Write([]byte{byte(size >> 56), byte(size >> 48), byte(size >> 40), byte(size >> 32), byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)})
	h.Write([]byte{byte(chunkSize >> 24), byte(chunkSize >> 16), byte(chunkSize >> 8), byte(chunkSize)})
	for _, c := range chunks {
		s := blake2b.Sum256(c)
		h.Write(s[:])
	}
	return h.Sum(nil)
}

func generateVectors(t *testing.T) *vectorSet {
	vs := &vectorSet{Comment: []string{
		"xfer/1 protocol test vectors (see protocol/PROTOCOL.md); byte strings are lowercase hex, integers big-endian on the wire.",
		"Generated by: go test ./protocol -run TestVectors -update. Checked by every go test run.",
		"messages: encoding = type byte || fields in declaration order; decoding encoding must give fields, and encoding fields must give encoding.",
		"message_errors, chunk_header_errors: decoding must fail; error is a substring of the reference implementation's message.",
		"manifest_hashes: manifest_hash = BLAKE2b-256(input), input = \"xfer/1 manifest\" || uint16 len(path) || path || uint64 size || uint32 mode || int64 mtime || uint32 chunk_size || transfer_id.",
		"chunk_frames: chunk_key = HKDF-BLAKE2b-256(secret, salt = handshake_hash (64 bytes), info = \"xfer/1 chunk key\" || transfer_id || uint32 attempt); plaintext = chunk_hash || payload; aad = header_encoding || manifest_hash; frame = header_encoding || ChaCha20-Poly1305(chunk_key, nonce, plaintext, aad).",
		"chunk_frames: file content byte i is i mod 251 (\"raw-last-of-two\") or 1000 'a' bytes (\"lz4-single\", payload is an LZ4 block without frame).",
	}}
	for _, tc := range validMessages {
		b, err := Marshal(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 512 {
			continue // the boundary cases are large; the tests cover them
		}
		vs.Messages = append(vs.Messages, messageVector{Name: tc.name, Type: tc.m.Type().String(), Fields: fields(tc.m), Encoding: hex.EncodeToString(b)})
	}
	for _, tc := range invalidMessages {
		if len(tc.b) > 512 {
			continue
		}
		vs.MessageErrors = append(vs.MessageErrors, errorVector{Name: tc.name, Encoding: hex.EncodeToString(tc.b), Error: tc.want})
	}
	for _, h := range validHeaders {
		b, _ := h.AppendBinary(nil)
		vs.ChunkHeaders = append(vs.ChunkHeaders, headerVector{Fields: fields(&h), Encoding: hex.EncodeToString(b)})
	}
	for i, tc := range invalidHeaders {
		vs.HeaderErrors = append(vs.HeaderErrors, errorVector{Name: tc.name, Encoding: hex.EncodeToString(invalidHeaderBytes(i)), Error: tc.want})
	}
	for _, o := range []*Open{openMsg(), {Path: ".", ChunkSize: DefaultChunkSize, MTime: -1}} {
		var in []byte
		in = append(in, "xfer/1 manifest"...)
		in = append(in, byte(len(o.Path)>>8), byte(len(o.Path)))
		in = append(in, o.Path...)
		in = append(in, be(o.Size, o.Mode, uint64(o.MTime), o.ChunkSize, o.TransferID[:])...)
		sum := blake2b.Sum256(in)
		vs.ManifestHashes = append(vs.ManifestHashes, manifestVector{Open: fields(o), Input: hex.EncodeToString(in), ManifestHash: hex.EncodeToString(sum[:])})
	}
	o := openMsg() // 65546 bytes in chunks of 65536: the second chunk is the last, 10 bytes
	vs.ChunkFrames = append(vs.ChunkFrames, makeFrame(t, "raw-last-of-two", o, 1, pattern(MinChunkSize, 10), CodecRaw, pattern(MinChunkSize, 10), nil))
	vs.ChunkFrames[0].FileRoot = hex.EncodeToString(fileRoot(o.Size, o.ChunkSize, pattern(0, MinChunkSize), pattern(MinChunkSize, 10)))
	a1000 := bytes.Repeat([]byte{'a'}, 1000)
	o2 := &Open{ID: 8, Path: "a.txt", Size: 1000, Mode: 0o600, MTime: 0, ChunkSize: DefaultChunkSize, TransferID: fill16(0xb0), Attempt: 2, Secret: fill32(0x20)}
	vs.ChunkFrames = append(vs.ChunkFrames, makeFrame(t, "lz4-single", o2, 0, a1000, CodecLZ4, lz4Block1000a, fileRoot(1000, DefaultChunkSize, a1000)))
	return vs
}

func TestVectors(t *testing.T) {
	vs := generateVectors(t)
	want, err := json.MarshalIndent(vs, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.MkdirAll("../testdata/protocol", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatalf("%v (run go test ./protocol -run TestVectors -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date (run go test ./protocol -run TestVectors -update)", vectorFile)
	}
	var file vectorSet
	d := json.NewDecoder(bytes.NewReader(got))
	d.UseNumber() // 64-bit integers do not fit a float64
	if err := d.Decode(&file); err != nil {
		t.Fatal(err)
	}
	checkVectors(t, &file)
}

// checkVectors checks the file's vectors against the package (and package
// crypto) rather than against the generator.
func checkVectors(t *testing.T, vs *vectorSet) {
	if len(vs.Messages) == 0 || len(vs.ChunkFrames) != 2 {
		t.Fatal("vector file is missing sections")
	}
	seen := make(map[string]bool)
	for _, v := range vs.Messages {
		m, err := Unmarshal(unhex(t, v.Encoding))
		if err != nil {
			t.Errorf("message %s: %v", v.Name, err)
			continue
		}
		seen[v.Type] = true
		if m.Type().String() != v.Type || !reflect.DeepEqual(canonical(t, fields(m)), canonical(t, v.Fields)) {
			t.Errorf("message %s decodes to %s %v, want %s %v", v.Name, m.Type(), fields(m), v.Type, v.Fields)
		}
		if b, _ := Marshal(m); hex.EncodeToString(b) != v.Encoding {
			t.Errorf("message %s re-encodes differently", v.Name)
		}
	}
	for typ := TypeError; typ <= TypeListEntries; typ++ {
		if !seen[typ.String()] {
			t.Errorf("no vector for %s", typ)
		}
	}
	for _, v := range vs.MessageErrors {
		if _, err := Unmarshal(unhex(t, v.Encoding)); err == nil || !strings.Contains(err.Error(), v.Error) {
			t.Errorf("message error %s: got %v, want %q", v.Name, err, v.Error)
		}
	}
	for _, v := range vs.ChunkHeaders {
		h, err := ParseChunkHeader(unhex(t, v.Encoding))
		if err != nil || !reflect.DeepEqual(canonical(t, fields(&h)), canonical(t, v.Fields)) {
			t.Errorf("chunk header %s: %+v, %v", v.Encoding, h, err)
		}
	}
	for _, v := range vs.HeaderErrors {
		if _, err := ParseChunkHeader(unhex(t, v.Encoding)); err == nil || !strings.Contains(err.Error(), v.Error) {
			t.Errorf("chunk header error %s: got %v, want %q", v.Name, err, v.Error)
		}
	}
	for _, v := range vs.ManifestHashes {
		o := openFromFields(t, v.Open)
		if got := ManifestHash(o); hex.EncodeToString(got[:]) != v.ManifestHash {
			t.Errorf("ManifestHash(%+v) = %x, want %s", o, got, v.ManifestHash)
		}
	}
	for _, v := range vs.ChunkFrames {
		checkFrame(t, v)
	}
}

// openFromFields decodes an Open's vector fields via its encoding.
func openFromFields(t *testing.T, f map[string]any) *Open {
	t.Helper()
	var o Open
	b, _ := json.Marshal(f)
	var raw struct {
		ID         uint32
		Path       string
		Size       uint64
		Mode       uint32
		MTime      int64
		ChunkSize  uint32
		TransferID string
		Attempt    uint32
		Secret     string
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	o = Open{ID: raw.ID, Path: raw.Path, Size: raw.Size, Mode: raw.Mode, MTime: raw.MTime, ChunkSize: raw.ChunkSize, Attempt: raw.Attempt}
	copy(o.TransferID[:], unhex(t, raw.TransferID))
	copy(o.Secret[:], unhex(t, raw.Secret))
	return &o
}

// checkFrame opens a frame vector the way a receiver does, with package
// crypto and the lz4 block decoder.
func checkFrame(t *testing.T, v frameVector) {
	o := openFromFields(t, v.Open)
	m, err := Unmarshal(unhex(t, v.OpenEncoding))
	if err != nil || !reflect.DeepEqual(m, o) {
		t.Fatalf("%s: open_encoding decodes to %+v, %v", v.Name, m, err)
	}
	mh := ManifestHash(o)
	if hex.EncodeToString(mh[:]) != v.ManifestHash {
		t.Errorf("%s: manifest hash %x", v.Name, mh)
	}
	hh := unhex(t, v.HandshakeHash)
	key := crypto.DeriveChunkKey(o.Secret, hh, o.TransferID, o.Attempt)
	if hex.EncodeToString(key[:]) != v.ChunkKey {
		t.Errorf("%s: crypto.DeriveChunkKey = %x, want %s", v.Name, key, v.ChunkKey)
	}
	nonce := crypto.ChunkNonce(v.Index, v.Last)
	if hex.EncodeToString(nonce[:]) != v.Nonce {
		t.Errorf("%s: crypto.ChunkNonce = %x, want %s", v.Name, nonce, v.Nonce)
	}
	frame := unhex(t, v.Frame)
	h, err := ParseChunkHeader(frame)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	if int(h.CTLen) != len(frame)-ChunkHeaderSize || h.Index != v.Index || h.Last() != v.Last || h.TransferID != o.TransferID || h.Attempt != o.Attempt {
		t.Fatalf("%s: header %+v does not fit the frame", v.Name, h)
	}
	aad := append(bytes.Clone(frame[:ChunkHeaderSize]), mh[:]...)
	if hex.EncodeToString(aad) != v.AAD {
		t.Errorf("%s: aad differs", v.Name)
	}
	pt, err := crypto.NewChunkAEAD(key).Open(nil, h.Index, h.Last(), frame[ChunkHeaderSize:], aad)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	if hex.EncodeToString(pt) != v.Plaintext {
		t.Fatalf("%s: plaintext differs", v.Name)
	}
	raw := pt[HashSize:]
	if h.Codec == CodecLZ4 {
		out := make([]byte, h.RawLen)
		n, err := lz4.UncompressBlock(pt[HashSize:], out)
		if err != nil || n != int(h.RawLen) {
			t.Fatalf("%s: lz4: %d bytes, %v", v.Name, n, err)
		}
		raw = out
	}
	if sum := crypto.ChunkHash(raw); !bytes.Equal(sum[:], pt[:HashSize]) || hex.EncodeToString(raw) != v.Chunk {
		t.Fatalf("%s: chunk hash or data differs", v.Name)
	}
	// Every bound input matters: flip one bit of each AAD byte region and
	// of the nonce's last flag.
	for _, off := range []int{0, 1, 17, 21, 29, 37, 41, 42, 43, ChunkHeaderSize, ChunkHeaderSize + 31} {
		bad := bytes.Clone(aad)
		bad[off] ^= 1
		if _, err := crypto.NewChunkAEAD(key).Open(nil, h.Index, h.Last(), frame[ChunkHeaderSize:], bad); err == nil {
			t.Errorf("%s: opened with AAD byte %d changed", v.Name, off)
		}
	}
	if _, err := crypto.NewChunkAEAD(key).Open(nil, h.Index, !h.Last(), frame[ChunkHeaderSize:], aad); err == nil {
		t.Errorf("%s: opened with the last flag flipped", v.Name)
	}
	var hashes []crypto.Hash
	switch v.Name {
	case "raw-last-of-two":
		hashes = []crypto.Hash{crypto.ChunkHash(pattern(0, int(o.ChunkSize))), crypto.ChunkHash(raw)}
	case "lz4-single":
		hashes = []crypto.Hash{crypto.ChunkHash(raw)}
	}
	if root := crypto.FileRoot(o.Size, o.ChunkSize, hashes); hex.EncodeToString(root[:]) != v.FileRoot {
		t.Errorf("%s: crypto.FileRoot = %x, want %s", v.Name, root, v.FileRoot)
	}
}

func TestManifestHash(t *testing.T) {
	o := openMsg()
	base := ManifestHash(o)
	if base == ManifestHash(&Open{}) {
		t.Fatal("ManifestHash ignores its input")
	}
	// Every bound field changes the hash; ID, Attempt and Secret do not
	// take part.
	for name, mod := range map[string]func(*Open){
		"Path":       func(o *Open) { o.Path += "x" },
		"Size":       func(o *Open) { o.Size++ },
		"Mode":       func(o *Open) { o.Mode ^= 1 },
		"MTime":      func(o *Open) { o.MTime++ },
		"ChunkSize":  func(o *Open) { o.ChunkSize *= 2 },
		"TransferID": func(o *Open) { o.TransferID[15] ^= 1 },
	} {
		c := *o
		mod(&c)
		if ManifestHash(&c) == base {
			t.Errorf("%s is not bound", name)
		}
	}
	for name, mod := range map[string]func(*Open){
		"ID":      func(o *Open) { o.ID++ },
		"Attempt": func(o *Open) { o.Attempt++ },
		"Secret":  func(o *Open) { o.Secret[0] ^= 1 },
	} {
		c := *o
		mod(&c)
		if ManifestHash(&c) != base {
			t.Errorf("%s changes the manifest hash", name)
		}
	}
	// The length prefix keeps path and size apart.
	a := &Open{Path: "a", Size: 0x0100000000000000}
	b := &Open{Path: "a\x01", Size: 0}
	if ManifestHash(a) == ManifestHash(b) {
		t.Error("path and size run together")
	}
	if n := testing.AllocsPerRun(10, func() { ManifestHash(o) }); n != 0 {
		t.Errorf("ManifestHash allocates %.0f times", n)
	}
}

func ExampleManifestHash() {
	o := &Open{Path: "a.txt", Size: 1000, Mode: 0o600, ChunkSize: DefaultChunkSize}
	fmt.Printf("%x\n", ManifestHash(o))
	// Output: e6d4b907035f6592b7f561b8cf20a1d3f068f84812ba8f1704f9cd3cc3aaf69a
}
