package ui

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"

	"xfer/client"
)

// renderInterval is the shortest time between two redraws of the bar.
const renderInterval = 100 * time.Millisecond

// NewProgress returns a Reporter for a terminal w (normally stderr): a
// progress bar over the bytes of the whole run, with rate and ETA, whose
// description is the current file (escaped, shortened from the left to
// about a third of the terminal width) and how much of it is done. The lines
// [NewText] prints for finished and failed files, reconnects and the
// summary appear above the bar: the bar is cleared, the line printed, and
// the bar drawn again. The bar is redrawn at most every 100 ms, and is
// removed at the summary and on Close; it does not appear until an event
// reports a non-zero total. Options are those of [NewText].
func NewProgress(w io.Writer, opts ...Option) Reporter {
	return &progressReporter{w: w, opts: newOptions(opts)}
}

type progressReporter struct {
	mu   sync.Mutex
	w    io.Writer
	opts options

	// The latest progress.
	file                  string
	fileDone, fileTotal   uint64
	totalDone, totalBytes uint64

	bar        *progressbar.ProgressBar
	barMax     int64
	barDesc    string
	shown      bool // the bar is on the screen
	dirty      bool // the bar is behind the latest progress
	lastRender time.Time
	timer      *time.Timer
	stopped    bool // summary seen or closed: no more bar
	closed     bool
}

func (r *progressReporter) Event(ev client.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	switch e := ev.(type) {
	case *client.Progress:
		if e == nil || r.stopped {
			return
		}
		r.file, r.fileDone, r.fileTotal = e.File, e.BytesDone, e.BytesTotal
		r.totalDone, r.totalBytes = e.TotalDone, e.TotalBytes
		r.dirty = true
		r.scheduleLocked()
		return
	case *client.Summary:
		if e != nil {
			r.stopLocked()
		}
	}
	line, ok := textLine(ev, false, r.opts)
	if !ok {
		return
	}
	r.clearLocked()
	io.WriteString(r.w, line+"\n")
	if !r.stopped && r.bar != nil {
		r.dirty = true
		r.scheduleLocked()
	}
}

func (r *progressReporter) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.stopLocked()
	r.closed = true
}

// stopLocked removes the bar for good.
func (r *progressReporter) stopLocked() {
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.clearLocked()
}

func (r *progressReporter) clearLocked() {
	if r.shown {
		r.bar.Clear()
		r.shown = false
	}
}

// scheduleLocked draws the bar now if the last drawing is old enough, and
// otherwise makes sure a timer will.
func (r *progressReporter) scheduleLocked() {
	if since := time.Since(r.lastRender); since >= renderInterval {
		r.renderLocked()
	} else if r.timer == nil {
		r.timer = time.AfterFunc(renderInterval-since, r.onTimer)
	}
}

func (r *progressReporter) onTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timer = nil
	if r.dirty && !r.stopped {
		r.renderLocked()
	}
}

func (r *progressReporter) renderLocked() {
	if r.totalBytes == 0 {
		return // nothing to measure yet (or only empty files)
	}
	r.dirty = false
	r.lastRender = time.Now()

	max := int64(math.MaxInt64)
	if r.totalBytes < math.MaxInt64 {
		max = int64(r.totalBytes)
	}
	// The bar never reaches its maximum while running: progressbar
	// finishes a full bar for good, and the total may still grow as the
	// source tree is walked. The summary removes the bar.
	val := max - 1
	if r.totalDone < uint64(val) {
		val = int64(r.totalDone)
	}
	cols := termWidth(r.w)
	desc := r.description(cols)

	if r.bar == nil {
		r.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(25),
			progressbar.OptionThrottle(0),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionSetTheme(progressbar.Theme{
				Saucer: "=", SaucerHead: ">", SaucerPadding: " ", BarStart: "[", BarEnd: "]",
			}),
		)
		r.barMax, r.barDesc = max, desc
	}
	if max != r.barMax {
		r.bar.ChangeMax64(max)
		r.barMax = max
	}
	if desc != r.barDesc {
		// Applying the option sets the description without drawing
		// (Describe would draw once more); all calls into the bar are
		// serialized by r.mu, and a bar of known length runs no
		// goroutine of its own.
		progressbar.OptionSetDescription(desc)(r.bar)
		r.barDesc = desc
	}
	r.bar.Set64(val) // draws
	r.shown = true
}

// barReserve is roughly how many columns the bar needs besides its
// description: percentage, brackets, byte counts, rate and times.
const barReserve = 44

// description is the current file, shortened from the left and padded to
// a third of the terminal (20 to 50 columns, less if the bar needs them),
// and how much of it is done in parentheses; the bar's own percentage,
// which follows, is the total's:
//
//	photos/a.jpg        ( 45%)  12% [==>      ] (1.2/10 MiB, 30 MiB/s) [0s:1s]
//
// On narrow terminals the file's percentage, then the name, are dropped.
func (r *progressReporter) description(cols int) string {
	pct := ""
	if r.fileTotal > 0 {
		done := min(r.fileDone, r.fileTotal)
		var p uint64
		if r.fileTotal > math.MaxUint64/100 {
			p = done / (r.fileTotal / 100)
		} else {
			p = done * 100 / r.fileTotal
		}
		pct = fmt.Sprintf(" (%3d%%)", p)
	} else {
		pct = "       "
	}
	width := min(cols-barReserve-len(pct), max(cols/3, 20), 50)
	if width < 10 {
		pct = ""
		width = min(cols-barReserve-1, 50)
		if width < 8 {
			return ""
		}
	}
	name := Escape(r.file)
	if n := utf8.RuneCountInString(name); n > width {
		rs := []rune(name)
		name = "…" + string(rs[n-width+1:])
	} else {
		name += strings.Repeat(" ", width-n)
	}
	return name + pct
}
