// Package address parses the remote addresses of the xfer command line,
// [tcp://|quic://]HOST[:PORT][/REMOTE/PATH].
//
// # Syntax
//
//	backup.example                    tcp, port 7420, the daemon's root
//	backup.example:7000/in/           tcp, port 7000, into directory "in"
//	quic://10.0.0.2/isos/big.iso      quic, port 7420, the file "isos/big.iso"
//	[::1]:7420/x                      IPv6 literals go in brackets
//
// The scheme is optional and case-insensitive; without one the address means
// TCP. The port defaults to [DefaultPort]. Host names are compared
// case-insensitively and stored in lower case; IP literals are stored in their
// canonical form, so that [Address.HostPort] is a stable known_hosts key.
//
// # Remote paths
//
// A remote path is relative to the daemon's root: "HOST/x" and "HOST//x" both
// name x under the root, and "HOST" and "HOST/" name the root itself. The path
// is cleaned ("a//b/./c" is "a/b/c"); a path that climbs out of the root with
// ".." is an error, not something silently clamped. A path that ends in '/'
// (or '/.' or '/..'), and the root, mean "into this directory" ([Address.Dir]).
// The daemon applies its own, stricter checks to every path; this package
// only makes sure the client never asks for something obviously hostile.
//
// # What is rejected
//
// Empty hosts, ports outside 1–65535 or not in decimal, schemes other than
// tcp and quic, control characters (C0, DEL, C1) and invalid UTF-8 anywhere,
// unbalanced brackets, brackets around anything but an IPv6 literal, and
// IPv6 literals without brackets (in "::1:7420" the port cannot be told from
// the address, so xfer never guesses).
package address

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultPort is the port used when an address names none. xferd listens on
// it for both TCP and QUIC (UDP).
const DefaultPort = 7420

// Schemes.
const (
	TCP  = "tcp"
	QUIC = "quic"
)

// maxHostLen is the longest host name DNS can carry.
const maxHostLen = 253

// Address is a parsed remote address.
type Address struct {
	Scheme string // "tcp" or "quic"
	Host   string // hostname (lower case) or IP literal without brackets
	Port   int
	// Path is the remote path relative to the daemon root: slash-separated,
	// cleaned, "." for the root, never starting with '/' or climbing out
	// with "..".
	Path string
	// Dir reports that the path ended in '/' (or named the root): the user
	// means "into this directory".
	Dir bool
}

// Error is the error returned by [Parse]. Its message reads
// `address: "INPUT": REASON`.
type Error struct {
	Input  string // the address as given
	Reason string // what is wrong with it
}

func (e *Error) Error() string {
	return fmt.Sprintf("address: %q: %s", e.Input, e.Reason)
}

// Parse parses s as [tcp://|quic://]HOST[:PORT][/REMOTE/PATH]. See the
// package documentation for the rules. Errors are of type *[Error].
func Parse(s string) (Address, error) {
	fail := func(format string, args ...any) (Address, error) {
		return Address{}, &Error{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail("empty address")
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return fail("control character %q", r)
		}
	}

	a := Address{Scheme: TCP, Port: DefaultPort}
	rest := s
	if scheme, after, ok := strings.Cut(s, "://"); ok && isSchemeToken(scheme) {
		switch strings.ToLower(scheme) {
		case TCP:
			a.Scheme = TCP
		case QUIC:
			a.Scheme = QUIC
		default:
			return fail("unknown scheme %q (want tcp:// or quic://)", scheme)
		}
		rest = after
	}

	// Split HOST[:PORT] from the path.
	var hostport, rawPath string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return fail("missing ']' after IPv6 address")
		}
		hostport, rawPath = rest[:end+1], rest[end+1:]
		if i := strings.IndexByte(rawPath, '/'); i >= 0 {
			hostport, rawPath = hostport+rawPath[:i], rawPath[i:]
		} else {
			hostport, rawPath = hostport+rawPath, ""
		}
	} else if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, rawPath = rest[:i], rest[i:]
	} else {
		hostport = rest
	}

	var host, port string
	hasPort := false
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		host = hostport[1:end]
		after := hostport[end+1:]
		if strings.ContainsAny(host, "[]") || strings.ContainsAny(after, "[]") {
			return fail("unbalanced brackets")
		}
		switch {
		case after == "":
		case after[0] == ':':
			port, hasPort = after[1:], true
		default:
			return fail("unexpected %q after ']' (want :PORT or /PATH)", after)
		}
		ip, err := parseIPv6(host)
		if err != nil {
			return fail("%v", err)
		}
		a.Host = ip
	} else {
		if strings.ContainsAny(hostport, "[]") {
			return fail("unbalanced brackets")
		}
		switch strings.Count(hostport, ":") {
		case 0:
			host = hostport
		case 1:
			host, port, _ = strings.Cut(hostport, ":")
			hasPort = true
		default:
			return fail("IPv6 address must be in brackets, as in [::1]:%d", DefaultPort)
		}
		if host == "" {
			return fail("empty host")
		}
		h, err := parseHost(host)
		if err != nil {
			return fail("%v", err)
		}
		a.Host = h
	}
	if hasPort {
		p, ok := parsePort(port)
		if !ok {
			return fail("bad port %q (want 1-65535)", port)
		}
		a.Port = p
	}

	p, dir, err := cleanPath(rawPath)
	if err != nil {
		return fail("%v", err)
	}
	a.Path, a.Dir = p, dir
	return a, nil
}

