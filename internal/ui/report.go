package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"xfer/client"
)

// Reporter receives the events of a run from the client library. All
// reporters in this package are safe for concurrent use. Write errors are
// dropped: output is best effort, and the exit status carries the result.
type Reporter interface {
	Event(ev client.Event)
	// Close flushes what is buffered and removes a progress bar from the
	// screen. Events after Close are ignored.
	Close()
}

// Option adjusts a text or progress reporter.
type Option func(*options)

type options struct {
	verb       string
	errorsOnly bool
}

func newOptions(opts []Option) options {
	o := options{verb: "sent"}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Verb sets the word that starts the line of a transferred file: "sent"
// (the default) for xfer send, "received" for xfer get.
func Verb(verb string) Option {
	return func(o *options) { o.verb = verb }
}

// ErrorsOnly makes a text reporter print only the lines of files that
// failed ("error: FILE: REASON"), for -q: quiet, but never silent about a
// file that did not arrive.
func ErrorsOnly() Option {
	return func(o *options) { o.errorsOnly = true }
}

// NewQuiet returns a Reporter that prints nothing.
func NewQuiet() Reporter { return quiet{} }

type quiet struct{}

func (quiet) Event(client.Event) {}
func (quiet) Close()             {}

// NewJSON returns a Reporter that writes each event to w as one JSON object
// on one line (the --json machine interface), flushing w after each event
// when w has a Flush() error method (as *bufio.Writer does). Events are
// written as the client library made them; an event whose V is 0 gets
// V = client.SchemaVersion, and one whose Event is empty gets its
// EventName(), on a copy, so the caller's value is never modified.
// HTML characters are not escaped; control characters and invalid UTF-8
// are, as encoding/json does.
func NewJSON(w io.Writer) Reporter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonReporter{w: w, enc: enc}
}

type jsonReporter struct {
	mu     sync.Mutex
	w      io.Writer
	enc    *json.Encoder
	err    error
	closed bool
}

type flusher interface{ Flush() error }

func (r *jsonReporter) Event(ev client.Event) {
	v := withHeader(ev)
	if v == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil || r.closed {
		return
	}
	if err := r.enc.Encode(v); err != nil {
		r.err = err
		return
	}
	if f, ok := r.w.(flusher); ok {
		r.err = f.Flush()
	}
}

func (r *jsonReporter) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if f, ok := r.w.(flusher); ok && r.err == nil {
		r.err = f.Flush()
	}
}

// withHeader returns a copy of ev with V and Event filled in, or nil for a
// nil event. Event types it does not know are returned as they are.
func withHeader(ev client.Event) any {
	fill := func(v *int, name *string, evName string) {
		if *v == 0 {
			*v = client.SchemaVersion
		}
		if *name == "" {
			*name = evName
		}
	}
	switch e := ev.(type) {
	case nil:
		return nil
	case *client.Progress:
		if e == nil {
			return nil
		}
		c := *e
		fill(&c.V, &c.Event, e.EventName())
		return &c
	case *client.FileDone:
		if e == nil {
			return nil
		}
		c := *e
		fill(&c.V, &c.Event, e.EventName())
		return &c
	case *client.FileError:
		if e == nil {
			return nil
		}
		c := *e
		fill(&c.V, &c.Event, e.EventName())
		return &c
	case *client.Reconnect:
		if e == nil {
			return nil
		}
		c := *e
		fill(&c.V, &c.Event, e.EventName())
		return &c
	case *client.Summary:
		if e == nil {
			return nil
		}
		c := *e
		fill(&c.V, &c.Event, e.EventName())
		return &c
	case *client.ListEntry:
		if e == nil {
			return nil
		}
		c := *e
		fill(&c.V, &c.Event, e.EventName())
		return &c
	}
	return ev
}

