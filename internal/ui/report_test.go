package ui_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"xfer/client"
	"xfer/internal/ui"
)

func sampleEvents() []client.Event {
	return []client.Event{
		&client.Progress{V: 1, Event: "progress", File: "a.txt", BytesDone: 10, BytesTotal: 20, TotalDone: 10, TotalBytes: 40},
		&client.FileDone{File: "a.txt", Size: 20, Root: "ab", WireBytes: 25, DurationS: 0.5}, // V and Event missing
		&client.FileError{V: 1, Event: "file_error", File: "b\x1b[2J.txt", Code: "permission_denied", Error: "permission denied"},
		&client.Reconnect{V: 1, Event: "reconnect", Attempt: 2, DelayS: 1, Error: "reset", KeptBytes: 512 << 20},
		&client.ListEntry{V: 1, Event: "entry", Name: "<dir>&", Type: "dir", Mode: "0755", MTime: "2024-01-02T15:04:05Z"},
		&client.Summary{V: 1, Event: "summary", Files: 1, Failed: 1, Bytes: 20, DurationS: 1.5, OK: false},
	}
}

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	r := ui.NewJSON(&buf)
	evs := sampleEvents()
	for _, ev := range evs {
		r.Event(ev)
	}
	r.Event(nil)
	r.Event((*client.Progress)(nil))
	r.Close()
	r.Event(evs[0]) // after Close: ignored

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(evs), buf.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if m["v"] != float64(1) {
			t.Errorf("line %d %q: v = %v, want 1", i, line, m["v"])
		}
		if m["event"] != evs[i].EventName() {
			t.Errorf("line %d %q: event = %v, want %q", i, line, m["event"], evs[i].EventName())
		}
	}
	if !strings.Contains(lines[4], `"name":"<dir>&"`) {
		t.Errorf("HTML characters escaped: %s", lines[4])
	}
	if !strings.Contains(lines[2], `"file":"b\u001b[2J.txt"`) {
		t.Errorf("control character not escaped by JSON: %s", lines[2])
	}
	// The caller's event is not modified.
	if fd := evs[1].(*client.FileDone); fd.V != 0 || fd.Event != "" {
		t.Errorf("NewJSON modified the caller's event: %+v", fd)
	}
	// Field names are the documented ones.
	var fd map[string]any
	json.Unmarshal([]byte(lines[1]), &fd)
	for _, k := range []string{"file", "size", "root", "skipped", "resumed_bytes", "wire_bytes", "duration_s"} {
		if _, ok := fd[k]; !ok {
			t.Errorf("file_done lacks %q: %s", k, lines[1])
		}
	}
}

func TestJSONFlushes(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 64<<10)
	r := ui.NewJSON(bw)
	r.Event(&client.Summary{OK: true})
	if !strings.HasPrefix(buf.String(), `{"v":1,"event":"summary",`) {
		t.Fatalf("event not flushed: %q", buf.String())
	}
}

func TestJSONConcurrent(t *testing.T) {
	var buf bytes.Buffer
	r := ui.NewJSON(&buf)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r.Event(&client.Progress{File: fmt.Sprintf("w%d/f%d", w, i), BytesDone: uint64(i)})
			}
		}()
	}
	wg.Wait()
	r.Close()
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var p client.Progress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %d %q: %v", n, sc.Text(), err)
		}
		if p.V != client.SchemaVersion || p.Event != "progress" {
			t.Fatalf("line %d: %+v", n, p)
		}
		n++
	}
	if n != workers*each {
		t.Fatalf("got %d lines, want %d", n, workers*each)
	}
}

func TestText(t *testing.T) {
	var buf bytes.Buffer
	r := ui.NewText(&buf, false)
	r.Event(&client.Progress{File: "a", BytesDone: 1, BytesTotal: 2, TotalDone: 1, TotalBytes: 2})
	r.Event(&client.FileDone{File: "photos/a.jpg", Size: 1258291})
	r.Event(&client.FileDone{File: "big.iso", Size: 4 << 30, ResumedBytes: 512 << 20})
	r.Event(&client.FileDone{File: "photos/b\u202e.jpg", Size: 3, Skipped: true})
	r.Event(&client.FileError{File: "link", Code: "skipped", Error: "symbolic link not followed"})
	r.Event(&client.FileError{File: "secret\n.txt", Code: "permission_denied", Error: "permission denied"})
	r.Event(&client.Reconnect{Attempt: 2, KeptBytes: 512 << 20, Error: "connection reset by peer"})
	r.Event(&client.Reconnect{Attempt: 3, DelayS: 2, Error: "x"})
	r.Event(&client.ListEntry{Name: "d", Type: "dir"})
	r.Event(&client.Summary{Files: 12, Skipped: 2, Bytes: 3565158, DurationS: 1.2, OK: true})
	r.Event(&client.Summary{Files: 1, Failed: 1, Bytes: 10, DurationS: 0, OK: false})
	r.Close()
	r.Event(&client.FileDone{File: "late"})
	want := strings.Join([]string{
		"sent photos/a.jpg (1.2 MiB)",
		"sent big.iso (4.0 GiB, resumed 512 MiB)",
		`up to date: photos/b\u202e.jpg`,
		"skipped: link: symbolic link not followed",
		`error: secret\n.txt: permission denied`,
		"reconnecting (attempt 2, kept 512 MiB): connection reset by peer",
		"reconnecting in 2s (attempt 3, kept 0 B): x",
		"d/",
		"done: 12 files (3.4 MiB) in 1.2s, 2.8 MiB/s, 2 up to date",
		"incomplete: 1 file (10 B) in 0s, 1 failed",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestTextVerbose(t *testing.T) {
	var buf bytes.Buffer
	r := ui.NewText(&buf, true, ui.Verb("received"))
	r.Event(&client.FileDone{File: "a", Size: 2048, WireBytes: 1024, DurationS: 0.25, Root: "abcd"})
	r.Event(&client.FileError{File: "b", Code: "source_changed", Error: "changed while read"})
	r.Event(&client.ListEntry{Name: "f", Type: "file", Size: 5, Mode: "0600", MTime: "bad"})
	r.Event(&client.Summary{Files: 2, Bytes: 4096, WireBytes: 100, ResumedBytes: 10, DurationS: 2, OK: true})
	want := strings.Join([]string{
		"received a (2.0 KiB, wire 1.0 KiB, 250ms, root abcd)",
		"error: b: changed while read [source_changed]",
		"-rw-------            5 ????-??-?? ??:?? f",
		"done: 2 files (4.0 KiB) in 2s, 2.0 KiB/s, wire 100 B, resumed 10 B",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestTextErrorsOnly(t *testing.T) {
	var buf bytes.Buffer
	r := ui.NewText(&buf, false, ui.ErrorsOnly())
	for _, ev := range sampleEvents() {
		r.Event(ev)
	}
	r.Event(&client.FileError{File: "link", Code: "skipped", Error: "symlink"})
	if want := `error: b\x1b[2J.txt: permission denied` + "\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestQuiet(t *testing.T) {
	r := ui.NewQuiet()
	for _, ev := range sampleEvents() {
		r.Event(ev)
	}
	r.Close()
}
