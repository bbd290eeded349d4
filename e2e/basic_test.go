package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRoundTrip is the baseline the fault tests build on: send a file and a
// tree, get them back, list the root, over each transport.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			root := w.path("root")
			d := w.startDaemon(root)
			src := w.path("src", "big.bin")
			writeRandom(t, src, 3<<20+12345, 1)
			tree := w.path("src", "tree")
			for i, name := range []string{"empty", "a", "sub/b", "sub/deeper/c"} {
				size := int64(i * 70000)
				writeRandom(t, filepath.Join(tree, name), size, uint64(10+i))
			}

			r := w.xfer(30*time.Second, w.clientArgs("send", true, "--chunk-size", "65536", src, tree, d.addr(tr, "in/"))...).ok(t)
			if s := r.summary(t); !s.OK || s.Files != 5 || s.Failed != 0 {
				t.Fatalf("summary %+v\n%s", s, r)
			}
			sameFile(t, src, filepath.Join(root, "in", "big.bin"))
			sameTree(t, tree, filepath.Join(root, "in", "tree"))

			got := w.path("got")
			w.xfer(30*time.Second, w.clientArgs("get", true, d.addr(tr, "in/big.bin"), d.addr(tr, "in/tree"), got+"/")...).ok(t)
			sameFile(t, src, filepath.Join(got, "big.bin"))
			sameTree(t, tree, filepath.Join(got, "tree"))

			r = w.xfer(30*time.Second, w.clientArgs("ls", true, d.addr(tr, "in"))...).ok(t)
			if n := len(decodeAll[struct{ Name string }](t, r.events(t), "entry")); n != 2 {
				t.Fatalf("ls: %d entries, want 2\n%s", n, r)
			}
			if p := partials(t, root); len(p) != 0 {
				t.Fatalf("state files left in the daemon's root: %v", p)
			}
			d.alive()
		})
	}
}
