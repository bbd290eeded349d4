package blake2bx8

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/blake2b"
)

// TestSum256MatchesBlake2b compares every lane count and the lengths
// around block boundaries (and a whole default chunk) with x/crypto.
func TestSum256MatchesBlake2b(t *testing.T) {
	t.Logf("eight-lane AVX-512 code available: %v", Available())
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000, 128 * batchBlocks, 128*batchBlocks + 1, 1 << 20}
	for _, n := range lengths {
		for lanes := 1; lanes <= Lanes; lanes++ {
			msgs := make([][]byte, lanes)
			for i := range msgs {
				msgs[i] = make([]byte, n)
				for j := range msgs[i] {
					msgs[i][j] = byte(rng.Uint32())
				}
			}
			out := make([][32]byte, lanes)
			Sum256(out, msgs)
			for i, m := range msgs {
				if want := blake2b.Sum256(m); out[i] != want {
					t.Fatalf("length %d, %d lanes, lane %d: got %x, want %x", n, lanes, i, out[i], want)
				}
			}
		}
	}
}

// TestSum256DoesNotWriteInput checks that hashing leaves the messages and
// the bytes around them untouched.
func TestSum256DoesNotWriteInput(t *testing.T) {
	buf := make([]byte, 8*300+16)
	for i := range buf {
		buf[i] = byte(i)
	}
	before := string(buf)
	msgs := make([][]byte, 8)
	for i := range msgs {
		msgs[i] = buf[8+i*300 : 8+i*300+300]
	}
	Sum256(make([][32]byte, 8), msgs)
	if string(buf) != before {
		t.Fatal("Sum256 modified its input")
	}
}

func TestSum256Panics(t *testing.T) {
	for name, msgs := range map[string][][]byte{
		"nine messages":     make([][]byte, 9),
		"different lengths": {make([]byte, 3), make([]byte, 4)},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			Sum256(make([][32]byte, 9), msgs)
		})
	}
}

func BenchmarkSum256(b *testing.B) {
	for _, lanes := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			msgs := make([][]byte, lanes)
			for i := range msgs {
				msgs[i] = make([]byte, 1<<20)
			}
			out := make([][32]byte, lanes)
			b.SetBytes(int64(lanes) << 20)
			b.ReportAllocs()
			for b.Loop() {
				Sum256(out, msgs)
			}
		})
	}
}

// FuzzSum256 hashes lanes copies of data, each with its lane number
// xored into the first byte, and compares with x/crypto.
func FuzzSum256(f *testing.F) {
	f.Add([]byte{}, uint8(8))
	f.Add([]byte("abc"), uint8(2))
	f.Add(make([]byte, 129), uint8(5))
	f.Add(make([]byte, 256), uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, lanes uint8) {
		k := int(lanes)%Lanes + 1
		msgs := make([][]byte, k)
		for i := range msgs {
			msgs[i] = append([]byte(nil), data...)
			if len(data) > 0 {
				msgs[i][0] ^= byte(i)
			}
		}
		out := make([][32]byte, k)
		Sum256(out, msgs)
		for i, m := range msgs {
			if want := blake2b.Sum256(m); out[i] != want {
				t.Fatalf("length %d, %d lanes, lane %d: got %x, want %x", len(data), k, i, out[i], want)
			}
		}
	})
}

// TestGeneratedAssemblyUpToDate regenerates the assembly and compares it
// with the checked-in file.
func TestGeneratedAssemblyUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool; skipped in -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool in PATH to run gen.go: %v", err)
	}
	out := filepath.Join(t.TempDir(), "gen.s")
	if b, err := exec.Command(goTool, "run", "gen.go", out).CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("blake2bx8_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("blake2bx8_amd64.s differs from what gen.go generates: run go generate")
	}
}
