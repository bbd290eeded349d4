package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"xfer/crypto"
	"xfer/resume"
	"xfer/transfer"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	hk, err := crypto.GenerateIdentity("test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Root: t.TempDir(), HostKey: hk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.root.Close() })
	return s
}

// makePartial creates the partial and journal of dest (relative to the
// root) with the given age; locked keeps the journal open and locked.
func makePartial(t *testing.T, s *Server, dest string, age time.Duration, locked bool) (part, jrn string) {
	t.Helper()
	dir := filepath.Join(s.cfg.Root, filepath.Dir(dest))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, j := transfer.PartialNames(filepath.Base(dest))
	part, jrn = filepath.Join(dir, p), filepath.Join(dir, j)
	if err := os.WriteFile(part, []byte("some data"), 0o600); err != nil {
		t.Fatal(err)
	}
	jf, err := os.OpenFile(jrn, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	jl, err := resume.Create(jf, resume.Header{Dest: dest, Size: 9, ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if locked {
		t.Cleanup(func() { jl.Close() })
	} else {
		jl.Close()
	}
	old := time.Now().Add(-age)
	for _, f := range []string{part, jrn} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return part, jrn
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// TestExpirePartials: only partials untouched past the cutoff, and not in
// use by a running transfer, are removed; everything else stays.
func TestExpirePartials(t *testing.T) {
	s := newTestServer(t)
	stalePart, staleJrn := makePartial(t, s, "a/old.bin", 8*24*time.Hour, false)
	freshPart, freshJrn := makePartial(t, s, "a/new.bin", time.Hour, false)
	busyPart, busyJrn := makePartial(t, s, "b/busy.bin", 8*24*time.Hour, true)
	user := filepath.Join(s.cfg.Root, "a", "old.bin.part") // a user's file, not ours
	if err := os.WriteFile(user, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(user, old, old)

	if n := s.ExpirePartials(time.Now().Add(-7 * 24 * time.Hour)); n != 1 {
		t.Errorf("expired %d partials, want 1", n)
	}
	for _, p := range []string{stalePart, staleJrn} {
		if exists(p) {
			t.Errorf("%s survived expiry", p)
		}
	}
	for _, p := range []string{freshPart, freshJrn, busyPart, busyJrn, user} {
		if !exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
}
