package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xfer/crypto"
	"xfer/internal/testnet"
)

// transports every table-driven test runs over.
var transports = []string{"tcp", "quic"}

// world is one test's keys and configuration: a client identity, a daemon
// host key, an authorized_keys file admitting the client, a known_hosts
// file, and HOME and XDG_CONFIG_HOME inside the test's temporary
// directory, so nothing outside it is read or written.
type world struct {
	t          *testing.T
	dir        string
	env        []string
	identity   string
	knownHosts string
	hostKey    string
	authKeys   string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	cfg := filepath.Join(home, ".config")
	if err := os.MkdirAll(cfg, 0o700); err != nil {
		t.Fatal(err)
	}
	w := &world{
		t:          t,
		dir:        dir,
		identity:   filepath.Join(dir, "keys", "client"),
		knownHosts: filepath.Join(dir, "keys", "known_hosts"),
		hostKey:    filepath.Join(dir, "keys", "host_key"),
		authKeys:   filepath.Join(dir, "keys", "authorized_keys"),
	}
	w.env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+cfg, "NO_COLOR=1")
	id, err := crypto.GenerateIdentity("e2e-client")
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.SaveIdentity(w.identity, id); err != nil {
		t.Fatal(err)
	}
	hk, err := crypto.GenerateIdentity("e2e-daemon")
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.SaveIdentity(w.hostKey, hk); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.authKeys, crypto.MarshalPublicKey(id.Public, id.Comment), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// path returns a path inside the test's directory, creating its parent.
func (w *world) path(elem ...string) string {
	p := filepath.Join(append([]string{w.dir}, elem...)...)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// ---- processes ----

// syncBuf collects a process's output; safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func (s *syncBuf) String() string { return string(s.Bytes()) }

func (s *syncBuf) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// proc is a running binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuf
	stderr *syncBuf
	start  time.Time
	done   chan struct{}
	end    time.Time
}

