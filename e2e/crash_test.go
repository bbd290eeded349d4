package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Crash tests (issue 3): kill -9 either side at random points of a
// transfer, then run it again; the result must be byte-identical, and the
// rerun must send only what the receiver did not hold. The random points
// come from a seeded generator (XFER_SEED, default 1); the seed and every
// kill point are logged.
//
// How much a rerun may have to send again beyond what the killed run
// reported as sent (its last progress event) is bounded by what was in
// flight or not yet durable:
//
//   - client killed, send over TCP: the client's socket send buffer and the
//     daemon's receive buffer (xfer asks for 4 MiB each, which the kernel
//     doubles: 16 MiB), the daemon's 256 KiB read buffer and the frames in
//     its pipeline. The daemon sees EOF and flushes its journal.
//   - client killed, send over QUIC: the connection's flow-control window
//     (at most 64 MiB) plus the frames queued on the daemon.
//   - a receiver killed (the daemon on send, the client on get): chunks
//     written but not yet fsynced and journaled, which the resume tracker
//     batches up to 64 MiB or 1 s; writes go on while a batch is being
//     fsynced, so a batch in its fsync and the next one filling up, 128 MiB,
//     plus what was in flight.
//
// The default suite runs 2 iterations of a 64 MiB transfer per row;
// XFER_LONG_TESTS=1 runs 10 of 256 MiB.

const (
	mib = 1 << 20
	// Bounds derived above, in bytes, on top of a few chunks.
	tcpInflight     = 16*mib + 256<<10
	quicInflight    = 64 * mib
	receiverPending = 128 * mib
	chunkSlack      = 16 * mib // 16 chunks of 1 MiB: pipeline queues and workers
	defaultChunk    = mib
)

func crashParams() (size int64, iters int) {
	if longTests() {
		return 256 * mib, 10
	}
	return 64 * mib, 2
}

