package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xfer/client"
	"xfer/crypto"
)

// TestFailureKinds pins how failed files map to the run's error (and so
// to cmd/xfer's exit code): not found or permission denied when nothing
// arrived and every failure is of that kind, partial otherwise.
func TestFailureKinds(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"good.txt": "good"})
	for _, c := range []struct {
		name string
		srcs []string
		kind client.Kind
		msg  string
	}{
		{"one missing", []string{"gone"}, client.KindNotFound, "gone: no such file or directory"},
		{"all missing", []string{"gone", "lost"}, client.KindNotFound, "2 of 2 files failed, the first with: "},
		{"missing and present", []string{"gone", "good.txt"}, client.KindPartial, "1 of 2 files failed"},
		{"missing and bad path", []string{"gone", "bad\x01name"}, client.KindPartial, "2 of 2 files failed"},
	} {
		var srcs []string
		for _, s := range c.srcs {
			srcs = append(srcs, filepath.Join(src, s))
		}
		if strings.Contains(c.name, "bad path") {
			// A name the protocol cannot carry, from a file list.
			o := d.Opts
			o.FilesFrom = &client.FileList{Dir: src, Paths: c.srcs}
			_, err := client.Send(context.Background(), o, nil, d.Addr+"/k/")
			if kindOf(err) != c.kind || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: %v (kind %d), want kind %d and %q", c.name, err, kindOf(err), c.kind, c.msg)
			}
			continue
		}
		_, err := client.Send(context.Background(), d.Opts, srcs, d.Addr+"/k/")
		if kindOf(err) != c.kind || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (kind %d), want kind %d and %q", c.name, err, kindOf(err), c.kind, c.msg)
		}
	}
}

// TestGetRefusedCreatesNothing: a get the daemon refuses leaves no
// destination directory behind.
func TestGetRefusedCreatesNothing(t *testing.T) {
	d, err := newDaemonPolicy(t.TempDir(), crypto.KeyOptions{WriteOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dest := filepath.Join(t.TempDir(), "new", "dir") + "/"
	_, err = client.Get(context.Background(), d.Opts, []string{d.Addr + "/x"}, dest)
	if kindOf(err) != client.KindPermission {
		t.Fatalf("Get: %v, want permission denied", err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(dest))); err == nil {
		t.Errorf("a refused get created %s", filepath.Dir(filepath.Dir(dest)))
	}
}

func TestGetMissing(t *testing.T) {
	d := startDaemon(t)
	writeTree(t, d.Root, map[string]string{"b.txt": "b"})
	dest := t.TempDir()
	_, err := client.Get(context.Background(), d.Opts, []string{d.Addr + "/missing.txt"}, filepath.Join(dest, "m.txt"))
	if kindOf(err) != client.KindNotFound || !strings.Contains(err.Error(), "missing.txt: no such file or directory") {
		t.Errorf("Get of a missing file: %v (kind %d)", err, kindOf(err))
	}
	_, err = client.Get(context.Background(), d.Opts, []string{d.Addr + "/missing.txt", d.Addr + "/b.txt"}, dest+"/")
	if kindOf(err) != client.KindPartial {
		t.Errorf("Get of a missing and a present file: %v (kind %d)", err, kindOf(err))
	}
	if b, err := os.ReadFile(filepath.Join(dest, "b.txt")); err != nil || string(b) != "b" {
		t.Errorf("b.txt: %q, %v", b, err)
	}
}

func TestListSorted(t *testing.T) {
	d := startDaemon(t)
	writeTree(t, d.Root, map[string]string{"z": "", "a/": "", "m.txt": "", "B": "", "é": ""})
	ents, err := client.List(context.Background(), d.Opts, d.Addr+"/", false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, " "); got != "B a m.txt z é" {
		t.Errorf("List: %s, want byte order", got)
	}
}
