package client

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"xfer/protocol"
	"xfer/transfer"
)

// sources are the sources of one Send: the SRC arguments, or a file list.
type sources struct {
	args   []source  // SRC arguments
	list   *pathList // or the file list
	dir    string    // the file list's directory ("" for the current one)
	filter *Filter
}

// source is a SRC argument: a name inside a directory.
type source struct{ dir, name string }

// listDir describes the file list's directory in messages.
func (s *sources) listDir() string {
	if s.dir == "" {
		return "the current directory"
	}
	return s.dir
}

// walker walks the sources once (one attempt, or a dry run), applying the
// filter. It is not safe for concurrent use.
type walker struct {
	s *sources
	// emit passes on an item that is to be sent (or a failed source),
	// with the rule that included it ("" if none); false stops the walk.
	emit func(it transfer.Item, reason string) bool
	// exclude reports a path the filter left out.
	exclude func(wire string, dir bool, size uint64, reason string)
	// done, when set, tells files an earlier attempt finished.
	done func(wire string) bool
	stop <-chan struct{}

	roots []*os.Root         // open until the items have been sent
	srcs  []*transfer.Source // likewise: the items are opened through them
	seen  map[string]bool    // file list: listed paths (true), implied directories (false)
	all   bool               // file list: "." was listed
	err   error              // reading the file list failed
}

// run walks every source; false means the walk was stopped.
func (w *walker) run() bool {
	if w.s.list == nil {
		for _, src := range w.s.args {
			root, err := os.OpenRoot(src.dir)
			if err != nil {
				code := protocol.CodeIO
				switch {
				case errors.Is(err, fs.ErrNotExist):
					code = protocol.CodeNotFound
				case errors.Is(err, fs.ErrPermission):
					code = protocol.CodePermissionDenied
				}
				if !w.emit(transfer.Item{Path: src.name, Err: protocol.Errorf(0, code, "%s: %v", src.name, err)}, "") {
					return false
				}
				continue
			}
			w.roots = append(w.roots, root)
			tsrc := transfer.NewSource(root)
			w.srcs = append(w.srcs, tsrc)
			if !w.walkOne(tsrc, src.name, path.Clean(src.name)) {
				return false
			}
		}
		return true
	}
	dir := w.s.dir
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		w.err = &Error{Kind: KindUsage, Err: fmt.Errorf("send: file list directory: %w", err)}
		return true
	}
	w.roots = append(w.roots, root)
	tsrc := transfer.NewSource(root)
	w.srcs = append(w.srcs, tsrc)
	w.seen = make(map[string]bool)
	for i := 0; ; i++ {
		e, ok, err := w.s.list.at(i, w.stop)
		if err == errStopped {
			return false
		}
		if err != nil {
			w.err = &Error{Kind: KindInternal, Err: err}
			return true
		}
		if !ok {
			return true
		}
		if !w.listed(root, tsrc, e) {
			return false
		}
	}
}

// close closes the roots the walk opened (and the directory roots kept
// for opening its items); call it once the items have been sent.
func (w *walker) close() {
	for _, s := range w.srcs {
		s.Close()
	}
	w.srcs = nil
	for _, r := range w.roots {
		r.Close()
	}
	w.roots = nil
}

// listed walks one entry of the file list.
func (w *walker) listed(root *os.Root, src *transfer.Source, e listItem) bool {
	p, err := cleanListed(e, w.s.listDir())
	if err != nil {
		return w.emit(transfer.Item{Path: e.path, Err: err}, "")
	}
	if p == "." {
		return w.walkAll(root, src)
	}
	if w.covered(p) {
		return true // sent already
	}
	parents := parentsOf(p)
	for _, d := range parents {
		if r, ok := w.s.filter.Match(d, true); ok && !r.Include {
			fi, err := root.Lstat(p)
			dir, size := false, uint64(0)
			if err == nil {
				dir, size = fi.IsDir(), fileSize(fi)
			}
			w.exclude(p, dir, size, fmt.Sprintf("inside excluded directory %s (%s)", d, r))
			w.seen[p] = true
			return true
		}
	}
	if fi, err := root.Lstat(p); err == nil {
		if r, ok := w.s.filter.Match(p, fi.IsDir()); ok && !r.Include {
			w.exclude(p, fi.IsDir(), fileSize(fi), r.String())
			w.seen[p] = true
			return true
		}
		// Create the parents at the destination with their local
		// modes and times, once, as rsync's implied directories.
		for _, d := range parents {
			if _, ok := w.seen[d]; ok {
				continue
			}
			w.seen[d] = false
			fi, err := root.Stat(d)
			if err != nil || !fi.IsDir() {
				continue // the walk below reports the problem
			}
			if !w.emit(transfer.Item{Path: d, Dir: true, Mode: fi.Mode().Perm(), MTime: fi.ModTime()}, "parent of a listed path") {
				return false
			}
		}
	}
	w.seen[p] = true
	return w.walkOne(src, p, p)
}

