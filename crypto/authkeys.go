package crypto

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// KeyOptions are the per-key options of an authorized_keys line.
type KeyOptions struct {
	Dir         string // "dir=SUB": confined to SUB under the root (cleaned, relative)
	ReadOnly    bool   // "read-only": may get and list, not send
	WriteOnly   bool   // "write-only": may send, not get or list
	NoOverwrite bool   // "no-overwrite": may not replace existing files
}

// AuthorizedKey is one parsed authorized_keys line.
type AuthorizedKey struct {
	Key     PublicKey
	Comment string
	Options KeyOptions
	Line    int
}

// ParseAuthorizedKeys parses an authorized_keys file: one key per line,
// "[options] xfer-x25519 BASE64 [comment]", where options is a
// comma-separated list without spaces (dir=PATH, read-only, write-only,
// no-overwrite). Blank lines and lines starting with '#' are ignored. Any
// malformed line is an error naming its line number ("line 3: ...").
//
// Options are strict: an unknown, empty or repeated option is an error, as
// is read-only together with write-only. dir=PATH must be a relative
// slash-separated path that stays inside the root after path.Clean; it is
// stored cleaned ("a/./b/" becomes "a/b"), and "dir=." or "dir=/" mean the
// whole root and are stored as "". A key listed on two lines is an error
// naming both, so a key never has two sets of options.
//
// Errors read "crypto: authorized_keys: line N: ..."; the file parses
// completely or not at all.
func ParseAuthorizedKeys(data []byte) ([]AuthorizedKey, error) {
	keys, err := parseAuthorizedKeys(data)
	if err != nil {
		return nil, fmt.Errorf("crypto: authorized_keys: %w", err)
	}
	return keys, nil
}

// LoadAuthorizedKeys reads and parses an authorized_keys file; errors name
// the file ("crypto: FILE: line N: ..."). A missing file is an error
// satisfying errors.Is(err, fs.ErrNotExist).
func LoadAuthorizedKeys(path string) ([]AuthorizedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: reading authorized keys: %w", err)
	}
	keys, err := parseAuthorizedKeys(data)
	if err != nil {
		return nil, fmt.Errorf("crypto: %s: %w", path, err)
	}
	return keys, nil
}

func parseAuthorizedKeys(data []byte) ([]AuthorizedKey, error) {
	var keys []AuthorizedKey
	seen := make(map[PublicKey]int)
	for _, l := range contentLines(data) {
		ak, err := parseAuthorizedKey(l.text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.n, err)
		}
		if prev, ok := seen[ak.Key]; ok {
			return nil, fmt.Errorf("line %d: key %s is already listed on line %d", l.n, ak.Key.Fingerprint(), prev)
		}
		seen[ak.Key] = l.n
		ak.Line = l.n
		keys = append(keys, ak)
	}
	return keys, nil
}

func parseAuthorizedKey(line string) (AuthorizedKey, error) {
	var ak AuthorizedKey
	if err := checkLineChars(line); err != nil {
		return ak, err
	}
	first, rest := cutField(line)
	if first != KeyType {
		second, after := cutField(rest)
		if second != KeyType {
			return ak, fmt.Errorf("not an xfer key line (want \"[options] %s BASE64 [comment]\")", KeyType)
		}
		opts, err := parseKeyOptions(first)
		if err != nil {
			return ak, err
		}
		ak.Options = opts
		rest = after
	}
	k, comment, err := parseKeyBody(rest)
	if err != nil {
		return ak, err
	}
	ak.Key, ak.Comment = k, comment
	return ak, nil
}

func parseKeyOptions(s string) (KeyOptions, error) {
	var o KeyOptions
	seen := make(map[string]bool)
	for opt := range strings.SplitSeq(s, ",") {
		name, value, hasValue := strings.Cut(opt, "=")
		if name == "" {
			return o, errors.New("empty option in option list")
		}
		if seen[name] {
			return o, fmt.Errorf("option %q given twice", truncate(name))
		}
		seen[name] = true
		if name != "dir" && hasValue {
			return o, fmt.Errorf("option %q takes no value", truncate(name))
		}
		switch name {
		case "dir":
			if !hasValue {
				return o, errors.New("option \"dir\" needs a value (dir=PATH)")
			}
			dir, err := cleanKeyDir(value)
			if err != nil {
				return o, err
			}
			o.Dir = dir
		case "read-only":
			o.ReadOnly = true
		case "write-only":
			o.WriteOnly = true
		case "no-overwrite":
			o.NoOverwrite = true
		default:
			return o, fmt.Errorf("unknown option %q (known: dir=PATH, read-only, write-only, no-overwrite)", truncate(name))
		}
	}
	if o.ReadOnly && o.WriteOnly {
		return o, errors.New("options read-only and write-only exclude each other")
	}
	return o, nil
}

// cleanKeyDir validates and cleans the value of a dir= option.
func cleanKeyDir(dir string) (string, error) {
	switch {
	case dir == "":
		return "", errors.New("option \"dir\" needs a value (dir=PATH)")
	case dir == "/":
		return "", nil
	case strings.HasPrefix(dir, "/"):
		return "", fmt.Errorf("dir=%s: must be relative to the root (or \"/\" for the root itself)", truncate(dir))
	}
	// Control characters are rejected for the whole line already.
	c := path.Clean(dir)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("dir=%s: escapes the root", truncate(dir))
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}
