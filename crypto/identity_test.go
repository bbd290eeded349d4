package crypto_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"

	"xfer/crypto"
)

func mustGenerate(t testing.TB, comment string) *crypto.Identity {
	t.Helper()
	id, err := crypto.GenerateIdentity(comment)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestGenerateIdentity(t *testing.T) {
	a := mustGenerate(t, "a")
	b := mustGenerate(t, "b")
	if a.Private == b.Private || a.Public == b.Public {
		t.Fatal("two generated identities are equal")
	}
	want, err := curve25519.X25519(a.Private[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Public[:], want) {
		t.Errorf("public key %x, want X25519(priv, base) = %x", a.Public, want)
	}
	if a.Comment != "a" {
		t.Errorf("comment %q, want %q", a.Comment, "a")
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	for _, comment := range []string{"", "alice@laptop", "with spaces in it", "tab\tand\nnewline"} {
		id := mustGenerate(t, comment)
		data := crypto.MarshalIdentity(id)
		if n := bytes.Count(data, []byte("\n")); n != 2 {
			t.Errorf("comment %q: identity file has %d lines, want 2:\n%s", comment, n, data)
		}
		if !bytes.HasPrefix(data, []byte("# xfer identity")) {
			t.Errorf("identity file does not start with a comment line:\n%s", data)
		}
		got, err := crypto.ParseIdentity(data)
		if err != nil {
			t.Fatalf("comment %q: ParseIdentity: %v\n%s", comment, err, data)
		}
		if got.Private != id.Private || got.Public != id.Public {
			t.Errorf("comment %q: keys changed in round trip", comment)
		}
		// Control characters other than tab are written as spaces.
		wantComment := strings.ReplaceAll(comment, "\n", " ")
		if got.Comment != wantComment {
			t.Errorf("comment %q: round trip gave %q, want %q", comment, got.Comment, wantComment)
		}
	}
}

func TestParseIdentityDerivesPublic(t *testing.T) {
	var priv [32]byte
	for i := range priv {
		priv[i] = byte(i)
	}
	want, _ := curve25519.X25519(priv[:], curve25519.Basepoint)
	data := "XFER-X25519-PRIVATE-KEY " + base64.StdEncoding.EncodeToString(priv[:]) + " me\n"
	id, err := crypto.ParseIdentity([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id.Public[:], want) || id.Comment != "me" {
		t.Errorf("got public %x comment %q, want %x %q", id.Public, id.Comment, want, "me")
	}
}

func TestParseIdentityErrors(t *testing.T) {
	id := mustGenerate(t, "x")
	good := string(crypto.MarshalIdentity(id))
	b64 := base64.StdEncoding.EncodeToString(id.Private[:])
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "no XFER-X25519-PRIVATE-KEY line"},
		{"only comments", "# hello\n\n", "no XFER-X25519-PRIVATE-KEY line"},
		{"truncated key", "XFER-X25519-PRIVATE-KEY " + b64[:21], "line 1: private key is not valid base64"},
		{"truncated at quad", "XFER-X25519-PRIVATE-KEY " + b64[:20], "line 1: private key is 15 bytes, want 32"},
		{"truncated file", good[:len(good)-30], "line 2: private key is not valid base64"},
		{"short key", "XFER-X25519-PRIVATE-KEY " + base64.StdEncoding.EncodeToString(id.Private[:31]), "line 1: private key is 31 bytes, want 32"},
		{"long key", "XFER-X25519-PRIVATE-KEY " + base64.StdEncoding.EncodeToString(append(id.Private[:], 0)), "line 1: private key is 33 bytes, want 32"},
		{"missing key", "XFER-X25519-PRIVATE-KEY", "line 1: private key is 0 bytes, want 32"},
		{"garbage", "\n\nhello world\n", "line 3: not an xfer identity"},
		{"binary", "\x00\x01\x02", "line 1: control character"},
		{"public key", id.Public.String() + " x\n", "line 1: this is a public key"},
		{"two keys", good + "XFER-X25519-PRIVATE-KEY " + b64 + "\n", "line 3: more than one private key"},
		{"unpadded", "XFER-X25519-PRIVATE-KEY " + strings.TrimRight(b64, "="), "line 1: private key is not valid base64"},
		{"lowercase type", "xfer-x25519-private-key " + b64, "line 1: not an xfer identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := crypto.ParseIdentity([]byte(tt.data))
			if err == nil {
				t.Fatal("ParseIdentity succeeded, want error")
			}
			if !strings.HasPrefix(err.Error(), "crypto: identity: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), b64[:10]) {
				t.Errorf("error %q quotes the private key", err)
			}
		})
	}
}

func TestParseIdentityTolerates(t *testing.T) {
	id := mustGenerate(t, "c")
	good := string(crypto.MarshalIdentity(id))
	for name, data := range map[string]string{
		"crlf":              strings.ReplaceAll(good, "\n", "\r\n"),
		"no final newline":  strings.TrimSuffix(good, "\n"),
		"extra comments":    "# one\n\n# two\n" + good + "\n# three\n",
		"indented":          "  " + strings.ReplaceAll(good, "\n", "\n\t"),
		"no comment line":   good[strings.Index(good, "\n")+1:],
		"spaces before key": strings.Replace(good, "KEY ", "KEY   \t ", 1),
	} {
		got, err := crypto.ParseIdentity([]byte(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.Private != id.Private || got.Public != id.Public || got.Comment != "c" {
			t.Errorf("%s: got %+v", name, got)
		}
	}
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestSaveLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dir", "id")
	id := mustGenerate(t, "bob@host")
	if err := crypto.SaveIdentity(path, id); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]fs.FileMode{
			path:                       0o600,
			path + ".pub":              0o644,
			filepath.Dir(path):         0o700,
			filepath.Dir(path) + "/..": 0o700,
		} {
			if got := fileMode(t, p); got != want {
				t.Errorf("%s: mode %v, want %v", p, got, want)
			}
		}
	}
	got, err := crypto.LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Private != id.Private || got.Public != id.Public || got.Comment != id.Comment {
		t.Errorf("loaded %+v, want %+v", got, id)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if want := id.Public.String() + " bob@host\n"; string(pub) != want {
		t.Errorf(".pub file %q, want %q", pub, want)
	}
	k, c, err := crypto.ParsePublicKey(string(pub))
	if err != nil || k != id.Public || c != "bob@host" {
		t.Errorf("ParsePublicKey(.pub) = %v, %q, %v", k, c, err)
	}
}

func TestSaveIdentityRefusesOverwrite(t *testing.T) {
	for _, existing := range []string{"", ".pub"} {
		t.Run("existing"+existing, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "id")
			if err := os.WriteFile(path+existing, []byte("precious\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := crypto.SaveIdentity(path, mustGenerate(t, ""))
			if !errors.Is(err, crypto.ErrIdentityExists) {
				t.Fatalf("SaveIdentity over existing file: %v, want ErrIdentityExists", err)
			}
			if !strings.Contains(err.Error(), path+existing) {
				t.Errorf("error %q does not name %s", err, path+existing)
			}
			data, _ := os.ReadFile(path + existing)
			if string(data) != "precious\n" {
				t.Errorf("existing file was modified: %q", data)
			}
			other := path + map[string]string{"": ".pub", ".pub": ""}[existing]
			if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was written (stat: %v)", other, err)
			}
		})
	}
}

func TestLoadIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, err := crypto.LoadIdentity(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("LoadIdentity(missing) = %v, want not-exist error naming the file", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("# c\nnonsense\n"), 0o600)
	_, err = crypto.LoadIdentity(bad)
	if err == nil || !strings.Contains(err.Error(), bad+": line 2:") {
		t.Errorf("LoadIdentity(bad) = %v, want error naming %s and line 2", err, bad)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("#\n"), 64<<10), 0o600)
	if _, err = crypto.LoadIdentity(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadIdentity(big) = %v, want size error", err)
	}
}

func TestLoadOrCreateIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xfer", "identity")
	id1, created, err := crypto.LoadOrCreateIdentity(path, "first")
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v, want created", created, err)
	}
	id2, created, err := crypto.LoadOrCreateIdentity(path, "second")
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v, want loaded", created, err)
	}
	if id1.Private != id2.Private || id1.Public != id2.Public || id2.Comment != "first" {
		t.Errorf("second call loaded %+v, want %+v", id2, id1)
	}

	// A corrupt identity is reported, never replaced.
	os.WriteFile(path, []byte("garbage\n"), 0o600)
	if _, _, err := crypto.LoadOrCreateIdentity(path, ""); err == nil {
		t.Error("LoadOrCreateIdentity over a corrupt file succeeded")
	}
	if data, _ := os.ReadFile(path); string(data) != "garbage\n" {
		t.Errorf("corrupt identity was replaced: %q", data)
	}

	// An orphaned .pub is not overwritten.
	orphan := filepath.Join(t.TempDir(), "id")
	os.WriteFile(orphan+".pub", []byte("x\n"), 0o644)
	if _, _, err := crypto.LoadOrCreateIdentity(orphan, ""); !errors.Is(err, crypto.ErrIdentityExists) {
		t.Errorf("LoadOrCreateIdentity with orphaned .pub: %v, want ErrIdentityExists", err)
	}
}

// TestStatelessResetKey: the documented construction, stable for one
// identity, different for another, and not the private key itself.
func TestStatelessResetKey(t *testing.T) {
	a, b := mustGenerate(t, "a"), mustGenerate(t, "b")
	h, err := blake2b.New256(a.Private[:])
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("xfer/1 quic stateless reset key"))
	want := [32]byte(h.Sum(nil))
	if got := a.StatelessResetKey(); got != want {
		t.Fatalf("StatelessResetKey = %x, want BLAKE2b-256(key=private, label) = %x", got, want)
	}
	if a.StatelessResetKey() != a.StatelessResetKey() {
		t.Fatal("not stable")
	}
	if a.StatelessResetKey() == b.StatelessResetKey() {
		t.Fatal("two identities share a reset key")
	}
	if a.StatelessResetKey() == a.Private {
		t.Fatal("the reset key is the private key")
	}
}
