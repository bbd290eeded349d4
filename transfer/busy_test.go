package transfer_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"xfer/protocol"
	"xfer/transfer"
)

// TestBusy runs two sessions whose receivers write the same destination:
// while the first is mid-file, the second is refused with CodeBusy, and
// the destination ends up as one complete version. The receivers share a
// LockSet, as in one daemon, or have one each, as two processes would,
// where the journal's lock must refuse the second.
func TestBusy(t *testing.T) {
	mtime := time.Unix(1_720_000_000, 0)
	for _, tc := range []struct {
		kind   string
		shared bool
	}{{"tcp", true}, {"quic", true}, {"tcp", false}, {"quic", false}} {
		kind := tc.kind
		name := kind + "/shared-lockset"
		if !tc.shared {
			name = kind + "/separate-locksets"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dst := t.TempDir()
			srcA, srcB := t.TempDir(), t.TempDir()
			dataA, dataB := randomData(31, 8*cs+3), randomData(32, 8*cs+3)
			writeFile(t, filepath.Join(srcA, "f"), dataA, 0o644, mtime)
			writeFile(t, filepath.Join(srcB, "f"), dataB, 0o600, mtime.Add(time.Second))
			locks := &transfer.LockSet{}

			// A stops after its first chunk until B has been answered.
			started, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			waitA := run{kind: kind, src: srcA, names: []string{"f"}, dst: dst,
				sopt: transfer.SendOptions{Workers: 1, Hooks: &transfer.Hooks{Progress: func(string, uint64) {
					once.Do(func() {
						close(started)
						select {
						case <-release:
						case <-time.After(testTimeout / 2):
						}
					})
				}}},
				ropt: transfer.ReceiveOptions{Locks: locks}}.start(t)
			select {
			case <-started:
			case <-time.After(testTimeout):
				t.Fatal("the first transfer did not start")
			}

			if !tc.shared {
				locks = &transfer.LockSet{}
			}
			b := run{kind: kind, src: srcB, names: []string{"f"}, dst: dst,
				ropt: transfer.ReceiveOptions{Locks: locks}}.do(t)
			close(release)
			a := waitA()

			a.mustSucceed(t)
			b.mustSucceed(t)
			for side, rec := range map[string]*recorder{"sender": b.sent, "receiver": b.got} {
				if r := rec.result(t, "f"); r.Code() != protocol.CodeBusy {
					t.Errorf("second %s: result code %d (%v), want CodeBusy", side, r.Code(), r.Err)
				}
			}
			if r := a.sent.result(t, "f"); r.Err != nil || r.Root != rootOf(t, dataA) {
				t.Errorf("first transfer: %+v", r)
			}
			checkFile(t, filepath.Join(dst, "f"), dataA, 0o644, mtime)
			noLeftovers(t, dst)
		})
	}
}

// TestBusyRace starts two sessions to the same destination at once,
// several times: whatever the interleaving, each file either arrives or is
// refused as busy, and the destination is always one complete version.
func TestBusyRace(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srcA, srcB := t.TempDir(), t.TempDir()
			dataA, dataB := randomData(33, 4*cs+1), textData(34, 4*cs+1)
			writeFile(t, filepath.Join(srcA, "f"), dataA, 0o644, time.Unix(1_720_000_000, 0))
			writeFile(t, filepath.Join(srcB, "f"), dataB, 0o644, time.Unix(1_720_000_000, 0))
			for range 3 {
				dst := t.TempDir()
				locks := &transfer.LockSet{}
				waitA := run{kind: kind, src: srcA, names: []string{"f"}, dst: dst, ropt: transfer.ReceiveOptions{Locks: locks}}.start(t)
				waitB := run{kind: kind, src: srcB, names: []string{"f"}, dst: dst, ropt: transfer.ReceiveOptions{Locks: locks}}.start(t)
				a, b := waitA(), waitB()
				a.mustSucceed(t)
				b.mustSucceed(t)
				arrived := 0
				for _, o := range []struct {
					out  outcome
					data []byte
				}{{a, dataA}, {b, dataB}} {
					switch r := o.out.sent.result(t, "f"); {
					case r.Err == nil:
						arrived++
					case r.Code() != protocol.CodeBusy:
						t.Errorf("result %+v, want success or CodeBusy", r)
					}
				}
				if arrived == 0 {
					t.Fatal("neither transfer arrived")
				}
				got, err := os.ReadFile(filepath.Join(dst, "f"))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, dataA) && !bytes.Equal(got, dataB) {
					t.Fatalf("destination is neither version (%d bytes)", len(got))
				}
				noLeftovers(t, dst)
			}
		})
	}
}

// TestBusySingleChunkSeparateLockSets is the two-process case for a file
// of one chunk, which has no journal: a second receiver (with its own
// LockSet, as another process has) opens the same destination while the
// first has written its only chunk but not installed it yet. It must be
// refused as busy, and the first must install exactly its own data (it
// once installed the partial the second had zero-filled).
func TestBusySingleChunkSeparateLockSets(t *testing.T) {
	mtime := time.Unix(1_720_000_000, 0)
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dst, src := t.TempDir(), t.TempDir()
			data := randomData(35, cs/2)
			writeFile(t, filepath.Join(src, "f"), data, 0o644, mtime)

			// A has sent its only chunk and the receiver wrote it; A's End
			// waits until the second receiver has accepted the same file.
			written, release := make(chan struct{}), make(chan struct{})
			var wOnce, sOnce sync.Once
			waitA := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
				sopt: transfer.SendOptions{Workers: 1, Hooks: &transfer.Hooks{Progress: func(string, uint64) {
					sOnce.Do(func() {
						select {
						case <-release:
						case <-time.After(testTimeout / 2):
						}
					})
				}}},
				ropt: transfer.ReceiveOptions{Locks: &transfer.LockSet{}, Hooks: &transfer.Hooks{Progress: func(string, uint64) {
					wOnce.Do(func() { close(written) })
				}}}}.start(t)
			select {
			case <-written:
			case <-time.After(testTimeout):
				t.Fatal("the first transfer did not write its chunk")
			}

			// The second receiver: a hand-made sender opens the same file
			// and sends nothing yet.
			snd, rcv := connPair(t, kind)
			root, err := os.OpenRoot(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			done := make(chan error, 1)
			go func() {
				_, err := transfer.Receive(context.Background(), rcv, transfer.ReceiveOptions{Root: root, ChunkSize: cs, Locks: &transfer.LockSet{}})
				rcv.Close()
				done <- err
			}()
			fg := newForger(t, snd)
			other := randomData(36, cs/2)
			f, refused := fg.tryOpen("f", other)
			if refused == nil || refused.Code != protocol.CodeBusy {
				t.Errorf("the second receiver answered %+v, want CodeBusy", refused)
			}

			close(release)
			a := waitA()
			a.mustSucceed(t)
			if refused == nil {
				fg.sendMsg(&protocol.Skip{ID: f.open.ID, Reason: protocol.CodeSourceChanged})
				fg.answer(f.open.ID)
			}
			if err := fg.finish(); err != nil {
				t.Errorf("second session: %v", err)
			}
			snd.Close()
			<-done

			r := a.sent.result(t, "f")
			t.Logf("second receiver refused with %v; first: %v", refused, r.Err)
			if r.Err == nil {
				checkFile(t, filepath.Join(dst, "f"), data, 0o644, mtime)
			} else {
				mustNotExist(t, filepath.Join(dst, "f"))
			}
		})
	}
}
