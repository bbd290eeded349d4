package protocol

// MsgType identifies a control message; it is the first byte of the
// message's plaintext.
type MsgType uint8

// Message types. Numbers are fixed by the specification.
const (
	TypeError       MsgType = 1  // either direction: an operation failed
	TypeHello       MsgType = 2  // client → daemon: first message, names the operation
	TypeWelcome     MsgType = 3  // daemon → client: operation accepted
	TypeDir         MsgType = 4  // sender → receiver: a directory to create
	TypeOpen        MsgType = 5  // sender → receiver: a file about to be sent
	TypeAccept      MsgType = 6  // receiver → sender: how to send an opened file
	TypeHeld        MsgType = 7  // receiver → sender: chunks a partial already holds
	TypeEnd         MsgType = 8  // sender → receiver: all chunks of a file sent, with its root
	TypeSkip        MsgType = 9  // sender → receiver: the file is not sent after all
	TypeDone        MsgType = 10 // receiver → sender: final status of one file
	TypeFinish      MsgType = 11 // sender → receiver: no more files
	TypeBye         MsgType = 12 // receiver → sender: every file answered; close
	TypeListEntries MsgType = 13 // daemon → client: directory entries for ls
	TypeKeepAlive   MsgType = 14 // either direction during a transfer: still working (hashing)
)

// Message is implemented by every control message type.
type Message interface {
	Type() MsgType
}

// Operations named in Hello.
const (
	OpSend uint8 = 1 // client sends files to the daemon
	OpGet  uint8 = 2 // client receives files from the daemon
	OpList uint8 = 3 // client lists a directory
)

// Hello option flags. HelloInto is declared in session.go.
const (
	HelloNoClobber uint16 = 1 << 0 // send: do not replace existing files that differ
	HelloNoResume  uint16 = 1 << 1 // send: discard partials, start over
	HelloHash      uint16 = 1 << 2 // ls: include file roots
	// HelloDryRun is reserved: report what would happen, write nothing.
	// No xfer/1 implementation sets it; a daemon that does not implement
	// it must refuse it (CodeUnsupported) rather than ignore it.
	HelloDryRun uint16 = 1 << 3
)

// MaxHelloPaths bounds the number of paths in a Hello.
const MaxHelloPaths = 64

// Hello is the client's first message after the handshake.
type Hello struct {
	Op        uint8
	Flags     uint16
	ChunkSize uint32   // proposed chunk size (OpSend, OpGet); 0 for the default
	Paths     []string // OpGet: remote sources; OpList: one path; OpSend: exactly one, the destination
}

// Welcome accepts a Hello, for every operation.
type Welcome struct {
	// ChunkSize is the chunk size both sides use: the proposal clamped
	// to [MinChunkSize, MaxChunkSize], DefaultChunkSize for 0. For OpList
	// it is the chunk size of the file roots in the listing.
	ChunkSize uint32
	// DestIsDir tells whether the Hello's path is an existing directory
	// on the daemon (OpSend: the destination, before HelloInto creates
	// it; OpList: the listed path). Informational: the receiver maps
	// paths itself.
	DestIsDir bool
	// ServerName is a free-form version string for logs.
	ServerName string
}

// Error codes. Numbers are fixed by the specification.
const (
	CodeInternal         uint16 = 1
	CodeProtocol         uint16 = 2
	CodeNotAuthorized    uint16 = 3
	CodePermissionDenied uint16 = 4
	CodeNotFound         uint16 = 5
	CodeBadPath          uint16 = 6
	CodeBusy             uint16 = 7
	CodeNoSpace          uint16 = 8
	CodeExists           uint16 = 9  // no-clobber: destination exists and differs
	CodeVerifyFailed     uint16 = 10 // a chunk or the file root did not verify
	CodeSourceChanged    uint16 = 11 // the source changed during the transfer
	CodeTooLarge         uint16 = 12
	CodeIO               uint16 = 13
	CodeUnsupported      uint16 = 14
	CodeShuttingDown     uint16 = 15
)

// MaxErrorMessage bounds the length in bytes of Error.Message.
const MaxErrorMessage = 1024

// Error reports a failure. With ID == 0 it concerns the whole session,
// which the sender of the Error then closes; otherwise it concerns the file
// or directory with that ID. A receiver sends it instead of Accept or Done;
// a sender sends it for a source it cannot send at all (that ID gets no
// Dir or Open; the Message starts with the path and ": ").
type Error struct {
	ID      uint32
	Code    uint16
	Message string
}

// Dir announces a directory. The receiver creates it at once (with any
// missing parents, mode 0755) and answers Done or Error; it applies Mode
// and MTime when the Finish message arrives, after the files in it.
type Dir struct {
	ID    uint32
	Path  string // slash-separated, relative to the destination
	Mode  uint32 // permission bits; receivers apply Mode & 0o777
	MTime int64  // nanoseconds since the Unix epoch
}

// Open announces a file. The receiver answers with Accept (then, for a
// resume, Held messages) or an Error for the same ID. Path is never ".".
type Open struct {
	ID         uint32
	Path       string // slash-separated, relative to the destination
	Size       uint64
	Mode       uint32 // permission bits; receivers apply Mode & 0o777
	MTime      int64  // nanoseconds since the Unix epoch
	ChunkSize  uint32 // must equal Welcome.ChunkSize
	TransferID [16]byte
	Attempt    uint32   // 1 for the first attempt; bound into the chunk key and headers
	Secret     [32]byte // random per attempt; the chunk key derives from it
}

