package ui_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"xfer/client"
	"xfer/internal/ui"
)

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{10*1024 - 52, "9.9 KiB"},
		{10*1024 - 51, "10 KiB"},
		{1023 * 1024, "1023 KiB"},
		{1024*1024 - 512, "1.0 MiB"}, // would round to 1024 KiB
		{1024*1024 - 513, "1023 KiB"},
		{1024 * 1024, "1.0 MiB"},
		{1258291, "1.2 MiB"},
		{3 << 29, "1.5 GiB"},
		{512 << 20, "512 MiB"},
		{1 << 40, "1.0 TiB"},
		{1 << 50, "1.0 PiB"},
		{1 << 60, "1.0 EiB"},
		{^uint64(0), "16 EiB"},
	}
	for _, tt := range tests {
		if got := ui.FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestFormatEntry(t *testing.T) {
	const mt = "2024-01-02T15:04:05.123456789Z"
	local := time.Date(2024, 1, 2, 15, 4, 5, 123456789, time.UTC).Local().Format("2006-01-02 15:04")
	root := "6a09e667f3bcc908b2fb1366ea957d3e3adec17512775099da2f590b0667322a"
	tests := []struct {
		e           client.ListEntry
		short, long string
	}{
		{client.ListEntry{Name: "a.txt", Type: "file", Size: 1234, Mode: "0644", MTime: mt, Root: root},
			"a.txt", "-rw-r--r--         1234 " + local + " a.txt  " + root},
		{client.ListEntry{Name: "photos", Type: "dir", Mode: "0755", MTime: mt},
			"photos/", "drwxr-xr-x            0 " + local + " photos/"},
		{client.ListEntry{Name: "link", Type: "symlink", Size: 7, Mode: "0777", MTime: mt},
			"link", "lrwxrwxrwx            7 " + local + " link"},
		{client.ListEntry{Name: "fifo", Type: "other", Mode: "0600", MTime: mt},
			"fifo", "?rw-------            0 " + local + " fifo"},
		{client.ListEntry{Name: "suid", Type: "file", Mode: "04755", MTime: mt},
			"suid", "-rwsr-xr-x            0 " + local + " suid"},
		{client.ListEntry{Name: "sgid", Type: "file", Mode: "2640", MTime: mt},
			"sgid", "-rw-r-S---            0 " + local + " sgid"},
		{client.ListEntry{Name: "tmp", Type: "dir", Mode: "1777", MTime: mt},
			"tmp/", "drwxrwxrwt            0 " + local + " tmp/"},
		{client.ListEntry{Name: "sticky", Type: "dir", Mode: "1770", MTime: mt},
			"sticky/", "drwxrwx--T            0 " + local + " sticky/"},
		{client.ListEntry{Name: "evil\x1b[2J\u202e.txt", Type: "file", Size: 1, Mode: "0644", MTime: mt},
			`evil\x1b[2J\u202e.txt`, "-rw-r--r--            1 " + local + ` evil\x1b[2J\u202e.txt`},
		{client.ListEntry{Name: "bad", Type: "file", Size: 1, Mode: "rw", MTime: "yesterday"},
			"bad", "-?????????            1 ????-??-?? ??:?? bad"},
		{client.ListEntry{Name: "big", Type: "file", Mode: "177777", MTime: mt},
			"big", "-?????????            0 " + local + " big"},
	}
	for _, tt := range tests {
		if got := ui.FormatEntry(&tt.e, false); got != tt.short {
			t.Errorf("FormatEntry(%q, false) = %q, want %q", tt.e.Name, got, tt.short)
		}
		if got := ui.FormatEntry(&tt.e, true); got != tt.long {
			t.Errorf("FormatEntry(%q, true) = %q, want %q", tt.e.Name, got, tt.long)
		}
	}
}

func TestPrintError(t *testing.T) {
	var b bytes.Buffer
	ui.PrintError(&b, "xfer", errors.New("server said: \x1b[31mno\x1b[0m\nreally"), "")
	if want := `xfer: error: server said: \x1b[31mno\x1b[0m\nreally` + "\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	ui.PrintError(&b, "xferd", errors.New("no identity"), "run xfer keygen")
	if want := "xferd: error: no identity\nxferd: hint: run xfer keygen\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	ui.PrintError(&b, "xfer", nil, "ignored")
	if b.Len() != 0 {
		t.Errorf("nil error printed %q", b.String())
	}
}
