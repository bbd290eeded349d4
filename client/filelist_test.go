package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"xfer/protocol"
)

// entries reads a whole list, twice: the second pass replays what the
// first one read.
func entries(t *testing.T, l *pathList) []listItem {
	t.Helper()
	var first []listItem
	for pass := 0; pass < 2; pass++ {
		var got []listItem
		for i := 0; ; i++ {
			e, ok, err := l.at(i, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			got = append(got, e)
		}
		if pass == 0 {
			first = got
		} else if len(got) != len(first) {
			t.Fatalf("replay read %d entries, first pass %d", len(got), len(first))
		}
	}
	return first
}

func paths(es []listItem) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.path)
	}
	return out
}

func TestPathList(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		nul  bool
		want []string
	}{
		{"lines", "a\nb c\n\nd/e\n", false, []string{"a", "b c", "d/e"}},
		{"no final newline", "a\nb", false, []string{"a", "b"}},
		{"empty", "", false, nil},
		{"only newlines", "\n\n\n", false, nil},
		{"spaces kept", " a \n\tb\r\n", false, []string{" a ", "\tb\r"}},
		{"nul", "a\x00b\nc\x00\x00d", true, []string{"a", "b\nc", "d"}},
		{"nul in lines", "a\x00b\n", false, []string{"a\x00b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A one-byte reader exercises every buffer boundary.
			l := newPathList(&FileList{R: iotest.OneByteReader(strings.NewReader(c.in)), NUL: c.nul})
			got := paths(entries(t, l))
			if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestPathListLongEntry(t *testing.T) {
	long := strings.Repeat("x", maxListEntry+1)
	l := newPathList(&FileList{R: strings.NewReader("a\n" + long + "\nb\n")})
	got := entries(t, l)
	if len(got) != 3 || got[0].path != "a" || !got[1].tooLong || len(got[1].path) > 100 || got[2].path != "b" || got[2].tooLong {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	if _, err := cleanListed(got[1], "here"); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("cleanListed of a long entry: %v", err)
	}
	// Exactly at the limit is an entry, rejected later by the protocol
	// rules rather than by the reader.
	l = newPathList(&FileList{R: strings.NewReader(long[:maxListEntry])})
	if got := entries(t, l); len(got) != 1 || got[0].tooLong {
		t.Errorf("entry of maxListEntry bytes: %+v", got[0].tooLong)
	}
}

func TestPathListReadError(t *testing.T) {
	boom := errors.New("boom")
	l := newPathList(&FileList{R: io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom))})
	if e, ok, err := l.at(0, nil); !ok || err != nil || e.path != "a" {
		t.Fatalf("at(0) = %q, %v, %v", e.path, ok, err)
	}
	if _, ok, err := l.at(1, nil); ok || !errors.Is(err, boom) {
		t.Fatalf("at(1) = %v, %v; want the read error (the torn entry dropped)", ok, err)
	}
	if e, ok, _ := l.at(0, nil); !ok || e.path != "a" {
		t.Errorf("replay after the error: %q, %v", e.path, ok)
	}
}

func TestCleanListed(t *testing.T) {
	for _, c := range []struct {
		in, want string
		code     uint16 // 0: accepted
		msg      string
	}{
		{"a/b/c.txt", "a/b/c.txt", 0, ""},
		{"./a//b/", "a/b", 0, ""},
		{"a/../b", "b", 0, ""},
		{".", ".", 0, ""},
		{"./", ".", 0, ""},
		{"a/..", ".", 0, ""},
		{"ü n i/ファイル", "ü n i/ファイル", 0, ""},
		{"/etc/passwd", "", protocol.CodeBadPath, "absolute path in a file list (list paths relative to DIR)"},
		{"..", "", protocol.CodeBadPath, "leaves DIR"},
		{"../x", "", protocol.CodeBadPath, "leaves DIR"},
		{"a/../../x", "", protocol.CodeBadPath, "leaves DIR"},
		{"a\nb", "", protocol.CodeBadPath, "control byte 0x0a"},
		{"a\x00b", "", protocol.CodeBadPath, "NUL"},
		{"a/.xfer-partial", "", protocol.CodeBadPath, "reserved prefix"},
		{"a\\b", "", protocol.CodeBadPath, "backslash"},
	} {
		got, err := cleanListed(listItem{path: c.in}, "DIR")
		if c.code == 0 {
			if err != nil || got != c.want {
				t.Errorf("cleanListed(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != c.code || !strings.Contains(pe.Message, c.msg) || !strings.HasPrefix(pe.Message, c.in+": ") {
			t.Errorf("cleanListed(%q) = %q, %v; want code %d and %q, after the path", c.in, got, err, c.code, c.msg)
		}
	}
}

func TestParentsOf(t *testing.T) {
	for in, want := range map[string]string{"a": "", "a/b": "a", "a/b/c": "a|a/b"} {
		if got := strings.Join(parentsOf(in), "|"); got != want {
			t.Errorf("parentsOf(%q) = %q, want %q", in, got, want)
		}
	}
}