// covered reports whether p or one of its parents was listed already.
func (w *walker) covered(p string) bool {
	if w.all {
		return true
	}
	for q := p; ; {
		if w.seen[q] {
			return true
		}
		i := strings.LastIndexByte(q, '/')
		if i < 0 {
			return false
		}
		q = q[:i]
	}
}

// walkAll walks every entry of the list's directory ("." was listed).
func (w *walker) walkAll(root *os.Root, src *transfer.Source) bool {
	if w.all {
		return true
	}
	d, err := root.Open(".")
	if err != nil {
		return w.emit(transfer.Item{Path: ".", Err: protocol.Errorf(0, protocol.CodeIO, ".: %v", err)}, "")
	}
	defer d.Close()
	for {
		ents, err := d.ReadDir(256)
		for _, e := range ents {
			if !w.listed(root, src, listItem{path: e.Name()}) {
				return false
			}
		}
		if err == io.EOF || len(ents) == 0 {
			break
		}
		if err != nil {
			if !w.emit(transfer.Item{Path: ".", Err: protocol.Errorf(0, protocol.CodeIO, ".: %v", err)}, "") {
				return false
			}
			break
		}
	}
	w.all = true
	return true
}

// walkOne walks name (inside src's root), sent as wire, leaving out what the
// filter excludes and files an earlier attempt finished.
//
// src.Walk cannot skip a directory, so an excluded directory is
// still read, and what is below it is dropped here: its items follow it
// directly, as the walk is depth first.
func (w *walker) walkOne(src *transfer.Source, name, wire string) bool {
	inner := make(chan transfer.Item, 64)
	stop := make(chan struct{})
	done := make(chan bool, 1)
	go func() { done <- src.Walk(name, wire, inner, stop); close(inner) }()
	stopped := false
	stopInner := func() {
		if !stopped {
			stopped = true
			close(stop)
		}
	}
	prune := "" // "dir/" of an excluded (or already sent) directory
	for it := range inner {
		if stopped {
			continue // draining
		}
		select {
		case <-w.stop:
			stopInner()
			continue
		default:
		}
		if prune != "" && strings.HasPrefix(it.Path, prune) {
			continue
		}
		prune = ""
		if listed, ok := w.seen[it.Path]; ok && it.Path != wire {
			if listed {
				// Listed (and sent) before this directory.
				if it.Dir {
					prune = it.Path + "/"
				}
				continue
			}
			if it.Dir && it.Err == nil {
				continue // an implied directory, sent already
			}
		}
		r, matched := w.s.filter.Match(it.Path, it.Dir)
		if matched && !r.Include {
			w.exclude(it.Path, it.Dir, itemSize(it), r.String())
			if it.Dir {
				prune = it.Path + "/"
			}
			continue
		}
		if !it.Dir && it.Err == nil && w.done != nil && w.done(it.Path) {
			continue
		}
		reason := ""
		if matched {
			reason = r.String()
		}
		if !w.emit(it, reason) {
			stopInner()
		}
	}
	return <-done && !stopped
}

// parentsOf returns the parent directories of a relative path, outermost
// first: "a/b/c" gives "a", "a/b".
func parentsOf(p string) []string {
	var out []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

func itemSize(it transfer.Item) uint64 {
	if it.Dir || it.Err != nil {
		return 0
	}
	return it.Size
}

func fileSize(fi fs.FileInfo) uint64 {
	if !fi.Mode().IsRegular() {
		return 0
	}
	return uint64(fi.Size())
}
