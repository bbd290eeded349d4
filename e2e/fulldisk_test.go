package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"xfer/internal/netsim"
)

// TestFullDisk runs the daemon on a small tmpfs the test mounts (issue 3,
// "Full disk"). Three phases, over each transport:
//
//  1. A send bigger than the free space fails with "receiver out of space:
//     N bytes needed" on the client's stderr; nothing is installed.
//  2. After space is freed, the same send completes.
//  3. A partial with data (left by a send cut mid-file over TCP) survives
//     a completely full disk: its space was reserved when it was created,
//     so the rerun resumes it (resumed_bytes > 0) and completes it, while a
//     second file that does not fit fails with the out-of-space message;
//     once space is freed, a rerun sends that one too.
//
// It needs root (or CAP_SYS_ADMIN) to mount; elsewhere it is skipped.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr+"/fresh", func(t *testing.T) {
			t.Parallel()
			fullDiskFresh(t, tr)
		})
		t.Run(tr+"/partial", func(t *testing.T) {
			t.Parallel()
			fullDiskPartial(t, tr)
		})
	}
}

// fullDiskFresh is phases 1 and 2.
func fullDiskFresh(t *testing.T, tr string) {
	w := newWorld(t)
	mnt := w.path("mnt")
	mountTmpfs(t, mnt, 16*mib)
	d := w.startDaemon(mnt)

	// Phase 1: 8 MiB into about 6 MiB of free space.
	filler := filepath.Join(mnt, "filler")
	writeRandom(t, filler, 10*mib, 1)
	src := w.path("src", "big.bin")
	writeRandom(t, src, 8*mib, 2)
	free := freeBytes(t, mnt)
	r := w.xfer(30*time.Second, w.clientArgs("send", false, src, d.addr(tr, "big.bin"))...)
	if r.code == 0 {
		t.Fatalf("a send larger than the free space (%d bytes) succeeded:\n%s", free, r)
	}
	need := outOfSpace(t, r, mnt)
	if need < 8*mib-free || need > 8*mib {
		t.Errorf("out of space: %d bytes needed; the file is %d bytes and %d are free", need, 8*mib, free)
	}
	t.Logf("%d bytes free; the daemon says %d bytes needed", free, need)
	if _, err := os.Lstat(filepath.Join(mnt, "big.bin")); err == nil {
		t.Error("the destination was created although the disk is full")
	}
	rj := w.xfer(30*time.Second, w.clientArgs("send", true, src, d.addr(tr, "big.bin"))...)
	if errs := rj.fileErrors(t); len(errs) != 1 || errs[0].Code != "no_space" {
		t.Errorf("--json: want one file_error with code no_space, got %+v\n%s", errs, rj)
	}
	t.Logf("state files after the failure: %v", partials(t, mnt))

	// Phase 2: free the space, rerun.
	os.Remove(filler)
	w.xfer(30*time.Second, w.clientArgs("send", true, src, d.addr(tr, "big.bin"))...).ok(t)
	sameFile(t, src, filepath.Join(mnt, "big.bin"))
	if left := partials(t, mnt); len(left) != 0 {
		t.Errorf("state files left: %v", left)
	}
	d.alive()
}

// fullDiskPartial is phase 3.
func fullDiskPartial(t *testing.T, tr string) {
	w := newWorld(t)
	mnt := w.path("mnt")
	mountTmpfs(t, mnt, 16*mib)
	d := w.startDaemon(mnt)

	part := w.path("src", "tree", "part.bin")
	writeRandom(t, part, 6*mib, 3)
	cut, err := netsim.NewTCPProxy(d.hostport(), netsim.CutAfter(3*mib))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cut.Close() })
	r := w.xfer(30*time.Second, w.clientArgs("send", true, "--retries", "0", "--chunk-size", "65536", part, remote("tcp", cut.Addr(), "in/"))...)
	if r.code != 3 {
		t.Fatalf("the cut send: exit %d, want 3\n%s", r.code, r)
	}
	if held := partials(t, filepath.Join(mnt, "in")); len(held) != 2 {
		t.Fatalf("after the cut, state files %v; want a partial and its journal", held)
	}
	other := w.path("src", "tree", "other.bin")
	writeRandom(t, other, 2*mib, 4)
	fill(t, filepath.Join(mnt, "filler"))
	args := w.clientArgs("send", false, "-v", "--chunk-size", "65536", part, other, d.addr(tr, "in/"))
	r = w.xfer(30*time.Second, args...)
	if r.code == 0 {
		t.Fatalf("a send onto a full disk succeeded:\n%s", r)
	}
	outOfSpace(t, r, mnt)
	// part.bin had its space reserved when the cut send created it: it
	// either completes, resumed, or fails with the same clear message.
	switch {
	case bytes.Contains(r.stderr, []byte("sent part.bin")):
		sameFile(t, part, filepath.Join(mnt, "in", "part.bin"))
		if !regexp.MustCompile(`sent part\.bin \([^)]*resumed`).Match(r.stderr) {
			t.Errorf("part.bin was not resumed:\n%s", r)
		}
	case !regexp.MustCompile(`error: part\.bin: receiver out of space: \d+ bytes needed`).Match(r.stderr):
		t.Errorf("part.bin failed on the full disk without the out-of-space message:\n%s", r)
	default:
		if held := partials(t, filepath.Join(mnt, "in")); len(held) != 2 {
			t.Errorf("part.bin's partial and journal were not kept: %v", held)
		}
	}
	if _, err := os.Lstat(filepath.Join(mnt, "in", "other.bin")); err == nil {
		t.Error("other.bin was installed on a full disk")
	}

	os.Remove(filepath.Join(mnt, "filler"))
	r = w.xfer(30*time.Second, w.clientArgs("send", true, "--chunk-size", "65536", part, other, d.addr(tr, "in/"))...).ok(t)
	if s := r.summary(t); !s.OK || s.Files != 2 {
		t.Errorf("rerun after freeing space: %+v", s)
	}
	sameFile(t, part, filepath.Join(mnt, "in", "part.bin"))
	sameFile(t, other, filepath.Join(mnt, "in", "other.bin"))
	if left := partials(t, mnt); len(left) != 0 {
		t.Errorf("state files left: %v", left)
	}
	d.alive()
}

var outOfSpaceRE = regexp.MustCompile(`receiver out of space: (\d+) bytes needed`)

// outOfSpace checks the out-of-space message on stderr and returns N. The
// daemon's own paths (under root) must not leak into it.
func outOfSpace(t *testing.T, r *result, root string) int64 {
	t.Helper()
	m := outOfSpaceRE.FindSubmatch(r.stderr)
	if m == nil {
		t.Fatalf(`stderr lacks "receiver out of space: N bytes needed":`+"\n%s", r)
	}
	if bytes.Contains(r.stderr, []byte(root)) {
		t.Errorf("the daemon's file system path %s leaked to the client:\n%s", root, r)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// mountTmpfs mounts a tmpfs of size bytes on dir until the test ends, or
// skips the test when it cannot.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs for the full-disk test (needs root or CAP_SYS_ADMIN): %v: %s", err, bytes.TrimSpace(out))
	}
	// Registered before the daemon starts, so it runs after the daemon
	// is stopped.
	t.Cleanup(func() {
		for range 50 {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cannot unmount %s", dir)
	})
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a file at path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}
