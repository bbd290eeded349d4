package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// fill32 and fill16 return arrays whose bytes count up from start.
func fill32(start byte) (a [32]byte) {
	for i := range a {
		a[i] = start + byte(i)
	}
	return a
}

func fill16(start byte) (a [16]byte) {
	for i := range a {
		a[i] = start + byte(i)
	}
	return a
}

// name returns a valid path element of n bytes.
func name(n int) string { return strings.Repeat("n", n) }

// longPath returns a path of exactly n bytes (n >= 1) that passes
// CheckPath when n <= MaxPathLen.
func longPath(n int) string {
	var b strings.Builder
	b.WriteString(name(min(n, 200)))
	for b.Len() < n-1 {
		b.WriteByte('/')
		b.WriteString(name(min(200, n-b.Len())))
	}
	if b.Len() < n {
		b.WriteByte('x') // lengthen the last element rather than end with '/'
	}
	return b.String()
}

func heldChunks(n int) []HeldChunk {
	c := make([]HeldChunk, n)
	for i := range c {
		c[i] = HeldChunk{Index: uint64(i) * 3, Hash: fill32(byte(i))}
	}
	return c
}

func entries(n, nameLen int) []Entry {
	e := make([]Entry, n)
	for i := range e {
		nm := []byte(name(nameLen))
		nm[0] = 'a' + byte(i%26)
		e[i] = Entry{Name: string(nm), Kind: EntryFile, Size: uint64(i), Mode: 0o644, MTime: int64(i) - 1, HasRoot: i%2 == 0, Root: fill32(byte(i))}
	}
	return e
}

func paths(n, length int) []string {
	p := make([]string, n)
	for i := range p {
		p[i] = longPath(length)
	}
	return p
}

// openMsg is a fully populated Open used by several tests and vectors.
func openMsg() *Open {
	return &Open{
		ID:         7,
		Path:       "dir/file.txt",
		Size:       65546,
		Mode:       0o644,
		MTime:      1700000000123456789,
		ChunkSize:  MinChunkSize,
		TransferID: fill16(0xa0),
		Attempt:    1,
		Secret:     fill32(0x00),
	}
}

