package transfer_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"xfer/chunk"
	"xfer/transfer"
)

// TestBoundaryMatrix sends single files whose sizes sit around the chunk
// size (0, 1, cs−1, cs, cs+1, 2·cs+odd), with random and text-like
// content, under every compression mode, over both transports. Each must
// arrive byte-identical with its mode and mtime, both sides must report
// the file root chunk.HashFile computes, and the Stats must add up.
func TestBoundaryMatrix(t *testing.T) {
	sizes := []int{0, 1, cs - 1, cs, cs + 1, 2*cs + 13}
	contents := []struct {
		name string
		gen  func(seed uint64, n int) []byte
	}{
		{"random", randomData},
		{"text", textData},
	}
	modes := []chunk.Mode{chunk.Never, chunk.Always, chunk.Auto}
	perms := []fs.FileMode{0o600, 0o644, 0o755, 0o640, 0o700, 0o444}
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, mode := range modes {
				for _, content := range contents {
					for i, size := range sizes {
						name := fmt.Sprintf("%s/%s/%d", mode, content.name, size)
						t.Run(name, func(t *testing.T) {
							data := content.gen(uint64(size)+7, size)
							perm := perms[i%len(perms)]
							mtime := time.Unix(1_600_000_000+int64(i), 123_456_789)
							src, dst := t.TempDir(), t.TempDir()
							writeFile(t, filepath.Join(src, "f"), data, perm, mtime)

							o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
								sopt: transfer.SendOptions{Compress: mode}}.do(t)
							o.mustSucceed(t)
							checkFile(t, filepath.Join(dst, "f"), data, perm, mtime)
							if got := listDir(dst); len(got) != 1 {
								t.Errorf("destination holds %v, want only f", got)
							}

							want := rootOf(t, data)
							sr, rr := o.sent.result(t, "f"), o.got.result(t, "f")
							for _, r := range []transfer.FileResult{sr, rr} {
								if r.Err != nil || r.Root != want || r.Size != uint64(size) || r.Skipped || r.ResumedBytes != 0 || r.Dir {
									t.Errorf("result %+v, want root %v, size %d, no error", r, want, size)
								}
							}
							if sr.WireBytes != rr.WireBytes {
								t.Errorf("sender counted %d wire bytes, receiver %d", sr.WireBytes, rr.WireBytes)
							}
							raw := rawWire(size)
							// Auto may leave text raw (it samples on a fast
							// link); Always must compress it.
							compressible := content.name == "text" && mode == chunk.Always && size >= cs
							switch {
							case compressible && sr.WireBytes >= raw:
								t.Errorf("wire bytes %d, want less than %d (text compresses)", sr.WireBytes, raw)
							case !compressible && content.name == "random" && sr.WireBytes != raw:
								t.Errorf("wire bytes %d, want %d (random data goes raw)", sr.WireBytes, raw)
							case mode == chunk.Never && sr.WireBytes != raw:
								t.Errorf("wire bytes %d, want %d (compression off)", sr.WireBytes, raw)
							case sr.WireBytes > raw:
								t.Errorf("wire bytes %d exceed the raw cost %d", sr.WireBytes, raw)
							}
							if p := o.sent.progress.Load(); p != uint64(size) {
								t.Errorf("sender progress adds up to %d, want %d", p, size)
							}
							if p := o.got.progress.Load(); p != uint64(size) {
								t.Errorf("receiver progress adds up to %d, want %d", p, size)
							}
							wantStats := transfer.Stats{Files: 1, Bytes: uint64(size), WireBytes: sr.WireBytes}
							if o.send != wantStats {
								t.Errorf("sender stats %+v, want %+v", o.send, wantStats)
							}
							if o.recv != wantStats {
								t.Errorf("receiver stats %+v, want %+v", o.recv, wantStats)
							}
						})
					}
				}
			}
		})
	}
}
