package e2e

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"xfer/internal/netsim"
)

// TestNoRetriesFailsFast: with --retries 0 a broken connection ends the run
// at once with exit code 3 (connection), no reconnect, and a destination
// that is absent rather than half-written. The connection breaks by a TCP
// cut (TCP only: a dead QUIC path is noticed only after the 60 s idle
// timeout) or by the daemon stopping (SIGTERM), over both transports.
func TestNoRetriesFailsFast(t *testing.T) {
	t.Parallel()
	type breakCase struct {
		name string
		tr   string
	}
	cases := []breakCase{{"cut", "tcp"}}
	for _, tr := range transports {
		cases = append(cases, breakCase{"daemon-stops", tr})
	}
	for _, bc := range cases {
		t.Run(bc.name+"/"+bc.tr, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			root := w.path("root")
			d := w.startDaemon(root)
			src := w.path("src", "big.bin")
			size := int64(faultFileSize)
			if bc.name == "daemon-stops" {
				size = 64 * mib // long enough to stop the daemon mid-way
			}
			writeRandom(t, src, size, 3)
			addr := d.addr(bc.tr, "dest.bin")
			if bc.name == "cut" {
				p, err := netsim.NewTCPProxy(d.hostport(), netsim.CutAfter(size/2))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				addr = remote("tcp", p.Addr(), "dest.bin")
			}
			args := w.clientArgs("send", true, "--chunk-size", "65536", "--retries", "0", src, addr)
			p := w.startXfer(args...)
			var broke time.Time
			if bc.name == "daemon-stops" {
				if !waitFor(time.Minute, func() bool { return !p.running() || lastProgress(t, p.stdout.Bytes()) > 0 }) {
					t.Fatal("no progress within a minute")
				}
				broke = time.Now()
				d.term()
			}
			if !p.wait(30 * time.Second) {
				p.kill9()
				t.Fatalf("xfer --retries 0 still running 30s after the break:\n%s", p.result(args))
			}
			r := p.result(args)
			if broke.IsZero() {
				broke = p.start
			}
			if took := p.end.Sub(broke); took > 5*time.Second {
				t.Errorf("xfer --retries 0 took %v after the break to give up", took)
			}
			if r.code != 3 {
				t.Fatalf("exit code %d, want 3 (connection)\n%s", r.code, r)
			}
			if n := len(r.reconnects(t)); n != 0 {
				t.Errorf("%d reconnect events with --retries 0", n)
			}
			if s := r.summary(t); s.OK || s.Files != 0 {
				t.Errorf("summary %+v after a failed run", s)
			}
			if !bytes.Contains(r.stderr, []byte("xfer: error:")) {
				t.Errorf("no error on stderr:\n%s", r)
			}
			notCorrupt(t, src, filepath.Join(root, "dest.bin"))
		})
	}
}