// crashRNG returns the seeded generator of a test.
func crashRNG(t *testing.T, stream uint64) *rand.Rand {
	seed := uint64(1)
	if s := os.Getenv("XFER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("XFER_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (set XFER_SEED to change)", seed)
	return rand.New(rand.NewPCG(seed, stream))
}

// checkRerun checks a completed rerun of one file of size bytes: it
// arrived whole, only chunks the receiver did not hold were sent, and no
// more than window bytes beyond what the killed run had sent (sentBefore)
// were sent again.
func checkRerun(t *testing.T, r *result, size int64, sentBefore uint64, window int64) {
	t.Helper()
	r.ok(t)
	s := r.summary(t)
	if !s.OK || s.Files != 1 {
		t.Fatalf("rerun summary %+v\n%s", s, r)
	}
	if s.Skipped == 1 {
		return // the killed run had finished the file after all
	}
	nchunks := (size + defaultChunk - 1) / defaultChunk
	resumed := int64(s.ResumedBytes)
	if lo, hi := size-resumed, size-resumed+nchunks*frameOverhead; int64(s.WireBytes) < lo || int64(s.WireBytes) > hi {
		t.Errorf("rerun wire_bytes %d, want within [%d, %d]: held chunks must not be sent again (resumed %d)", s.WireBytes, lo, hi, resumed)
	}
	lost := int64(sentBefore) - resumed
	t.Logf("killed run had sent ≥ %d MiB; rerun resumed %d MiB, sent %d MiB; lost (re-sent) ≤ %.1f MiB of the %d MiB bound",
		sentBefore/mib, resumed/mib, s.WireBytes/mib, float64(lost)/mib, window/mib)
	if lost > window {
		t.Errorf("the rerun re-sent %d bytes the killed run had already sent, beyond the in-flight bound of %d", lost, window)
	}
}

// doneBeforeReconnect reports whether the run's file was done (file_done)
// before its first reconnect: the break came too late to interrupt it.
func doneBeforeReconnect(t *testing.T, r *result) bool {
	for _, e := range r.events(t) {
		switch e.name {
		case "reconnect":
			return false
		case "file_done":
			return true
		}
	}
	return false
}

// calibrate times a clean transfer; kill points are drawn within it.
func calibrate(t *testing.T, w *world, args []string) time.Duration {
	t.Helper()
	r := w.xfer(2*time.Minute, args...).ok(t)
	t.Logf("clean transfer: %v", r.elapsed.Round(time.Millisecond))
	return r.elapsed
}

// TestCrashClient kills the client with SIGKILL at random points of a
// send and of a get, then reruns the same command.
func TestCrashClient(t *testing.T) {
	t.Parallel()
	size, iters := crashParams()
	for _, op := range []string{"send", "get"} {
		for ti, tr := range transports {
			t.Run(op+"/"+tr, func(t *testing.T) {
				t.Parallel()
				rng := crashRNG(t, uint64(10+ti))
				c := newCrashCase(t, op, tr, size, 42)
				w, d, src := c.w, c.d, c.src
				args, destPath := c.args, c.dest
				// The client is the sender on send (what was in flight is
				// lost) and the receiver on get (what was not yet durable
				// is lost too).
				window := inflightFor(tr) + chunkSlack
				if op == "get" {
					window += receiverPending
				}

				dur := calibrate(t, w, args("cal.bin"))
				os.Remove(destPath("cal.bin"))
				for i := range iters {
					dest := fmt.Sprintf("c%d.bin", i)
					p := w.startXfer(args(dest)...)
					delay := time.Duration(rng.Int64N(int64(dur) * 4 / 5))
					finished := p.wait(delay)
					sent := lastProgress(t, p.stdout.Bytes())
					p.kill9()
					t.Logf("iteration %d: kill -9 after %v (finished first: %v)", i, delay.Round(time.Millisecond), finished)
					notCorrupt(t, src, destPath(dest))
					// The rerun, right away. Over QUIC the daemon holds the
					// destination until its 15 s idle timeout notices the dead
					// client; the default 5 retries wait out about 15.5-31 s,
					// which leaves little margin, so the rerun gets 8 and must
					// be done within 30 s.
					r := w.xfer(time.Minute, append(args(dest), "--retries", "8")...)
					if n := len(r.reconnects(t)); n > 0 {
						t.Logf("rerun took %v and %d reconnects", r.elapsed.Round(time.Millisecond), n)
					}
					if r.elapsed > 30*time.Second {
						t.Errorf("the rerun took %v; the destination stayed busy too long after the client died", r.elapsed)
					}
					checkRerun(t, r, size, sent, window)
					sameFile(t, src, destPath(dest))
					os.Remove(destPath(dest))
				}
				if left := partials(t, filepath.Dir(destPath("x"))); len(left) != 0 {
					t.Errorf("state files left: %v", left)
				}
				d.alive()
			})
		}
	}
}

// crashCase is the setup the crash tests share: a daemon, a random file
// of the test's size (local for send, in the daemon's root for get), and
// the client command that moves it.
type crashCase struct {
	w      *world
	d      *daemon
	root   string
	src    string
	op, tr string
}

func newCrashCase(t *testing.T, op, tr string, size int64, seed uint64) *crashCase {
	c := &crashCase{w: newWorld(t), op: op, tr: tr}
	c.root = c.w.path("root")
	c.d = c.w.startDaemon(c.root)
	c.src = c.w.path("src", "big.bin")
	if op == "get" {
		c.src = filepath.Join(c.root, "big.bin")
	}
	writeRandom(t, c.src, size, seed)
	return c
}

// args is the client command: send the local source, or get the daemon's
// big.bin, to dest. Retries are the default (5).
func (c *crashCase) args(dest string) []string {
	if c.op == "send" {
		return c.w.clientArgs("send", true, c.src, c.d.addr(c.tr, dest))
	}
	return c.w.clientArgs("get", true, c.d.addr(c.tr, "big.bin"), c.w.path("got", dest))
}

// dest is where args puts dest.
func (c *crashCase) dest(dest string) string {
	if c.op == "send" {
		return filepath.Join(c.root, dest)
	}
	return c.w.path("got", dest)
}

// TestCrashDaemon kills the daemon with SIGKILL at random points of a send
// and of a get, and restarts it at once. Over TCP the running client sees
// the connection drop, reconnects and resumes by itself. Over QUIC the
// restarted daemon answers the old connection's packets with a stateless
// reset (its reset key comes from the host key), so a sending client
// recovers at once. A receiving client (get) sends only keep-alives, too
// small to be answered with a reset (a reset must be smaller than the
// packet it answers), so it waits for QUIC's idle timeout (15 s): the
// first get iteration waits for that recovery, later ones kill the client
// too and rerun it.
func TestCrashDaemon(t *testing.T) {
	t.Parallel()
	size, iters := crashParams()
	for _, op := range []string{"send", "get"} {
		for ti, tr := range transports {
			t.Run(op+"/"+tr, func(t *testing.T) {
				t.Parallel()
				rng := crashRNG(t, uint64(20+ti))
				c := newCrashCase(t, op, tr, size, 43)
				w, d, src := c.w, c.d, c.src
				args, destPath := c.args, c.dest
				inflight := int64(tcpInflight)
				if tr == "quic" {
					inflight = quicInflight
				}

				dur := calibrate(t, w, args("cal.bin"))
				os.Remove(destPath("cal.bin"))
				for i := range iters {
					selfRecover := tr == "tcp" || op == "send" || i == 0
					window := inflight + chunkSlack
					if op == "send" || !selfRecover {
						window += receiverPending // the receiver was killed
					}
					dest := fmt.Sprintf("d%d.bin", i)
					p := w.startXfer(args(dest)...)
					delay := time.Duration(rng.Int64N(int64(dur) * 4 / 5))
					finished := p.wait(delay)
					sent := lastProgress(t, p.stdout.Bytes())
					d.kill9()
					t.Logf("iteration %d: daemon kill -9 after %v (client finished first: %v)", i, delay.Round(time.Millisecond), finished)
					notCorrupt(t, src, destPath(dest))
					d.restart()
					var r *result
					if selfRecover {
						limit := time.Minute
						if !p.wait(limit) {
							p.kill9()
							t.Fatalf("the client did not recover within %v of the daemon's restart:\n%s", limit, p.result(nil))
						}
						r = p.result(args(dest))
					} else {
						p.kill9()
						r = w.xfer(time.Minute, args(dest)...)
					}
					switch {
					case finished || (selfRecover && doneBeforeReconnect(t, r)):
						t.Logf("iteration %d: the transfer was complete before the kill", i)
						r.ok(t)
					case selfRecover && len(r.reconnects(t)) == 0:
						t.Errorf("no reconnect event after the daemon was killed\n%s", r)
					default:
						checkRerun(t, r, size, sent, window)
					}
					sameFile(t, src, destPath(dest))
					os.Remove(destPath(dest))
				}
				if left := partials(t, filepath.Dir(destPath("x"))); len(left) != 0 {
					t.Errorf("state files left: %v", left)
				}
				d.alive()
			})
		}
	}
}

// TestDaemonSIGTERM stops the daemon with SIGTERM in the middle of a send
// and of a get and restarts it: the daemon exits cleanly, the receiver's
// partial is kept, and the running client reconnects, resumes
// (resumed_bytes > 0) and completes.
func TestDaemonSIGTERM(t *testing.T) {
	t.Parallel()
	size, _ := crashParams()
	// At least 128 MiB: loopback moves 64 MiB in about 0.15 s, less than
	// the client's progress interval, so the stop would come too late.
	size = max(size, 128*mib)
	for _, op := range []string{"send", "get"} {
		for ti, tr := range transports {
			t.Run(op+"/"+tr, func(t *testing.T) {
				t.Parallel()
				rng := crashRNG(t, uint64(30+ti))
				c := newCrashCase(t, op, tr, size, 44)
				w, d, root, src := c.w, c.d, c.root, c.src
				dest := "t.bin"
				args := c.args(dest)
				p := w.startXfer(args...)
				// Stop the daemon once 30-70% has been sent.
				target := uint64(float64(size) * (0.3 + 0.4*rng.Float64()))
				if !waitFor(time.Minute, func() bool { return !p.running() || lastProgress(t, p.stdout.Bytes()) >= target }) {
					t.Fatal("no progress within a minute")
				}
				if !p.running() {
					t.Fatalf("the client finished before the daemon could be stopped:\n%s", p.result(args))
				}
				sent := lastProgress(t, p.stdout.Bytes())
				d.term()
				t.Logf("SIGTERM after %d MiB sent", sent/mib)
				notCorrupt(t, src, c.dest(dest))
				var kept []string
				if op == "send" {
					kept = partials(t, root)
				}
				d.restart()
				if !p.wait(time.Minute) {
					p.kill9()
					t.Fatalf("the client did not complete within a minute of the restart:\n%s", p.result(args))
				}
				r := p.result(args).ok(t)
				s := r.summary(t)
				switch {
				case len(r.reconnects(t)) == 0:
					t.Errorf("no reconnect event\n%s", r)
				case doneBeforeReconnect(t, r):
					// The daemon had sent everything before the signal
					// (progress events lag behind by up to 100 ms).
					t.Logf("the transfer was complete before the daemon stopped")
				case op == "send" && s.Skipped == 1 && s.ResumedBytes == 0:
					// The daemon had received and installed the whole
					// file, but stopped before its Done reached the
					// client: the retry finds it up to date.
					t.Logf("the daemon had the whole file before it stopped; the retry found it up to date")
				case op == "send" && len(kept) == 0:
					t.Errorf("no partial file kept by the daemon after SIGTERM\n%s", r)
				case s.ResumedBytes == 0:
					t.Errorf("resumed_bytes = 0: the partial was not kept or not resumed\n%s", r)
				default:
					checkRerun(t, r, size, sent, inflightFor(tr)+chunkSlack)
				}
				sameFile(t, src, c.dest(dest))
				d.alive()
			})
		}
	}
}

// inflightFor is the in-flight bound of a transport (see the top of this
// file).
func inflightFor(tr string) int64 {
	if tr == "quic" {
		return quicInflight
	}
	return tcpInflight
}
