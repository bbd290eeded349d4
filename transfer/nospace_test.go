package transfer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"xfer/protocol"
	"xfer/transfer"
)

// mountTmpfs mounts a tmpfs of the given size (in MiB) at a new directory
// and unmounts it at cleanup; it skips the test when mounting is not
// possible.
func mountTmpfs(t *testing.T, mib int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%dm", mib)); err != nil {
		t.Skipf("cannot mount a tmpfs to fill up (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// leftAfterFailure returns the chunks a failed file's journal holds (none
// when there is no journal).
func leftAfterFailure(t *testing.T, dest string) map[uint64]bool {
	t.Helper()
	part, jrn := partialOf(dest)
	var held map[uint64]bool
	if exists(jrn) {
		held = journalChunks(t, jrn)
	}
	t.Logf("after the failure: partial %v, %d chunks in the journal", exists(part), len(held))
	return held
}

func remountTmpfs(t *testing.T, dir string, mib int) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT, fmt.Sprintf("size=%dm", mib)); err != nil {
		t.Fatalf("remount: %v", err)
	}
}

// fill writes name until the file system is full.
func fill(t *testing.T, name string) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

var noSpaceMessage = regexp.MustCompile(`receiver out of space: (\d+) bytes needed`)

// checkNoSpace checks a result failed with CodeNoSpace and a message
// saying how much space is missing, at most size.
func checkNoSpace(t *testing.T, r transfer.FileResult, size int) {
	t.Helper()
	if r.Code() != protocol.CodeNoSpace {
		t.Fatalf("result code %d (%v), want CodeNoSpace", r.Code(), r.Err)
	}
	m := noSpaceMessage.FindStringSubmatch(r.Err.Error())
	if m == nil {
		t.Fatalf("message %q does not say how much space is needed", r.Err)
	}
	t.Logf("%s", r.Err)
	if n, _ := strconv.ParseUint(m[1], 10, 64); n == 0 || n > uint64(size) {
		t.Errorf("message %q: %d bytes needed for a file of %d", r.Err, n, size)
	}
}