// validMessages are the round-trip cases: one or more per type, with the
// boundary lengths of every limited field.
var validMessages = []struct {
	name string
	m    Message
	want Message // decoded form when it differs from m (empty vs nil slices)
}{
	{name: "error", m: &Error{ID: 0, Code: CodeNotAuthorized, Message: "not authorized"}},
	{name: "error-empty", m: &Error{ID: 1<<32 - 1, Code: 1<<16 - 1}},
	{name: "error-max-message", m: &Error{ID: 3, Code: CodeIO, Message: strings.Repeat("é", MaxErrorMessage/2)}},
	{name: "hello-send", m: &Hello{Op: OpSend, Flags: HelloNoClobber | HelloInto, ChunkSize: DefaultChunkSize, Paths: []string{"backup/2024"}}},
	{name: "hello-get", m: &Hello{Op: OpGet, ChunkSize: MaxChunkSize, Paths: []string{"a", "b/c", "."}}},
	{name: "hello-list", m: &Hello{Op: OpList, Flags: HelloHash, Paths: []string{"."}}},
	{name: "hello-no-paths", m: &Hello{Op: OpSend}},
	{name: "hello-empty-paths", m: &Hello{Op: OpSend, Paths: []string{}}, want: &Hello{Op: OpSend}},
	{name: "hello-max-path", m: &Hello{Op: OpGet, Paths: []string{longPath(MaxPathLen)}}},
	{name: "hello-max-paths", m: &Hello{Op: OpGet, Paths: paths(MaxHelloPaths, 1021)}},
	{name: "hello-empty-path", m: &Hello{Op: OpGet, Paths: []string{""}}},
	{name: "welcome", m: &Welcome{ChunkSize: DefaultChunkSize, DestIsDir: true, ServerName: "xferd/1.0"}},
	{name: "welcome-false", m: &Welcome{ChunkSize: MinChunkSize}},
	{name: "welcome-max-size", m: &Welcome{ServerName: strings.Repeat("s", MaxPayload-8)}},
	{name: "dir", m: &Dir{ID: 1, Path: "photos/2024", Mode: 0o755, MTime: -1}},
	{name: "dir-max-path", m: &Dir{ID: 2, Path: longPath(MaxPathLen), Mode: 0o7777, MTime: 1 << 62}},
	{name: "open", m: openMsg()},
	{name: "open-max-path", m: &Open{ID: 9, Path: longPath(MaxPathLen), Size: 1<<64 - 1, MTime: -1 << 63, ChunkSize: MaxChunkSize, TransferID: fill16(1), Attempt: 1<<32 - 1, Secret: fill32(9)}},
	{name: "accept-fresh", m: &Accept{ID: 7, Action: AcceptFresh}},
	{name: "accept-resume", m: &Accept{ID: 8, Action: AcceptResume}},
	{name: "accept-exists", m: &Accept{ID: 9, Action: AcceptExists, Root: fill32(0x80)}},
	{name: "accept-exists-keep", m: &Accept{ID: 10, Action: AcceptExistsKeep, Root: fill32(0x81)}},
	{name: "held", m: &Held{ID: 7, Chunks: []HeldChunk{{Index: 0, Hash: fill32(1)}, {Index: 5, Hash: fill32(2)}}}},
	{name: "held-empty-final", m: &Held{ID: 7, Final: true}},
	{name: "held-empty-slice", m: &Held{ID: 7, Chunks: []HeldChunk{}, Final: true}, want: &Held{ID: 7, Final: true}},
	{name: "held-max", m: &Held{ID: 7, Chunks: heldChunks(MaxHeldPerMessage), Final: true}},
	{name: "end", m: &End{ID: 7, Chunks: 2, Root: fill32(0x40)}},
	{name: "skip", m: &Skip{ID: 7, Reason: CodeSourceChanged}},
	{name: "skip-up-to-date", m: &Skip{ID: 7}},
	{name: "done", m: &Done{ID: 7, ResumedBytes: 65536, Root: fill32(0x40)}},
	{name: "done-skipped", m: &Done{ID: 7, Skipped: true}},
	{name: "finish", m: &Finish{}},
	{name: "bye", m: &Bye{}},
	{name: "keepalive", m: &KeepAlive{}},
	{name: "list", m: &ListEntries{Entries: []Entry{
		{Name: "a.txt", Kind: EntryFile, Size: 12, Mode: 0o644, MTime: 1, HasRoot: true, Root: fill32(3)},
		{Name: "sub", Kind: EntryDir, Mode: 0o755, MTime: 2},
		{Name: "héllo wörld", Kind: EntrySymlink, Size: 5, Mode: 0o777, MTime: -2},
	}, Final: true}},
	{name: "list-empty", m: &ListEntries{Final: true}},
	{name: "list-empty-slice", m: &ListEntries{Entries: []Entry{}}, want: &ListEntries{}},
	{name: "list-max-name", m: &ListEntries{Entries: entries(1, MaxNameLen)}},
	{name: "list-full", m: &ListEntries{Entries: entries((MaxPayload-listFixed)/(entryFixed+MaxNameLen), MaxNameLen), Final: true}},
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range validMessages {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(b) != EncodedLen(tc.m) {
				t.Errorf("len = %d, EncodedLen = %d", len(b), EncodedLen(tc.m))
			}
			if len(b) > MaxPayload {
				t.Errorf("len = %d exceeds MaxPayload", len(b))
			}
			if MsgType(b[0]) != tc.m.Type() {
				t.Errorf("type byte %d, want %d", b[0], tc.m.Type())
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			want := tc.want
			if want == nil {
				want = tc.m
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Unmarshal = %+v, want %+v", got, want)
			}
			b2, err := Marshal(got)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-Marshal differs (err %v)", err)
			}
		})
	}
}

