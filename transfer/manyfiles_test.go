package transfer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"xfer/transfer"
)

// TestManyFiles sends a tree of many small files, several times the
// sender's window of unanswered Opens (protocol.MaxOpenWindow), with a few
// multi-chunk ones among them.
func TestManyFiles(t *testing.T) {
	const files = 300
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			src, dst := t.TempDir(), t.TempDir()
			r := rand.New(rand.NewPCG(7, 7))
			sizes := []int{0, 1, 100, 4000, 20000, cs + 1}
			want := map[string][]byte{}
			var total uint64
			for i := range files {
				size := sizes[r.IntN(len(sizes)-1)]
				if i%50 == 0 {
					size = sizes[len(sizes)-1]
				}
				name := fmt.Sprintf("tree/d%d/e%d/f%03d", i%7, i%3, i)
				data := randomData(uint64(1000+i), size)
				writeFile(t, filepath.Join(src, name), data, 0o644, time.Unix(1_760_000_000+int64(i), 0))
				want[name] = data
				total += uint64(size)
			}
			o := run{kind: kind, src: src, names: []string{"tree"}, dst: dst}.do(t)
			o.mustSucceed(t)
			for name, data := range want {
				var i int
				fmt.Sscanf(filepath.Base(name), "f%03d", &i)
				checkFile(t, filepath.Join(dst, name), data, 0o644, time.Unix(1_760_000_000+int64(i), 0))
			}
			dirs := 1 + 7 + 21
			for side, st := range map[string]transfer.Stats{"sender": o.send, "receiver": o.recv} {
				if st.Files != files || st.Dirs != dirs || st.Failed != 0 || st.Bytes != total {
					t.Errorf("%s stats %+v, want %d files, %d dirs, %d bytes", side, st, files, dirs, total)
				}
			}
			noLeftovers(t, dst)
		})
	}
}

// TestCancel cancels one side's context mid-file: both calls return an
// error promptly, nothing appears at the destination, and the next send
// resumes from what the receiver kept.
func TestCancel(t *testing.T) {
	size := 30*cs + 9
	for _, kind := range transports {
		for _, side := range []string{"sender", "receiver"} {
			t.Run(kind+"/"+side, func(t *testing.T) {
				t.Parallel()
				src, dst := t.TempDir(), t.TempDir()
				data := randomData(51, size)
				mtime := time.Unix(1_770_000_000, 0)
				writeFile(t, filepath.Join(src, "f"), data, 0o644, mtime)

				snd, rcv := connPair(t, kind)
				root := openRootT(t, dst)
				srcRoot := openRootT(t, src)
				sctx, scancel := context.WithCancel(context.Background())
				rctx, rcancel := context.WithCancel(context.Background())
				defer scancel()
				defer rcancel()
				cancel := scancel
				if side == "receiver" {
					cancel = rcancel
				}
				var once sync.Once
				var written, sent atomic64
				items := make(chan transfer.Item, 1)
				transfer.Walk(srcRoot, "f", "f", items, nil)
				close(items)
				rdone := make(chan error, 1)
				go func() {
					_, err := transfer.Receive(rctx, rcv, transfer.ReceiveOptions{Root: root, ChunkSize: cs, Hooks: &transfer.Hooks{
						Progress: func(_ string, n uint64) {
							written.add(n)
						},
					}})
					rdone <- err
				}()
				start := time.Now()
				_, serr := transfer.Send(sctx, snd, items, transfer.SendOptions{ChunkSize: cs, Workers: 1, Hooks: &transfer.Hooks{
					Progress: func(_ string, n uint64) {
						if sent.add(n) >= 10*cs {
							once.Do(func() {
								for deadline := time.Now().Add(5 * time.Second); written.load() < sent.load() && time.Now().Before(deadline); {
									time.Sleep(time.Millisecond)
								}
								cancel()
							})
						}
					},
				}})
				var rerr error
				select {
				case rerr = <-rdone:
				case <-time.After(testTimeout):
					t.Fatal("Receive did not return after the cancel")
				}
				t.Logf("after %v: send: %v; receive: %v", time.Since(start), serr, rerr)
				if serr == nil || rerr == nil {
					t.Fatalf("send: %v; receive: %v; want both to fail", serr, rerr)
				}
				snd.Close()
				rcv.Close()
				// Cancellation is asynchronous (context.AfterFunc): the
				// rest of the file may still have gone through. Either way
				// the destination is absent or complete, never partial.
				delivered := exists(filepath.Join(dst, "f"))
				if delivered {
					checkFile(t, filepath.Join(dst, "f"), data, 0o644, mtime)
					t.Log("the file was delivered before the cancel took effect")
				}

				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o644, mtime)
				switch r := o.sent.result(t, "f"); {
				case r.Err != nil:
					t.Errorf("result %+v", r)
				case delivered && !r.Skipped:
					t.Errorf("result %+v: the delivered file is not up to date", r)
				case !delivered && r.ResumedBytes == 0:
					t.Errorf("result %+v: nothing resumed", r)
				}
			})
		}
	}
}