// Accept actions.
const (
	// AcceptFresh: send every chunk.
	AcceptFresh uint8 = 1
	// AcceptResume: Held messages follow, listing chunks the receiver
	// already holds; send the others and the held chunks whose hash
	// differs from the source.
	AcceptResume uint8 = 2
	// AcceptExists: the destination exists with the same size; Root is
	// its file root. The sender compares it with its own and sends Skip
	// when they are equal, chunks otherwise.
	AcceptExists uint8 = 3
)

// Accept tells the sender how to send an opened file.
type Accept struct {
	ID     uint32
	Action uint8
	Root   [32]byte // AcceptExists only
}

// HeldChunk is one chunk a receiver already holds verified on disk.
type HeldChunk struct {
	Index uint64
	Hash  [32]byte
}

// MaxHeldPerMessage bounds the entries of one Held message so that it fits
// MaxPayload.
const MaxHeldPerMessage = 1500

// Held lists chunks a partial holds. Final marks the last Held message for
// this ID.
type Held struct {
	ID     uint32
	Chunks []HeldChunk
	Final  bool
}

// End follows the last chunk frame of a file.
type End struct {
	ID     uint32
	Chunks uint64   // number of chunk frames sent in this attempt
	Root   [32]byte // the file root of the whole source file
}

// Skip withdraws an opened file: the receiver drops any state it made for
// it (a partial is kept for resume). Reason 0 means "up to date" and is
// allowed only after AcceptExists or AcceptExistsKeep; the receiver
// answers it with Done, Skipped set. Any other Reason is answered with an
// Error carrying that code.
type Skip struct {
	ID     uint32
	Reason uint16 // an error code, or 0 for "up to date"
}

// Done is the receiver's final word on one file or directory (for a
// directory, only ID is set).
type Done struct {
	ID           uint32
	Skipped      bool     // the destination was already identical
	ResumedBytes uint64   // bytes of held chunks that were not sent again
	Root         [32]byte // the verified file root
}

// Finish tells the receiver that no more files follow.
type Finish struct{}

// Bye answers Finish once every file has its Done or Error.
type Bye struct{}

// KeepAlive tells the peer of a transfer that this side is still working
// though it has nothing else to say: it is hashing a large existing file.
// It carries nothing and needs no answer; it keeps idle timeouts from
// firing.
type KeepAlive struct{}

// Entry is one directory entry in a listing.
type Entry struct {
	Name    string // one path element (CheckName)
	Kind    uint8  // EntryFile, EntryDir, EntrySymlink, EntryOther
	Size    uint64
	Mode    uint32 // permission bits
	MTime   int64  // nanoseconds since the Unix epoch
	HasRoot bool   // Root is set (HelloHash, regular files)
	Root    [32]byte
}

// Entry kinds.
const (
	EntryFile    uint8 = 1
	EntryDir     uint8 = 2
	EntrySymlink uint8 = 3
	EntryOther   uint8 = 4
)

// ListEntries carries part of a listing; Final marks the last part.
type ListEntries struct {
	Entries []Entry
	Final   bool
}

func (*Error) Type() MsgType       { return TypeError }
func (*Hello) Type() MsgType       { return TypeHello }
func (*Welcome) Type() MsgType     { return TypeWelcome }
func (*Dir) Type() MsgType         { return TypeDir }
func (*Open) Type() MsgType        { return TypeOpen }
func (*Accept) Type() MsgType      { return TypeAccept }
func (*Held) Type() MsgType        { return TypeHeld }
func (*End) Type() MsgType         { return TypeEnd }
func (*Skip) Type() MsgType        { return TypeSkip }
func (*Done) Type() MsgType        { return TypeDone }
func (*Finish) Type() MsgType      { return TypeFinish }
func (*Bye) Type() MsgType         { return TypeBye }
func (*ListEntries) Type() MsgType { return TypeListEntries }
func (*KeepAlive) Type() MsgType   { return TypeKeepAlive }

// Marshal encodes m: the type byte, then the fields in declaration order
// (see PROTOCOL.md). It returns an error, naming the field, when a field
// exceeds its limit (path length, Error.Message length, a count, an
// invalid Entry.Name) or the encoding would exceed MaxPayload. Whatever
// Marshal returns, Unmarshal decodes.
func Marshal(m Message) ([]byte, error) {
	return marshal(m)
}

// Unmarshal decodes one message. It never panics and never allocates more
// than len(b) allows; trailing bytes, unknown types, booleans other than 0
// and 1, over-long strings and counts are errors ("protocol: Type.Field:
// ..."). It checks the encoding and the limits, not the meaning: paths are
// not run through CheckPath (the receiver does that, to answer with
// CodeBadPath), and enumerated values (Op, Action, Kind, codes, flags) are
// left to the caller. Entry names are checked with CheckName. Strings are
// copied; the result does not alias b.
func Unmarshal(b []byte) (Message, error) {
	return unmarshal(b)
}
