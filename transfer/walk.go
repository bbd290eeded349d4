package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

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
func Walk(root *os.Root, name, wire string, out chan<- Item, stop <-chan struct{}) bool {
	return WalkSkip(root, name, wire, out, stop, nil)
}

// WalkSkip is Walk with a filter: skip is called for every entry (the top
// one included) before it is sent; returning true leaves the entry out
// and, for a directory, does not read it.
func WalkSkip(root *os.Root, name, wire string, out chan<- Item, stop <-chan struct{}, skip func(wire string, fi fs.FileInfo) bool) bool {
	fi, err := root.Lstat(name)
	if err != nil {
		return emit(out, stop, Item{Path: wire, Err: sourceErr(wire, err)})
	}
	w := walker{root: root, out: out, stop: stop, skip: skip}
	return w.walk(name, wire, fi)
}

type walker struct {
	root *os.Root
	out  chan<- Item
	stop <-chan struct{}
	skip func(wire string, fi fs.FileInfo) bool
}

func (w *walker) walk(name, wire string, fi fs.FileInfo) bool {
	if w.skip != nil && w.skip(wire, fi) {
		return true
	}
	root, out, stop := w.root, w.out, w.stop
	it := Item{Path: wire, Mode: fi.Mode().Perm(), MTime: fi.ModTime(), Size: uint64(fi.Size())}
	switch {
	case fi.Mode().IsRegular():
		it.Open = func() (File, error) { return root.Open(name) }
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
			if !w.walk(child, cwire, cfi) {
				return false
			}
		}
		if err == io.EOF || len(ents) == 0 {
			return true
		}
		if err != nil {
			return emit(out, stop, Item{Path: wire, Err: sourceErr(wire, err)})
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
