package client

// Events report what a transfer does. Every event has an Event name and
// the schema version V; their JSON forms (cmd/xfer --json) are xfer's
// machine interface, documented field by field, with the order in which
// events come, in docs/json.md. Fields are only ever added within a
// version; a change that breaks a consumer raises SchemaVersion.

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
// skipped, such as a symlink or a FIFO: Code "skipped", which does not
// fail the run).
type FileError struct {
	V     int    `json:"v"`
	Event string `json:"event"` // "file_error"
	File  string `json:"file"`
	Code  string `json:"code"` // e.g. "not_found", "permission_denied", "bad_path", "source_changed", "skipped"
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
	// Excluded counts the paths --exclude left out (an excluded
	// directory counts once). Absent when 0.
	Excluded int `json:"excluded,omitempty"`
	// DryRun is true for the summary of a dry run (Options.DryRun):
	// Files and Bytes are then what would be sent. Absent when false.
	DryRun bool `json:"dry_run,omitempty"`
}

// DryRun reports, in a dry run (Options.DryRun), one path that would be
// sent or that a rule excludes, in walk order. A dry run looks at the
// local side only: it does not know what the daemon already holds.
type DryRun struct {
	V      int    `json:"v"`
	Event  string `json:"event"`  // "dry_run"
	File   string `json:"file"`   // the path as it would be sent
	Type   string `json:"type"`   // "file" or "dir"
	Action string `json:"action"` // "send" or "exclude"
	Size   uint64 `json:"size"`   // file size in bytes; 0 for a directory
	// Reason says what decided: the rule that matched ("--exclude *.log",
	// "--include *.go"), why an excluded parent excludes a listed path,
	// or "" when no rule matched.
	Reason string `json:"reason"`
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
func (*DryRun) EventName() string    { return "dry_run" }
