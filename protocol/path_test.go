package protocol

import (
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path string
		want string // "" for ok, else a substring of the error
	}{
		{".", ""},
		{"a", ""},
		{"a/b/c.txt", ""},
		{"..a", ""},
		{"a..", ""},
		{"...", ""},
		{".hidden/.x", ""},
		{"xfer-part", ""},
		{".xfer", ""},
		{".xferpart", ""},
		{"dir/.xfer", ""},
		{"with space/tab-less", ""},
		{"ünïcödé/日本語/😀", ""},
		{"\xff\xfe invalid utf-8", ""},
		{"a\x80b", ""},
		{name(MaxNameLen), ""},
		{name(MaxNameLen) + "/" + name(MaxNameLen), ""},
		{longPath(MaxPathLen), ""},
		{"", "empty path"},
		{"..", `element ".." not allowed`},
		{"../a", `element ".." not allowed`},
		{"a/../b", `element ".." not allowed`},
		{"a/..", `element ".." not allowed`},
		{"./a", `element "." not allowed`},
		{"a/./b", `element "." not allowed`},
		{"a/.", `element "." not allowed`},
		{"a//b", "empty element"},
		{"/", "absolute"},
		{"/a", "absolute"},
		{"//a", "absolute"},
		{"a/", "trailing slash"},
		{"./", "trailing slash"},
		{"a\x00b", "NUL byte"},
		{"\x00", "NUL byte"},
		{"a/b\x1b[31m", "control byte 0x1b"},
		{"a\nb", "control byte 0x0a"},
		{"a\rb", "control byte 0x0d"},
		{"a\tb", "control byte 0x09"},
		{"a\x01", "control byte 0x01"},
		{"a\x1f", "control byte 0x1f"},
		{"a\x7f", "control byte 0x7f"},
		{`a\b`, "backslash"},
		{`..\evil`, "backslash"},
		{`C:\x`, "backslash"},
		{".xfer-part", "reserved prefix"},
		{"dir/.xfer-journal-123", "reserved prefix"},
		{".xfer-", "reserved prefix"},
		{"a/.xfer-x/b", "reserved prefix"},
		{name(MaxNameLen + 1), "element of 256 bytes exceeds 255"},
		{"a/" + name(MaxNameLen+1) + "/b", "element of 256 bytes exceeds 255"},
		{longPath(MaxPathLen + 1), "path of 4097 bytes exceeds 4096"},
		{strings.Repeat("/", MaxPathLen+1), "path of 4097 bytes"},
	}
	for _, tc := range tests {
		err := CheckPath(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckPath(%.40q) = %v, want ok", tc.path, err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckPath(%.40q) ok, want error %q", tc.path, tc.want)
		case tc.want != "" && (!strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "protocol: ")):
			t.Errorf("CheckPath(%.40q) = %q, want it to contain %q", tc.path, err, tc.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"a", ""},
		{"file.txt", ""},
		{"..a", ""},
		{"日本語", ""},
		{name(MaxNameLen), ""},
		{"", "empty element"},
		{".", `element "." not allowed`},
		{"..", `element ".." not allowed`},
		{"a/b", "contains a slash"},
		{"/", "contains a slash"},
		{"a/", "contains a slash"},
		{"a\x00", "NUL byte"},
		{"a\x1b", "control byte 0x1b"},
		{`a\b`, "backslash"},
		{".xfer-part", "reserved prefix"},
		{name(MaxNameLen + 1), "element of 256 bytes exceeds 255"},
	}
	for _, tc := range tests {
		err := CheckName(tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckName(%.40q) = %v, want ok", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckName(%.40q) ok, want error %q", tc.name, tc.want)
		case tc.want != "" && (!strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "protocol: name ")):
			t.Errorf("CheckName(%.40q) = %q, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckPathAllocs(t *testing.T) {
	p := longPath(MaxPathLen)
	if n := testing.AllocsPerRun(10, func() { CheckPath(p) }); n != 0 {
		t.Errorf("CheckPath of a valid path allocates %.0f times", n)
	}
}