// TestUnmarshalNoAlias checks that decoded strings survive reuse of the
// input buffer, as transports reuse theirs.
func TestUnmarshalNoAlias(t *testing.T) {
	b, _ := Marshal(openMsg())
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xff
	}
	if !reflect.DeepEqual(m, openMsg()) {
		t.Fatal("decoded message aliases the input")
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string // substring of the error
	}{
		{"nil", nil, "cannot marshal"},
		{"nil-pointer", (*Open)(nil), "cannot marshal"},
		{"error-message", &Error{Message: strings.Repeat("x", MaxErrorMessage+1)}, "Error.Message: length 1025 exceeds 1024"},
		{"hello-paths", &Hello{Paths: paths(MaxHelloPaths+1, 1)}, "Hello.Paths: count 65 exceeds 64"},
		{"hello-path", &Hello{Paths: []string{"a", longPath(MaxPathLen + 1)}}, "Hello.Paths[1]: length 4097 exceeds 4096"},
		{"hello-total", &Hello{Paths: paths(MaxHelloPaths, 1022)}, "Hello: encoding of 65546 bytes exceeds 65519"},
		{"welcome-total", &Welcome{ServerName: strings.Repeat("s", MaxPayload-7)}, "Welcome: encoding of 65520 bytes exceeds 65519"},
		{"dir-path", &Dir{Path: longPath(MaxPathLen + 1)}, "Dir.Path: length 4097 exceeds 4096"},
		{"open-path", &Open{Path: longPath(MaxPathLen + 1)}, "Open.Path: length 4097"},
		{"held-count", &Held{Chunks: heldChunks(MaxHeldPerMessage + 1)}, "Held.Chunks: count 1501 exceeds 1500"},
		{"list-total", &ListEntries{Entries: entries((MaxPayload-listFixed)/(entryFixed+MaxNameLen)+1, MaxNameLen)}, "ListEntries: encoding of"},
		{"list-dotdot", &ListEntries{Entries: []Entry{{Name: "ok"}, {Name: ".."}}}, `ListEntries.Entries[1].Name: name ".."`},
		{"list-slash", &ListEntries{Entries: []Entry{{Name: "a/b"}}}, "ListEntries.Entries[0].Name"},
		{"list-empty-name", &ListEntries{Entries: []Entry{{}}}, "ListEntries.Entries[0].Name"},
		{"list-long-name", &ListEntries{Entries: []Entry{{Name: name(MaxNameLen + 1)}}}, "ListEntries.Entries[0].Name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.m)
			if err == nil {
				t.Fatalf("Marshal succeeded (%d bytes)", len(b))
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestUnmarshalTruncated cuts every valid encoding at every offset (for
// the largest ones, every offset near either end and a sample between).
func TestUnmarshalTruncated(t *testing.T) {
	for _, tc := range validMessages {
		b, err := Marshal(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i++ {
			if len(b) > 4096 && i > 1024 && i < len(b)-1024 {
				i += 61
			}
			if m, err := Unmarshal(b[:i]); err == nil {
				t.Fatalf("%s cut at %d of %d: decoded %+v", tc.name, i, len(b), m)
			} else if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Fatalf("%s cut at %d: error %q lacks prefix", tc.name, i, err)
			}
		}
		if len(b) < MaxPayload {
			if _, err := Unmarshal(append(b[:len(b):len(b)], 0)); err == nil || !strings.Contains(err.Error(), "1 trailing bytes") {
				t.Fatalf("%s with a trailing byte: err = %v", tc.name, err)
			}
		}
	}
}

// be builds an encoding from parts: bytes, strings and integers of the
// wire widths.
func be(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			b = append(b, p)
		case MsgType:
			b = append(b, byte(p))
		case uint16:
			b = binary.BigEndian.AppendUint16(b, p)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, p)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, p)
		case string:
			b = append(b, p...)
		case []byte:
			b = append(b, p...)
		default:
			panic(fmt.Sprintf("be: %T", p))
		}
	}
	return b
}

var zero32 = make([]byte, 32)

// testEntry encodes an Entry with the given name and HasRoot byte.
func testEntry(nm string, hasRoot byte) []byte {
	return be(uint16(len(nm)), nm, EntryFile, uint64(1), uint32(0o644), uint64(5), hasRoot, zero32)
}

