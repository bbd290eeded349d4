package crypto

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"
)

// PrivateKeyType is the type word of the key line in an identity file.
const PrivateKeyType = "XFER-X25519-PRIVATE-KEY"

// maxIdentityFile bounds how much of a file LoadIdentity reads; real
// identity files are about 150 bytes.
const maxIdentityFile = 64 << 10

// Identity is a long-term X25519 key pair.
type Identity struct {
	Private [32]byte
	Public  PublicKey
	Comment string // e.g. "alice@laptop"; written into the .pub line
}

// GenerateIdentity makes a new random identity. The private key is 32
// bytes from crypto/rand, used as an X25519 scalar (X25519 clamps it).
func GenerateIdentity(comment string) (*Identity, error) {
	id := &Identity{Comment: comment}
	if _, err := io.ReadFull(rand.Reader, id.Private[:]); err != nil {
		return nil, fmt.Errorf("crypto: generating identity: %w", err)
	}
	id.Public = publicFromPrivate(&id.Private)
	return id, nil
}

// statelessResetLabel separates the QUIC stateless reset key from every
// other use of the private key.
const statelessResetLabel = "xfer/1 quic stateless reset key"

// StatelessResetKey derives the daemon's QUIC stateless reset key from its
// private key: BLAKE2b-256 keyed with the private key over
// "xfer/1 quic stateless reset key". A daemon restarted with the same
// host key can then reset the connections of its previous run, so clients
// that are sending learn at once that the daemon is gone (and reconnect)
// instead of waiting for QUIC's idle timeout. The key reveals nothing
// about the private key.
func (id *Identity) StatelessResetKey() [32]byte {
	h, err := blake2b.New256(id.Private[:])
	if err != nil {
		panic("crypto: " + err.Error()) // a 32-byte key is always valid
	}
	h.Write([]byte(statelessResetLabel))
	return [32]byte(h.Sum(nil))
}

// publicFromPrivate returns the X25519 public key of a private scalar.
func publicFromPrivate(priv *[32]byte) PublicKey {
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		// X25519 with the base point never yields the all-zero output.
		panic("crypto: X25519 with base point failed: " + err.Error())
	}
	return PublicKey(pub)
}

// ErrIdentityExists is returned (wrapped, naming the file) by SaveIdentity
// when the file already exists.
var ErrIdentityExists = errors.New("crypto: identity file already exists")

// MarshalIdentity returns the identity file's contents: a comment line and
// "XFER-X25519-PRIVATE-KEY BASE64 comment". The comment line names the
// public key. Control characters other than tab in id.Comment are written
// as spaces so the file stays two lines.
func MarshalIdentity(id *Identity) []byte {
	line := PrivateKeyType + " " + base64.StdEncoding.EncodeToString(id.Private[:])
	if c := sanitizeComment(id.Comment); c != "" {
		line += " " + c
	}
	return []byte("# xfer identity, keep secret; public key: " + id.Public.String() + "\n" + line + "\n")
}

// MarshalPublicKey returns the contents of an identity's .pub file: the
// public key's text form, the comment (control characters other than tab
// written as spaces) and a newline.
func MarshalPublicKey(k PublicKey, comment string) []byte {
	line := k.String()
	if c := sanitizeComment(comment); c != "" {
		line += " " + c
	}
	return []byte(line + "\n")
}

// ParseIdentity parses an identity file's contents; it derives the public
// key from the private one. The file must hold exactly one key line
// besides comments and blank lines. Errors never quote the file's content.
func ParseIdentity(data []byte) (*Identity, error) {
	id, err := parseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("crypto: identity: %w", err)
	}
	return id, nil
}

func parseIdentity(data []byte) (*Identity, error) {
	var id *Identity
	for _, l := range contentLines(data) {
		if err := checkLineChars(l.text); err != nil {
			return nil, fmt.Errorf("line %d: %w", l.n, err)
		}
		typ, rest := cutField(l.text)
		switch {
		case typ == KeyType:
			return nil, fmt.Errorf("line %d: this is a public key (a .pub file), not an identity", l.n)
		case typ != PrivateKeyType:
			return nil, fmt.Errorf("line %d: not an xfer identity (want %q)", l.n, PrivateKeyType)
		case id != nil:
			return nil, fmt.Errorf("line %d: more than one private key", l.n)
		}
		b64, comment := cutField(rest)
		b, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("line %d: private key is not valid base64", l.n)
		}
		if len(b) != 32 {
			return nil, fmt.Errorf("line %d: private key is %d bytes, want 32", l.n, len(b))
		}
		id = &Identity{Comment: comment}
		copy(id.Private[:], b)
		id.Public = publicFromPrivate(&id.Private)
	}
	if id == nil {
		return nil, fmt.Errorf("no %s line", PrivateKeyType)
	}
	return id, nil
}

// SaveIdentity writes id to path (mode 0600, created exclusively; the
// parent directory is created with mode 0700 if missing) and its public
// line to path+".pub" (0644). It refuses to overwrite an existing
// identity: when either file exists it returns an error wrapping
// ErrIdentityExists that names the file, and writes nothing. Both files
// are synced before SaveIdentity returns; on failure neither is left
// behind.
func SaveIdentity(path string, id *Identity) error {
	pubPath := path + ".pub"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("crypto: saving identity: %w", err)
	}
	if _, err := os.Lstat(pubPath); err == nil {
		return fmt.Errorf("%w: %s", ErrIdentityExists, pubPath)
	}
	if err := writeNewFile(path, MarshalIdentity(id), 0o600); err != nil {
		return err
	}
	if err := writeNewFile(pubPath, MarshalPublicKey(id.Public, id.Comment), 0o644); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// writeNewFile creates path exclusively with exactly the given mode
// (regardless of umask), writes data and syncs it.
func writeNewFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrIdentityExists, path)
	}
	if err != nil {
		return fmt.Errorf("crypto: saving identity: %w", err)
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("crypto: saving identity: %w", err)
	}
	return nil
}

// LoadIdentity reads an identity file; errors name the file. A missing
// file gives an error satisfying errors.Is(err, fs.ErrNotExist).
func LoadIdentity(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: loading identity: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("crypto: loading identity: %w", err)
	}
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("crypto: identity file %s: larger than %d bytes, not an identity", path, maxIdentityFile)
	}
	id, err := parseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("crypto: identity file %s: %w", path, err)
	}
	return id, nil
}

// LoadOrCreateIdentity loads path, or when it does not exist generates an
// identity with the given comment, saves it, and reports created=true.
func LoadOrCreateIdentity(path, comment string) (id *Identity, created bool, err error) {
	id, err = LoadIdentity(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	id, err = GenerateIdentity(comment)
	if err != nil {
		return nil, false, err
	}
	err = SaveIdentity(path, id)
	if errors.Is(err, ErrIdentityExists) {
		// Another process may have created it first. If path is still
		// missing, only path+".pub" exists: report that.
		id, lerr := LoadIdentity(path)
		if errors.Is(lerr, fs.ErrNotExist) {
			return nil, false, err
		}
		return id, false, lerr
	}
	if err != nil {
		return nil, false, err
	}
	return id, true, nil
}
