package transfer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"xfer/protocol"
	"xfer/transfer"
)

// TestExistingDestination covers what the receiver finds at the
// destination and the options that govern it: an identical file is
// skipped as up to date, a different one replaced (unless NoClobber), a
// directory in the way, the size limit, a chunk size that differs from the
// negotiated one, and the destination mapping (Base, RenameTop).
func TestExistingDestination(t *testing.T) {
	mtime := time.Unix(1_740_000_000, 0)
	size := 3*cs + 5
	data := randomData(41, size)
	sameSize := randomData(42, size)
	cases := []struct {
		name     string
		existing []byte // at dst/f before the send
		dir      bool   // a directory at dst/f
		ropt     transfer.ReceiveOptions
		sendCS   uint32
		code     uint16
		skipped  bool
		want     []byte // content of dst/f afterwards (nil: none)
		at       string // destination, when not f
	}{
		{name: "absent", want: data},
		{name: "identical", existing: data, skipped: true, want: data},
		{name: "same-size-differs", existing: sameSize, want: data},
		{name: "other-size", existing: []byte("old"), want: data},
		{name: "no-clobber/absent", ropt: transfer.ReceiveOptions{NoClobber: true}, want: data},
		{name: "no-clobber/identical", existing: data, ropt: transfer.ReceiveOptions{NoClobber: true}, skipped: true, want: data},
		{name: "no-clobber/same-size-differs", existing: sameSize, ropt: transfer.ReceiveOptions{NoClobber: true}, code: protocol.CodeExists, want: sameSize},
		{name: "no-clobber/other-size", existing: []byte("old"), ropt: transfer.ReceiveOptions{NoClobber: true}, code: protocol.CodeExists, want: []byte("old")},
		{name: "directory-in-the-way", dir: true, code: protocol.CodeExists},
		{name: "too-large", ropt: transfer.ReceiveOptions{MaxFileSize: uint64(size - 1)}, code: protocol.CodeTooLarge},
		{name: "size-limit-exact", ropt: transfer.ReceiveOptions{MaxFileSize: uint64(size)}, want: data},
		{name: "chunk-size-differs", ropt: transfer.ReceiveOptions{ChunkSize: 2 * cs}, code: protocol.CodeProtocol},
		{name: "base-and-rename", ropt: transfer.ReceiveOptions{Base: "in/box", RenameTop: "renamed"}, at: "in/box/renamed", want: data},
	}
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			writeFile(t, filepath.Join(src, "f"), data, 0o640, mtime)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					dst := t.TempDir()
					dest := filepath.Join(dst, "f")
					if c.at != "" {
						dest = filepath.Join(dst, c.at)
						if err := os.MkdirAll(filepath.Join(dst, c.ropt.Base), 0o755); err != nil {
							t.Fatal(err)
						}
					}
					oldTime := time.Unix(1_000_000_000, 0)
					switch {
					case c.dir:
						if err := os.Mkdir(dest, 0o755); err != nil {
							t.Fatal(err)
						}
					case c.existing != nil:
						writeFile(t, dest, c.existing, 0o600, oldTime)
					}
					o := run{kind: kind, src: src, names: []string{"f"}, dst: dst, ropt: c.ropt,
						sopt: transfer.SendOptions{ChunkSize: c.sendCS}}.do(t)
					o.mustSucceed(t)
					for side, rec := range map[string]*recorder{"sender": o.sent, "receiver": o.got} {
						r := rec.result(t, "f")
						if r.Code() != c.code || r.Skipped != c.skipped {
							t.Errorf("%s: result %+v (code %d), want code %d, skipped %v", side, r, r.Code(), c.code, c.skipped)
						}
						if c.code == 0 && r.Root != rootOf(t, data) {
							t.Errorf("%s: root %v", side, r.Root)
						}
					}
					r := o.sent.result(t, "f")
					switch {
					case c.skipped:
						if r.WireBytes != 0 || o.send.Skipped != 1 || o.recv.Skipped != 1 {
							t.Errorf("skipped file sent %d wire bytes; stats %+v, %+v", r.WireBytes, o.send, o.recv)
						}
					case c.code == 0 && r.WireBytes != rawWire(size):
						t.Errorf("sent %d wire bytes, want %d", r.WireBytes, rawWire(size))
					}
					switch {
					case c.dir:
						if fi, err := os.Lstat(dest); err != nil || !fi.IsDir() {
							t.Errorf("the directory in the way is gone (%v)", err)
						}
					case c.want == nil:
						mustNotExist(t, dest)
					case c.code == 0 && !c.skipped:
						checkFile(t, dest, c.want, 0o640, mtime)
					default:
						got, err := os.ReadFile(dest)
						if err != nil || !bytes.Equal(got, c.want) {
							t.Errorf("destination changed (%v)", err)
						}
					}
					noLeftovers(t, dst)
				})
			}
		})
	}
}
