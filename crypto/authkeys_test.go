package crypto_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xfer/crypto"
)

func TestParseAuthorizedKeys(t *testing.T) {
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	data := "# team keys\n" +
		"\n" +
		k1.String() + " alice@laptop\n" +
		"   # indented comment\n" +
		"read-only,dir=pub/./docs/ " + k2.String() + "\r\n" +
		"write-only,no-overwrite,dir=/\t" + k3.String() + " ci bot\n"
	got, err := crypto.ParseAuthorizedKeys([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []crypto.AuthorizedKey{
		{Key: k1, Comment: "alice@laptop", Line: 3},
		{Key: k2, Options: crypto.KeyOptions{Dir: "pub/docs", ReadOnly: true}, Line: 5},
		{Key: k3, Comment: "ci bot", Options: crypto.KeyOptions{WriteOnly: true, NoOverwrite: true}, Line: 6},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d keys, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	empty, err := crypto.ParseAuthorizedKeys([]byte("# nobody\n\n"))
	if err != nil || len(empty) != 0 {
		t.Errorf("comments only: %v, %v; want no keys, no error", empty, err)
	}
}

func TestKeyOptionsDir(t *testing.T) {
	tests := []struct {
		opt string
		dir string
		err string
	}{
		{"dir=a", "a", ""},
		{"dir=a/b/c", "a/b/c", ""},
		{"dir=./a//b/", "a/b", ""},
		{"dir=a/../b", "b", ""},
		{"dir=a/..", "", ""},
		{"dir=.", "", ""},
		{"dir=/", "", ""},
		{"dir=..", "", "escapes the root"},
		{"dir=../x", "", "escapes the root"},
		{"dir=a/../../x", "", "escapes the root"},
		{"dir=/etc", "", "must be relative"},
		{"dir=//", "", "must be relative"},
		{"dir=", "", "needs a value"},
		{"dir", "", "needs a value"},
		{"dir=a,dir=b", "", `option "dir" given twice`},
	}
	for _, tt := range tests {
		line := tt.opt + " " + testKey(1).String()
		keys, err := crypto.ParseAuthorizedKeys([]byte(line))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), "line 1: ") || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.opt, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.opt, err)
			continue
		}
		if keys[0].Options.Dir != tt.dir {
			t.Errorf("%s: Dir = %q, want %q", tt.opt, keys[0].Options.Dir, tt.dir)
		}
	}
}

func TestParseAuthorizedKeysErrors(t *testing.T) {
	k := testKey(1)
	good := k.String() + " ok\n"
	b64 := strings.Fields(k.String())[1]
	tests := []struct {
		name, data, want string
	}{
		{"unknown option", "# c\nread-only,frobnicate " + k.String(), `line 2: unknown option "frobnicate"`},
		{"read-only and write-only", "read-only,write-only " + k.String(), "line 1: options read-only and write-only exclude each other"},
		{"empty option", "read-only,, " + k.String(), "line 1: empty option"},
		{"trailing comma", "read-only, " + k.String(), "line 1: empty option"},
		{"value on flag", "read-only=yes " + k.String(), `line 1: option "read-only" takes no value`},
		{"repeated flag", "no-overwrite,no-overwrite " + k.String(), `option "no-overwrite" given twice`},
		{"spaces in options", "read-only, write-only " + k.String(), "line 1: not an xfer key line"},
		{"ssh key", good + "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI comment", "line 2: not an xfer key line"},
		{"options only", good + testKey(9).String() + "\nread-only", "line 3: not an xfer key line"},
		{"missing key", "xfer-x25519", "line 1: missing key"},
		{"options, missing key", "read-only xfer-x25519", "line 1: missing key"},
		{"bad base64", "\n\n\nxfer-x25519 " + b64[:40] + "!!!=", "line 4: key is not valid base64"},
		{"short key", "xfer-x25519 AAAA", "line 1: key is 3 bytes, want 32"},
		{"control char", "xfer-x25519 " + b64 + " a\x00b", "line 1: control character 0x00"},
		{"duplicate", good + "\n" + "read-only " + k.String(), "line 3: key " + k.Fingerprint() + " is already listed on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := crypto.ParseAuthorizedKeys([]byte(tt.data))
			if err == nil {
				t.Fatalf("parsed %+v, want error", keys)
			}
			if keys != nil {
				t.Errorf("returned %d keys along with the error", len(keys))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "crypto: authorized_keys: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want %q", msg, tt.want)
			}
		})
	}
}

func TestLoadAuthorizedKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(path, []byte(testKey(1).String()+"\nbogus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := crypto.LoadAuthorizedKeys(path)
	if err == nil || !strings.HasPrefix(err.Error(), "crypto: "+path+": line 2: ") {
		t.Errorf("LoadAuthorizedKeys(bad) = %v, want error naming %s line 2", err, path)
	}
	os.WriteFile(path, []byte(testKey(1).String()+"\n"), 0o600)
	keys, err := crypto.LoadAuthorizedKeys(path)
	if err != nil || len(keys) != 1 || keys[0].Key != testKey(1) {
		t.Errorf("LoadAuthorizedKeys(good) = %+v, %v", keys, err)
	}
	_, err = crypto.LoadAuthorizedKeys(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadAuthorizedKeys(missing) = %v, want fs.ErrNotExist", err)
	}
}
