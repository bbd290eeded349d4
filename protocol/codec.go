package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Encoded sizes of the fixed parts of messages (type byte included).
const (
	heldChunkLen = 8 + HashSize                            // index, hash
	entryFixed   = 2 + 1 + 8 + 4 + 8 + 1 + HashSize        // name length, kind, size, mode, mtime, has-root, root
	listFixed    = 1 + 2 + 1                               // type, count, final
	heldFixed    = 1 + 4 + 2 + 1                           // type, id, count, final
	openFixed    = 1 + 4 + 2 + 8 + 4 + 8 + 4 + 16 + 4 + 32 // all but the path bytes
)

// EncodedLen returns the length of m's encoding, len(Marshal(m)), without
// checking any limit. It helps fill a ListEntries or Held message up to
// MaxPayload. It returns 0 for a nil or foreign Message.
func EncodedLen(m Message) int {
	switch m := m.(type) {
	case *Error:
		if m != nil {
			return 1 + 4 + 2 + 2 + len(m.Message)
		}
	case *Hello:
		if m != nil {
			n := 1 + 1 + 2 + 4 + 2
			for _, p := range m.Paths {
				n += 2 + len(p)
			}
			return n
		}
	case *Welcome:
		if m != nil {
			return 1 + 4 + 1 + 2 + len(m.ServerName)
		}
	case *Dir:
		if m != nil {
			return 1 + 4 + 2 + len(m.Path) + 4 + 8
		}
	case *Open:
		if m != nil {
			return openFixed + len(m.Path)
		}
	case *Accept:
		if m != nil {
			return 1 + 4 + 1 + HashSize
		}
	case *Held:
		if m != nil {
			return heldFixed + heldChunkLen*len(m.Chunks)
		}
	case *End:
		if m != nil {
			return 1 + 4 + 8 + HashSize
		}
	case *Skip:
		if m != nil {
			return 1 + 4 + 2
		}
	case *Done:
		if m != nil {
			return 1 + 4 + 1 + 8 + HashSize
		}
	case *Finish:
		if m != nil {
			return 1
		}
	case *Bye:
		if m != nil {
			return 1
		}
	case *KeepAlive:
		if m != nil {
			return 1
		}
	case *ListEntries:
		if m != nil {
			n := listFixed
			for i := range m.Entries {
				n += entryFixed + len(m.Entries[i].Name)
			}
			return n
		}
	}
	return 0
}

