package main

// End-to-end tests of the xfer and xferd commands, written as testscript
// files (testdata/*/*.txt) in the style of cmd/age.
//
// The test binary doubles as the real `xfer` command (testscript.Main runs
// main's run function when the binary is invoked under that name), and the
// real `xferd` is built once from ./cmd/xferd (with -race when the tests
// run with it). Every script runs in its own $WORK with HOME=$WORK and
// XDG_CONFIG_HOME=$WORK/cfg, so nothing touches the user's configuration,
// and starts its own daemon on a free 127.0.0.1 port with xferd-start.
//
// Scripts in testdata/net run twice, once per transport: $SCHEME is
// "tcp://" or "quic://" and the conditions [tcp] and [quic] tell which.
// Scripts in testdata/local need no daemon and run once. The custom
// commands are documented in cmds_test.go and daemon_test.go.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"xfer": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// xferdBin is the path of the xferd binary built by buildXferd.
var xferdBin string

// buildXferd builds the real xferd once for all scripts of the test.
func buildXferd(t *testing.T) {
	t.Helper()
	if xferdBin != "" {
		return
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		gocmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp("", "xferd-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xferd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "xfer/cmd/xferd")
	cmd := exec.Command(gocmd, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("building xferd: %v\n%s", err, out)
	}
	xferdBin, binDir = bin, dir
}

// binDir is the temporary directory holding xferdBin.
var binDir string

// TestScripts runs testdata/local once and testdata/net over TCP and over
// QUIC.
func TestScripts(t *testing.T) {
	buildXferd(t)
	t.Cleanup(func() { os.RemoveAll(binDir); xferdBin, binDir = "", "" })
	t.Run("local", func(t *testing.T) {
		testscript.Run(t, params("testdata/local", ""))
	})
	for _, tr := range []string{"tcp", "quic"} {
		t.Run(tr, func(t *testing.T) {
			testscript.Run(t, params("testdata/net", tr))
		})
	}
}

// params returns the testscript parameters for the scripts in dir over
// transport tr ("" for scripts that need no daemon).
func params(dir, tr string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			work := env.WorkDir
			env.Setenv("HOME", work)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "cfg"))
			env.Setenv("USER", "tester")
			env.Setenv("TZ", "UTC")
			env.Setenv("TRANSPORT", tr)
			// Race-enabled binaries sleep 1 s at exit by default; the
			// scripts run hundreds of them.
			if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
				env.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
			}
			if tr != "" {
				env.Setenv("SCHEME", tr+"://")
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "tcp", "quic":
				return cond == tr, nil
			case "race":
				return raceEnabled, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: commands,
	}
}
