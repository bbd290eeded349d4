package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"xfer/internal/fdtest"
	"xfer/protocol"
	"xfer/transfer"
)

// walkAll walks name inside src and returns every Item, in walk order.
func walkAll(tb testing.TB, src *transfer.Source, name string) []transfer.Item {
	tb.Helper()
	items := make(chan transfer.Item)
	var out []transfer.Item
	done := make(chan bool, 1)
	go func() { done <- src.Walk(name, name, items, nil); close(items) }()
	for it := range items {
		out = append(out, it)
	}
	if !<-done {
		tb.Fatal("walk stopped")
	}
	return out
}

func readItem(it transfer.Item) (string, error) {
	f, err := it.Open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	return string(b), err
}

// TestSourceOpensInWalkedDirectory: a file is opened by its base name in
// the directory root the walk cached, so a directory renamed and replaced
// by a symbolic link out of the root between the walk and the open still
// yields the file the walk saw; once that root has been evicted, the
// directory is opened by its path again, and the link is refused (never
// followed out of the root). A file replaced by such a link is refused
// too.
func TestSourceOpensInWalkedDirectory(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	srcDir, outside := filepath.Join(base, "src"), filepath.Join(base, "outside")
	const ndirs = 200 // more than the cache keeps: the first ones are evicted
	for i := range ndirs {
		d := filepath.Join(srcDir, "top", fmt.Sprintf("d%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"f", "g"} {
			if err := os.WriteFile(filepath.Join(d, n), []byte(n+" in "+filepath.Base(d)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"f", "g"} {
		if err := os.WriteFile(filepath.Join(outside, n), []byte("OUTSIDE"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := transfer.NewSource(openRootT(t, srcDir))
	defer src.Close()
	items := walkAll(t, src, "top")
	var files []transfer.Item
	for _, it := range items {
		if it.Err != nil {
			t.Fatalf("%s: %v", it.Path, it.Err)
		}
		if !it.Dir {
			files = append(files, it)
		}
	}
	if len(files) != 2*ndirs {
		t.Fatalf("%d files walked, want %d", len(files), 2*ndirs)
	}
	// Replace a directory by a link out of the root, keeping the
	// original under another name.
	replace := func(it transfer.Item) string {
		dir := filepath.Join(srcDir, filepath.FromSlash(filepath.Dir(it.Path)))
		if _, err := os.Lstat(dir + ".moved"); err == nil {
			return filepath.Base(dir)
		}
		if err := os.Rename(dir, dir+".moved"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../outside", dir); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(dir)
	}
	first, last := files[0], files[len(files)-1] // least and most recently walked
	lastDir := replace(last)
	replace(first)

	got, err := readItem(last)
	if want := filepath.Base(last.Path) + " in " + lastDir; err != nil || got != want {
		t.Errorf("%s (directory replaced after the walk, its root cached): %q, %v; want %q", last.Path, got, err, want)
	}
	got, err = readItem(first)
	if err == nil || got != "" || !strings.Contains(err.Error(), "escapes") {
		t.Errorf("%s (directory replaced by a link out of the root, its root evicted): %q, %v; want a path escape error", first.Path, got, err)
	}
	// The other file of the last directory, replaced by a link out of
	// the root, in the directory the cached root is on.
	other := files[len(files)-2]
	if filepath.Dir(other.Path) != filepath.Dir(last.Path) {
		t.Fatalf("walk order: %s then %s", other.Path, last.Path)
	}
	moved := filepath.Join(srcDir, "top", lastDir+".moved", filepath.Base(other.Path))
	if err := os.Remove(moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../outside/f", moved); err != nil {
		t.Fatal(err)
	}
	got, err = readItem(other)
	if err == nil || got != "" {
		t.Errorf("%s (replaced by a link out of the root): %q, %v; want an error", other.Path, got, err)
	}
}

// TestSourceBoundsOpenDirectories: the directory roots a Source keeps
// are bounded whatever the number of directories walked, released by
// Close, and not opened again by an Item opened after Close.
func TestSourceBoundsOpenDirectories(t *testing.T) {
	t.Parallel()
	srcDir := t.TempDir()
	const ndirs = 400
	for i := range ndirs {
		d := filepath.Join(srcDir, "top", fmt.Sprintf("d%02d", i%20), fmt.Sprintf("e%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := fdtest.Under(t, srcDir); len(n) != 0 {
		t.Fatalf("open before the walk: %v", n)
	}
	root := openRootT(t, srcDir)
	src := transfer.NewSource(root)
	items := walkAll(t, src, "top")
	held := len(fdtest.Under(t, srcDir)) - 1 // less the Source's root
	// 2*64 at most before trimming, plus the ancestors being read.
	if held > 2*64+3 {
		t.Errorf("%d directory roots open after walking %d directories", held, ndirs)
	}
	t.Logf("%d directory roots open after walking %d directories", held, ndirs)
	var last transfer.Item
	for _, it := range items {
		if it.Err != nil {
			t.Fatalf("%s: %v", it.Path, it.Err)
		}
		if it.Dir {
			continue
		}
		last = it
		if got, err := readItem(it); err != nil || got != "x" {
			t.Fatalf("%s: %q, %v", it.Path, got, err)
		}
	}
	if held := len(fdtest.Under(t, srcDir)) - 1; held > 2*64+3 {
		t.Errorf("%d directory roots open after opening every file", held)
	}
	src.Close()
	if n := fdtest.Under(t, srcDir); len(n) != 1 {
		t.Errorf("open after Close: %v, want only the root", n)
	}
	if f, err := last.Open(); !errors.Is(err, os.ErrClosed) {
		if err == nil {
			f.Close()
		}
		t.Errorf("%s opened after Close: %v, want %v", last.Path, err, os.ErrClosed)
	}
	if n := fdtest.Under(t, srcDir); len(n) != 1 {
		t.Errorf("open after an Open following Close: %v, want only the root", n)
	}
}

// TestSourceSend sends a tree walked by a Source in process, checking
// what arrives and how links and bad entries are reported, as TestTree
// does for Walk, and that once the Source is closed after Send returns no
// file descriptor is left: none on the tree, and as many in all as
// before.
func TestSourceSend(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	mtime := time.Unix(1_500_000_000, 0)
	var want []string
	for i := range 300 {
		name := fmt.Sprintf("top/d%d/e%d/f%03d", i%10, i%3, i)
		writeFile(t, filepath.Join(src, filepath.FromSlash(name)), textData(uint64(i), 100+i), 0o640, mtime)
		want = append(want, name)
	}
	if err := os.Symlink("d0", filepath.Join(src, "top", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "top", "d1", "bad\\name"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{src, dst} {
		if n := fdtest.Under(t, d); len(n) != 0 {
			t.Fatalf("open before the send: %v", n)
		}
	}
	runtime.GC() // let earlier tests' leftovers go
	before := fdtest.Count(t)

	snd, rcv := connPair(t, "tcp")
	srcRoot, err := os.OpenRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	dstRoot, err := os.OpenRoot(dst)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sent, got := &recorder{}, &recorder{}
	source := transfer.NewSource(srcRoot)
	items := make(chan transfer.Item)
	stop := make(chan struct{})
	var walked sync.WaitGroup
	walked.Go(func() {
		defer close(items)
		source.Walk("top", "top", items, stop)
	})
	var recv transfer.Stats
	var recvErr error
	var received sync.WaitGroup
	received.Go(func() {
		recv, recvErr = transfer.Receive(ctx, rcv, transfer.ReceiveOptions{Root: dstRoot, ChunkSize: cs, Hooks: got.hooks(nil)})
		rcv.Close()
	})
	st, err := transfer.Send(ctx, snd, items, transfer.SendOptions{ChunkSize: cs, Hooks: sent.hooks(nil)})
	close(stop)
	walked.Wait()
	source.Close()
	snd.Close()
	received.Wait()
	if err != nil || recvErr != nil {
		t.Fatalf("send: %v; receive: %v\nsender results:%s", err, recvErr, describe(sent.all()))
	}
	if n := fdtest.Under(t, src); len(n) != 1 {
		t.Errorf("open on the source once the Source is closed: %v, want only its root", n)
	}
	srcRoot.Close()
	dstRoot.Close()

	for i, name := range want {
		checkFile(t, filepath.Join(dst, filepath.FromSlash(name)), textData(uint64(i), 100+i), 0o640, mtime)
	}
	if r := sent.result(t, "top/link"); r.Code() != protocol.CodeUnsupported || !strings.Contains(r.Err.Error(), transfer.ErrSymlink.Error()) {
		t.Errorf("top/link: %v, want CodeUnsupported, %q", r.Err, transfer.ErrSymlink)
	}
	if r := sent.result(t, "top/d1/bad\\name"); r.Code() != protocol.CodeBadPath {
		t.Errorf("bad name: %v, want CodeBadPath", r.Err)
	}
	if st.Files != len(want) || st.Failed != 2 || recv.Files != len(want) {
		t.Errorf("sender %+v, receiver %+v; want %d files, 2 failed", st, recv, len(want))
	}

	for _, d := range []string{src, dst} {
		if n := fdtest.Under(t, d); len(n) != 0 {
			t.Errorf("open after the send: %v", n)
		}
	}
	// Connections may take a moment to close their sockets.
	deadline := time.Now().Add(5 * time.Second)
	for fdtest.Count(t) > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := fdtest.Count(t); after > before {
		t.Errorf("%d file descriptors open after the send, %d before", after, before)
	}
}

// TestSourceWalksAsWalk: a Source gives the same Items as Walk — paths,
// metadata, errors (links, special files, names that cannot be sent,
// unreadable or unsearchable directories) — and its files open to the
// same contents.
func TestSourceWalksAsWalk(t *testing.T) {
	t.Parallel()
	srcDir := t.TempDir()
	mtime := time.Unix(1_500_000_000, 0)
	for i, name := range []string{"top/a/b/c/deep", "top/a/one", "top/zero", "top/noread/x", "top/nosearch/y", "top/d/f"} {
		writeFile(t, filepath.Join(srcDir, filepath.FromSlash(name)), textData(uint64(i), 10*i), 0o640, mtime)
	}
	if err := os.MkdirAll(filepath.Join(srcDir, "top", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"a/one", "top/link"}, {"/nonexistent", "top/dangling"}, {"../..", "top/a/up"}} {
		if err := os.Symlink(l[0], filepath.Join(srcDir, filepath.FromSlash(l[1]))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(srcDir, "top", "a", "bad\\name"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(srcDir, "top", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without read permission, and without search permission (which
	// only matters to a user other than root).
	if err := os.Chmod(filepath.Join(srcDir, "top", "noread"), 0o300); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(srcDir, "top", "nosearch"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(filepath.Join(srcDir, "top", "noread"), 0o755)
		os.Chmod(filepath.Join(srcDir, "top", "nosearch"), 0o755)
	})
	root := openRootT(t, srcDir)
	describeItems := func(items []transfer.Item) []string {
		var out []string
		for _, it := range items {
			s := fmt.Sprintf("%s dir=%v mode=%v mtime=%d size=%d open=%v err=%v", it.Path, it.Dir, it.Mode, it.MTime.UnixNano(), it.Size, it.Open != nil, it.Err)
			if it.Open != nil {
				got, err := readItem(it)
				s += fmt.Sprintf(" content=%q openErr=%v", got, err)
			}
			out = append(out, s)
		}
		slices.Sort(out) // directory order may differ between the walks
		return out
	}
	for _, top := range []string{"top", "top/a/one", "top/a/b"} {
		items := make(chan transfer.Item)
		var viaWalk []transfer.Item
		done := make(chan bool, 1)
		go func() { done <- transfer.Walk(root, top, top, items, nil); close(items) }()
		for it := range items {
			viaWalk = append(viaWalk, it)
		}
		<-done
		src := transfer.NewSource(root)
		viaSource := walkAll(t, src, top)
		want, got := describeItems(viaWalk), describeItems(viaSource)
		src.Close()
		if !slices.Equal(got, want) {
			t.Errorf("walking %s, a Source gives\n\t%s\nWalk gives\n\t%s", top, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
		if top == "top" {
			t.Logf("as uid %d:\n\t%s", os.Geteuid(), strings.Join(got, "\n\t"))
		}
	}
}

// BenchmarkOpenWalked walks a tree of 2,000 files in 20 directories two
// levels down and opens and closes every file, through Walk (each Open
// resolves the whole path) and through a Source (one openat in a cached
// directory root).
func BenchmarkOpenWalked(b *testing.B) {
	srcDir := b.TempDir()
	for i := range 2000 {
		writeFile(b, filepath.Join(srcDir, "top", fmt.Sprintf("d%d", i%4), fmt.Sprintf("e%d", i%20), fmt.Sprintf("f%04d", i)), []byte("x"), 0o644, time.Unix(1_500_000_000, 0))
	}
	root := openRootT(b, srcDir)
	openAll := func(b *testing.B, walk func(out chan<- transfer.Item)) {
		items := make(chan transfer.Item, 256)
		go func() { walk(items); close(items) }()
		for it := range items {
			if it.Dir {
				continue
			}
			f, err := it.Open()
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	b.Run("Walk", func(b *testing.B) {
		for b.Loop() {
			openAll(b, func(out chan<- transfer.Item) { transfer.Walk(root, "top", "top", out, nil) })
		}
	})
	b.Run("Source", func(b *testing.B) {
		for b.Loop() {
			src := transfer.NewSource(root)
			openAll(b, func(out chan<- transfer.Item) { src.Walk("top", "top", out, nil) })
			src.Close()
		}
	})
}