func startProc(t *testing.T, env []string, stderr *syncBuf, bin string, args ...string) *proc {
	t.Helper()
	if stderr == nil {
		stderr = &syncBuf{}
	}
	p := &proc{name: filepath.Base(bin), stdout: &syncBuf{}, stderr: stderr, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.SysProcAttr = procAttr()
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.cmd.Wait()
		p.end = time.Now()
		close(p.done)
	}()
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig unless the process has exited.
func (p *proc) signal(sig syscall.Signal) {
	if p.running() {
		p.cmd.Process.Signal(sig)
	}
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// exitCode is the exit status, or -1 when a signal ended the process.
func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// ---- the daemon ----

// daemon is an xferd on 127.0.0.1 listening on TCP and UDP on one port;
// it keeps the port and its root across restarts.
type daemon struct {
	w     *world
	t     *testing.T
	root  string
	port  int
	extra []string
	log   *syncBuf // every incarnation's stderr
	p     *proc
}

// startDaemon starts xferd serving root (created if missing) with extra
// flags, and stops it when the test ends.
func (w *world) startDaemon(root string, extra ...string) *daemon {
	w.t.Helper()
	d := &daemon{w: w, t: w.t, root: root, extra: extra, log: &syncBuf{}}
	w.t.Cleanup(func() {
		if d.p != nil {
			d.p.kill9()
		}
		if w.t.Failed() {
			w.t.Logf("xferd log:\n%s", tail(d.log.String(), 4000))
		}
	})
	for attempt := 0; ; attempt++ {
		d.port = freePort(w.t)
		err := d.start()
		if err == nil {
			return d
		}
		if attempt >= 4 || !strings.Contains(err.Error(), "address already in use") {
			w.t.Fatal(err)
		}
	}
}

// start runs a new incarnation on d.port and waits until it listens on
// TCP and QUIC.
func (d *daemon) start() error {
	d.t.Helper()
	if d.p != nil && d.p.running() {
		d.t.Fatal("daemon already running")
	}
	from := d.log.Len()
	args := []string{
		"--listen", "127.0.0.1:" + strconv.Itoa(d.port),
		"--root", d.root,
		"--host-key", d.w.hostKey,
		"--authorized-keys", d.w.authKeys,
	}
	d.p = startProc(d.t, d.w.env, d.log, xferdBin(), append(args, d.extra...)...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := d.log.String()[from:]
		tcp := strings.Contains(out, "msg=listening") && strings.Contains(out, "transport=tcp")
		quic := strings.Contains(out, "msg=listening") && strings.Contains(out, "transport=quic")
		noQUIC := slicesContains(d.extra, "--no-quic")
		if tcp && (quic || noQUIC) {
			return nil
		}
		if !d.p.running() {
			return fmt.Errorf("xferd exited at start (code %d):\n%s", d.p.exitCode(), out)
		}
		if time.Now().After(deadline) {
			d.p.kill9()
			return fmt.Errorf("xferd did not start listening within 15s:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// restart starts a stopped daemon again on the same port.
func (d *daemon) restart() {
	d.t.Helper()
	if err := d.start(); err != nil {
		d.t.Fatal(err)
	}
}

// kill9 kills the daemon with SIGKILL.
func (d *daemon) kill9() { d.p.kill9() }

// term sends SIGTERM and waits (bounded) for a clean exit.
func (d *daemon) term() {
	d.t.Helper()
	d.p.signal(syscall.SIGTERM)
	if !d.p.wait(40 * time.Second) {
		d.p.kill9()
		d.t.Fatal("xferd did not exit within 40s of SIGTERM")
	}
	if c := d.p.exitCode(); c != 0 {
		d.t.Errorf("xferd exited with %d after SIGTERM", c)
	}
}

// alive fails the test if the daemon has exited.
func (d *daemon) alive() {
	d.t.Helper()
	if !d.p.running() {
		d.t.Fatalf("xferd exited (code %d):\n%s", d.p.exitCode(), tail(d.log.String(), 4000))
	}
}

func (d *daemon) hostport() string { return "127.0.0.1:" + strconv.Itoa(d.port) }

// addr is the client address of path on the daemon over transport.
func (d *daemon) addr(transport, path string) string {
	return remote(transport, d.hostport(), path)
}

// remote builds a client address.
func remote(transport, hostport, path string) string {
	return transport + "://" + hostport + "/" + strings.TrimPrefix(path, "/")
}

// freePort returns a port free on 127.0.0.1 for both TCP and UDP, outside
// the ephemeral range (daemons restart on it; see testnet.FreePort).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// ---- the client ----

// clientArgs returns the arguments of an xfer command with this world's
// identity and known_hosts, trusting a new host key, and JSON output when
// asked.
func (w *world) clientArgs(cmd string, jsonOut bool, extra ...string) []string {
	args := []string{cmd, "-i", w.identity, "--known-hosts", w.knownHosts, "--accept-new-host"}
	if jsonOut {
		args = append(args, "--json")
	}
	return append(args, extra...)
}

// result is a finished xfer run.
type result struct {
	args    []string
	code    int
	stdout  []byte
	stderr  []byte
	elapsed time.Duration
}

// startXfer starts xfer with args (see clientArgs).
func (w *world) startXfer(args ...string) *proc {
	w.t.Helper()
	return startProc(w.t, w.env, nil, xferBin(), args...)
}

// xfer runs xfer with args to completion, killing it after timeout.
func (w *world) xfer(timeout time.Duration, args ...string) *result {
	w.t.Helper()
	p := w.startXfer(args...)
	if !p.wait(timeout) {
		p.kill9()
		w.t.Fatalf("xfer %s did not finish within %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), timeout, tail(p.stdout.String(), 3000), tail(p.stderr.String(), 3000))
	}
	return p.result(args)
}

func (p *proc) result(args []string) *result {
	return &result{
		args:    args,
		code:    p.exitCode(),
		stdout:  p.stdout.Bytes(),
		stderr:  p.stderr.Bytes(),
		elapsed: p.end.Sub(p.start),
	}
}

func (r *result) String() string {
	return fmt.Sprintf("xfer %s\nexit %d after %v\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.elapsed.Round(time.Millisecond), tail(string(r.stdout), 3000), tail(string(r.stderr), 3000))
}

// ok fails the test unless the run exited 0.
func (r *result) ok(t *testing.T) *result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("xfer failed:\n%s", r)
	}
	return r
}

// JSON events (the README's machine interface).

type progressEv struct {
	File       string `json:"file"`
	BytesDone  uint64 `json:"bytes_done"`
	BytesTotal uint64 `json:"bytes_total"`
	TotalDone  uint64 `json:"total_done"`
	TotalBytes uint64 `json:"total_bytes"`
}

type fileDoneEv struct {
	File         string `json:"file"`
	Size         uint64 `json:"size"`
	Root         string `json:"root"`
	Skipped      bool   `json:"skipped"`
	ResumedBytes uint64 `json:"resumed_bytes"`
	WireBytes    uint64 `json:"wire_bytes"`
}

type fileErrorEv struct {
	File  string `json:"file"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

type reconnectEv struct {
	Attempt   int     `json:"attempt"`
	DelayS    float64 `json:"delay_s"`
	Error     string  `json:"error"`
	KeptBytes uint64  `json:"kept_bytes"`
}

type summaryEv struct {
	Files        int     `json:"files"`
	Failed       int     `json:"failed"`
	Skipped      int     `json:"skipped"`
	Bytes        uint64  `json:"bytes"`
	WireBytes    uint64  `json:"wire_bytes"`
	ResumedBytes uint64  `json:"resumed_bytes"`
	DurationS    float64 `json:"duration_s"`
	OK           bool    `json:"ok"`
}

// event is one decoded JSON line: its name and the line.
type event struct {
	name string
	raw  []byte
}

// events decodes stdout as JSON lines; anything else fails the test.
func (r *result) events(t *testing.T) []event {
	t.Helper()
	return parseEvents(t, r.stdout)
}

func parseEvents(t *testing.T, out []byte) []event {
	t.Helper()
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var head struct {
			Event string `json:"event"`
			V     int    `json:"v"`
		}
		if err := json.Unmarshal(line, &head); err != nil || head.Event == "" || head.V != 1 {
			t.Fatalf("stdout line is not a JSON event (%v): %q", err, line)
		}
		evs = append(evs, event{name: head.Event, raw: append([]byte(nil), line...)})
	}
	return evs
}

// decodeAll decodes every event called name into a T.
func decodeAll[T any](t *testing.T, evs []event, name string) []T {
	t.Helper()
	var out []T
	for _, e := range evs {
		if e.name != name {
			continue
		}
		var v T
		if err := json.Unmarshal(e.raw, &v); err != nil {
			t.Fatalf("decoding %s: %v: %s", name, err, e.raw)
		}
		out = append(out, v)
	}
	return out
}

func (r *result) summary(t *testing.T) summaryEv {
	t.Helper()
	evs := r.events(t)
	s := decodeAll[summaryEv](t, evs, "summary")
	if len(s) != 1 || evs[len(evs)-1].name != "summary" {
		t.Fatalf("want exactly one summary, the last event; got %d:\n%s", len(s), r)
	}
	return s[0]
}

func (r *result) reconnects(t *testing.T) []reconnectEv {
	t.Helper()
	return decodeAll[reconnectEv](t, r.events(t), "reconnect")
}

func (r *result) filesDone(t *testing.T) []fileDoneEv {
	t.Helper()
	return decodeAll[fileDoneEv](t, r.events(t), "file_done")
}

func (r *result) fileErrors(t *testing.T) []fileErrorEv {
	t.Helper()
	return decodeAll[fileErrorEv](t, r.events(t), "file_error")
}

// lastProgress returns the highest total_done reported so far in out.
func lastProgress(t *testing.T, out []byte) uint64 {
	t.Helper()
	// The last line may be cut by a kill; parse complete lines only.
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		return 0
	}
	var best uint64
	for _, p := range decodeAll[progressEv](t, parseEvents(t, out), "progress") {
		best = max(best, p.TotalDone)
	}
	return best
}

// ---- files ----

// writeRandom writes size pseudo-random (incompressible) bytes drawn from
// seed to path.
func writeRandom(t *testing.T, path string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	for i := range 4 {
		key[i*8] = byte(seed >> (8 * i))
		key[i*8+1] = byte(i)
	}
	rng := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func digest(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// sameFile fails the test unless got is a regular file with want's bytes.
func sameFile(t *testing.T, want, got string) {
	t.Helper()
	fi, err := os.Lstat(got)
	if err != nil {
		t.Fatalf("destination: %v", err)
	}
	wi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != wi.Size() {
		t.Fatalf("%s: mode %v size %d, want a regular file of %d bytes", got, fi.Mode(), fi.Size(), wi.Size())
	}
	if digest(t, want) != digest(t, got) {
		t.Fatalf("%s differs from %s", got, want)
	}
}

// sameTree fails the test unless every regular file under want has a
// byte-identical copy at the same place under got.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		sameFile(t, p, filepath.Join(got, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// notCorrupt fails the test if dest exists and differs from src: a
// destination must be absent (or what it was) or the whole file.
func notCorrupt(t *testing.T, src, dest string) {
	t.Helper()
	if _, err := os.Lstat(dest); err == nil {
		sameFile(t, src, dest)
	}
}

// listFiles returns the paths of everything under dir, relative to it,
// sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

// partials returns the names of xfer state files (partials, journals)
// under dir.
func partials(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range listFiles(t, dir) {
		if strings.HasPrefix(filepath.Base(f), ".xfer-") {
			out = append(out, f)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// withTimeout is a context for a bounded wait.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
