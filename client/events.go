package client

// Events report what a transfer does. Every event has an Event name and
// the schema version V; the JSON forms are xfer's machine interface,
// documented in the README.

// SchemaVersion is the "v" of every event.
const SchemaVersion = 1

// Event is implemented by every event type.
type Event interface{ EventName() string }

// Progress reports bytes of one file, and of the whole run, so far.
type Progress struct {
	V          int    `json:"v"`
	Event      string `json:"event"` // "progress"
	File       string `json:"file"`
	BytesDone  uint64 `json:"bytes_done"`
	BytesTotal uint64 `json:"bytes_total"`
	// Run-wide totals.
	TotalDone  uint64 `json:"total_done"`
	TotalBytes uint64 `json:"total_bytes"`
}

// FileDone reports a file that arrived verified (or was already there).
type FileDone struct {
	V            int     `json:"v"`
	Event        string  `json:"event"` // "file_done"
	File         string  `json:"file"`
	Size         uint64  `json:"size"`
	Root         string  `json:"root"`
	Skipped      bool    `json:"skipped"`
	ResumedBytes uint64  `json:"resumed_bytes"`
	WireBytes    uint64  `json:"wire_bytes"`
	DurationS    float64 `json:"duration_s"`
}

// FileError reports a file that did not arrive (or a source that was
// skipped, such as a symlink: Code "skipped").
type FileError struct {
	V     int    `json:"v"`
	Event string `json:"event"` // "file_error"
	File  string `json:"file"`
	Code  string `json:"code"` // e.g. "not_found", "permission_denied", "source_changed", "skipped"
	Error string `json:"error"`
}

// Reconnect reports a dropped connection that will be retried.
type Reconnect struct {
	V         int     `json:"v"`
	Event     string  `json:"event"` // "reconnect"
	Attempt   int     `json:"attempt"`
	DelayS    float64 `json:"delay_s"`
	Error     string  `json:"error"`
	KeptBytes uint64  `json:"kept_bytes"` // bytes verified so far that will not be re-sent
}

// Summary is the last event of a run.
type Summary struct {
	V            int     `json:"v"`
	Event        string  `json:"event"`   // "summary"
	Files        int     `json:"files"`   // files that arrived verified or were up to date
	Failed       int     `json:"failed"`  // files that did not
	Skipped      int     `json:"skipped"` // of Files, already up to date
	Bytes        uint64  `json:"bytes"`   // size of the files done
	WireBytes    uint64  `json:"wire_bytes"`
	ResumedBytes uint64  `json:"resumed_bytes"`
	DurationS    float64 `json:"duration_s"`
	OK           bool    `json:"ok"`
}

// ListEntry is one entry of a remote listing.
type ListEntry struct {
	V     int    `json:"v"`
	Event string `json:"event"` // "entry"
	Name  string `json:"name"`
	Type  string `json:"type"` // "file", "dir", "symlink", "other"
	Size  uint64 `json:"size"`
	Mode  string `json:"mode"`  // e.g. "0644"
	MTime string `json:"mtime"` // RFC 3339 with nanoseconds, UTC
	Root  string `json:"root,omitempty"`
}

func (*Progress) EventName() string  { return "progress" }
func (*FileDone) EventName() string  { return "file_done" }
func (*FileError) EventName() string { return "file_error" }
func (*Reconnect) EventName() string { return "reconnect" }
func (*Summary) EventName() string   { return "summary" }
func (*ListEntry) EventName() string { return "entry" }
