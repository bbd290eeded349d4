package crypto_test

import (
	"testing"

	"xfer/crypto"
)

const benchSize = 1 << 20

func BenchmarkSeal(b *testing.B) {
	a := crypto.NewChunkAEAD([32]byte(seq(32, 0)))
	pt := make([]byte, benchSize)
	aad := make([]byte, 96)
	dst := make([]byte, 0, benchSize+crypto.ChunkOverhead)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dst = a.Seal(dst[:0], uint64(i), false, pt, aad)
	}
}

func BenchmarkOpen(b *testing.B) {
	a := crypto.NewChunkAEAD([32]byte(seq(32, 0)))
	aad := make([]byte, 96)
	ct := a.Seal(nil, 1, false, make([]byte, benchSize), aad)
	dst := make([]byte, 0, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = a.Open(dst[:0], 1, false, ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkHash(b *testing.B) {
	p := make([]byte, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		crypto.ChunkHash(p)
	}
}

func BenchmarkHandshake(b *testing.B) {
	client, server := mustGenerate(b, "c"), mustGenerate(b, "s")
	b.ReportAllocs()
	for b.Loop() {
		cp, sp := newPipe()
		done := make(chan error, 1)
		go func() {
			_, err := crypto.Handshake(sp, crypto.HandshakeConfig{Identity: server})
			done <- err
		}()
		if _, err := crypto.Handshake(cp, crypto.HandshakeConfig{Initiator: true, Identity: client}); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
