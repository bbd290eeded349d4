package transfer_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"xfer/protocol"
	"xfer/transfer"
)

// setKeepAliveEvery shortens the keep-alive period for one test. The
// tests using it are not parallel: parallel tests start only after every
// sequential one has finished (and restored the period).
func setKeepAliveEvery(t *testing.T, d time.Duration) {
	old := transfer.KeepAliveEvery
	transfer.KeepAliveEvery = d
	t.Cleanup(func() { transfer.KeepAliveEvery = old })
}

// TestBusySendsKeepAlives: while Busy runs its function the peer receives
// KeepAlive messages, and this side's own idle clock keeps moving.
func TestBusySendsKeepAlives(t *testing.T) {
	setKeepAliveEvery(t, 2*time.Millisecond)
	a, b := connPair(t, "tcp")
	got := make(chan int, 1)
	go func() {
		n := 0
		for {
			m, err := b.Recv()
			if err != nil {
				got <- n
				return
			}
			if _, ok := m.(*protocol.KeepAlive); !ok {
				t.Errorf("received %T, want only KeepAlive", m)
			}
			n++
		}
	}()
	a.Busy(func() { time.Sleep(100 * time.Millisecond) })
	if idle := a.Idle(); idle >= 100*time.Millisecond {
		t.Errorf("Idle() = %v after 100 ms of Busy: Busy did not count as progress", idle)
	}
	a.Close()
	if n := <-got; n == 0 {
		t.Fatal("no KeepAlive during 100 ms of Busy with a 2 ms period")
	}
}

// TestKeepAlivesWhileHashingExisting: a destination of the same size
// makes both sides hash their copy (the receiver first, then the sender),
// sending KeepAlives meanwhile; each side's control loop takes them in
// stride and the file is replaced.
func TestKeepAlivesWhileHashingExisting(t *testing.T) {
	setKeepAliveEvery(t, 200*time.Microsecond)
	size := 256 * cs
	data, other := randomData(51, size), randomData(52, size)
	mtime := time.Unix(1_740_000_000, 0)
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			writeFile(t, filepath.Join(src, "f"), data, 0o640, mtime)
			writeFile(t, filepath.Join(dst, "f"), other, 0o640, mtime)
			before := transfer.KeepAlivesSent()
			o := run{kind: kind, src: src, names: []string{"f"}, dst: dst}.do(t)
			o.mustSucceed(t)
			checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
			if n := transfer.KeepAlivesSent() - before; n == 0 {
				t.Errorf("no KeepAlive sent while hashing %d MiB on each side every 200 µs", size>>20)
			} else {
				t.Logf("%d KeepAlives sent", n)
			}
			if _, err := os.Stat(filepath.Join(dst, "f")); err != nil {
				t.Fatal(err)
			}
		})
	}
}
