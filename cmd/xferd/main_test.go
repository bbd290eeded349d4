package main

// Tests of the xferd command itself, written as testscript files
// (testdata/*.txt): the test binary doubles as the real `xferd`. Each
// script runs with HOME=$WORK and XDG_CONFIG_HOME=$WORK/cfg, so nothing
// touches the user's configuration, and listens only on 127.0.0.1. The
// transfer behaviour, with xfer on the other end, is tested in cmd/xfer.
//
// Custom commands:
//
//	daemon-start [-port PORT] [ARGS...]
//	        run xferd --listen 127.0.0.1:PORT ARGS... in the background
//	        (PORT free for TCP and UDP unless given), its stderr appended
//	        to $WORK/xferd.log, and wait until it listens on TCP and QUIC;
//	        sets $ADDR and $PORT
//	daemon-stop [SIGNAL]
//	        send SIGTERM (or INT) and require exit status 0 within 20 s
//	daemon-hup
//	        send SIGHUP (the daemon must keep running)
//	xferd-exit CODE ARGS...
//	        run xferd ARGS... in the foreground, require exit status CODE
//	        within 20 s; its stderr goes to $WORK/out.log
//	perm MODE PATH...     require permission bits MODE (octal)
//	fingerprint VAR PUB   set $VAR to the fingerprint of the key in PUB

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"xfer/crypto"
	"xfer/internal/testnet"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"xferd": func() { os.Exit(run(os.Args[1:], os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "cfg"))
			env.Setenv("USER", "tester")
			if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
				env.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"daemon-start": cmdDaemonStart,
			"daemon-stop":  cmdDaemonStop,
			"daemon-hup":   cmdDaemonHup,
			"xferd-exit":   cmdXferdExit,
			"perm":         cmdPerm,
			"fingerprint":  cmdFingerprint,
		},
	})
}

// xferdCmd returns a command running the xferd that testscript installed,
// in the script's directory and environment.
func xferdCmd(ctx context.Context, ts *testscript.TestScript, args ...string) *exec.Cmd {
	bin, err := exec.LookPath("xferd")
	ts.Check(err)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = ts.MkAbs(".")
	own := []string{"HOME", "XDG_CONFIG_HOME", "USER", "GORACE", "PATH"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slicesContains(own, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for _, k := range own {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return cmd
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// running holds the daemon each script started.
var (
	runningMu sync.Mutex
	running   = make(map[*testscript.TestScript]*bgDaemon)
)

func daemonOf(ts *testscript.TestScript) *bgDaemon {
	runningMu.Lock()
	defer runningMu.Unlock()
	return running[ts]
}

func setDaemon(ts *testscript.TestScript, d *bgDaemon) {
	runningMu.Lock()
	defer runningMu.Unlock()
	if d == nil {
		delete(running, ts)
	} else {
		running[ts] = d
	}
}

type bgDaemon struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

var listeningRE = regexp.MustCompile(`msg=listening .*transport=(tcp|quic)`)

func cmdDaemonStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("daemon-start does not support !")
	}
	port := 0
	if len(args) >= 2 && args[0] == "-port" {
		p, err := strconv.Atoi(args[1])
		ts.Check(err)
		port, args = p, args[2:]
	}
	if daemonOf(ts) != nil {
		ts.Fatalf("a daemon is already running")
	}
	logFile := filepath.Join(ts.Getenv("WORK"), "xferd.log")
	for attempt := 0; attempt < 25; attempt++ {
		p := port
		if p == 0 {
			var err error
			p, err = testnet.FreePort()
			ts.Check(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(p)
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		ts.Check(err)
		fi, err := f.Stat()
		ts.Check(err)
		from := fi.Size()
		cmd := xferdCmd(context.Background(), ts, append([]string{"--listen", addr}, args...)...)
		cmd.Stdout, cmd.Stderr = f, f
		ts.Logf("xferd %s", strings.Join(cmd.Args[1:], " "))
		err = cmd.Start()
		f.Close()
		ts.Check(err)
		d := &bgDaemon{cmd: cmd, done: make(chan struct{})}
		go func() { d.err = cmd.Wait(); close(d.done) }()
		newLog := func() string {
			data, _ := os.ReadFile(logFile)
			return string(data[min(int64(len(data)), from):])
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			seen := map[string]bool{}
			for _, m := range listeningRE.FindAllStringSubmatch(newLog(), -1) {
				seen[m[1]] = true
			}
			if seen["tcp"] && seen["quic"] {
				setDaemon(ts, d)
				ts.Setenv("ADDR", addr)
				ts.Setenv("PORT", strconv.Itoa(p))
				ts.Defer(func() {
					if daemonOf(ts) == d {
						setDaemon(ts, nil)
						d.cmd.Process.Kill()
						<-d.done
						ts.Logf("[xferd.log, killed at the end of the script]\n%s", newLog())
					}
				})
				return
			}
			select {
			case <-d.done:
			case <-time.After(10 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				d.cmd.Process.Kill()
				<-d.done
			}
			break
		}
		log := newLog()
		if !strings.Contains(log, "address already in use") {
			ts.Logf("[xferd.log]\n%s", log)
			ts.Fatalf("xferd did not start: %v", d.err)
		}
		if port != 0 {
			// Restarting on the same port: wait for whoever holds it.
			time.Sleep(200 * time.Millisecond)
		}
	}
	ts.Fatalf("xferd did not start: port in use")
}

func cmdDaemonStop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 {
		ts.Fatalf("usage: daemon-stop [TERM|INT]")
	}
	d := daemonOf(ts)
	if d == nil {
		ts.Fatalf("no daemon running")
	}
	setDaemon(ts, nil)
	select {
	case <-d.done:
		ts.Fatalf("xferd had already exited: %v", d.err)
	default:
	}
	sig := syscall.SIGTERM
	if len(args) == 1 && args[0] == "INT" {
		sig = syscall.SIGINT
	}
	ts.Check(d.cmd.Process.Signal(sig))
	select {
	case <-d.done:
		if d.err != nil {
			ts.Fatalf("xferd exited with %v after %v, want status 0", d.err, sig)
		}
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		ts.Fatalf("xferd still running 20 s after %v", sig)
	}
}

func cmdDaemonHup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: daemon-hup")
	}
	d := daemonOf(ts)
	if d == nil {
		ts.Fatalf("no daemon running")
	}
	ts.Check(d.cmd.Process.Signal(syscall.SIGHUP))
}

func cmdXferdExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: xferd-exit CODE ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := xferdCmd(ctx, ts, args[1:]...).CombinedOutput()
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), "out.log"), out, 0o644))
	ts.Logf("[out.log]\n%s", out)
	got := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		ts.Fatalf("xferd still running after 20 s")
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("running xferd: %v", err)
	}
	if got != want {
		ts.Fatalf("xferd exited with status %d, want %d", got, want)
	}
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: perm MODE PATH...")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	for _, p := range args[1:] {
		fi, err := os.Stat(ts.MkAbs(p))
		ts.Check(err)
		if got := uint64(fi.Mode().Perm()); got != want {
			ts.Fatalf("%s has mode %04o, want %04o", p, got, want)
		}
	}
}

func cmdFingerprint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fingerprint VAR PUB")
	}
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	k, _, err := crypto.ParsePublicKey(strings.TrimSpace(string(data)))
	ts.Check(err)
	ts.Setenv(args[0], k.Fingerprint())
}
