package client_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"xfer/client"
)

// TestSendTreeFiltered sends a few hundred small files in nested
// directories, some excluded, and checks that what arrives is identical
// (content, mode, mtime) and that nothing excluded does.
func TestSendTreeFiltered(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	type meta struct {
		content string
		mode    fs.FileMode
		mtime   time.Time
	}
	want := make(map[string]meta) // sent files, relative to src
	for i := range 600 {
		dir := fmt.Sprintf("t/d%d/e%d", i%7, i%5)
		if i%11 == 0 {
			dir = fmt.Sprintf("t/d%d/skip/x%d", i%7, i%3) // excluded directory
		}
		name := fmt.Sprintf("%s/f%03d.txt", dir, i)
		if i%13 == 0 {
			name = fmt.Sprintf("%s/f%03d.tmp", dir, i) // excluded file
		}
		m := meta{fmt.Sprintf("file %d %s", i, name), fs.FileMode(0o600 | (i%4)<<3), testTime.Add(time.Duration(i) * time.Second)}
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(m.content), m.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, m.mode)
		os.Chtimes(p, m.mtime, m.mtime)
		if i%11 != 0 && i%13 != 0 {
			want[name] = m
		}
	}
	f, err := client.NewFilter(client.Rule{Pattern: "skip/"}, client.Rule{Pattern: "*.tmp"})
	if err != nil {
		t.Fatal(err)
	}
	o := d.Opts
	o.Filter = f
	sum, err := client.Send(context.Background(), o, []string{filepath.Join(src, "t")}, d.Addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != len(want) {
		t.Errorf("summary: %d files, want %d", sum.Files, len(want))
	}
	got := 0
	err = filepath.WalkDir(filepath.Join(d.Root, "t"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d.Root, p)
		m, ok := want[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("%s arrived but was not to be sent", rel)
			return nil
		}
		got++
		fi, err := e.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if string(b) != m.content || fi.Mode().Perm() != m.mode || !fi.ModTime().Equal(m.mtime) {
			t.Errorf("%s: %q %v %v, want %q %v %v", rel, b, fi.Mode().Perm(), fi.ModTime(), m.content, m.mode, m.mtime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("%d files arrived, want %d", got, len(want))
	}
}
