package transfer_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"xfer/protocol"
	"xfer/transfer"
)

// BenchmarkSendReceive moves a 256 MiB file through the real engine, over
// a real session on loopback, into a temporary directory: read, hash,
// compress (auto), seal, send; open, verify, write, fsync, rename. Each
// operation includes the session's TCP or QUIC and Noise handshakes (a
// few milliseconds); the removal of the previous destination is not
// timed. wire/byte reports the bytes on the wire per file byte.
//
//	go test ./transfer -run '^$' -bench SendReceive -benchtime 3x
func BenchmarkSendReceive(b *testing.B) {
	const size = 256 << 20
	contents := []struct {
		name string
		gen  func(seed uint64, n int) []byte
	}{
		{"random", randomData},
		{"text", textData},
	}
	srcDir := b.TempDir()
	var once [2]sync.Once
	for _, kind := range transports {
		for ci, content := range contents {
			b.Run(kind+"/"+content.name, func(b *testing.B) {
				src := filepath.Join(srcDir, content.name)
				once[ci].Do(func() {
					writeFile(b, filepath.Join(src, "f"), content.gen(1, size), 0o644, time.Unix(1_730_000_000, 0))
				})
				dst := b.TempDir()
				b.SetBytes(size)
				b.ReportAllocs()
				var wire uint64
				b.ResetTimer()
				for range b.N {
					o := run{kind: kind, src: src, names: []string{"f"}, dst: dst,
						sopt: transfer.SendOptions{ChunkSize: protocol.DefaultChunkSize}}.do(b)
					o.mustSucceed(b)
					if o.recv.Files != 1 || o.recv.Bytes != size {
						b.Fatalf("receiver stats %+v", o.recv)
					}
					wire += o.send.WireBytes
					b.StopTimer()
					if err := os.Remove(filepath.Join(dst, "f")); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(wire)/float64(size)/float64(b.N), "wire/byte")
			})
		}
	}
}
