package transfer_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"xfer/protocol"
	"xfer/transfer"
)

// makeUnreadable turns the existing file name into one its owner cannot
// read. Tests run as root, for whom chmod 000 changes nothing, so as root
// a write-only sysfs attribute (mode 0200; kernfs refuses to open those
// for reading even for root) is bind-mounted over it, and unmounted at
// cleanup. It returns "" on success or the reason it could not.
func makeUnreadable(tb testing.TB, name string) (reason string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(name, 0); err != nil {
			return "chmod: " + err.Error()
		}
		if f, err := os.Open(name); err == nil {
			f.Close()
			return "chmod 000 does not stop this user from reading"
		}
		return ""
	}
	cands, _ := filepath.Glob("/sys/bus/*/drivers_probe")
	more, _ := filepath.Glob("/sys/bus/*/uevent")
	for _, c := range append(cands, more...) {
		fi, err := os.Stat(c)
		if err != nil || fi.Mode().Perm()&0o444 != 0 {
			continue
		}
		if err := unix.Mount(c, name, "", unix.MS_BIND, ""); err != nil {
			return "running as root (chmod 000 does not stop root) and cannot bind-mount a write-only sysfs file: " + err.Error()
		}
		tb.Cleanup(func() { unix.Unmount(name, unix.MNT_DETACH) })
		if f, err := os.Open(name); err == nil {
			f.Close()
			return "running as root and the bind-mounted sysfs file is readable"
		}
		return ""
	}
	return "running as root (chmod 000 does not stop root) and no write-only sysfs file to bind-mount"
}

// TestTree sends a tree found by transfer.Walk: nested directories, an
// empty directory and an empty file arrive with their modes and mtimes;
// symbolic links are reported (CodeUnsupported) and skipped; an unreadable
// file is reported (CodePermissionDenied) and skipped.
func TestTree(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			src, dst := t.TempDir(), t.TempDir()
			top := filepath.Join(src, "top")
			type file struct {
				data  []byte
				mode  fs.FileMode
				mtime time.Time
			}
			files := map[string]file{
				"top/a/b/c/deep.txt": {textData(1, 2*cs+5), 0o640, time.Unix(1_500_000_000, 1)},
				"top/a/one.bin":      {randomData(2, cs+1), 0o600, time.Unix(1_500_000_001, 999_999_999)},
				"top/zero":           {nil, 0o644, time.Unix(1_500_000_002, 0)},
			}
			for name, f := range files {
				writeFile(t, filepath.Join(src, name), f.data, f.mode, f.mtime)
			}
			if err := os.Mkdir(filepath.Join(top, "empty"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("a/one.bin", filepath.Join(top, "link")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/nonexistent", filepath.Join(top, "dangling")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(top, "secret"), []byte("classified"), 0o600, time.Unix(1_500_000_003, 0))
			unreadable := makeUnreadable(t, filepath.Join(top, "secret"))

			// Directory modes and mtimes last: creating entries changes them.
			dirs := map[string]struct {
				mode  fs.FileMode
				mtime time.Time
			}{
				"top/a/b/c": {0o750, time.Unix(1_400_000_000, 5)},
				"top/a/b":   {0o700, time.Unix(1_400_000_001, 0)},
				"top/a":     {0o755, time.Unix(1_400_000_002, 0)},
				"top/empty": {0o711, time.Unix(1_400_000_003, 0)},
				"top":       {0o755, time.Unix(1_400_000_004, 0)},
			}
			for _, d := range []string{"top/a/b/c", "top/a/b", "top/a", "top/empty", "top"} {
				if err := os.Chmod(filepath.Join(src, d), dirs[d].mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(filepath.Join(src, d), dirs[d].mtime, dirs[d].mtime); err != nil {
					t.Fatal(err)
				}
			}

			o := run{kind: kind, src: src, names: []string{"top"}, dst: dst}.do(t)
			o.mustSucceed(t)

			var bytes uint64
			for name, f := range files {
				checkFile(t, filepath.Join(dst, name), f.data, f.mode, f.mtime)
				bytes += uint64(len(f.data))
				for _, rec := range []*recorder{o.sent, o.got} {
					if r := rec.result(t, name); r.Err != nil || r.Root != rootOf(t, f.data) {
						t.Errorf("%s: result %+v", name, r)
					}
				}
			}
			for name, d := range dirs {
				fi, err := os.Lstat(filepath.Join(dst, name))
				if err != nil {
					t.Fatal(err)
				}
				if !fi.IsDir() || fi.Mode().Perm() != d.mode || !fi.ModTime().Equal(d.mtime) {
					t.Errorf("%s: %v %v, want a directory %v %v", name, fi.Mode(), fi.ModTime(), d.mode, d.mtime)
				}
				for _, rec := range []*recorder{o.sent, o.got} {
					if r := rec.result(t, name); r.Err != nil || !r.Dir {
						t.Errorf("%s: result %+v", name, r)
					}
				}
			}
			if ents := listDir(filepath.Join(dst, "top/empty")); len(ents) != 0 {
				t.Errorf("top/empty holds %v", ents)
			}
			skipped := []string{"link", "dangling"}
			want := transfer.Stats{Files: 3, Dirs: 5, Failed: 2, Bytes: bytes}
			if unreadable == "" {
				skipped = append(skipped, "secret")
				want.Failed++
			} else {
				want.Files++ // the file is readable after all, and sent
				want.Bytes += uint64(len("classified"))
			}
			for _, name := range skipped {
				mustNotExist(t, filepath.Join(dst, "top", name))
			}
			for _, name := range []string{"top/link", "top/dangling"} {
				for _, rec := range []*recorder{o.sent, o.got} {
					r := rec.result(t, name)
					if r.Code() != protocol.CodeUnsupported || !strings.Contains(r.Err.Error(), transfer.ErrSymlink.Error()) {
						t.Errorf("%s: code %d (%v), want CodeUnsupported, %q", name, r.Code(), r.Err, transfer.ErrSymlink)
					}
				}
			}
			t.Run("unreadable", func(t *testing.T) {
				if unreadable != "" {
					t.Skip(unreadable)
				}
				for _, rec := range []*recorder{o.sent, o.got} {
					if r := rec.result(t, "top/secret"); r.Code() != protocol.CodePermissionDenied {
						t.Errorf("code %d (%v), want CodePermissionDenied", r.Code(), r.Err)
					}
				}
			})
			for side, st := range map[string]transfer.Stats{"sender": o.send, "receiver": o.recv} {
				st.WireBytes = 0
				if st != want {
					t.Errorf("%s stats %+v, want %+v", side, st, want)
				}
			}
			if o.send.WireBytes != o.recv.WireBytes || o.send.WireBytes == 0 {
				t.Errorf("wire bytes: sender %d, receiver %d", o.send.WireBytes, o.recv.WireBytes)
			}
			noLeftovers(t, dst)
		})
	}
}
