// Command gendata writes the reproducible test data of bench/compare.sh:
// incompressible bytes, text that LZ4 compresses about 2–3×, and a tree of
// many small files. The same seed gives the same bytes on every machine.
//
//	gendata random FILE BYTES
//	gendata text   FILE BYTES
//	gendata tree   DIR  FILES FILE_BYTES
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

const seed = "xfer bench data generator, v1." // 32 bytes: the ChaCha8 seed

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: gendata random|text FILE BYTES, or gendata tree DIR FILES FILE_BYTES")
	}
	n, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("bad count %q", args[2])
	}
	rng := newRNG(args[0])
	switch args[0] {
	case "random":
		return writeFile(args[1], func(w *bufio.Writer) error { return random(w, rng, n) })
	case "text":
		return writeFile(args[1], func(w *bufio.Writer) error { return text(w, rng, n) })
	case "tree":
		if len(args) != 4 {
			return fmt.Errorf("usage: gendata tree DIR FILES FILE_BYTES")
		}
		size, err := strconv.ParseInt(args[3], 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("bad size %q", args[3])
		}
		return tree(args[1], rng, int(n), size)
	}
	return fmt.Errorf("unknown kind %q", args[0])
}

// newRNG returns a ChaCha8 generator seeded by the fixed seed and kind, so
// that each kind of data has its own reproducible stream.
func newRNG(kind string) *rand.ChaCha8 {
	var s [32]byte
	copy(s[:], seed)
	for i := 0; i < len(kind) && i < len(s); i++ {
		s[i] ^= kind[i]
	}
	return rand.NewChaCha8(s)
}

func writeFile(name string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func random(w *bufio.Writer, rng *rand.ChaCha8, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		rng.Read(b)
		if _, err := w.Write(b); err != nil {
			return err
		}
		n -= int64(len(b))
	}
	return nil
}

// vocabBits sets the vocabulary of text: 1<<vocabBits words.
const vocabBits = 10

// text writes lines of made-up words drawn with a skewed frequency from a
// small vocabulary, so the output looks like prose to a compressor: LZ4 (on
// 1 MiB blocks) shrinks it about 2.2×, gzip about 3×.
func text(w *bufio.Writer, rng *rand.ChaCha8, n int64) error {
	const letters = "etaoinshrdlucmfwypvbgkjqxz"
	vocab := make([][]byte, 1<<vocabBits)
	for i := range vocab {
		word := make([]byte, 2+rng.Uint64()%9)
		for j := range word {
			// Squaring a uniform index favours common letters.
			r := rng.Uint64() % 26
			word[j] = letters[r*r/26]
		}
		vocab[i] = word
	}
	written := int64(0)
	col := 0
	var r [8]byte
	out := make([]byte, 0, 16)
	for written < n {
		binary.LittleEndian.PutUint64(r[:], rng.Uint64())
		// The product of two uniform draws: small indexes are far more common.
		const mask = 1<<vocabBits - 1
		a, b := uint64(binary.LittleEndian.Uint16(r[0:])&mask), uint64(binary.LittleEndian.Uint16(r[2:])&mask)
		out = append(out[:0], vocab[a*b>>vocabBits]...)
		switch {
		case r[4] < 12:
			out = append(out, ',')
		case r[4] < 20:
			out = append(out, '.')
		}
		if col+len(out) >= 72 {
			out = append(out, '\n')
			col = 0
		} else {
			out = append(out, ' ')
			col += len(out)
		}
		out = out[:min(int64(len(out)), n-written)]
		if _, err := w.Write(out); err != nil {
			return err
		}
		written += int64(len(out))
	}
	return nil
}

// tree writes files FILES × FILE_BYTES under DIR as DIR/dNN/sN/fNNN.bin,
// at most 100 files per directory and 10 subdirectories per top directory.
func tree(dir string, rng *rand.ChaCha8, files int, size int64) error {
	buf := make([]byte, size)
	for i := range files {
		leaf := i / 100
		d := filepath.Join(dir, fmt.Sprintf("d%02d", leaf/10), fmt.Sprintf("s%d", leaf%10))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d.bin", i%100)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}
