package transfer_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
	"xfer/resume"
	"xfer/transfer"
)

// resumeChunks is the size of the resume tests' file in chunks (plus a
// short last chunk); cutChunks is how many are sent before the cut.
const (
	resumeChunks = 40
	cutChunks    = 15
)

// interrupt sends src/name to dst and closes the sender's session, from
// its Progress hook, once cutChunks chunks are sent and the receiver has
// written them. The sender runs one worker, so exactly those chunks have
// left. It returns the chunks the receiver's journal then holds.
func interrupt(t *testing.T, kind, src, dst, name string, runID ...[16]byte) map[uint64]bool {
	t.Helper()
	var snd *transfer.Conn
	var sent, written atomic.Uint64
	var once sync.Once
	o := run{
		kind: kind, src: src, names: []string{name}, dst: dst,
		onConn: func(s, _ *transfer.Conn) { snd = s },
		sopt: transfer.SendOptions{Compress: chunk.Never, Workers: 1, RunID: firstOr(runID), Hooks: &transfer.Hooks{
			Progress: func(_ string, n uint64) {
				if sent.Add(n) < cutChunks*cs {
					return
				}
				once.Do(func() {
					for deadline := time.Now().Add(5 * time.Second); written.Load() < sent.Load() && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
					snd.Close()
				})
			},
		}},
		ropt: transfer.ReceiveOptions{Hooks: &transfer.Hooks{
			Progress: func(_ string, n uint64) { written.Add(n) },
		}},
	}.do(t)
	if o.sendErr == nil || o.recvErr == nil {
		t.Fatalf("the cut session did not fail: send: %v, receive: %v", o.sendErr, o.recvErr)
	}
	mustNotExist(t, filepath.Join(dst, name))
	part, jrn := partialOf(filepath.Join(dst, name))
	if !exists(part) {
		t.Fatalf("no partial after the cut; destination holds %v", listDir(dst))
	}
	held := journalChunks(t, jrn)
	if len(held) == 0 {
		t.Fatalf("journal holds no chunk after %d bytes were written", written.Load())
	}
	return held
}

func firstOr(ids [][16]byte) [16]byte {
	if len(ids) > 0 {
		return ids[0]
	}
	return [16]byte{}
}

// journalChunks returns the chunks the journal jrn records, read without
// taking its lock or changing it.
func journalChunks(t *testing.T, jrn string) map[uint64]bool {
	t.Helper()
	data, err := os.ReadFile(jrn)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	_, recs, _, err := resume.Decode(data)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	held := make(map[uint64]bool)
	for _, r := range recs {
		held[r.Index] = true
	}
	return held
}

// heldBytes is the total length of the held chunks of a file of size.
func heldBytes(size int, held map[uint64]bool) (n uint64) {
	for i := range held {
		n += uint64(chunk.Len(uint64(size), cs, i))
	}
	return n
}

// heldWire is what the held chunks would cost on the wire, raw.
func heldWire(size int, held map[uint64]bool) (n uint64) {
	for i := range held {
		n += frameBytes(int(chunk.Len(uint64(size), cs, i)))
	}
	return n
}

