package crypto_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"xfer/crypto"
)

func writeKnownHosts(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckKnownHost(t *testing.T) {
	a, b, c := testKey(1), testKey(2), testKey(3)
	path := writeKnownHosts(t, "# pinned hosts\n"+
		"example.com:7420 "+a.String()+" added 2026-01-01\n"+
		"\n"+
		"[::1]:7420 "+b.String()+"\n"+
		"rotating:7420 "+a.String()+"\n"+
		"rotating:7420 "+b.String()+"\n")

	tests := []struct {
		host    string
		key     crypto.PublicKey
		unknown bool
		line    int // changed at this line
	}{
		{host: "example.com:7420", key: a},
		{host: "[::1]:7420", key: b},
		{host: "rotating:7420", key: a},
		{host: "rotating:7420", key: b},
		{host: "example.com:7420", key: b, line: 2},
		{host: "[::1]:7420", key: c, line: 4},
		{host: "rotating:7420", key: c, line: 5},
		{host: "example.com:7421", key: a, unknown: true},
		{host: "EXAMPLE.com:7420", key: a, unknown: true},
		{host: "example.com", key: a, unknown: true},
		{host: "::1:7420", key: b, unknown: true},
	}
	for _, tt := range tests {
		err := crypto.CheckKnownHost(path, tt.host, tt.key)
		var changed *crypto.HostKeyChangedError
		switch {
		case tt.unknown:
			if !errors.Is(err, crypto.ErrUnknownHost) || !strings.Contains(err.Error(), tt.host) {
				t.Errorf("%s: %v, want ErrUnknownHost naming the host", tt.host, err)
			}
		case tt.line != 0:
			if !errors.As(err, &changed) {
				t.Errorf("%s with %s: %v, want *HostKeyChangedError", tt.host, tt.key.Fingerprint(), err)
				continue
			}
			if changed.Line != tt.line || changed.File != path || changed.Host != tt.host || changed.Presented != tt.key {
				t.Errorf("%s: %+v, want line %d of %s", tt.host, changed, tt.line, path)
			}
			msg := err.Error()
			for _, want := range []string{
				"crypto: host key for " + tt.host + " changed",
				path + ":" + strconv.Itoa(tt.line),
				changed.Known.Fingerprint(),
				tt.key.Fingerprint(),
				"remove that line",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if errors.Is(err, crypto.ErrUnknownHost) {
				t.Errorf("changed key error %q is also ErrUnknownHost", msg)
			}
		default:
			if err != nil {
				t.Errorf("%s: %v, want match", tt.host, err)
			}
		}
	}
}

func TestHostKeyChangedErrorMessage(t *testing.T) {
	e := &crypto.HostKeyChangedError{Host: "h:1", Known: testKey(1), Presented: testKey(2), File: "/k", Line: 3}
	want := "crypto: host key for h:1 changed: known_hosts line /k:3 has " + testKey(1).Fingerprint() +
		", the host presented " + testKey(2).Fingerprint() + "; if the change is expected, remove that line"
	if e.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", e.Error(), want)
	}
}

func TestCheckKnownHostMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "known_hosts")
	err := crypto.CheckKnownHost(path, "h:7420", testKey(1))
	if !errors.Is(err, crypto.ErrUnknownHost) || !strings.Contains(err.Error(), "h:7420") {
		t.Errorf("missing file: %v, want ErrUnknownHost naming the host", err)
	}
}

func TestCheckKnownHostMalformed(t *testing.T) {
	k := testKey(1)
	tests := []struct {
		name, data, want string
	}{
		{"no key", "h:1 " + k.String() + "\nh:2\n", "line 2: not a known host line"},
		{"wrong type", "h:1 ssh-ed25519 AAAA\n", "line 1: not a known host line"},
		{"bad base64", "#\nh:1 xfer-x25519 ****\n", "line 2: key is not valid base64"},
		{"short key", "h:1 xfer-x25519 AAAA\n", "line 1: key is 3 bytes"},
		{"missing key", "h:1 xfer-x25519\n", "line 1: missing key"},
		{"control", "h:1\x07 " + k.String() + "\n", "line 1: control character"},
	}
	for _, tt := range tests {
		path := writeKnownHosts(t, tt.data)
		// The malformed line is reported even when another line matches.
		err := crypto.CheckKnownHost(path, "h:1", k)
		if err == nil || errors.Is(err, crypto.ErrUnknownHost) {
			t.Errorf("%s: %v, want a parse error", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), path+": "+tt.want) {
			t.Errorf("%s: error %q, want %q", tt.name, err, tt.want)
		}
	}
}

func TestAddKnownHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "xfer", "known_hosts")
	a, b := testKey(1), testKey(2)
	before := time.Now().UTC().Format("2006-01-02")
	if err := crypto.AddKnownHost(path, "[::1]:7420", a); err != nil {
		t.Fatal(err)
	}
	if err := crypto.CheckKnownHost(path, "[::1]:7420", a); err != nil {
		t.Errorf("Check after Add: %v", err)
	}
	if runtime.GOOS != "windows" {
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("known_hosts mode %v, want 0600", got)
		}
		if got := fileMode(t, filepath.Dir(path)); got != 0o700 {
			t.Errorf("known_hosts dir mode %v, want 0700", got)
		}
	}
	// Adding the same pair again changes nothing.
	if err := crypto.AddKnownHost(path, "[::1]:7420", a); err != nil {
		t.Fatal(err)
	}
	// A second host goes on its own line.
	if err := crypto.AddKnownHost(path, "b.example:7420", b); err != nil {
		t.Fatal(err)
	}
	// A changed key is refused.
	var changed *crypto.HostKeyChangedError
	if err := crypto.AddKnownHost(path, "b.example:7420", a); !errors.As(err, &changed) || changed.Line != 2 {
		t.Errorf("Add with changed key: %v, want *HostKeyChangedError for line 2", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	date := time.Now().UTC().Format("2006-01-02")
	want := "[::1]:7420 " + a.String() + " added " + date + "\n" +
		"b.example:7420 " + b.String() + " added " + date + "\n"
	if string(data) != want && date == before {
		t.Errorf("known_hosts:\n%s\nwant\n%s", data, want)
	}
	lines, err := crypto.ParseKnownHosts(data)
	if err != nil || len(lines) != 2 || lines[0].Key != a || lines[1].Host != "b.example:7420" || !strings.HasPrefix(lines[1].Comment, "added ") {
		t.Errorf("parsed known_hosts: %+v, %v", lines, err)
	}
}

func TestAddKnownHostAppendsAfterUnterminatedLine(t *testing.T) {
	path := writeKnownHosts(t, "# no newline at end")
	if err := crypto.AddKnownHost(path, "h:1", testKey(1)); err != nil {
		t.Fatal(err)
	}
	if err := crypto.CheckKnownHost(path, "h:1", testKey(1)); err != nil {
		t.Errorf("Check after Add: %v", err)
	}
}

func TestAddKnownHostRejects(t *testing.T) {
	for _, host := range []string{"", "a b:1", "#h:1", "h:1\n", "h\x00"} {
		path := filepath.Join(t.TempDir(), "known_hosts")
		if err := crypto.AddKnownHost(path, host, testKey(1)); err == nil {
			t.Errorf("AddKnownHost(%q) succeeded", host)
		}
	}
	path := writeKnownHosts(t, "garbage\n")
	if err := crypto.AddKnownHost(path, "h:1", testKey(1)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("AddKnownHost to malformed file: %v, want line 1 error", err)
	}
}
