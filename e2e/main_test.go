// Package e2e holds end-to-end tests of the real xfer and xferd binaries:
// fault injection between them (internal/netsim), crashes of either side,
// a hostile daemon, a lossy QUIC path, a full disk and garbage traffic.
//
// TestMain builds both binaries once, without the race detector (they run
// as separate processes; the transfer code's races are the business of the
// unit tests), into a temporary directory. Every test runs its own daemon
// on 127.0.0.1 with its own root, keys and configuration directories, so
// tests run in parallel.
//
// The default suite keeps to about two minutes on two cores. Environment:
//
//   - XFER_LONG_TESTS=1 runs the long variants: crash loops of 10 kills over
//     256 MiB, the 64 MiB lossy QUIC transfer, and the faults that only an
//     idle timeout resolves (give go test -timeout 60m).
//   - XFER_SEED=N changes the seed of the random kill points (default 1).
//   - XFER_RUN_BUGS=1 runs the cases skipped for a known bug (bugs_test.go),
//     to check a fix.
//   - XFER_E2E_DEBUG=1 logs every hostile-daemon client run.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// binDir holds the xfer and xferd binaries built by TestMain.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// Most of these tests wait: on processes, timeouts and back-offs, not
	// on the CPU. Unless told otherwise, run more of them at once than
	// go test's default of GOMAXPROCS.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", strconv.Itoa(max(runtime.GOMAXPROCS(0), 6)))
	}
	dir, err := os.MkdirTemp("", "xfer-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles cmd/xfer and cmd/xferd into dir.
func build(dir string) error {
	gocmd := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gocmd = p
	}
	cmd := exec.Command(gocmd, "build", "-o", dir+string(filepath.Separator), "./cmd/xfer", "./cmd/xferd")
	cmd.Dir = ".." // the module root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func xferBin() string  { return filepath.Join(binDir, "xfer") }
func xferdBin() string { return filepath.Join(binDir, "xferd") }

// longTests reports whether the long variants were asked for.
func longTests() bool { return os.Getenv("XFER_LONG_TESTS") == "1" }

// needLong skips t unless XFER_LONG_TESTS=1, saying why it is long.
func needLong(t *testing.T, why string) {
	t.Helper()
	if !longTests() {
		t.Skip("long test (set XFER_LONG_TESTS=1 to run): " + why)
	}
}