// TestResume interrupts transfers mid-file and runs a second Send of the
// same file: only the missing (or changed) chunks travel again.
func TestResume(t *testing.T) {
	size := resumeChunks*cs + 1234
	mtime := time.Unix(1_700_000_000, 7)
	setup := func(t *testing.T) (src, dst string, data []byte) {
		src, dst = t.TempDir(), t.TempDir()
		data = randomData(11, size)
		writeFile(t, filepath.Join(src, "f"), data, 0o640, mtime)
		return src, dst, data
	}
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()

			t.Run("resumed", func(t *testing.T) {
				src, dst, data := setup(t)
				held := interrupt(t, kind, src, dst, "f")
				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
					sopt: transfer.SendOptions{Compress: chunk.Never}}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
				noLeftovers(t, dst)
				r := o.sent.result(t, "f")
				t.Logf("held %d chunks: resumed %d bytes, sent %d wire bytes for %d", len(held), r.ResumedBytes, r.WireBytes, size)
				if r.Err != nil || r.Root != rootOf(t, data) {
					t.Fatalf("result %+v", r)
				}
				if r.ResumedBytes == 0 || r.ResumedBytes > uint64(size) || r.ResumedBytes != heldBytes(size, held) {
					t.Errorf("resumed %d bytes, want the %d bytes of the %d held chunks", r.ResumedBytes, heldBytes(size, held), len(held))
				}
				if r.WireBytes >= uint64(size) || r.WireBytes != rawWire(size)-heldWire(size, held) {
					t.Errorf("sent %d wire bytes, want %d", r.WireBytes, rawWire(size)-heldWire(size, held))
				}
				if p := o.sent.progress.Load(); p != uint64(size) {
					t.Errorf("sender progress adds up to %d, want %d", p, size)
				}
				if rr := o.got.result(t, "f"); rr.ResumedBytes != r.ResumedBytes || rr.WireBytes != r.WireBytes {
					t.Errorf("receiver counted resumed %d, wire %d", rr.ResumedBytes, rr.WireBytes)
				}
				if o.send.ResumedBytes != r.ResumedBytes || o.recv.ResumedBytes != r.ResumedBytes {
					t.Errorf("stats: sender %+v, receiver %+v", o.send, o.recv)
				}
			})

			t.Run("source-changed-between-attempts", func(t *testing.T) {
				src, dst, data := setup(t)
				held := interrupt(t, kind, src, dst, "f")
				// Change one held chunk in the middle of what arrived.
				idx := slices.Sorted(func(yield func(uint64) bool) {
					for i := range held {
						if !yield(i) {
							return
						}
					}
				})
				k := idx[len(idx)/2]
				data = slices.Clone(data)
				for i := range 100 {
					data[int(k)*cs+i*7] ^= 0x5a
				}
				mtime2 := mtime.Add(time.Hour)
				writeFile(t, filepath.Join(src, "f"), data, 0o640, mtime2)

				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
					sopt: transfer.SendOptions{Compress: chunk.Never}}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime2)
				r := o.sent.result(t, "f")
				if r.Err != nil || r.Root != rootOf(t, data) {
					t.Fatalf("result %+v", r)
				}
				delete(held, k) // the changed chunk is sent again
				if r.ResumedBytes != heldBytes(size, held) {
					t.Errorf("resumed %d bytes, want %d: chunk %d changed and must be sent again", r.ResumedBytes, heldBytes(size, held), k)
				}
				if r.WireBytes != rawWire(size)-heldWire(size, held) {
					t.Errorf("sent %d wire bytes, want %d", r.WireBytes, rawWire(size)-heldWire(size, held))
				}
			})

			t.Run("source-size-changed-between-attempts", func(t *testing.T) {
				src, dst, data := setup(t)
				interrupt(t, kind, src, dst, "f")
				data = append(slices.Clone(data), "more"...)
				writeFile(t, filepath.Join(src, "f"), data, 0o640, mtime)
				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
				if r := o.sent.result(t, "f"); r.Err != nil || r.ResumedBytes != 0 {
					t.Errorf("result %+v: a source of another size must start over", r)
				}
			})

			t.Run("chunk-size-changed-between-attempts", func(t *testing.T) {
				src, dst, data := setup(t)
				interrupt(t, kind, src, dst, "f")
				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
					sopt: transfer.SendOptions{ChunkSize: 2 * cs}}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
				noLeftovers(t, dst)
				if r := o.sent.result(t, "f"); r.Err != nil || r.ResumedBytes != 0 {
					t.Errorf("result %+v: a partial of another chunk size must not be resumed", r)
				}
			})

			t.Run("no-resume", func(t *testing.T) {
				src, dst, data := setup(t)
				interrupt(t, kind, src, dst, "f")
				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
					sopt: transfer.SendOptions{Compress: chunk.Never},
					ropt: transfer.ReceiveOptions{NoResume: true}}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
				noLeftovers(t, dst)
				if r := o.sent.result(t, "f"); r.Err != nil || r.ResumedBytes != 0 || r.WireBytes != rawWire(size) {
					t.Errorf("result %+v, want nothing resumed and %d wire bytes", r, rawWire(size))
				}
			})

			t.Run("no-resume-other-run", func(t *testing.T) {
				// NoResume discards the partial of another run.
				src, dst, data := setup(t)
				interrupt(t, kind, src, dst, "f", [16]byte{1})
				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
					sopt: transfer.SendOptions{Compress: chunk.Never, RunID: [16]byte{2}},
					ropt: transfer.ReceiveOptions{NoResume: true}}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
				noLeftovers(t, dst)
				if r := o.sent.result(t, "f"); r.Err != nil || r.ResumedBytes != 0 || r.WireBytes != rawWire(size) {
					t.Errorf("result %+v: another run must start over", r)
				}
			})

			t.Run("same-run-retry-resumes", func(t *testing.T) {
				// A retry of the same run (same RunID, next Attempt)
				// continues its partial even when told not to resume.
				src, dst, data := setup(t)
				runID := [16]byte{9, 9}
				held := interrupt(t, kind, src, dst, "f", runID)
				o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
					sopt: transfer.SendOptions{Compress: chunk.Never, RunID: runID, Attempt: 2},
					ropt: transfer.ReceiveOptions{NoResume: true}}.do(t)
				o.mustSucceed(t)
				checkFile(t, filepath.Join(dst, "f"), data, 0o640, mtime)
				if r := o.sent.result(t, "f"); r.Err != nil || r.ResumedBytes != heldBytes(size, held) {
					t.Errorf("result %+v, want the %d held bytes resumed", r, heldBytes(size, held))
				}
			})

			changing := []struct {
				name   string
				change func(t *testing.T, name string)
			}{
				{"truncated-during-read", func(t *testing.T, name string) {
					if err := os.Truncate(name, 3*cs+5); err != nil {
						t.Error(err)
					}
				}},
				{"grown-during-read", func(t *testing.T, name string) {
					f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						t.Error(err)
						return
					}
					f.Write([]byte("appended"))
					f.Close()
				}},
				{"rewritten-during-read", func(t *testing.T, name string) {
					// Same size; a later chunk changes, and so does the mtime.
					f, err := os.OpenFile(name, os.O_WRONLY, 0)
					if err != nil {
						t.Error(err)
						return
					}
					f.WriteAt([]byte("changed"), int64(size-3*cs))
					f.Close()
				}},
			}
			for _, c := range changing {
				t.Run(c.name, func(t *testing.T) {
					src, dst, _ := setup(t)
					var once sync.Once
					o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
						sopt: transfer.SendOptions{Workers: 1, Hooks: &transfer.Hooks{
							Progress: func(string, uint64) {
								once.Do(func() { c.change(t, filepath.Join(src, "f")) })
							},
						}}}.do(t)
					o.mustSucceed(t)
					mustNotExist(t, filepath.Join(dst, "f"))
					for side, rec := range map[string]*recorder{"sender": o.sent, "receiver": o.got} {
						if r := rec.result(t, "f"); r.Code() != protocol.CodeSourceChanged {
							t.Errorf("%s: result code %d (%v), want CodeSourceChanged", side, r.Code(), r.Err)
						}
					}
					if o.send.Failed != 1 || o.send.Files != 0 || o.recv.Failed != 1 || o.recv.Files != 0 {
						t.Errorf("stats: sender %+v, receiver %+v", o.send, o.recv)
					}
				})
			}
		})
	}
}

