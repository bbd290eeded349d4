package ui_test

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"xfer/internal/ui"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain.txt", "plain.txt"},
		{"photos/a b.jpg", "photos/a b.jpg"},
		{"日本語/Ünïcödé/Ελληνικά/עברית/العربية", "日本語/Ünïcödé/Ελληνικά/עברית/العربية"},
		{"emoji 👩‍💻 🇫🇷", "emoji 👩\u200d💻 🇫🇷"}, // ZWJ kept
		{"فارسی\u200cها", "فارسی\u200cها"},    // ZWNJ kept
		{"\ufffd literal replacement char", "\ufffd literal replacement char"},
		{"\u00a0nbsp", "\u00a0nbsp"},
		{`back\slash`, `back\\slash`},
		{`\x1b`, `\\x1b`},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"a\rb", `a\rb`},
		{"a\nb", `a\nb`},
		{"a\tb", `a\tb`},
		{"a\x00b", `a\x00b`},
		{"\x01\x1f", `\x01\x1f`},
		{"del\x7f", `del\x7f`},
		{"\u0085", `\u0085`},
		{"\u009b31m", `\u009b31m`},
		{"\x9b31m", `\x9b31m`}, // a lone C1 byte is invalid UTF-8
		{"\xff\xfe", `\xff\xfe`},
		{"\xe2\x80", `\xe2\x80`},         // truncated sequence
		{"\xc0\xaf", `\xc0\xaf`},         // overlong '/'
		{"\xed\xa0\x80", `\xed\xa0\x80`}, // surrogate
		{"evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`},
		{"\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"\ufeffbom", `\ufeffbom`},
		{"soft\u00adhyphen", `soft\u00adhyphen`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"tag\U000e0041", `tag\U000e0041`},
	}
	for _, tt := range tests {
		if got := ui.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := unescape(t, ui.Escape(tt.in)); got != tt.in {
			t.Errorf("unescape(Escape(%q)) = %q", tt.in, got)
		}
	}
}

// unescape inverts Escape, to show that Escape loses nothing and that its
// output is unambiguous.
func unescape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			t.Fatalf("dangling backslash in %q", s)
		}
		i++
		n := 0
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			n = 2
		case 'u':
			n = 4
		case 'U':
			n = 8
		default:
			t.Fatalf("unknown escape \\%c in %q", s[i], s)
		}
		if n == 0 {
			continue
		}
		if i+n >= len(s) {
			t.Fatalf("short escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
		if err != nil {
			t.Fatalf("bad escape in %q: %v", s, err)
		}
		if n == 2 {
			b.WriteByte(byte(v))
		} else {
			b.WriteRune(rune(v))
		}
		i += n
	}
	return b.String()
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[2J", "\r\n", "\x00", "\u202e", "\x9b", "\xff", `\`, "日本", "\u200d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := ui.Escape(s)
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q is not valid UTF-8", s, e)
		}
		for i := 0; i < len(e); i++ {
			if e[i] < 0x20 || e[i] == 0x7f {
				t.Fatalf("Escape(%q) = %q holds byte %#x", s, e, e[i])
			}
		}
		for _, r := range e {
			if (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 ||
				(unicode.Is(unicode.Cf, r) && r != 0x200c && r != 0x200d) {
				t.Fatalf("Escape(%q) = %q holds %U", s, e, r)
			}
		}
		if got := unescape(t, e); got != s {
			t.Fatalf("Escape(%q) = %q does not round-trip: %q", s, e, got)
		}
		if ui.Escape(s) != e {
			t.Fatal("Escape is not deterministic")
		}
	})
}
