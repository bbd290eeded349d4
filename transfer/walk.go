package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"xfer/protocol"
)

// ErrSymlink reports a symbolic link in a source tree; links are not
// followed, so they are reported and skipped.
var ErrSymlink = errors.New("symbolic link skipped (not followed)")

// Walk sends the Items of the file or tree at name (inside root) to out,
// naming them under wire (the path the receiver sees), a directory before
// its contents. Directories are read in batches, so memory stays bounded
// whatever their size. It stops early, returning false, when stop is
// closed.
//
// Each file's Open resolves its whole path from root again, which os.Root
// does one component at a time (an openat and a close per component);
// senders of many files walk a Source instead.
func Walk(root *os.Root, name, wire string, out chan<- Item, stop <-chan struct{}) bool {
	return WalkSkip(root, name, wire, out, stop, nil)
}

// WalkSkip is Walk with a filter: skip is called for every entry (the top
// one included) before it is sent; returning true leaves the entry out
// and, for a directory, does not read it.
func WalkSkip(root *os.Root, name, wire string, out chan<- Item, stop <-chan struct{}, skip func(wire string, fi fs.FileInfo) bool) bool {
	return walkTop(root, nil, name, wire, out, stop, skip)
}

// A Source walks trees inside a root as Walk does, but keeps os.Roots
// open on the directories it reads (a reference-counted cache: the
// directories being read or opened from, and idle ones, trimmed to the 64
// most recently used once there are more than 128), so that each file's
// Open is a single openat of its base name in its directory.
// The Items' Open functions use those roots: close the Source only once
// the Items have been sent (after Send returns, whatever it returned);
// an Item opened after Close fails with os.ErrClosed.
//
// Confinement is os.Root's: a directory root is opened through root, and
// a file through its directory's root, never following a symbolic link
// that leads out of either. A file is opened in the directory the walk
// read while that directory's root is cached; once evicted, the directory
// is opened again by its path.
//
// A Source may be walked several times (one walk at a time or
// concurrently) and its Items opened from any goroutine. It does not
// close root.
type Source struct {
	root *os.Root
	dirs *dirCache
}

// NewSource returns a Source on root.
func NewSource(root *os.Root) *Source {
	return &Source{root: root, dirs: newDirCache(root)}
}

// Walk is Walk inside the Source's root.
func (s *Source) Walk(name, wire string, out chan<- Item, stop <-chan struct{}) bool {
	return s.WalkSkip(name, wire, out, stop, nil)
}

// WalkSkip is WalkSkip inside the Source's root.
func (s *Source) WalkSkip(name, wire string, out chan<- Item, stop <-chan struct{}, skip func(wire string, fi fs.FileInfo) bool) bool {
	return walkTop(s.root, s.dirs, name, wire, out, stop, skip)
}

// Close closes the directory roots the Source holds (not its root).
func (s *Source) Close() {
	s.dirs.close()
}

func walkTop(root *os.Root, dirs *dirCache, name, wire string, out chan<- Item, stop <-chan struct{}, skip func(wire string, fi fs.FileInfo) bool) bool {
	fi, err := root.Lstat(name)
	if err != nil {
		return emit(out, stop, Item{Path: wire, Err: sourceErr(wire, err)})
	}
	w := walker{root: root, dirs: dirs, out: out, stop: stop, skip: skip}
	dir, base := "", ""
	if i := strings.LastIndexByte(name, '/'); i > 0 && name == path.Clean(name) {
		// A file named by a path (a file list's entry) is opened in
		// its directory too.
		dir, base = name[:i], name[i+1:]
	}
	return w.walk(name, wire, fi, dir, base)
}

type walker struct {
	root *os.Root
	dirs *dirCache // nil: every open resolves the whole path from root
	out  chan<- Item
	stop <-chan struct{}
	skip func(wire string, fi fs.FileInfo) bool
}

// walk walks name (inside root). dir and base, when dir is not "", are
// the name of the directory holding it, as walked, and its name there.
func (w *walker) walk(name, wire string, fi fs.FileInfo, dir, base string) bool {
	if w.skip != nil && w.skip(wire, fi) {
		return true
	}
	root, out, stop := w.root, w.out, w.stop
	it := Item{Path: wire, Mode: fi.Mode().Perm(), MTime: fi.ModTime(), Size: uint64(fi.Size())}
	switch {
	case fi.Mode().IsRegular():
		if dirs := w.dirs; dirs != nil && dir != "" {
			it.Open = func() (File, error) {
				r, err := dirs.acquire(dir)
				if err != nil {
					return nil, err
				}
				defer dirs.release(dir)
				return r.Open(base)
			}
		} else {
			it.Open = func() (File, error) { return root.Open(name) }
		}
		return emit(out, stop, it)
	case fi.Mode()&fs.ModeSymlink != 0:
		it.Err = protocol.Errorf(0, protocol.CodeUnsupported, "%s: %v", wire, ErrSymlink)
		return emit(out, stop, it)
	case !fi.IsDir():
		it.Err = protocol.Errorf(0, protocol.CodeUnsupported, "%s: not a regular file or directory (skipped)", wire)
		return emit(out, stop, it)
	}
	it.Dir = true
	d, err := root.Open(name)
	if err != nil {
		it.Err = sourceErr(wire, err)
		return emit(out, stop, it)
	}
	defer d.Close()
	if w.dirs != nil {
		// The directory's root, held while the directory is read:
		// its files' Opens find it in the cache. If it cannot be
		// opened, they will say why. (The directory is still read
		// through d: reading it through its root would open "." in
		// it, which needs search permission where reading does not.)
		if _, err := w.dirs.acquire(name); err == nil {
			defer w.dirs.release(name)
		}
	}
	if !emit(out, stop, it) {
		return false
	}
	for {
		ents, err := d.ReadDir(256)
		for _, e := range ents {
			if protocol.CheckName(e.Name()) != nil {
				if !emit(out, stop, Item{Path: path.Join(wire, e.Name()), Err: protocol.Errorf(0, protocol.CodeBadPath, "%q: name cannot be sent (skipped)", path.Join(wire, e.Name()))}) {
					return false
				}
				continue
			}
			child, cwire := path.Join(name, e.Name()), path.Join(wire, e.Name())
			cfi, err := e.Info()
			if err != nil {
				if !emit(out, stop, Item{Path: cwire, Err: sourceErr(cwire, err)}) {
					return false
				}
				continue
			}
			if !w.walk(child, cwire, cfi, name, e.Name()) {
				return false
			}
		}
		if err != nil && err != io.EOF {
			// Also when no entries came with it: a directory that can be
			// opened but not searched fails here, and must not be sent
			// as an empty one without a word.
			return emit(out, stop, Item{Path: wire, Err: sourceErr(wire, err)})
		}
		if err == io.EOF || len(ents) == 0 {
			return true
		}
	}
}

func emit(out chan<- Item, stop <-chan struct{}, it Item) bool {
	select {
	case out <- it:
		return true
	case <-stop:
		return false
	}
}

// sourceErr classifies an error reading a source.
func sourceErr(wire string, err error) *protocol.Error {
	code := protocol.CodeIO
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = protocol.CodeNotFound
		return protocol.Errorf(0, code, "%s: no such file or directory", wire)
	case errors.Is(err, fs.ErrPermission):
		code = protocol.CodePermissionDenied
	}
	return protocol.Errorf(0, code, "%s: %v", wire, unwrapPath(err))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s", pe.Err)
	}
	return err
}
