package crypto

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrUnknownHost is returned (wrapped, naming the host) by CheckKnownHost
// when the host has no entry.
var ErrUnknownHost = errors.New("crypto: unknown host")

// HostKeyChangedError reports that a host presented a key different from
// the one pinned in known_hosts.
type HostKeyChangedError struct {
	Host      string
	Known     PublicKey
	Presented PublicKey
	File      string
	Line      int
}

// Error names the host, both fingerprints and the known_hosts line, and
// says what to do if the change is expected.
func (e *HostKeyChangedError) Error() string {
	where := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.File == "" {
		where = fmt.Sprint(e.Line)
	}
	return fmt.Sprintf("crypto: host key for %s changed: known_hosts line %s has %s, the host presented %s; if the change is expected, remove that line",
		e.Host, where, e.Known.Fingerprint(), e.Presented.Fingerprint())
}

// knownHost is one parsed known_hosts line.
type knownHost struct {
	host    string
	key     PublicKey
	comment string
	line    int
}

// parseKnownHosts parses a known_hosts file. Errors name the line.
func parseKnownHosts(data []byte) ([]knownHost, error) {
	var hosts []knownHost
	for _, l := range contentLines(data) {
		if err := checkLineChars(l.text); err != nil {
			return nil, fmt.Errorf("line %d: %w", l.n, err)
		}
		host, rest := cutField(l.text)
		typ, rest := cutField(rest)
		if typ != KeyType {
			return nil, fmt.Errorf("line %d: not a known host line (want \"HOST %s BASE64 [comment]\")", l.n, KeyType)
		}
		k, comment, err := parseKeyBody(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.n, err)
		}
		hosts = append(hosts, knownHost{host: host, key: k, comment: comment, line: l.n})
	}
	return hosts, nil
}

// checkHost looks host up in hosts: nil if some entry for host has key,
// *HostKeyChangedError (naming the first entry) if entries exist but none
// matches, errNoEntry if there is no entry.
func checkHost(hosts []knownHost, path, host string, key PublicKey) error {
	var changed *HostKeyChangedError
	for _, h := range hosts {
		if h.host != host {
			continue
		}
		if h.key == key {
			return nil
		}
		if changed == nil {
			changed = &HostKeyChangedError{Host: host, Known: h.key, Presented: key, File: path, Line: h.line}
		}
	}
	if changed != nil {
		return changed
	}
	return errNoEntry
}

var errNoEntry = errors.New("no entry")

// CheckKnownHost looks host (as "host:port", the canonical form the client
// uses) up in the known_hosts file at path: lines "HOST xfer-x25519 BASE64
// [comment]", '#' comments and blank lines allowed. It returns nil when
// the key matches, an error wrapping ErrUnknownHost when the host (or the
// file) is absent, *HostKeyChangedError when the key differs, and a
// line-numbered error for a malformed file.
//
// Hosts are compared as exact strings. A host may have several lines (a
// key rotation in progress); any matching line accepts the key, otherwise
// the error names the first line for the host. The whole file is parsed
// first, so a malformed line is an error even if another line matches.
func CheckKnownHost(path, host string, key PublicKey) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w %s: %s does not exist yet", ErrUnknownHost, host, path)
	}
	if err != nil {
		return fmt.Errorf("crypto: reading known hosts: %w", err)
	}
	hosts, err := parseKnownHosts(data)
	if err != nil {
		return fmt.Errorf("crypto: known_hosts %s: %w", path, err)
	}
	err = checkHost(hosts, path, host, key)
	if err == errNoEntry {
		return fmt.Errorf("%w %s: no entry in %s", ErrUnknownHost, host, path)
	}
	return err
}

// AddKnownHost appends "host key" to the known_hosts file at path,
// creating it (0600) and its directory (0700) if needed.
//
// The line reads "HOST xfer-x25519 BASE64 added YYYY-MM-DD" (UTC date).
// host must be non-empty and free of white space and control characters,
// and must not start with '#'. Adding a host that already has this key is a
// no-op; adding a host that has a different key fails with
// *HostKeyChangedError, so a changed key is never silently accepted: the
// user removes the old line first. A malformed file is an error.
func AddKnownHost(path, host string, key PublicKey) error {
	if host == "" || strings.HasPrefix(host, "#") || strings.ContainsFunc(host, func(r rune) bool {
		return r <= ' ' || r == 0x7f
	}) {
		return fmt.Errorf("crypto: adding known host: invalid host name %q", host)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("crypto: adding known host: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("crypto: adding known host: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("crypto: adding known host: %w", err)
	}
	hosts, err := parseKnownHosts(data)
	if err != nil {
		return fmt.Errorf("crypto: known_hosts %s: %w", path, err)
	}
	switch err := checkHost(hosts, path, host, key); {
	case err == nil:
		return nil
	case err != errNoEntry:
		return err
	}
	line := host + " " + key.String() + " added " + time.Now().UTC().Format(time.DateOnly) + "\n"
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("crypto: adding known host: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("crypto: adding known host: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("crypto: adding known host: %w", err)
	}
	return nil
}
