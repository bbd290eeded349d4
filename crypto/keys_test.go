package crypto_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"

	"xfer/crypto"
)

// testKey returns a fixed key whose bytes are seed, seed+1, ...
func testKey(seed byte) crypto.PublicKey {
	var k crypto.PublicKey
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func TestPublicKeyString(t *testing.T) {
	k := testKey(0)
	want := "xfer-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	if got := k.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFingerprint(t *testing.T) {
	k := testKey(7)
	sum := blake2b.Sum256(append([]byte("xfer fingerprint"), k[:]...))
	want := "b2:" + base64.RawStdEncoding.EncodeToString(sum[:16])
	got := k.Fingerprint()
	if got != want {
		t.Errorf("Fingerprint() = %q, want %q", got, want)
	}
	if len(got) != 3+22 || strings.Contains(got, "=") {
		t.Errorf("Fingerprint() = %q: want b2: and 22 unpadded base64 characters", got)
	}
	if testKey(8).Fingerprint() == got {
		t.Error("different keys have the same fingerprint")
	}
}

func TestParsePublicKey(t *testing.T) {
	k := testKey(1)
	b64 := base64.StdEncoding.EncodeToString(k[:])
	tests := []struct {
		in      string
		comment string
		err     string // substring; "" means success
	}{
		{k.String(), "", ""},
		{k.String() + " alice@laptop", "alice@laptop", ""},
		{k.String() + "  two  words \n", "two  words", ""},
		{"\t" + k.String() + "\tc\r\n", "c", ""},
		{"xfer-x25519\t" + b64, "", ""},
		{"", "", `want "xfer-x25519", found ""`},
		{"ssh-ed25519 " + b64, "", `want "xfer-x25519", found "ssh-ed25519"`},
		{"XFER-X25519 " + b64, "", `found "XFER-X25519"`},
		{"xfer-x25519", "", "missing key"},
		{"xfer-x25519 !!!!" + b64[4:], "", "not valid base64"},
		{"xfer-x25519 " + strings.TrimRight(b64, "="), "", "not valid base64"},
		{"xfer-x25519 " + base64.StdEncoding.EncodeToString(k[:31]), "", "key is 31 bytes, want 32"},
		{"xfer-x25519 " + base64.StdEncoding.EncodeToString(append(k[:], 1)), "", "key is 33 bytes, want 32"},
		{k.String() + " a\nxfer-x25519 " + b64, "", "several lines"},
		{k.String() + " \x1b[31mred", "", "control character 0x1b"},
	}
	for _, tt := range tests {
		got, comment, err := crypto.ParsePublicKey(tt.in)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), "crypto: ") || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePublicKey(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePublicKey(%q): %v", tt.in, err)
			continue
		}
		if got != k || comment != tt.comment {
			t.Errorf("ParsePublicKey(%q) = %v, %q, want %v, %q", tt.in, got, comment, k, tt.comment)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
