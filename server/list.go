package server

import (
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
	"xfer/transfer"
)

// rootCache remembers file roots by path, size and mtime, so that a
// second `ls --hash` is cheap.
type rootCache struct {
	mu sync.Mutex
	m  map[rootKey]crypto.Hash
}

type rootKey struct {
	path  string
	size  int64
	mtime int64
}

var roots = rootCache{m: make(map[rootKey]crypto.Hash)}

func (s *Server) serveList(log *slog.Logger, conn *transfer.Conn, root *os.Root, ak crypto.AuthorizedKey, h *protocol.Hello) *protocol.Error {
	if ak.Options.WriteOnly {
		return protocol.Errorf(0, protocol.CodePermissionDenied, "permission denied: this key may only send files (write-only)")
	}
	if len(h.Paths) != 1 {
		return protocol.Errorf(0, protocol.CodeProtocol, "list needs exactly one path")
	}
	p := h.Paths[0]
	if err := protocol.CheckPath(p); err != nil {
		return protocol.Errorf(0, protocol.CodeBadPath, "%q: %v", p, err)
	}
	fi, err := root.Lstat(p)
	if err != nil {
		return fsError(p, err)
	}
	withRoot := h.Flags&protocol.HelloHash != 0
	if err := conn.Send(&protocol.Welcome{ChunkSize: protocol.DefaultChunkSize, DestIsDir: fi.IsDir(), ServerName: "xferd"}); err != nil {
		return nil
	}
	var batch []protocol.Entry
	size := 3
	flush := func(final bool) bool {
		err := conn.Send(&protocol.ListEntries{Entries: batch, Final: final})
		batch, size = batch[:0], 3
		return err == nil
	}
	add := func(dir, name string, fi fs.FileInfo) bool {
		e := entryOf(name, fi)
		if withRoot && e.Kind == protocol.EntryFile {
			if r, err := s.rootOf(conn, root, path.Join(dir, name), fi); err == nil {
				e.HasRoot, e.Root = true, [32]byte(r)
			}
		}
		n := len(e.Name) + 64
		if size+n > protocol.MaxPayload-64 || len(batch) >= 1000 {
			if !flush(false) {
				return false
			}
		}
		batch = append(batch, e)
		size += n
		return true
	}
	if !fi.IsDir() {
		if add(path.Dir(p), path.Base(p), fi) {
			flush(true)
		}
		return nil
	}
	d, err := root.Open(p)
	if err != nil {
		return fsError(p, err)
	}
	defer d.Close()
	for {
		ents, err := d.ReadDir(256)
		for _, de := range ents {
			if protocol.CheckName(de.Name()) != nil {
				continue // our own state, or a name the protocol cannot carry
			}
			efi, ierr := de.Info()
			if ierr != nil {
				continue
			}
			if !add(p, de.Name(), efi) {
				return nil
			}
		}
		if err == io.EOF || len(ents) == 0 {
			break
		}
		if err != nil {
			log.Warn("listing failed", "path", p, "err", err)
			return fsError(p, err)
		}
	}
	flush(true)
	return nil
}

func entryOf(name string, fi fs.FileInfo) protocol.Entry {
	e := protocol.Entry{Name: name, Size: uint64(fi.Size()), Mode: uint32(fi.Mode().Perm()), MTime: fi.ModTime().UnixNano()}
	switch {
	case fi.Mode().IsRegular():
		e.Kind = protocol.EntryFile
	case fi.IsDir():
		e.Kind = protocol.EntryDir
		e.Size = 0
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Kind = protocol.EntrySymlink
	default:
		e.Kind = protocol.EntryOther
	}
	return e
}

// rootOf returns the file root of p, from the cache when the file has not
// changed. Hashing says nothing for a while, so it runs in conn.Busy (the
// client's idle timeout must not fire on a large file).
func (s *Server) rootOf(conn *transfer.Conn, root *os.Root, p string, fi fs.FileInfo) (crypto.Hash, error) {
	k := rootKey{path: s.cfg.Root + "\x00" + root.Name() + "\x00" + p, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	roots.mu.Lock()
	h, ok := roots.m[k]
	roots.mu.Unlock()
	if ok {
		return h, nil
	}
	f, err := root.Open(p)
	if err != nil {
		return crypto.Hash{}, err
	}
	defer f.Close()
	conn.Busy(func() { h, err = chunk.HashFile(f, uint64(fi.Size()), protocol.DefaultChunkSize, 0) })
	if err != nil {
		return h, err
	}
	roots.mu.Lock()
	if len(roots.m) > 100000 {
		clear(roots.m)
	}
	roots.m[k] = h
	roots.mu.Unlock()
	return h, nil
}