// TestNoSpace fills the receiver's file system: a file that does not fit
// fails with CodeNoSpace and leaves nothing at its destination; once space
// is freed the same send completes, resuming what a partial holds.
func TestNoSpace(t *testing.T) {
	const big, size = 16 << 20, 4 << 20
	mtime := time.Unix(1_710_000_000, 0)
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			t.Run("too-big-then-remount", func(t *testing.T) {
				mnt := mountTmpfs(t, 8)
				src := t.TempDir()
				data := randomData(21, big)
				writeFile(t, filepath.Join(src, "big"), data, 0o644, mtime)

				o := run{kind: kind, src: src, names: []string{"big"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				for _, rec := range []*recorder{o.sent, o.got} {
					checkNoSpace(t, rec.result(t, "big"), big)
				}
				mustNotExist(t, filepath.Join(mnt, "big"))
				held := leftAfterFailure(t, filepath.Join(mnt, "big"))

				remountTmpfs(t, mnt, 24)
				o = run{kind: kind, src: src, names: []string{"big"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(mnt, "big"), data, 0o644, mtime)
				noLeftovers(t, mnt)
				if r := o.sent.result(t, "big"); r.Err != nil || r.ResumedBytes != heldBytes(big, held) {
					t.Errorf("result %+v, want %d bytes resumed", r, heldBytes(big, held))
				}
			})

			t.Run("filler-deleted", func(t *testing.T) {
				mnt := mountTmpfs(t, 8)
				filler := filepath.Join(mnt, "filler")
				if err := os.WriteFile(filler, make([]byte, 6<<20), 0o600); err != nil {
					t.Fatal(err)
				}
				src := t.TempDir()
				data := randomData(25, size)
				writeFile(t, filepath.Join(src, "f"), data, 0o644, mtime)

				o := run{kind: kind, src: src, names: []string{"f"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				for _, rec := range []*recorder{o.sent, o.got} {
					checkNoSpace(t, rec.result(t, "f"), size)
				}
				mustNotExist(t, filepath.Join(mnt, "f"))
				held := leftAfterFailure(t, filepath.Join(mnt, "f"))

				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				o = run{kind: kind, src: src, names: []string{"f"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(mnt, "f"), data, 0o644, mtime)
				noLeftovers(t, mnt)
				if r := o.sent.result(t, "f"); r.Err != nil || r.ResumedBytes != heldBytes(size, held) {
					t.Errorf("result %+v, want %d bytes resumed", r, heldBytes(size, held))
				}
			})

			t.Run("filled-mid-transfer", func(t *testing.T) {
				// The partial's space is reserved up front; the disk then
				// fills up under the transfer, so the journal cannot grow
				// past its first page (93 records of 44 bytes): the file
				// has more chunks than that.
				const size = 8 << 20
				mnt := mountTmpfs(t, 12)
				src := t.TempDir()
				data := randomData(24, size)
				writeFile(t, filepath.Join(src, "big"), data, 0o644, mtime)
				filler := filepath.Join(mnt, "filler")
				var once sync.Once
				o := run{kind: kind, src: src, names: []string{"big"}, dst: mnt,
					sopt: transfer.SendOptions{Workers: 1, Hooks: &transfer.Hooks{Progress: func(string, uint64) {
						once.Do(func() { fill(t, filler) })
					}}},
					ropt: transfer.ReceiveOptions{SyncBytes: cs},
				}.do(t)
				o.mustSucceed(t)
				r := o.got.result(t, "big")
				if r.Code() != protocol.CodeNoSpace {
					t.Fatalf("result code %d (%v), want CodeNoSpace", r.Code(), r.Err)
				}
				t.Run("message", func(t *testing.T) {
					checkNoSpace(t, r, size)
				})
				mustNotExist(t, filepath.Join(mnt, "big"))
				_, jrn := partialOf(filepath.Join(mnt, "big"))
				held := journalChunks(t, jrn)

				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				o = run{kind: kind, src: src, names: []string{"big"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(mnt, "big"), data, 0o644, mtime)
				noLeftovers(t, mnt)
				if r := o.sent.result(t, "big"); r.Err != nil || r.ResumedBytes == 0 || r.ResumedBytes != heldBytes(size, held) {
					t.Errorf("result %+v, want the %d held bytes resumed", r, heldBytes(size, held))
				}
			})

			t.Run("partial-kept-remount-bigger", func(t *testing.T) {
				mnt := mountTmpfs(t, 6)
				src := t.TempDir()
				data := randomData(22, size)
				other := randomData(23, size)
				writeFile(t, filepath.Join(src, "big"), data, 0o644, mtime)
				writeFile(t, filepath.Join(src, "other"), other, 0o600, mtime)

				// A partial that holds some chunks, then a disk too full
				// for another file of the same size.
				held := interrupt(t, kind, src, mnt, "big")
				o := run{kind: kind, src: src, names: []string{"other"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				checkNoSpace(t, o.got.result(t, "other"), size)
				mustNotExist(t, filepath.Join(mnt, "other"))
				if part, _ := partialOf(filepath.Join(mnt, "big")); !exists(part) {
					t.Fatal("the first file's partial is gone")
				}

				remountTmpfs(t, mnt, 16)
				o = run{kind: kind, src: src, names: []string{"big", "other"}, dst: mnt}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(mnt, "big"), data, 0o644, mtime)
				checkFile(t, filepath.Join(mnt, "other"), other, 0o600, mtime)
				noLeftovers(t, mnt)
				if r := o.sent.result(t, "big"); r.Err != nil || r.ResumedBytes == 0 || r.ResumedBytes != heldBytes(size, held) {
					t.Errorf("result %+v, want the %d held bytes resumed", r, heldBytes(size, held))
				}
			})
		})
	}
}
