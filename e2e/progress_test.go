package e2e

import (
	"testing"
	"time"

	"xfer/internal/netsim"
)

// TestProgressAcrossReconnect: the --json progress events stay within the
// run's totals when a connection breaks and the client resumes: bytes the
// daemon already held count once, not once per attempt. The connection
// breaks by a TCP cut, or over QUIC by the daemon stopping (SIGTERM) and
// coming back.
func TestProgressAcrossReconnect(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			root := w.path("root")
			d := w.startDaemon(root)
			src := w.path("src", "big.bin")
			size := int64(faultFileSize)
			if tr == "quic" {
				size = 64 * mib
			}
			writeRandom(t, src, size, 8)
			addr := d.addr(tr, "big.bin")
			if tr == "tcp" {
				p, err := netsim.NewTCPProxy(d.hostport(), netsim.CutAfter(size/2))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				go func() {
					waitFor(10*time.Second, func() bool { n, _ := p.Forwarded(); return n > 0 })
					p.SetFaults()
				}()
				addr = remote("tcp", p.Addr(), "big.bin")
			}
			args := w.clientArgs("send", true, "--chunk-size", "65536", src, addr)
			p := w.startXfer(args...)
			if tr == "quic" {
				waitFor(time.Minute, func() bool { return !p.running() || lastProgress(t, p.stdout.Bytes()) >= uint64(size/3) })
				d.term()
				d.restart()
			}
			if !p.wait(time.Minute) {
				p.kill9()
				t.Fatal("the client did not finish within a minute")
			}
			r := p.result(args).ok(t)
			if len(r.reconnects(t)) == 0 {
				t.Skip("the transfer completed before the connection broke")
			}
			var last progressEv
			for _, pe := range decodeAll[progressEv](t, r.events(t), "progress") {
				if pe.TotalDone > pe.TotalBytes || pe.BytesDone > pe.BytesTotal {
					t.Fatalf("progress beyond the total after a reconnect: %+v\n%s", pe, r)
				}
				last = pe
			}
			if last.TotalDone != uint64(size) {
				t.Errorf("last progress %+v, want total_done %d", last, size)
			}
		})
	}
}
