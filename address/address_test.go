package address_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"xfer/address"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in       string
		want     address.Address
		hostPort string
		str      string
	}{
		{"backup.example", address.Address{"tcp", "backup.example", 7420, ".", true}, "backup.example:7420", "tcp://backup.example:7420/"},
		{"backup.example/", address.Address{"tcp", "backup.example", 7420, ".", true}, "backup.example:7420", "tcp://backup.example:7420/"},
		{"backup.example//", address.Address{"tcp", "backup.example", 7420, ".", true}, "backup.example:7420", "tcp://backup.example:7420/"},
		{"backup.example/.", address.Address{"tcp", "backup.example", 7420, ".", true}, "backup.example:7420", "tcp://backup.example:7420/"},
		{"backup.example:7420/in/", address.Address{"tcp", "backup.example", 7420, "in", true}, "backup.example:7420", "tcp://backup.example:7420/in/"},
		{"backup.example/isos/big.iso", address.Address{"tcp", "backup.example", 7420, "isos/big.iso", false}, "backup.example:7420", "tcp://backup.example:7420/isos/big.iso"},
		{"backup.example//x", address.Address{"tcp", "backup.example", 7420, "x", false}, "backup.example:7420", "tcp://backup.example:7420/x"},
		{"backup.example/x", address.Address{"tcp", "backup.example", 7420, "x", false}, "backup.example:7420", "tcp://backup.example:7420/x"},
		{"Backup.EXAMPLE:1/A/B", address.Address{"tcp", "backup.example", 1, "A/B", false}, "backup.example:1", "tcp://backup.example:1/A/B"},
		{"h:65535", address.Address{"tcp", "h", 65535, ".", true}, "h:65535", "tcp://h:65535/"},
		{"h/a//b/./c", address.Address{"tcp", "h", 7420, "a/b/c", false}, "h:7420", "tcp://h:7420/a/b/c"},
		{"h/a/b/..", address.Address{"tcp", "h", 7420, "a", true}, "h:7420", "tcp://h:7420/a/"},
		{"h/a/..", address.Address{"tcp", "h", 7420, ".", true}, "h:7420", "tcp://h:7420/"},
		{"h/a/.", address.Address{"tcp", "h", 7420, "a", true}, "h:7420", "tcp://h:7420/a/"},
		{"h/..foo", address.Address{"tcp", "h", 7420, "..foo", false}, "h:7420", "tcp://h:7420/..foo"},
		{"h/a b/ü/日本.txt", address.Address{"tcp", "h", 7420, "a b/ü/日本.txt", false}, "h:7420", "tcp://h:7420/a b/ü/日本.txt"},
		{"h/a:b", address.Address{"tcp", "h", 7420, "a:b", false}, "h:7420", "tcp://h:7420/a:b"},
		{"h/a://b", address.Address{"tcp", "h", 7420, "a:/b", false}, "h:7420", "tcp://h:7420/a:/b"},
		{"localhost", address.Address{"tcp", "localhost", 7420, ".", true}, "localhost:7420", "tcp://localhost:7420/"},
		{"my_host-1", address.Address{"tcp", "my_host-1", 7420, ".", true}, "my_host-1:7420", "tcp://my_host-1:7420/"},
		{"tcp://h", address.Address{"tcp", "h", 7420, ".", true}, "h:7420", "tcp://h:7420/"},
		{"TCP://h", address.Address{"tcp", "h", 7420, ".", true}, "h:7420", "tcp://h:7420/"},
		{"quic://h:9/in/", address.Address{"quic", "h", 9, "in", true}, "h:9", "quic://h:9/in/"},
		{"QUIC://10.0.0.2/isos/", address.Address{"quic", "10.0.0.2", 7420, "isos", true}, "10.0.0.2:7420", "quic://10.0.0.2:7420/isos/"},
		{"127.0.0.1:7000", address.Address{"tcp", "127.0.0.1", 7000, ".", true}, "127.0.0.1:7000", "tcp://127.0.0.1:7000/"},
		{"[::1]", address.Address{"tcp", "::1", 7420, ".", true}, "[::1]:7420", "tcp://[::1]:7420/"},
		{"[::1]:7420", address.Address{"tcp", "::1", 7420, ".", true}, "[::1]:7420", "tcp://[::1]:7420/"},
		{"quic://[::1]:7420/in/", address.Address{"quic", "::1", 7420, "in", true}, "[::1]:7420", "quic://[::1]:7420/in/"},
		{"[::1]/x", address.Address{"tcp", "::1", 7420, "x", false}, "[::1]:7420", "tcp://[::1]:7420/x"},
		{"[2001:DB8:0:0::1]:8/x", address.Address{"tcp", "2001:db8::1", 8, "x", false}, "[2001:db8::1]:8", "tcp://[2001:db8::1]:8/x"},
		{"[::ffff:1.2.3.4]", address.Address{"tcp", "::ffff:1.2.3.4", 7420, ".", true}, "[::ffff:1.2.3.4]:7420", "tcp://[::ffff:1.2.3.4]:7420/"},
		{"[fe80::1%eth0]:7420/x", address.Address{"tcp", "fe80::1%eth0", 7420, "x", false}, "[fe80::1%eth0]:7420", "tcp://[fe80::1%eth0]:7420/x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := address.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if hp := got.HostPort(); hp != tt.hostPort {
				t.Errorf("HostPort() = %q, want %q", hp, tt.hostPort)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			again, err := address.Parse(got.String())
			if err != nil || again != got {
				t.Errorf("Parse(String()) = %#v, %v; want %#v", again, err, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string // want: a substring of the error
	}{
		{"", "empty address"},
		{":7420", "empty host"},
		{"/x", "empty host"},
		{"tcp://", "empty host"},
		{"tcp:///x", "empty host"},
		{"[]", "empty host"},
		{"[]:7420", "empty host"},
		{"h:0", `bad port "0"`},
		{"h:65536", `bad port "65536"`},
		{"h:99999999999999999999", "bad port"},
		{"h:", `bad port ""`},
		{"h:/x", `bad port ""`},
		{"h:http", `bad port "http"`},
		{"h:+80", `bad port "+80"`},
		{"h:-1", `bad port "-1"`},
		{"h:0x50", `bad port "0x50"`},
		{"h: 80", "bad port"},
		{"[::1]:", `bad port ""`},
		{"[::1]:0", `bad port "0"`},
		{"http://h/x", `unknown scheme "http" (want tcp:// or quic://)`},
		{"ssh://h", `unknown scheme "ssh"`},
		{"udp://h", `unknown scheme "udp"`},
		{"h\x00/x", "control character"},
		{"h/x\x00y", "control character"},
		{"h/x\ny", "control character"},
		{"h/x\ry", "control character"},
		{"h/\x1b[2J", "control character"},
		{"h/x\x7f", "control character"},
		{"h/x\u009b", "control character"},
		{"h/\xff", "not valid UTF-8"},
		{"h/..", "climbs out"},
		{"h/../x", "climbs out"},
		{"h//../x", "climbs out"},
		{"h/a/../../x", "climbs out"},
		{"h/a/../..", "climbs out"},
		{"[::1", "missing ']'"},
		{"[::1/x]", "invalid IPv6 address"},
		{"::1]", "unbalanced"},
		{"h]/x", "unbalanced"},
		{"h[/x", "unbalanced"},
		{"[::1]]", "unbalanced"},
		{"[[::1]]", "unbalanced"},
		{"[::1]x", "unexpected"},
		{"[::1]:7420]", "unbalanced"},
		{"::1", "must be in brackets"},
		{"::1:7420", "must be in brackets"},
		{"2001:db8::1/x", "must be in brackets"},
		{"[1.2.3.4]", "only for IPv6"},
		{"[h]", "only for IPv6"},
		{"[fe80::1%]", "invalid IPv6 zone"},
		{"[fe80::1%a/b]", "invalid IPv6 zone"},
		{"[fe80::1%a b]", "invalid IPv6 zone"},
		{"user@h:/x", "invalid host"},
		{"h h", "invalid host"},
		{"-h", "invalid host"},
		{"h-", "invalid host"},
		{"a..b", "invalid host"},
		{".h", "invalid host"},
		{"h.", "invalid host"},
		{"h%x", "invalid host"},
		{"bücher.example", "invalid host"},
		{strings.Repeat("a", 64) + ".example", "invalid host"},
		{strings.Repeat("a.", 127) + "ab", "longer than 253"},
		{"999.1.1.1", "invalid IPv4"},
		{"10.1", "invalid IPv4"},
		{"4026531850", "invalid IPv4"},
		{"01.2.3.4", "invalid IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := address.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want error containing %q", tt.in, a, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Parse(%q) error %q does not contain %q", tt.in, msg, tt.want)
			}
			if prefix := fmt.Sprintf("address: %q: ", tt.in); !strings.HasPrefix(msg, prefix) {
				t.Errorf("Parse(%q) error %q does not start with %q", tt.in, msg, prefix)
			}
			var e *address.Error
			if !errors.As(err, &e) || e.Input != tt.in {
				t.Errorf("Parse(%q) error is %T %#v, want *address.Error with the input", tt.in, err, err)
			}
			if a != (address.Address{}) {
				t.Errorf("Parse(%q) returned %#v with its error, want the zero Address", tt.in, a)
			}
		})
	}
}

