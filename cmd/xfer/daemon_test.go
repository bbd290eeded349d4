package main

// Commands that run the real xferd in the background:
//
//	xferd-start [-name NAME] [-port PORT] [-bare] [XFERD FLAGS...]
//	        start xferd on a free 127.0.0.1 port (or PORT) and wait until it
//	        serves. Unless -bare, it gets --listen, --root $WORK/inbox,
//	        --host-key $WORK/cfg/xferd/host_key and --authorized-keys
//	        $WORK/authorized_keys before XFERD FLAGS (later flags win; -bare
//	        passes only --listen). Sets $NAME (default ADDR) to
//	        127.0.0.1:PORT and $NAME_PORT to PORT. Its stderr is appended
//	        to $WORK/NAME.log (xferd.log for the default name). With !,
//	        xferd must exit with an error instead (its log is kept).
//	xferd-stop [NAME]
//	        SIGTERM, then require exit status 0 within 20 s and a log free
//	        of panics and data races
//	xferd-signal [NAME] SIGNAL
//	        send HUP, TERM, INT or KILL
//
// A daemon still running at the end of a script is stopped with SIGTERM
// (and its log is printed, since the script did not get to xferd-stop).

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"xfer/internal/testnet"
)

// daemon is a running xferd.
type daemon struct {
	name    string
	cmd     *exec.Cmd
	log     string // log file
	logFrom int64  // size of the log before this start
	done    chan struct{}
	err     error // cmd.Wait's result, once done is closed
	stopped bool  // stopped by xferd-stop
}

