package client

import (
	"context"
	"strings"
	"sync"
	"time"

	"xfer/protocol"
	"xfer/transfer"
)

// run accumulates the results of one operation across retries.
type run struct {
	o        *Options
	em       *emitter
	start    time.Time
	mu       sync.Mutex
	finished map[string]bool // paths with a final result (done or failed for good)
	retry    int             // files failed with a transient error this attempt
	lastTry  bool
	sum      Summary
	// The failures: the first one, and whether they had different codes.
	firstFail transfer.FileResult
	mixed     bool
}

func newRun(o *Options) *run {
	return &run{o: o, em: newEmitter(o.Events), start: time.Now(), finished: make(map[string]bool)}
}

// transient reports whether a per-file failure is worth another attempt.
func transient(code uint16) bool {
	switch code {
	case protocol.CodeBusy, protocol.CodeShuttingDown, protocol.CodeVerifyFailed:
		return true
	}
	return false
}

func (r *run) isFinished(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished[path]
}

func (r *run) hooks() *transfer.Hooks {
	return &transfer.Hooks{
		Begin:    r.em.expect,
		Progress: r.em.progress,
		File:     r.file,
	}
}

// file records one result and emits its event.
func (r *run) file(res transfer.FileResult) {
	r.mu.Lock()
	if res.Path != "" && r.finished[res.Path] {
		r.mu.Unlock()
		return // already reported by an earlier attempt
	}
	if res.Err != nil && transient(res.Code()) && !r.lastTry {
		r.retry++
		r.mu.Unlock()
		r.em.forget(res.Path)
		return
	}
	if res.Path != "" && !res.Dir {
		r.finished[res.Path] = true
	}
	switch {
	case res.Err != nil && res.Code() == protocol.CodeUnsupported:
		// Symlinks and special files are reported and skipped, as
		// rsync does without -l; they do not fail the run.
	case res.Err != nil:
		if r.sum.Failed == 0 {
			r.firstFail = res
		} else if res.Code() != r.firstFail.Code() {
			r.mixed = true
		}
		r.sum.Failed++
	case res.Dir:
		r.mu.Unlock()
		return
	default:
		r.sum.Files++
		r.sum.Bytes += res.Size
		r.sum.WireBytes += res.WireBytes
		r.sum.ResumedBytes += res.ResumedBytes
		if res.Skipped {
			r.sum.Skipped++
		}
	}
	r.mu.Unlock()
	if res.Err != nil {
		msg := strings.TrimPrefix(res.Err.Error(), res.Path+": ")
		code := protocol.CodeName(res.Code())
		if res.Code() == protocol.CodeUnsupported {
			code = "skipped" // as documented; the run does not fail
		}
		r.em.emit(&FileError{V: SchemaVersion, Event: "file_error", File: res.Path, Code: code, Error: msg})
		return
	}
	r.em.emit(&FileDone{
		V: SchemaVersion, Event: "file_done", File: res.Path, Size: res.Size, Root: res.Root.String(),
		Skipped: res.Skipped, ResumedBytes: res.ResumedBytes, WireBytes: res.WireBytes, DurationS: res.Duration.Seconds(),
	})
}

// attempt runs one session per try until fn succeeds with no transient
// failures, a non-retryable error occurs, or retries run out.
func (r *run) loop(ctx context.Context, fn func(attempt int) error) error {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.em.restart(r.isFinished)
		}
		r.mu.Lock()
		r.retry = 0
		r.lastTry = r.o.Retries < 0 || attempt >= r.o.Retries
		r.mu.Unlock()
		err := fn(attempt)
		var ce *Error
		if err != nil {
			ce = classify(ctx, err)
			if !retryable(ce) || r.lastTry {
				return ce
			}
		} else {
			r.mu.Lock()
			again := r.retry > 0
			r.mu.Unlock()
			if !again {
				return nil
			}
			ce = &Error{Kind: KindConnection, Err: errRetryFiles}
		}
		d := r.o.backoff(attempt + 1)
		r.em.emit(&Reconnect{V: SchemaVersion, Event: "reconnect", Attempt: attempt + 2, DelayS: d.Seconds(), Error: ce.Error(), KeptBytes: r.kept()})
		if err := sleepCtx(ctx, d); err != nil {
			return classify(ctx, err)
		}
	}
}

var errRetryFiles = &protocol.Error{Code: protocol.CodeBusy, Message: "some files must be sent again"}

// setExcluded records how many paths the filter left out in the
// latest attempt (each attempt walks the sources again).
func (r *run) setExcluded(n int) {
	r.mu.Lock()
	r.sum.Excluded = n
	r.mu.Unlock()
}

func (r *run) kept() uint64 {
	r.em.mu.Lock()
	defer r.em.mu.Unlock()
	return r.em.done
}

// finish emits the summary and returns the operation's error: err, or,
// when files failed, an error of kind:
//
//   - KindNotFound or KindPermission when no file arrived and every
//     failure was not_found, or every one permission_denied;
//   - KindPartial otherwise.
//
// A KindNotFound or KindPermission error names the first failure.
func (r *run) finish(err error) (*Summary, error) {
	r.mu.Lock()
	s := r.sum
	first, mixed := r.firstFail, r.mixed
	r.mu.Unlock()
	s.V, s.Event = SchemaVersion, "summary"
	s.DurationS = time.Since(r.start).Seconds()
	if err == nil && s.Failed > 0 {
		kind := KindPartial
		if s.Files == 0 && !mixed {
			switch first.Code() {
			case protocol.CodeNotFound:
				kind = KindNotFound
			case protocol.CodePermissionDenied:
				kind = KindPermission
			}
		}
		switch {
		case kind != KindPartial && s.Failed == 1:
			err = &Error{Kind: kind, Err: first.Err}
		case kind != KindPartial:
			err = errorf(kind, "", "%d of %d files failed, the first with: %v", s.Failed, s.Failed, first.Err)
		default:
			err = errorf(kind, "", "%d of %d files failed", s.Failed, s.Failed+s.Files)
		}
	}
	s.OK = err == nil
	r.em.emit(&s)
	return &s, err
}