// invalidMessages are encodings Unmarshal must reject, with the error.
var invalidMessages = []struct {
	name string
	b    []byte
	want string // substring of the error
}{
	{"empty", nil, "protocol: empty message"},
	{"too-long", make([]byte, MaxPayload+1), "exceeds 65519"},
	{"type-0", be(byte(0)), "unknown message type 0"},
	{"type-15", be(byte(15)), "unknown message type 15"},
	{"type-255", be(byte(255), uint32(0)), "unknown message type 255"},
	{"finish-trailing", be(TypeFinish, byte(0)), "Finish: 1 trailing bytes"},
	{"bye-trailing", be(TypeBye, "xx"), "Bye: 2 trailing bytes"},
	{"keepalive-trailing", be(TypeKeepAlive, byte(0)), "KeepAlive: 1 trailing bytes"},
	{"error-message-long", be(TypeError, uint32(0), uint16(1), uint16(1025), strings.Repeat("x", 1025)), "Error.Message: length 1025 exceeds 1024"},
	{"error-truncated", be(TypeError, uint32(0), uint16(1), uint16(5), "abc"), "Error.Message: truncated"},
	{"welcome-bool-2", be(TypeWelcome, uint32(0), byte(2), uint16(0)), "Welcome.DestIsDir: boolean byte 0x02"},
	{"welcome-bool-ff", be(TypeWelcome, uint32(0), byte(0xff), uint16(0)), "Welcome.DestIsDir: boolean byte 0xff"},
	{"done-bool", be(TypeDone, uint32(1), byte(3), uint64(0), zero32), "Done.Skipped: boolean"},
	{"held-final-bool", be(TypeHeld, uint32(1), uint16(0), byte(0x80)), "Held.Final: boolean"},
	{"list-final-bool", be(TypeListEntries, uint16(0), byte(2)), "ListEntries.Final: boolean"},
	{"entry-hasroot-bool", be(TypeListEntries, uint16(1), testEntry("a", 7), byte(1)), "ListEntries.Entries[0].HasRoot: boolean"},
	{"hello-count", be(TypeHello, OpGet, uint16(0), uint32(0), uint16(65), strings.Repeat("\x00\x00", 65)), "Hello.Paths: count 65 exceeds 64"},
	{"hello-count-bytes", be(TypeHello, OpGet, uint16(0), uint32(0), uint16(64), "\x00\x00"), "Hello.Paths: count 64 needs at least 128 more bytes, 2 remain"},
	{"hello-path-long", be(TypeHello, OpGet, uint16(0), uint32(0), uint16(1), uint16(4097), strings.Repeat("a", 4097)), "Hello.Paths[0]: length 4097 exceeds 4096"},
	{"hello-path-truncated", be(TypeHello, OpGet, uint16(0), uint32(0), uint16(2), uint16(1), "a", uint16(3), "a"), "Hello.Paths[1]: truncated"},
	{"dir-path-long", be(TypeDir, uint32(1), uint16(4097), strings.Repeat("a", 4097), uint32(0), uint64(0)), "Dir.Path: length 4097 exceeds 4096"},
	{"open-path-long", be(TypeOpen, uint32(1), uint16(0xffff)), "Open.Path: length 65535 exceeds 4096"},
	{"open-truncated-secret", be(TypeOpen, uint32(1), uint16(1), "a", uint64(1), uint32(0), uint64(0), uint32(MinChunkSize), make([]byte, 16), uint32(1), make([]byte, 31)), "Open.Secret: truncated"},
	{"held-count", be(TypeHeld, uint32(1), uint16(1501), make([]byte, 1501*40+1)), "Held.Chunks: count 1501 exceeds 1500"},
	{"held-count-bytes", be(TypeHeld, uint32(1), uint16(2), uint64(0), zero32, byte(1)), "Held.Chunks: count 2 needs at least 81 more bytes, 41 remain"},
	{"held-count-max-bytes", be(TypeHeld, uint32(1), uint16(0xffff)), "Held.Chunks: count 65535 exceeds 1500"},
	{"list-count-bytes", be(TypeListEntries, uint16(0xffff), byte(1)), "ListEntries.Entries: count 65535 exceeds 1169"},
	{"list-count-bytes-2", be(TypeListEntries, uint16(2), testEntry("a", 0), byte(1)), "ListEntries.Entries: count 2 needs at least"},
	{"list-name-dotdot", be(TypeListEntries, uint16(1), testEntry("..", 0), byte(1)), `ListEntries.Entries[0].Name: name "..": element ".." not allowed`},
	{"list-name-dot", be(TypeListEntries, uint16(1), testEntry(".", 0), byte(1)), `ListEntries.Entries[0].Name`},
	{"list-name-slash", be(TypeListEntries, uint16(1), testEntry("a/b", 0), byte(1)), `contains a slash`},
	{"list-name-nul", be(TypeListEntries, uint16(1), testEntry("a\x00", 0), byte(1)), `contains a NUL byte`},
	{"list-name-empty", be(TypeListEntries, uint16(1), testEntry("", 0), byte(0), byte(1)), `ListEntries.Entries[0].Name`},
	{"list-name-long", be(TypeListEntries, uint16(1), testEntry(name(256), 0), byte(1)), `ListEntries.Entries[0].Name: length 256 exceeds 255`},
	{"list-second-entry", be(TypeListEntries, uint16(2), testEntry("a", 0), testEntry("b", 9), byte(1)), `ListEntries.Entries[1].HasRoot`},
}