// NewText returns a Reporter for human output that is not a terminal (a
// log, a pipe): one line per event, written with a single Write. Progress
// events are ignored. The lines are:
//
//	sent photos/a.jpg (1.2 MiB)
//	sent big.iso (4.0 GiB, resumed 512 MiB)
//	up to date: photos/b.jpg
//	skipped: link: symbolic link not followed
//	error: secret.txt: permission denied
//	reconnecting in 2s (attempt 2, kept 512 MiB): connection reset by peer
//	done: 12 files (3.4 MiB) in 1.2s, 2.8 MiB/s, 2 up to date
//	incomplete: 11 files (3.3 MiB) in 1.2s, 2.7 MiB/s, 1 failed
//
// and, for listing entries, [FormatEntry] in its short form. With verbose,
// file lines add wire bytes, duration and the file root; error lines add
// the error code; the summary adds wire and resumed bytes; entries use the
// long form. Names and messages are escaped with [Escape]. The first word
// of a file line is set with [Verb]; [ErrorsOnly] keeps only error lines.
func NewText(w io.Writer, verbose bool, opts ...Option) Reporter {
	return &textReporter{w: w, verbose: verbose, opts: newOptions(opts)}
}

type textReporter struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	opts    options
	closed  bool
}

func (r *textReporter) Event(ev client.Event) {
	line, ok := textLine(ev, r.verbose, r.opts)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	io.WriteString(r.w, line+"\n")
}

func (r *textReporter) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		if f, ok := r.w.(flusher); ok {
			f.Flush()
		}
	}
}

// textLine returns the line NewText prints for ev, without a newline.
func textLine(ev client.Event, verbose bool, o options) (string, bool) {
	switch e := ev.(type) {
	case *client.FileError:
		if e == nil || (o.errorsOnly && e.Code == "skipped") {
			return "", false
		}
		word := "error"
		if e.Code == "skipped" {
			word = "skipped"
		}
		line := fmt.Sprintf("%s: %s: %s", word, Escape(e.File), Escape(e.Error))
		if e.File == "" { // a source the daemon could not even name
			line = fmt.Sprintf("%s: %s", word, Escape(e.Error))
		}
		if verbose && e.Code != "" && e.Code != "skipped" {
			line += " [" + Escape(e.Code) + "]"
		}
		return line, true
	}
	if o.errorsOnly {
		return "", false
	}
	switch e := ev.(type) {
	case *client.FileDone:
		if e == nil {
			return "", false
		}
		if e.Skipped {
			return "up to date: " + Escape(e.File), true
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s (%s", o.verb, Escape(e.File), FormatBytes(e.Size))
		if e.ResumedBytes > 0 {
			fmt.Fprintf(&b, ", resumed %s", FormatBytes(e.ResumedBytes))
		}
		if verbose {
			fmt.Fprintf(&b, ", wire %s, %s", FormatBytes(e.WireBytes), formatDuration(seconds(e.DurationS)))
			if e.Root != "" {
				fmt.Fprintf(&b, ", root %s", Escape(e.Root))
			}
		}
		b.WriteByte(')')
		return b.String(), true
	case *client.Reconnect:
		if e == nil {
			return "", false
		}
		var b strings.Builder
		b.WriteString("reconnecting")
		if d := seconds(e.DelayS); d > 0 {
			fmt.Fprintf(&b, " in %s", formatDuration(d))
		}
		fmt.Fprintf(&b, " (attempt %d, kept %s): %s", e.Attempt, FormatBytes(e.KeptBytes), Escape(e.Error))
		return b.String(), true
	case *client.Summary:
		if e == nil {
			return "", false
		}
		return summaryLine(e, verbose), true
	case *client.ListEntry:
		if e == nil {
			return "", false
		}
		return FormatEntry(e, verbose), true
	}
	return "", false
}

func summaryLine(s *client.Summary, verbose bool) string {
	var b strings.Builder
	if s.OK {
		b.WriteString("done: ")
	} else {
		b.WriteString("incomplete: ")
	}
	noun := "files"
	if s.Files == 1 {
		noun = "file"
	}
	d := seconds(s.DurationS)
	fmt.Fprintf(&b, "%d %s (%s) in %s", s.Files, noun, FormatBytes(s.Bytes), formatDuration(d))
	if d > 0 {
		fmt.Fprintf(&b, ", %s/s", FormatBytes(uint64(float64(s.Bytes)/d.Seconds())))
	}
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d up to date", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	if verbose {
		fmt.Fprintf(&b, ", wire %s, resumed %s", FormatBytes(s.WireBytes), FormatBytes(s.ResumedBytes))
	}
	return b.String()
}
