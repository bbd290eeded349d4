package crypto

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// PublicKey is an X25519 public key.
type PublicKey [32]byte

// KeyType is the type word of a public key's text form.
const KeyType = "xfer-x25519"

// fingerprintLabel is the domain-separation prefix of Fingerprint.
const fingerprintLabel = "xfer fingerprint"

// String returns the key's text form: "xfer-x25519 " followed by the
// standard base64 encoding (with padding) of the key.
func (k PublicKey) String() string {
	return KeyType + " " + base64.StdEncoding.EncodeToString(k[:])
}

// Fingerprint returns the short form shown wherever keys are reported:
// "b2:" followed by the unpadded standard base64 of the first 16 bytes of
// BLAKE2b-256("xfer fingerprint" || key), e.g. "b2:3q2+7w…".
func (k PublicKey) Fingerprint() string {
	var buf [len(fingerprintLabel) + 32]byte
	copy(buf[:], fingerprintLabel)
	copy(buf[len(fingerprintLabel):], k[:])
	sum := blake2b.Sum256(buf[:])
	return "b2:" + base64.RawStdEncoding.EncodeToString(sum[:16])
}

// ParsePublicKey parses a text form "xfer-x25519 BASE64 [comment]" and
// returns the key and the comment (may be empty). Surrounding white space,
// such as a .pub file's final newline, is ignored; the text must otherwise
// be a single line.
func ParsePublicKey(s string) (PublicKey, string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n") {
		return PublicKey{}, "", errors.New("crypto: public key text spans several lines")
	}
	if err := checkLineChars(s); err != nil {
		return PublicKey{}, "", fmt.Errorf("crypto: public key: %w", err)
	}
	typ, rest := cutField(s)
	if typ != KeyType {
		return PublicKey{}, "", fmt.Errorf("crypto: public key: want %q, found %q", KeyType, truncate(typ))
	}
	k, comment, err := parseKeyBody(rest)
	if err != nil {
		return PublicKey{}, "", fmt.Errorf("crypto: public key: %w", err)
	}
	return k, comment, nil
}

// parseKeyBody parses "BASE64 [comment]", the part of a public key line
// after the key type.
func parseKeyBody(s string) (PublicKey, string, error) {
	b64, comment := cutField(s)
	if b64 == "" {
		return PublicKey{}, "", errors.New("missing key after " + KeyType)
	}
	k, err := decodeKey(b64)
	if err != nil {
		return PublicKey{}, "", err
	}
	return PublicKey(k), comment, nil
}

// decodeKey decodes the padded standard base64 of 32 key bytes.
func decodeKey(b64 string) ([32]byte, error) {
	var k [32]byte
	b, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return k, errors.New("key is not valid base64")
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("key is %d bytes, want 32", len(b))
	}
	copy(k[:], b)
	return k, nil
}

// cutField returns the first field of s, split at spaces or tabs, and the
// remainder with surrounding spaces and tabs removed.
func cutField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.Trim(s[i:], " \t")
}

// checkLineChars rejects control characters other than tab.
func checkLineChars(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("control character %#02x at column %d", c, i+1)
		}
	}
	return nil
}

// sanitizeComment makes a comment safe to write on one line: control
// bytes other than tab become spaces and surrounding spaces are removed. Other bytes,
// including invalid UTF-8, are kept as they are.
func sanitizeComment(c string) string {
	b := []byte(c)
	for i, ch := range b {
		if (ch < 0x20 && ch != '\t') || ch == 0x7f {
			b[i] = ' '
		}
	}
	return strings.Trim(string(b), " \t")
}

// truncate shortens untrusted text quoted in error messages.
func truncate(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// textLine is one line of a text file, without its line terminator.
type textLine struct {
	n    int    // 1-based line number
	text string // trimmed of surrounding spaces and tabs
}

// contentLines splits data into lines and returns those that are neither
// blank nor '#' comments. A trailing "\r" on a line is ignored.
func contentLines(data []byte) []textLine {
	var out []textLine
	s := string(data)
	for n := 1; s != ""; n++ {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.TrimSuffix(line, "\r")
		line = strings.Trim(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, textLine{n: n, text: line})
	}
	return out
}