// scriptEnv is the environment a daemon gets: the test process's, with
// the variables a script sets replaced by the script's values.
func scriptEnv(ts *testscript.TestScript) []string {
	own := []string{"PATH", "HOME", "XDG_CONFIG_HOME", "USER", "TZ", "TMPDIR", "GORACE"}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !contains(own, k) {
			env = append(env, kv)
		}
	}
	for _, k := range own {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func cmdXferdStart(ts *testscript.TestScript, neg bool, args []string) {
	name, port, bare := "ADDR", 0, false
	for len(args) > 0 {
		switch args[0] {
		case "-name", "-port":
			if len(args) < 2 {
				ts.Fatalf("xferd-start: %s needs a value", args[0])
			}
			if args[0] == "-name" {
				name = args[1]
			} else {
				p, err := strconv.Atoi(args[1])
				ts.Check(err)
				port = p
			}
			args = args[2:]
			continue
		case "-bare":
			bare, args = true, args[1:]
			continue
		}
		break
	}
	st := stateOf(ts)
	if d := st.daemons[name]; d != nil && !d.isDone() {
		ts.Fatalf("xferd-start: daemon %s is still running", name)
	}
	logName := "xferd.log"
	if name != "ADDR" {
		logName = name + ".log"
	}
	logFile := filepath.Join(ts.Getenv("WORK"), logName)
	quic := !contains(args, "--no-quic")
	tcp := !contains(args, "--no-tcp")

	var lastLog string
	for attempt := 0; attempt < 25; attempt++ {
		p := port
		if p == 0 {
			var err error
			p, err = testnet.FreePort()
			ts.Check(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(p)
		full := []string{"--listen", addr}
		if !bare {
			work := ts.Getenv("WORK")
			full = append(full,
				"--root", filepath.Join(work, "inbox"),
				"--host-key", filepath.Join(work, "cfg", "xferd", "host_key"),
				"--authorized-keys", filepath.Join(work, "authorized_keys"))
		}
		full = append(full, args...)
		d, err := startDaemon(ts, name, logFile, full)
		ts.Check(err)
		err = d.waitReady(addr, tcp, quic)
		if neg {
			if err == nil {
				d.kill()
				ts.Fatalf("xferd started, want it to fail")
			}
			ts.Logf("xferd failed as expected: %v", err)
			return
		}
		if err == nil {
			st.daemons[name] = d
			ts.Setenv(name, addr)
			ts.Setenv(name+"_PORT", strconv.Itoa(p))
			ts.Defer(func() { d.cleanup(ts) })
			return
		}
		lastLog = d.newLog()
		d.kill()
		if !strings.Contains(lastLog, "address already in use") {
			ts.Logf("[%s]\n%s", logName, lastLog)
			ts.Fatalf("xferd did not start: %v", err)
		}
		if port != 0 {
			// Restarting on the same port: wait for whoever holds it.
			time.Sleep(200 * time.Millisecond)
		}
	}
	ts.Logf("[%s]\n%s", logName, lastLog)
	ts.Fatalf("xferd did not start: port in use")
}

func startDaemon(ts *testscript.TestScript, name, logFile string, args []string) (*daemon, error) {
	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(xferdBin, args...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout = f
	cmd.Stderr = f
	ts.Logf("xferd %s >>%s", strings.Join(args, " "), filepath.Base(logFile))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{name: name, cmd: cmd, log: logFile, logFrom: fi.Size(), done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) isDone() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// newLog returns what this run of the daemon logged.
func (d *daemon) newLog() string {
	data, _ := os.ReadFile(d.log)
	if int64(len(data)) < d.logFrom {
		return string(data)
	}
	return string(data[d.logFrom:])
}

var listeningRE = regexp.MustCompile(`msg=listening .*transport=(tcp|quic)`)

// waitReady waits until the daemon logged that it listens on every
// transport it should, and accepts a TCP connection.
func (d *daemon) waitReady(addr string, tcp, quic bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if d.isDone() {
			return fmt.Errorf("xferd exited: %v", d.err)
		}
		seen := map[string]bool{}
		for _, m := range listeningRE.FindAllStringSubmatch(d.newLog(), -1) {
			seen[m[1]] = true
		}
		if seen["tcp"] == tcp && seen["quic"] == quic {
			if !tcp {
				return nil
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("xferd not ready after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// stop sends SIGTERM and waits for the exit.
func (d *daemon) stop(timeout time.Duration) error {
	if d.isDone() {
		return fmt.Errorf("xferd had already exited: %v", d.err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		d.kill()
		return fmt.Errorf("xferd still running %v after SIGTERM (killed)", timeout)
	}
}

// cleanup stops a daemon the script left running.
func (d *daemon) cleanup(ts *testscript.TestScript) {
	if d.stopped {
		return
	}
	err := d.stop(10 * time.Second)
	ts.Logf("[%s, stopped at the end of the script: %v]\n%s", filepath.Base(d.log), err, d.newLog())
}

func daemonArg(ts *testscript.TestScript, args []string, n int) (*daemon, []string) {
	name := "ADDR"
	if len(args) > n {
		name, args = args[0], args[1:]
	}
	d := stateOf(ts).daemons[name]
	if d == nil {
		ts.Fatalf("no daemon %s was started", name)
	}
	return d, args
}

var badLogRE = regexp.MustCompile(`(?m)^(panic: |fatal error: |WARNING: DATA RACE)`)

func cmdXferdStop(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "xferd-stop")
	if len(args) > 1 {
		ts.Fatalf("usage: xferd-stop [NAME]")
	}
	d, _ := daemonArg(ts, args, 0)
	d.stopped = true
	err := d.stop(20 * time.Second)
	log := d.newLog()
	if err != nil {
		ts.Logf("[%s]\n%s", filepath.Base(d.log), log)
		ts.Fatalf("xferd did not stop cleanly: %v", err)
	}
	if m := badLogRE.FindString(log); m != "" {
		ts.Logf("[%s]\n%s", filepath.Base(d.log), log)
		ts.Fatalf("xferd log shows %q", m)
	}
}

func cmdXferdSignal(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "xferd-signal")
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: xferd-signal [NAME] SIGNAL")
	}
	d, args := daemonArg(ts, args, 1)
	sigs := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL}
	sig, ok := sigs[args[0]]
	if !ok {
		ts.Fatalf("unknown signal %q", args[0])
	}
	if d.isDone() {
		ts.Fatalf("xferd has exited: %v", d.err)
	}
	ts.Check(d.cmd.Process.Signal(sig))
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL || sig == syscall.SIGINT {
		d.stopped = true
	}
}