func TestUnmarshalErrors(t *testing.T) {
	for _, tc := range invalidMessages {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Unmarshal(tc.b)
			if err == nil {
				t.Fatalf("decoded %+v", m)
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestBoolBytes flips every boolean of valid encodings to each non-0/1 value.
func TestBoolBytes(t *testing.T) {
	w, _ := Marshal(&Welcome{DestIsDir: true})
	d, _ := Marshal(&Done{Skipped: true})
	h, _ := Marshal(&Held{Final: true})
	l, _ := Marshal(&ListEntries{Entries: entries(1, 1), Final: true})
	cases := []struct {
		b   []byte
		off int
	}{{w, 5}, {d, 5}, {h, len(h) - 1}, {l, len(l) - 1}, {l, 3 + 2 + 1 + 1 + 8 + 4 + 8}}
	for _, c := range cases {
		for v := 2; v < 256; v++ {
			b := bytes.Clone(c.b)
			b[c.off] = byte(v)
			if _, err := Unmarshal(b); err == nil || !strings.Contains(err.Error(), "boolean") {
				t.Fatalf("%s with 0x%02x at %d: err = %v", MsgType(b[0]), v, c.off, err)
			}
		}
	}
}

// TestUnmarshalAllocBound checks that a short message with a huge count
// is rejected before the list is allocated.
func TestUnmarshalAllocBound(t *testing.T) {
	for _, b := range [][]byte{
		be(TypeHeld, uint32(1), uint16(MaxHeldPerMessage), byte(1)),
		be(TypeListEntries, uint16(1169), byte(1)),
		be(TypeHello, OpGet, uint16(0), uint32(0), uint16(64)),
	} {
		const runs = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if _, err := Unmarshal(b); err == nil {
				t.Fatal("decoded")
			}
		}
		runtime.ReadMemStats(&after)
		if n := (after.TotalAlloc - before.TotalAlloc) / runs; n > 1024 {
			t.Errorf("%s: %d bytes allocated for a rejected count", MsgType(b[0]), n)
		}
	}
}

func TestEncodedLenForeign(t *testing.T) {
	if n := EncodedLen(nil); n != 0 {
		t.Errorf("EncodedLen(nil) = %d", n)
	}
	if n := EncodedLen((*Held)(nil)); n != 0 {
		t.Errorf("EncodedLen(nil *Held) = %d", n)
	}
}

func TestMsgTypeString(t *testing.T) {
	if s := TypeListEntries.String(); s != "ListEntries" {
		t.Errorf("String = %q", s)
	}
	if s := MsgType(99).String(); s != "type 99" {
		t.Errorf("String = %q", s)
	}
}

func TestErrorf(t *testing.T) {
	e := Errorf(3, CodeIO, "write %s: %s", "f", strings.Repeat("ü", 600))
	if len(e.Message) > MaxErrorMessage || len(e.Message) < MaxErrorMessage-3 {
		t.Fatalf("len(Message) = %d", len(e.Message))
	}
	if _, err := Marshal(e); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Error(), "write f: ü") || strings.ContainsRune(e.Message, '\uFFFD') {
		t.Fatalf("bad truncation: %q", e.Message[len(e.Message)-8:])
	}
	if e := Errorf(0, CodeBusy, "busy"); e.Message != "busy" || e.ID != 0 || e.Code != CodeBusy {
		t.Fatalf("Errorf = %+v", e)
	}
}