func TestUnknownSchemeMessage(t *testing.T) {
	_, err := address.Parse("http://h/x")
	want := `address: "http://h/x": unknown scheme "http" (want tcp:// or quic://)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestLooksRemote(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"tcp://h", true},
		{"quic://h/x", true},
		{"QUIC://h/x", true},
		{"tcp://", true}, // clearly meant as remote; Parse reports what is wrong
		{"[::1]", true},
		{"[::1]:7420/x", true},
		{"backup:7420", true},
		{"backup:7420/in/", true},
		{"10.0.0.2:7000/in/", true},
		{"backup.example/in/", true},
		{"backup.example/", true},
		{"localhost/x", true},
		{"10.0.0.2/x", true},
		{"dir.old/file", true}, // the documented false positive

		{"", false},
		{"[draft]/notes.txt", false},
		{"[::1", false},
		{"backup", false},
		{"backup.example", false},
		{"report.pdf", false},
		{"photos/a.jpg", false},
		{"photos/", false},
		{"./backup.example/x", false},
		{"../x", false},
		{"/abs/path", false},
		{"~/x", false},
		{"photos.2024/a.jpg", false},
		{"C:\\x", false},
		{"C:/x", false},
		{"backup:in/", false},
		{"host:", false},
		{":7420", false},
		{"a b/x", false},
		{"http://h/x", false},
	}
	for _, tt := range tests {
		if got := address.LooksRemote(tt.in); got != tt.want {
			t.Errorf("LooksRemote(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"h", "h:1", "h/x/", "tcp://h:7420/a/b", "quic://[::1]:7420/in/",
		"[fe80::1%eth0]/x", "10.0.0.1:99/../x", "h/a/./b/../c", "http://h",
		"[::1", "::1", "h:0", "h/\x00", "H.Example//A//", "[::ffff:1.2.3.4]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := address.Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "address: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if a.Scheme != "tcp" && a.Scheme != "quic" {
			t.Fatalf("Parse(%q).Scheme = %q", s, a.Scheme)
		}
		if a.Host == "" || a.Port < 1 || a.Port > 65535 {
			t.Fatalf("Parse(%q) = %#v: bad host or port", s, a)
		}
		if a.Path == "" || strings.HasPrefix(a.Path, "/") || a.Path == ".." ||
			strings.HasPrefix(a.Path, "../") || strings.HasSuffix(a.Path, "/") {
			t.Fatalf("Parse(%q).Path = %q", s, a.Path)
		}
		if a.Path == "." && !a.Dir {
			t.Fatalf("Parse(%q): root is not a directory", s)
		}
		again, err := address.Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, a.String(), err)
		}
		if again != a {
			t.Fatalf("round trip of %q: %#v != %#v", s, again, a)
		}
	})
}