// HostPort returns "host:port", with IPv6 literals in brackets. It is the key
// under which the daemon's host key is pinned in known_hosts.
func (a Address) HostPort() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// String returns the canonical form of the address, with scheme, port and a
// path that starts with '/': "quic://[::1]:7420/in/". Parsing it gives back a.
func (a Address) String() string {
	var b strings.Builder
	b.WriteString(a.Scheme)
	b.WriteString("://")
	b.WriteString(a.HostPort())
	b.WriteByte('/')
	if a.Path != "." && a.Path != "" {
		b.WriteString(a.Path)
		if a.Dir {
			b.WriteByte('/')
		}
	}
	return b.String()
}

// isSchemeToken reports whether s has the shape of a URL scheme
// (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), so that "host/a://b" is read
// as a host with a path rather than as an unknown scheme.
func isSchemeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c):
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// parsePort accepts 1 to 5 decimal digits with a value in 1..65535.
func parsePort(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// parseIPv6 checks the inside of brackets and returns its canonical form.
func parseIPv6(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty host")
	}
	ip, zone, hasZone := strings.Cut(s, "%")
	if hasZone && !validZone(zone) {
		return "", fmt.Errorf("invalid IPv6 zone %q", zone)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is6() || addr.Zone() != "" {
		return "", fmt.Errorf("invalid IPv6 address %q (brackets are only for IPv6)", s)
	}
	if hasZone {
		addr = addr.WithZone(zone)
	}
	return addr.String(), nil
}

// validZone accepts interface names and numbers: letters, digits, '.', '_'
// and '-'.
func validZone(z string) bool {
	if z == "" || len(z) > 64 {
		return false
	}
	for i := 0; i < len(z); i++ {
		c := z[i]
		if !isLetter(c) && !isDigit(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// parseHost checks a host name or IPv4 literal and returns its canonical
// form. Host names are dot-separated labels of ASCII letters, digits, '-'
// and '_' (not starting or ending with '-'), at most 63 bytes each and 253
// in all; internationalized names must be given in their xn-- form. A name
// made only of digits and dots must be a valid IPv4 address, since resolvers
// disagree on what "10.1" or "4026531850" mean.
func parseHost(s string) (string, error) {
	if len(s) > maxHostLen {
		return "", fmt.Errorf("host name longer than %d bytes", maxHostLen)
	}
	numeric := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("invalid host %q", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isLetter(c) && !isDigit(c) && c != '-' && c != '_' {
				return "", fmt.Errorf("invalid host %q", s)
			}
			if !isDigit(c) {
				numeric = false
			}
		}
	}
	if numeric {
		addr, err := netip.ParseAddr(s)
		if err != nil || !addr.Is4() {
			return "", fmt.Errorf("invalid IPv4 address %q", s)
		}
		return addr.String(), nil
	}
	return strings.ToLower(s), nil
}

// cleanPath turns the part after HOST[:PORT] ("" or starting with '/') into
// a cleaned path relative to the root.
func cleanPath(raw string) (p string, dir bool, err error) {
	rel := strings.TrimLeft(raw, "/")
	if rel == "" {
		return ".", true, nil
	}
	last := rel[strings.LastIndexByte(rel, '/')+1:]
	dir = last == "" || last == "." || last == ".."
	p = path.Clean(rel)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false, fmt.Errorf("remote path %q climbs out of the daemon's root", raw)
	}
	if p == "." {
		dir = true
	}
	return p, dir, nil
}

// LooksRemote reports whether the command-line argument s looks like a remote
// address rather than a local path. The command line mostly knows which
// arguments are remote from their position; LooksRemote is a modest
// heuristic for the rest, and is true when:
//
//   - s starts with "tcp://" or "quic://" (any case);
//   - s starts with something in brackets that holds a colon, as in "[::1]"
//     or "[::1]:7420/x" (so "[draft]/notes.txt" stays local);
//   - s starts with HOST:PORT (optionally followed by "/..."), where HOST is
//     a valid host name or IPv4 address and PORT is decimal, as in
//     "backup:7420" or "10.0.0.2:7000/in/";
//   - s is HOST/... where HOST is "localhost", an IPv4 address, or a dotted
//     host name whose last label is alphabetic, as in "backup.example/in/".
//
// Everything else is local, including "photos/a.jpg", "./x", "/abs", "C:\x"
// and a bare word such as "backup". A local path such as "dir.old/file"
// still looks remote; callers that care should prefer an existing local
// file, or ask the user to write "./dir.old/file". LooksRemote does not
// promise that [Parse] accepts s.
func LooksRemote(s string) bool {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "tcp://") || strings.HasPrefix(lower, "quic://") {
		return true
	}
	head, _, hasSlash := strings.Cut(s, "/")
	if strings.HasPrefix(head, "[") {
		inside, _, ok := strings.Cut(head[1:], "]")
		return ok && strings.Contains(inside, ":")
	}
	if host, port, ok := strings.Cut(head, ":"); ok {
		if _, ok := parsePort(port); !ok {
			return false
		}
		_, err := parseHost(host)
		return err == nil
	}
	if !hasSlash {
		return false
	}
	if head == "localhost" {
		return true
	}
	h, err := parseHost(head)
	if err != nil {
		return false
	}
	if addr, err := netip.ParseAddr(h); err == nil && addr.Is4() {
		return true
	}
	i := strings.LastIndexByte(h, '.')
	if i < 0 {
		return false
	}
	for _, c := range []byte(h[i+1:]) {
		if !isLetter(c) {
			return false
		}
	}
	return true
}
