package crypto_test

import (
	"strings"
	"testing"

	"xfer/crypto"
)

// The seed corpora run in every go test; go test -fuzz=FuzzX explores
// further. Each target checks that the parser never panics and that what
// it accepts survives a round trip through its writer.

func FuzzParsePublicKey(f *testing.F) {
	k := testKey(1)
	for _, s := range []string{
		"", k.String(), k.String() + " comment with spaces\n", "xfer-x25519", "xfer-x25519 ====",
		"xfer-x25519 AAAA", "ssh-ed25519 " + b64(k[:]), "\txfer-x25519\t" + b64(k[:]) + "\t\r\n",
		k.String() + " \x00", k.String() + "\nsecond line",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, comment, err := crypto.ParsePublicKey(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "crypto: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			return
		}
		line := string(crypto.MarshalPublicKey(key, comment))
		key2, comment2, err := crypto.ParsePublicKey(line)
		if err != nil || key2 != key || comment2 != comment {
			t.Errorf("round trip of %q: %v %q %v", line, key2, comment2, err)
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	id := &crypto.Identity{Private: [32]byte(seq(32, 3)), Comment: "me@host"}
	good := string(crypto.MarshalIdentity(id))
	for _, s := range []string{
		"", good, good[:len(good)/2], good + good, "# only a comment\n",
		"XFER-X25519-PRIVATE-KEY", "XFER-X25519-PRIVATE-KEY AAAA", testKey(2).String(),
		strings.ReplaceAll(good, "\n", "\r\n"), "\xff\xfe\x00garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := crypto.ParseIdentity(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "crypto: identity: ") {
				t.Errorf("error %q lacks the prefix", err)
			}
			return
		}
		id2, err := crypto.ParseIdentity(crypto.MarshalIdentity(id))
		if err != nil || *id2 != *id {
			t.Errorf("round trip: %+v, %v; want %+v", id2, err, id)
		}
	})
}

func FuzzParseAuthorizedKeys(f *testing.F) {
	k1, k2 := testKey(1), testKey(2)
	for _, s := range []string{
		"", "# comment\n\n", k1.String() + "\n",
		"read-only,dir=a/b " + k1.String() + " c\n" + "write-only,no-overwrite " + k2.String() + "\n",
		"dir=../x " + k1.String(), "dir=/ " + k1.String(), "read-only,write-only " + k1.String(),
		"bogus " + k1.String(), k1.String() + "\n" + k1.String(), ",,, xfer-x25519 x", "dir= xfer-x25519",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := crypto.ParseAuthorizedKeys(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "crypto: authorized_keys: line ") {
				t.Errorf("error %q does not name a line", err)
			}
			return
		}
		seen := map[crypto.PublicKey]bool{}
		for _, k := range keys {
			o := k.Options
			if o.ReadOnly && o.WriteOnly {
				t.Errorf("line %d: read-only and write-only accepted", k.Line)
			}
			if o.Dir == "." || o.Dir == ".." || strings.HasPrefix(o.Dir, "/") || strings.HasPrefix(o.Dir, "../") ||
				strings.Contains(o.Dir, "/../") || strings.HasSuffix(o.Dir, "/..") || strings.ContainsRune(o.Dir, 0) {
				t.Errorf("line %d: unsafe dir %q accepted", k.Line, o.Dir)
			}
			if seen[k.Key] {
				t.Errorf("line %d: duplicate key accepted", k.Line)
			}
			seen[k.Key] = true
		}
	})
}

func FuzzKnownHosts(f *testing.F) {
	k := testKey(1)
	for _, s := range []string{
		"", "# c\n", "h:1 " + k.String() + "\n", "[::1]:7420 " + k.String() + " added 2026-11-26\n",
		"h:1\n", "h:1 xfer-x25519\n", "h:1 xfer-x25519 AAAA", "h:1 ssh-rsa AAAA", "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hosts, err := crypto.ParseKnownHosts(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q does not name a line", err)
			}
			return
		}
		for _, h := range hosts {
			if h.Host == "" || strings.ContainsAny(h.Host, " \t\r\n") || h.Host[0] == '#' {
				t.Errorf("line %d: bad host %q accepted", h.Line, h.Host)
			}
		}
	})
}
