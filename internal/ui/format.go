package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"xfer/client"
)

// FormatBytes formats n with binary units, as "ls -h" does: "0 B",
// "1023 B", "1.0 KiB", "1.5 MiB", "12 MiB", "512 MiB", up to "16 EiB". One
// decimal is shown below 10 of a unit; a value that would round to 1024 of
// a unit is shown in the next one.
func FormatBytes(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v := float64(n) / 1024
	u := 0
	for v >= 1023.5 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v < 9.95 {
		return fmt.Sprintf("%.1f %ciB", v, units[u])
	}
	return fmt.Sprintf("%.0f %ciB", v, units[u])
}

// formatDuration formats d for humans: "0s", "340ms", "2.5s", "1m3s".
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func seconds(s float64) time.Duration {
	if s <= 0 || s != s {
		return 0
	}
	if s > 1e9 {
		s = 1e9
	}
	return time.Duration(s * float64(time.Second))
}

// FormatEntry formats one entry of a remote listing for "xfer ls".
//
// The short form is the name, with a "/" suffix for directories. The long
// form is
//
//	drwxr-xr-x            0 2024-01-02 15:04 photos/
//	-rw-r--r--      1048576 2024-01-02 15:04 photos/a.jpg  ROOT
//
// the mode, the size in bytes, the modification time in local time, the name
// and, when the daemon sent one, the file's BLAKE2b root in hex. Names are
// escaped with [Escape]. A mode or time the daemon sent in an unexpected
// form is shown as question marks rather than guessed.
func FormatEntry(e *client.ListEntry, long bool) string {
	name := Escape(e.Name)
	if e.Type == "dir" && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	if !long {
		return name
	}
	mtime := "????-??-?? ??:??"
	if t, err := time.Parse(time.RFC3339Nano, e.MTime); err == nil {
		mtime = t.Local().Format("2006-01-02 15:04")
	}
	line := fmt.Sprintf("%s %12d %s %s", modeString(e.Type, e.Mode), e.Size, mtime, name)
	if e.Root != "" {
		line += "  " + Escape(e.Root)
	}
	return line
}

// modeString renders a type and an octal permission string ("0644",
// "04755") as ls does: "-rw-r--r--", "-rwsr-xr-x", "drwxrwxrwt".
func modeString(typ, mode string) string {
	var b [10]byte
	switch typ {
	case "file":
		b[0] = '-'
	case "dir":
		b[0] = 'd'
	case "symlink":
		b[0] = 'l'
	default:
		b[0] = '?'
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || m > 0o7777 {
		return string(b[:1]) + "?????????"
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	special := func(bit uint64, pos int, set, unsetX byte) {
		if m&bit == 0 {
			return
		}
		if b[pos] == 'x' {
			b[pos] = set
		} else {
			b[pos] = unsetX
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b[:])
}
