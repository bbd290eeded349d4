package ui_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"xfer/client"
	"xfer/internal/ui"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestJSONGolden pins the --json machine interface: one event of every type,
// every field set, as NewJSON writes them. A change here is a change of the
// documented schema (and, if incompatible, of client.SchemaVersion).
// Regenerate with go test ./internal/ui -run JSONGolden -update.
func TestJSONGolden(t *testing.T) {
	evs := []client.Event{
		&client.Progress{File: "photos/a.jpg", BytesDone: 524288, BytesTotal: 1258291, TotalDone: 2621440, TotalBytes: 10485760},
		&client.FileDone{File: "photos/a.jpg", Size: 1258291, Root: "6a09e667f3bcc908b2fb1366ea957d3e3adec17512775099da2f590b0667322a", ResumedBytes: 0, WireBytes: 1100000, DurationS: 0.25},
		&client.FileDone{File: "photos/b.jpg", Size: 3, Root: "bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1510e527fade682d1", Skipped: true},
		&client.FileError{File: "secret\n<&>.txt", Code: "permission_denied", Error: "open secret: permission denied"},
		&client.FileError{File: "link", Code: "skipped", Error: "symbolic link not followed"},
		&client.Reconnect{Attempt: 2, DelayS: 1.5, Error: "connection reset by peer", KeptBytes: 536870912},
		&client.ListEntry{Name: "photos", Type: "dir", Mode: "0755", MTime: "2024-01-02T15:04:05.123456789Z"},
		&client.ListEntry{Name: "a.txt", Type: "file", Size: 1234, Mode: "0644", MTime: "2024-01-02T15:04:05Z", Root: "3c6ef372fe94f82ba54ff53a5f1d36f1510e527fade682d16a09e667f3bcc908"},
		&client.Summary{Files: 12, Failed: 1, Skipped: 2, Bytes: 3565158, WireBytes: 3000000, ResumedBytes: 1048576, DurationS: 1.2, OK: false},
	}
	var buf bytes.Buffer
	r := ui.NewJSON(&buf)
	for _, ev := range evs {
		r.Event(ev)
	}
	r.Close()

	golden := filepath.Join("testdata", "events.jsonl")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("JSON events differ from %s (run with -update if the change is intended):\ngot:\n%s\nwant:\n%s", golden, buf.Bytes(), want)
	}
}