// typeName is the Go name of a message type, used in errors.
func typeName(t MsgType) string {
	switch t {
	case TypeError:
		return "Error"
	case TypeHello:
		return "Hello"
	case TypeWelcome:
		return "Welcome"
	case TypeDir:
		return "Dir"
	case TypeOpen:
		return "Open"
	case TypeAccept:
		return "Accept"
	case TypeHeld:
		return "Held"
	case TypeEnd:
		return "End"
	case TypeSkip:
		return "Skip"
	case TypeDone:
		return "Done"
	case TypeFinish:
		return "Finish"
	case TypeBye:
		return "Bye"
	case TypeListEntries:
		return "ListEntries"
	case TypeKeepAlive:
		return "KeepAlive"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// String returns the message type's name ("Open"), or "type N".
func (t MsgType) String() string { return typeName(t) }

// fieldError formats "protocol: Msg.List[i].Field: reason".
func fieldError(msg MsgType, list string, idx int, field, format string, args ...any) error {
	where := typeName(msg)
	if list != "" {
		where += fmt.Sprintf(".%s[%d]", list, idx)
	}
	if field != "" {
		where += "." + field
	}
	return fmt.Errorf("protocol: %s: %s", where, fmt.Sprintf(format, args...))
}

// encoder appends fields to b; the first failed check is kept in err and
// turns every later call into a no-op.
type encoder struct {
	b    []byte
	err  error
	msg  MsgType
	list string // the list being encoded, for errors
	idx  int
}

func (e *encoder) fail(field, format string, args ...any) {
	if e.err == nil {
		e.err = fieldError(e.msg, e.list, e.idx, field, format, args...)
	}
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) raw(p []byte) { e.b = append(e.b, p...) }

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) str(field, s string, max int) {
	if len(s) > max {
		e.fail(field, "length %d exceeds %d", len(s), max)
		return
	}
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}

// count writes a list length after checking it against max.
func (e *encoder) count(field string, n, max int) bool {
	if n > max {
		e.fail(field, "count %d exceeds %d", n, max)
		return false
	}
	e.u16(uint16(n))
	return true
}

func marshal(m Message) ([]byte, error) {
	n := EncodedLen(m)
	if n == 0 {
		return nil, fmt.Errorf("protocol: cannot marshal %T", m)
	}
	e := &encoder{b: make([]byte, 0, n), msg: m.Type()}
	e.u8(uint8(m.Type()))
	switch m := m.(type) {
	case *Error:
		e.u32(m.ID)
		e.u16(m.Code)
		e.str("Message", m.Message, MaxErrorMessage)
	case *Hello:
		e.u8(m.Op)
		e.u16(m.Flags)
		e.u32(m.ChunkSize)
		if e.count("Paths", len(m.Paths), MaxHelloPaths) {
			e.list = "Paths"
			for i, p := range m.Paths {
				e.idx = i
				e.str("", p, MaxPathLen)
			}
		}
	case *Welcome:
		e.u32(m.ChunkSize)
		e.bool(m.DestIsDir)
		e.str("ServerName", m.ServerName, MaxPayload)
	case *Dir:
		e.u32(m.ID)
		e.str("Path", m.Path, MaxPathLen)
		e.u32(m.Mode)
		e.i64(m.MTime)
	case *Open:
		e.u32(m.ID)
		e.str("Path", m.Path, MaxPathLen)
		e.u64(m.Size)
		e.u32(m.Mode)
		e.i64(m.MTime)
		e.u32(m.ChunkSize)
		e.raw(m.TransferID[:])
		e.u32(m.Attempt)
		e.raw(m.Secret[:])
	case *Accept:
		e.u32(m.ID)
		e.u8(m.Action)
		e.raw(m.Root[:])
	case *Held:
		e.u32(m.ID)
		if e.count("Chunks", len(m.Chunks), MaxHeldPerMessage) {
			for i := range m.Chunks {
				e.u64(m.Chunks[i].Index)
				e.raw(m.Chunks[i].Hash[:])
			}
		}
		e.bool(m.Final)
	case *End:
		e.u32(m.ID)
		e.u64(m.Chunks)
		e.raw(m.Root[:])
	case *Skip:
		e.u32(m.ID)
		e.u16(m.Reason)
	case *Done:
		e.u32(m.ID)
		e.bool(m.Skipped)
		e.u64(m.ResumedBytes)
		e.raw(m.Root[:])
	case *Finish, *Bye, *KeepAlive:
	case *ListEntries:
		if e.count("Entries", len(m.Entries), MaxPayload/entryFixed) {
			e.list = "Entries"
			for i := range m.Entries {
				en := &m.Entries[i]
				e.idx = i
				if err := CheckName(en.Name); err != nil {
					e.fail("Name", "%v", trimPrefix(err))
					break
				}
				e.str("Name", en.Name, MaxNameLen)
				e.u8(en.Kind)
				e.u64(en.Size)
				e.u32(en.Mode)
				e.i64(en.MTime)
				e.bool(en.HasRoot)
				e.raw(en.Root[:])
			}
			e.list = ""
		}
		e.bool(m.Final)
	}
	if e.err != nil {
		return nil, e.err
	}
	if len(e.b) > MaxPayload {
		return nil, fmt.Errorf("protocol: %s: encoding of %d bytes exceeds %d", typeName(m.Type()), len(e.b), MaxPayload)
	}
	return e.b, nil
}

// trimPrefix drops the "protocol: " prefix of a nested error's text.
func trimPrefix(err error) string {
	s := err.Error()
	const p = "protocol: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// decoder consumes fields from b; the first failure is kept in err and
// turns every later call into a no-op returning zero values.
type decoder struct {
	b    []byte
	err  error
	msg  MsgType
	list string
	idx  int
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fieldError(d.msg, d.list, d.idx, field, format, args...)
	}
}

// take returns the next n bytes, or nil after recording a truncation.
func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(field, "truncated: need %d bytes, %d remain", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8(field string) uint8 {
	if p := d.take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if p := d.take(field, 2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if p := d.take(field, 4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if p := d.take(field, 8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) i64(field string) int64 { return int64(d.u64(field)) }

func (d *decoder) bool(field string) bool {
	if p := d.take(field, 1); p != nil {
		switch p[0] {
		case 0:
			return false
		case 1:
			return true
		}
		d.fail(field, "boolean byte 0x%02x is neither 0 nor 1", p[0])
	}
	return false
}

func (d *decoder) raw(field string, dst []byte) {
	if p := d.take(field, len(dst)); p != nil {
		copy(dst, p)
	}
}

func (d *decoder) str(field string, max int) string {
	n := int(d.u16(field))
	if d.err != nil {
		return ""
	}
	if n > max {
		d.fail(field, "length %d exceeds %d", n, max)
		return ""
	}
	return string(d.take(field, n))
}

// count reads a list length and checks it against max and against the
// bytes left, given that each element takes at least minElem bytes and
// after the list at least tail more bytes follow, so that a hostile count
// never drives an allocation.
func (d *decoder) count(field string, max, minElem, tail int) int {
	n := int(d.u16(field))
	if d.err != nil {
		return 0
	}
	if n > max {
		d.fail(field, "count %d exceeds %d", n, max)
		return 0
	}
	if need := n*minElem + tail; need > len(d.b) {
		d.fail(field, "count %d needs at least %d more bytes, %d remain", n, need, len(d.b))
		return 0
	}
	return n
}

var errEmpty = errors.New("protocol: empty message")

func unmarshal(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, errEmpty
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("protocol: message of %d bytes exceeds %d", len(b), MaxPayload)
	}
	t := MsgType(b[0])
	d := &decoder{b: b[1:], msg: t}
	var m Message
	switch t {
	case TypeError:
		m = &Error{
			ID:      d.u32("ID"),
			Code:    d.u16("Code"),
			Message: d.str("Message", MaxErrorMessage),
		}
	case TypeHello:
		h := &Hello{
			Op:        d.u8("Op"),
			Flags:     d.u16("Flags"),
			ChunkSize: d.u32("ChunkSize"),
		}
		if n := d.count("Paths", MaxHelloPaths, 2, 0); n > 0 {
			h.Paths = make([]string, n)
			d.list = "Paths"
			for i := range h.Paths {
				d.idx = i
				h.Paths[i] = d.str("", MaxPathLen)
			}
		}
		m = h
	case TypeWelcome:
		m = &Welcome{
			ChunkSize:  d.u32("ChunkSize"),
			DestIsDir:  d.bool("DestIsDir"),
			ServerName: d.str("ServerName", MaxPayload),
		}
	case TypeDir:
		m = &Dir{
			ID:    d.u32("ID"),
			Path:  d.str("Path", MaxPathLen),
			Mode:  d.u32("Mode"),
			MTime: d.i64("MTime"),
		}
	case TypeOpen:
		o := &Open{
			ID:        d.u32("ID"),
			Path:      d.str("Path", MaxPathLen),
			Size:      d.u64("Size"),
			Mode:      d.u32("Mode"),
			MTime:     d.i64("MTime"),
			ChunkSize: d.u32("ChunkSize"),
		}
		d.raw("TransferID", o.TransferID[:])
		o.Attempt = d.u32("Attempt")
		d.raw("Secret", o.Secret[:])
		m = o
	case TypeAccept:
		a := &Accept{ID: d.u32("ID"), Action: d.u8("Action")}
		d.raw("Root", a.Root[:])
		m = a
	case TypeHeld:
		h := &Held{ID: d.u32("ID")}
		if n := d.count("Chunks", MaxHeldPerMessage, heldChunkLen, 1); n > 0 {
			h.Chunks = make([]HeldChunk, n)
			d.list = "Chunks"
			for i := range h.Chunks {
				d.idx = i
				h.Chunks[i].Index = d.u64("Index")
				d.raw("Hash", h.Chunks[i].Hash[:])
			}
			d.list = ""
		}
		h.Final = d.bool("Final")
		m = h
	case TypeEnd:
		e := &End{ID: d.u32("ID"), Chunks: d.u64("Chunks")}
		d.raw("Root", e.Root[:])
		m = e
	case TypeSkip:
		m = &Skip{ID: d.u32("ID"), Reason: d.u16("Reason")}
	case TypeDone:
		dn := &Done{ID: d.u32("ID"), Skipped: d.bool("Skipped"), ResumedBytes: d.u64("ResumedBytes")}
		d.raw("Root", dn.Root[:])
		m = dn
	case TypeFinish:
		m = &Finish{}
	case TypeBye:
		m = &Bye{}
	case TypeKeepAlive:
		m = &KeepAlive{}
	case TypeListEntries:
		l := &ListEntries{}
		// The smallest entry has a one-byte name.
		if n := d.count("Entries", MaxPayload/entryFixed, entryFixed+1, 1); n > 0 {
			l.Entries = make([]Entry, n)
			d.list = "Entries"
			for i := range l.Entries {
				d.idx = i
				en := &l.Entries[i]
				en.Name = d.str("Name", MaxNameLen)
				if d.err == nil {
					if err := CheckName(en.Name); err != nil {
						d.fail("Name", "%s", trimPrefix(err))
					}
				}
				en.Kind = d.u8("Kind")
				en.Size = d.u64("Size")
				en.Mode = d.u32("Mode")
				en.MTime = d.i64("MTime")
				en.HasRoot = d.bool("HasRoot")
				d.raw("Root", en.Root[:])
			}
			d.list = ""
		}
		l.Final = d.bool("Final")
		m = l
	default:
		return nil, fmt.Errorf("protocol: unknown message type %d", uint8(t))
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("protocol: %s: %d trailing bytes", typeName(t), len(d.b))
	}
	return m, nil
}
