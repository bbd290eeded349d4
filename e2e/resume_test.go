package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"xfer/internal/netsim"
)

// leavePartial sends src to dest through a TCP proxy that cuts the
// connection half-way, with --retries 0, so the daemon keeps a partial with
// data; it fails the test unless the partial and its journal are there.
func leavePartial(t *testing.T, w *world, d *daemon, src, dest string, size int64) {
	t.Helper()
	p, err := netsim.NewTCPProxy(d.hostport(), netsim.CutAfter(size/2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := w.xfer(30*time.Second, w.clientArgs("send", true, "--retries", "0", "--chunk-size", "65536", src, remote("tcp", p.Addr(), dest))...)
	if r.code != 3 {
		t.Fatalf("the cut send: exit %d, want 3\n%s", r.code, r)
	}
	if left := partials(t, d.root); len(left) != 2 {
		t.Fatalf("after the cut: state files %v, want a partial and its journal", left)
	}
}

// TestResumeChangedSource (issue 3): a source that changed between the
// interrupted attempt and the rerun is detected, never spliced. Same size
// with a changed chunk: the chunk is sent again and the rest resumed. A new
// size: the partial is discarded and the file sent whole. --no-resume:
// sent whole even though nothing changed. The rerun runs over each
// transport (the partial is made over TCP, where a cut is exact).
func TestResumeChangedSource(t *testing.T) {
	t.Parallel()
	type change struct {
		name      string
		mutate    func(t *testing.T, path string)
		extra     []string
		wantReuse bool // some held chunks are resumed
	}
	changes := []change{
		{
			name: "chunk-changed",
			mutate: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt([]byte("changed!"), 100); err != nil { // in chunk 0, held
					t.Fatal(err)
				}
			},
			wantReuse: true,
		},
		{
			name: "size-changed",
			mutate: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				f.Write([]byte("one more line\n"))
			},
		},
		{name: "no-resume", mutate: func(*testing.T, string) {}, extra: []string{"--no-resume"}},
	}
	for _, ch := range changes {
		for _, tr := range transports {
			t.Run(ch.name+"/"+tr, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t)
				root := w.path("root")
				d := w.startDaemon(root)
				src := w.path("src", "f.bin")
				const size = faultFileSize
				writeRandom(t, src, size, 21)
				leavePartial(t, w, d, src, "f.bin", size)
				ch.mutate(t, src)
				args := append(w.clientArgs("send", true, "--chunk-size", "65536"), ch.extra...)
				r := w.xfer(time.Minute, append(args, src, d.addr(tr, "f.bin"))...).ok(t)
				s := r.summary(t)
				sameFile(t, src, filepath.Join(root, "f.bin"))
				fi, _ := os.Stat(src)
				n := fi.Size()
				if ch.wantReuse {
					if s.ResumedBytes == 0 || s.ResumedBytes >= uint64(n)/2 {
						t.Errorf("resumed %d bytes of %d; want some of the held half, less the changed chunk", s.ResumedBytes, n)
					}
				} else if s.ResumedBytes != 0 {
					t.Errorf("resumed %d bytes; want the whole file sent again", s.ResumedBytes)
				}
				if s.WireBytes < uint64(n)-s.ResumedBytes {
					t.Errorf("wire_bytes %d < %d - %d", s.WireBytes, n, s.ResumedBytes)
				}
				if left := partials(t, root); len(left) != 0 {
					t.Errorf("state files left: %v", left)
				}
			})
		}
	}
}

// TestConcurrentSendersSameDest (issue 3): two clients send different
// contents to the same destination at once. One may be refused as busy and
// retry; in the end both succeed and the destination is exactly one of the
// two files, never a mix.
func TestConcurrentSendersSameDest(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			root := w.path("root")
			d := w.startDaemon(root)
			a, b := w.path("src", "a.bin"), w.path("src", "b.bin")
			writeRandom(t, a, 32*mib, 31)
			writeRandom(t, b, 32*mib, 32)
			pa := w.startXfer(w.clientArgs("send", true, a, d.addr(tr, "same.bin"))...)
			pb := w.startXfer(w.clientArgs("send", true, b, d.addr(tr, "same.bin"))...)
			for _, p := range []*proc{pa, pb} {
				if !p.wait(2 * time.Minute) {
					p.kill9()
					t.Fatal("a sender did not finish within 2 minutes")
				}
				p.result(nil).ok(t)
			}
			got := digest(t, filepath.Join(root, "same.bin"))
			if got != digest(t, a) && got != digest(t, b) {
				t.Fatal("the destination is neither sender's file")
			}
			if left := partials(t, root); len(left) != 0 {
				t.Errorf("state files left: %v", left)
			}
			d.alive()
		})
	}
}