// plantPartial leaves, in dir, the partial and journal of an earlier
// attempt at receiving data as name, holding the given chunks, the way a
// receiver leaves them.
func plantPartial(t *testing.T, dir, name string, data []byte, held []uint64) {
	t.Helper()
	partName, jrnName := transfer.PartialNames(name)
	part, err := os.OpenFile(filepath.Join(dir, partName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if err := part.Truncate(int64(len(data))); err != nil {
		t.Fatal(err)
	}
	jf, err := os.OpenFile(filepath.Join(dir, jrnName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	j, err := resume.Create(jf, resume.Header{Dest: name, Size: uint64(len(data)), ChunkSize: cs, Mode: 0o644, Created: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var recs []resume.Record
	for _, i := range held {
		c := data[i*cs : i*cs+uint64(chunk.Len(uint64(len(data)), cs, i))]
		if slices.ContainsFunc(c, func(b byte) bool { return b != 0 }) {
			if _, err := part.WriteAt(c, int64(i*cs)); err != nil {
				t.Fatal(err)
			}
		}
		recs = append(recs, resume.Record{Index: i, Hash: crypto.ChunkHash(c)})
	}
	if err := part.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(recs...); err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestResumeManyHeld resumes a partial that holds more chunks than one
// Held message lists (protocol.MaxHeldPerMessage), so the receiver splits
// them and the sender gathers them: only the missing chunks travel.
func TestResumeManyHeld(t *testing.T) {
	n := uint64(protocol.MaxHeldPerMessage + 4)
	size := int(n-1)*cs + 100
	data := make([]byte, size) // zeros: sparse on disk, cheap to plant
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			src, dst := t.TempDir(), t.TempDir()
			mtime := time.Unix(1_750_000_000, 0)
			f, err := os.Create(filepath.Join(src, "f"))
			if err != nil {
				t.Fatal(err)
			}
			f.Truncate(int64(size))
			f.Close()
			os.Chtimes(filepath.Join(src, "f"), mtime, mtime)
			held := map[uint64]bool{}
			var list []uint64
			for i := range n {
				if i != 3 && i != n-2 && i != n-1 {
					held[i] = true
					list = append(list, i)
				}
			}
			plantPartial(t, dst, "f", data, list)

			o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
				sopt: transfer.SendOptions{Compress: chunk.Never}}.do(t)
			o.mustSucceed(t)
			r := o.sent.result(t, "f")
			if r.Err != nil || r.ResumedBytes != heldBytes(size, held) || r.WireBytes != rawWire(size)-heldWire(size, held) {
				t.Errorf("result %+v, want %d bytes resumed and %d on the wire", r, heldBytes(size, held), rawWire(size)-heldWire(size, held))
			}
			if p := o.sent.progress.Load(); p != uint64(size) {
				t.Errorf("sender progress adds up to %d, want %d", p, size)
			}
			fi, err := os.Stat(filepath.Join(dst, "f"))
			if err != nil || fi.Size() != int64(size) || !fi.ModTime().Equal(mtime) {
				t.Fatalf("destination: %v %v", fi, err)
			}
			got, _ := os.ReadFile(filepath.Join(dst, "f"))
			if slices.ContainsFunc(got, func(b byte) bool { return b != 0 }) {
				t.Error("destination differs from the source")
			}
			noLeftovers(t, dst)
		})
	}
}
