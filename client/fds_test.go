package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"xfer/client"
	"xfer/internal/fdtest"
)

// eventuallyNoFDs waits (up to 5 s: a daemon session ends just after the
// client's side) until no file descriptor is open inside dir.
func eventuallyNoFDs(t *testing.T, what, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(fdtest.Inside(t, dir)) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := fdtest.Inside(t, dir); len(n) != 0 {
		t.Errorf("after %s, %d file descriptors still open inside %s, such as %s", what, len(n), dir, n[0])
	}
}

// TestNoFDLeftAfterTransfers: the directory roots the sending side keeps
// open to open files by their base names are all closed once a transfer
// is over: on the client after Send (SRC arguments and a file list), on
// the daemon after serving a get.
func TestNoFDLeftAfterTransfers(t *testing.T) {
	// No garbage collection meanwhile: it would close unreachable roots
	// someone forgot to close, hiding the leak.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	d := startDaemon(t)
	src := t.TempDir()
	var listed []string
	for i := range 300 { // directories: more than the cache keeps
		name := fmt.Sprintf("tree/d%d/e%03d/f", i%10, i)
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		listed = append(listed, name)
	}
	if n := fdtest.Inside(t, src); len(n) != 0 {
		t.Fatalf("open before the send: %v", n)
	}
	ctx := context.Background()
	check := func(what string, sum *client.Summary, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if sum.Files != len(listed) || sum.Failed != 0 {
			t.Fatalf("%s: %d files, %d failed; want %d, 0", what, sum.Files, sum.Failed, len(listed))
		}
	}

	sum, err := client.Send(ctx, d.Opts, []string{filepath.Join(src, "tree")}, d.Addr+"/a/")
	check("send", sum, err)
	// The client closes its roots before Send returns.
	if n := fdtest.Inside(t, src); len(n) != 0 {
		t.Errorf("after send, %d file descriptors still open inside the source, such as %s", len(n), n[0])
	}
	eventuallyNoFDs(t, "send", d.Root)

	o := d.Opts
	o.FilesFrom = &client.FileList{Dir: src, Paths: listed}
	sum, err = client.Send(ctx, o, nil, d.Addr+"/b/")
	check("send --files-from", sum, err)
	if n := fdtest.Inside(t, src); len(n) != 0 {
		t.Errorf("after send --files-from, %d file descriptors still open inside the source, such as %s", len(n), n[0])
	}
	eventuallyNoFDs(t, "send --files-from", d.Root)

	dest := t.TempDir()
	sum, err = client.Get(ctx, d.Opts, []string{d.Addr + "/a/tree"}, dest)
	check("get", sum, err)
	if n := fdtest.Inside(t, dest); len(n) != 0 {
		t.Errorf("after get, %d file descriptors still open inside the destination, such as %s", len(n), n[0])
	}
	eventuallyNoFDs(t, "get (the daemon's side)", d.Root)
	for _, name := range listed {
		if b, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(name))); err != nil || string(b) != name {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
	}
}
