package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"xfer/client"
	"xfer/internal/ui"
)

// dryRunText prints a dry run for people: one line per path on stdout,
//
//	send photos/
//	send photos/a.jpg (1.2 MiB)
//	exclude photos/thumbs/ (--exclude thumbs/)
//	dry run: would send 12 files (3.4 MiB); 1 excluded; nothing was sent
//
// (directories end in "/"), and failed or skipped sources on stderr
// through rest, as a real send prints them. With verbose, a path to send
// also shows the reason ("[--include *.go]", "[parent of a listed
// path]"); with quiet, only rest gets events.
type dryRunText struct {
	mu      sync.Mutex
	w       io.Writer
	rest    ui.Reporter
	quiet   bool
	verbose bool
}

func (r *dryRunText) Event(ev client.Event) {
	switch e := ev.(type) {
	case *client.DryRun:
		if r.quiet {
			return
		}
		name := ui.Escape(e.File)
		if e.Type == "dir" {
			name += "/"
		}
		var line string
		switch {
		case e.Action == "exclude":
			line = fmt.Sprintf("exclude %s (%s)", name, ui.Escape(e.Reason))
		case e.Type == "dir":
			line = "send " + name
		default:
			line = fmt.Sprintf("send %s (%s)", name, ui.FormatBytes(e.Size))
		}
		if r.verbose && e.Action != "exclude" && e.Reason != "" {
			line += " [" + ui.Escape(e.Reason) + "]"
		}
		r.print(line)
	case *client.Summary:
		if r.quiet {
			return
		}
		var b strings.Builder
		noun := "files"
		if e.Files == 1 {
			noun = "file"
		}
		fmt.Fprintf(&b, "dry run: would send %d %s (%s)", e.Files, noun, ui.FormatBytes(e.Bytes))
		if e.Excluded > 0 {
			fmt.Fprintf(&b, "; %d excluded", e.Excluded)
		}
		if e.Failed > 0 {
			fmt.Fprintf(&b, "; %d failed", e.Failed)
		}
		b.WriteString("; nothing was sent")
		r.print(b.String())
	default:
		r.rest.Event(ev)
	}
}

func (r *dryRunText) print(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	io.WriteString(r.w, line+"\n")
}

func (r *dryRunText) Close() { r.rest.Close() }
