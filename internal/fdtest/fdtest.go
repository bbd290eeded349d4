// Package fdtest lets tests see the file descriptors their process holds
// open (Linux, through /proc/self/fd); elsewhere the calling test is
// skipped with the reason.
package fdtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Under returns the targets of this process's open file descriptors that
// are dir or inside it.
func Under(tb testing.TB, dir string) []string {
	tb.Helper()
	return under(tb, dir, true)
}

// Inside is Under without dir itself.
func Inside(tb testing.TB, dir string) []string {
	tb.Helper()
	return under(tb, dir, false)
}

func under(tb testing.TB, dir string, self bool) []string {
	tb.Helper()
	ents := list(tb)
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		t, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed since the listing (or the listing's own fd)
		}
		if (self && t == dir) || strings.HasPrefix(t, dir+string(filepath.Separator)) {
			out = append(out, t)
		}
	}
	return out
}

// Count returns the number of this process's open file descriptors.
func Count(tb testing.TB) int {
	tb.Helper()
	return len(list(tb))
}

func list(tb testing.TB) []os.DirEntry {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("counting open file descriptors needs /proc/self/fd (Linux)")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot list open file descriptors: %v", err)
	}
	return ents
}
