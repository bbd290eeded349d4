package client

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"xfer/address"
	"xfer/crypto"
	"xfer/protocol"
)

// List lists the remote directory (or file) at addr. With withRoot the
// daemon adds each file's BLAKE2b file root (cached by size and mtime on
// its side). Entry names are checked: a daemon cannot smuggle a path, NUL
// or "..". Names may still hold terminal control characters; escape them
// before printing (cmd/xfer does). Entries are sorted by name (byte
// order), as ls sorts them. Of the events, List only sends *Reconnect
// (no progress, no summary).
func List(ctx context.Context, o Options, addr string, withRoot bool) ([]ListEntry, error) {
	if err := o.sendOnly("ls"); err != nil {
		return nil, err
	}
	a, err := address.Parse(addr)
	if err != nil {
		return nil, &Error{Kind: KindUsage, Err: err}
	}
	hello := &protocol.Hello{Op: protocol.OpList, Paths: []string{a.Path}}
	if withRoot {
		hello.Flags |= protocol.HelloHash
	}
	var out []ListEntry
	r := newRun(&o)
	err = r.loop(ctx, func(int) error {
		out = out[:0]
		s, err := o.open(ctx, a, hello)
		if err != nil {
			return err
		}
		defer s.conn.Close()
		stop := context.AfterFunc(ctx, func() { s.conn.Close() })
		defer stop()
		for {
			m, err := s.conn.Recv()
			if err != nil {
				return err
			}
			switch m := m.(type) {
			case *protocol.ListEntries:
				for _, e := range m.Entries {
					le, err := listEntry(e)
					if err != nil {
						return &Error{Kind: KindInternal, Err: err}
					}
					out = append(out, le)
				}
				if m.Final {
					return nil
				}
			case *protocol.Error:
				return m
			case *protocol.KeepAlive:
				// The daemon is hashing a large file for --hash.
			default:
				return fmt.Errorf("client: unexpected %T in a listing", m)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ListEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func listEntry(e protocol.Entry) (ListEntry, error) {
	if err := protocol.CheckName(e.Name); err != nil {
		return ListEntry{}, fmt.Errorf("client: daemon sent a bad name %q: %v", e.Name, err)
	}
	le := ListEntry{
		V: SchemaVersion, Event: "entry", Name: e.Name, Size: e.Size,
		Mode:  fmt.Sprintf("%04o", e.Mode&0o7777),
		MTime: time.Unix(0, e.MTime).UTC().Format(time.RFC3339Nano),
	}
	switch e.Kind {
	case protocol.EntryFile:
		le.Type = "file"
	case protocol.EntryDir:
		le.Type = "dir"
	case protocol.EntrySymlink:
		le.Type = "symlink"
	default:
		le.Type = "other"
	}
	if e.HasRoot {
		le.Root = crypto.Hash(e.Root).String()
	}
	return le, nil
}
