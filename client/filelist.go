package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"xfer/protocol"
)

// FileList names the sources of a send by paths relative to a directory,
// as rsync's --files-from does: each path keeps its relative structure at
// the destination, so "a/b/c.txt" arrives as DEST/a/b/c.txt, with "a" and
// "a/b" created (with their local modes and times). A listed directory is
// sent with everything in it; "." sends the whole directory. A path that
// is absolute, that leaves the directory (".."), or that the protocol
// cannot carry is reported as a failed file, and the others are still
// sent. A path listed twice, or inside a directory already listed, is
// sent once.
type FileList struct {
	// Dir is the directory the paths are relative to; "" means the
	// current directory. Symbolic links inside it may not point out of
	// it (the walk goes through an os.Root).
	Dir string
	// Paths are the paths, when R is nil.
	Paths []string
	// R, when not nil, is read for the paths instead, as the send goes,
	// to its end, and only once (a retry replays what was read, which is
	// kept in memory): one path per line, or NUL-terminated when NUL is
	// set (find -print0). Empty entries are ignored; nothing else is
	// trimmed, so names may hold spaces and, with NUL, newlines. A
	// reader that never ends keeps a goroutine reading it.
	R   io.Reader
	NUL bool
}

// maxListEntry bounds one entry read from FileList.R: longer entries are
// reported as failed files, not held in memory.
const maxListEntry = 2 * protocol.MaxPathLen

// listItem is one path of a file list.
type listItem struct {
	path    string
	tooLong bool // the entry exceeded maxListEntry; path holds its start
}

// pathList is a FileList being read. A goroutine reads R to its end,
// ahead of the walk, so that a walk blocked on a slow or idle reader (a
// terminal) can still be stopped. Entries are kept, so that a retry walks
// the same list again.
type pathList struct {
	r     *bufio.Reader
	sep   byte
	start sync.Once

	mu   sync.Mutex
	read []listItem
	done bool
	err  error
	wake chan struct{} // closed when read grows or done is set
}

// errStopped is returned by pathList.at when the walk was stopped.
var errStopped = errors.New("client: walk stopped")

func newPathList(fl *FileList) *pathList {
	l := &pathList{wake: make(chan struct{})}
	if fl.R == nil {
		for _, p := range fl.Paths {
			if p != "" {
				l.read = append(l.read, listItem{path: p})
			}
		}
		l.done = true
		return l
	}
	l.r = bufio.NewReaderSize(fl.R, 64<<10)
	l.sep = '\n'
	if fl.NUL {
		l.sep = 0
	}
	return l
}

// at returns entry i, waiting for the reader if needed. ok is false at
// the end of the list, on a read error (returned), or when stop is closed
// (errStopped).
func (l *pathList) at(i int, stop <-chan struct{}) (e listItem, ok bool, err error) {
	l.start.Do(func() {
		if l.r != nil {
			go l.readAll()
		}
	})
	for {
		l.mu.Lock()
		if i < len(l.read) {
			e := l.read[i]
			l.mu.Unlock()
			return e, true, nil
		}
		if l.done {
			err := l.err
			l.mu.Unlock()
			return listItem{}, false, err
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-stop:
			return listItem{}, false, errStopped
		}
	}
}

// readAll reads the list to its end.
func (l *pathList) readAll() {
	for {
		e, err := l.next()
		l.mu.Lock()
		switch {
		case err == io.EOF:
			l.done = true
		case err != nil:
			l.done = true
			l.err = fmt.Errorf("client: reading the file list: %w", err)
			e.path = "" // torn
		}
		if e.path != "" {
			l.read = append(l.read, e)
		}
		close(l.wake)
		l.wake = make(chan struct{})
		done := l.done
		l.mu.Unlock()
		if done {
			return
		}
	}
}

// next reads one entry, without its separator. At the end of the input it
// returns the last unterminated entry (if any) with io.EOF.
func (l *pathList) next() (listItem, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice(l.sep)
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > maxListEntry {
				buf, tooLong = buf[:64], true
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return listItem{path: string(buf), tooLong: tooLong}, err
		}
		buf = bytes.TrimSuffix(buf, []byte{l.sep})
		return listItem{path: string(buf), tooLong: tooLong}, nil
	}
}

// cleanListed checks a listed path and returns it cleaned and
// slash-separated, or a per-file error naming it. "." is returned as is.
func cleanListed(e listItem, base string) (string, error) {
	raw := e.path
	fail := func(format string, args ...any) (string, error) {
		return "", protocol.Errorf(0, protocol.CodeBadPath, "%s: "+format, append([]any{raw}, args...)...)
	}
	if e.tooLong {
		return fail("listed path longer than %d bytes", maxListEntry)
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return fail("listed path contains a NUL byte (use -0 for NUL-separated lists)")
	}
	if filepath.IsAbs(raw) {
		return fail("absolute path in a file list (list paths relative to %s)", base)
	}
	p := path.Clean(filepath.ToSlash(raw))
	if p == ".." || strings.HasPrefix(p, "../") {
		return fail("listed path leaves %s", base)
	}
	if p == "." {
		return p, nil
	}
	if err := protocol.CheckPath(p); err != nil {
		return fail("cannot be sent: %v", strings.TrimPrefix(err.Error(), "protocol: "))
	}
	return p, nil
}

var errListWithSources = errors.New("send: a file list (--files-from) and SRC arguments cannot be combined")
