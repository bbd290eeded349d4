package client

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"

	"xfer/address"
	"xfer/protocol"
	"xfer/transfer"
)

// Send uploads the local files and directory trees srcs to dest, a remote
// address ([tcp://|quic://]HOST[:PORT][/PATH]). As with cp and scp, a
// destination ending in "/", an existing remote directory, or several
// sources mean "into this directory"; otherwise a single source is stored
// under the destination's name. Symbolic links and special files are
// reported (FileError with Code "skipped") and not sent.
//
// With Options.FilesFrom, srcs must be empty and the listed paths are
// sent into dest with their relative structure (see [FileList]).
// Options.Filter leaves paths out; Options.DryRun only reports what
// would be sent.
//
// Send retries dropped connections (Options.Retries), resuming partial
// files, and returns a Summary of the run (also the last event given to
// Options.Events). The error is an *Error; its Kind is KindPartial when
// some files failed and others arrived.
func Send(ctx context.Context, o Options, srcs []string, dest string) (*Summary, error) {
	a, err := address.Parse(dest)
	if err != nil {
		return nil, &Error{Kind: KindUsage, Err: err}
	}
	src := &sources{filter: o.Filter}
	switch {
	case o.FilesFrom != nil && len(srcs) > 0:
		return nil, &Error{Kind: KindUsage, Err: errListWithSources}
	case o.FilesFrom != nil:
		src.list = newPathList(o.FilesFrom)
		src.dir = o.FilesFrom.Dir
	case len(srcs) == 0:
		return nil, errorf(KindUsage, "", "send: no source files")
	}
	for _, s := range srcs {
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, &Error{Kind: KindUsage, Err: err}
		}
		dir, name := filepath.Split(abs)
		if name == "" {
			return nil, errorf(KindUsage, "", "send: cannot send the file system root %q", s)
		}
		src.args = append(src.args, source{dir, name})
	}
	if o.DryRun {
		return dryRun(ctx, &o, src)
	}
	hello := &protocol.Hello{Op: protocol.OpSend, ChunkSize: o.ChunkSize, Paths: []string{a.Path}}
	if a.Dir || len(srcs) > 1 || src.list != nil {
		hello.Flags |= protocol.HelloInto
	}
	if o.NoClobber {
		hello.Flags |= protocol.HelloNoClobber
	}
	if o.NoResume {
		hello.Flags |= protocol.HelloNoResume
	}
	r := newRun(&o)
	// One run ID for all attempts: a retry continues the partials this run
	// began, even with NoResume (which discards only older ones).
	var runID [16]byte
	rand.Read(runID[:])
	err = r.loop(ctx, func(attempt int) error {
		s, err := o.open(ctx, a, hello)
		if err != nil {
			return err
		}
		defer s.conn.Close()
		items := make(chan transfer.Item, 256)
		// The walk stops when the send is over, or at once on an
		// interrupt: transfer.Send waits for items until the walk ends,
		// and the walk may be waiting for a file list that is idle.
		stop := make(chan struct{})
		var stopOnce sync.Once
		halt := func() { stopOnce.Do(func() { close(stop) }) }
		defer context.AfterFunc(ctx, halt)()
		walked := make(chan struct{})
		excluded := 0
		w := &walker{
			s:    src,
			stop: stop,
			done: r.isFinished,
			emit: func(it transfer.Item, _ string) bool {
				select {
				case items <- it:
					return true
				case <-stop:
					return false
				}
			},
			exclude: func(string, bool, uint64, string) { excluded++ },
		}
		go func() {
			defer close(walked)
			defer close(items)
			w.run()
		}()
		_, err = transfer.Send(ctx, s.conn, items, transfer.SendOptions{
			ChunkSize: s.welcome.ChunkSize,
			Compress:  o.Compress,
			Hooks:     r.hooks(),
			RunID:     runID,
			Attempt:   uint32(attempt + 1),
		})
		// Roots stay open until the send is over: items are opened
		// through them.
		halt()
		<-walked
		w.close()
		r.setExcluded(excluded)
		switch {
		case err == nil && ctx.Err() != nil:
			// Interrupted: the walk may have ended early.
			return ctx.Err()
		case err == nil && w.err != nil:
			return w.err
		}
		return err
	})
	return r.finish(err)
}

// dryRun walks the sources and reports what a send would do, without
// connecting.
func dryRun(ctx context.Context, o *Options, src *sources) (*Summary, error) {
	r := newRun(o)
	r.sum.DryRun = true
	r.lastTry = true // no failure is worth another attempt
	w := &walker{s: src, stop: ctx.Done()}
	w.emit = func(it transfer.Item, reason string) bool {
		if ctx.Err() != nil {
			return false
		}
		if it.Err != nil {
			r.file(transfer.FileResult{Path: it.Path, Dir: it.Dir, Err: it.Err})
			return true
		}
		ev := &DryRun{V: SchemaVersion, Event: "dry_run", File: it.Path, Type: "file", Action: "send", Size: it.Size, Reason: reason}
		if it.Dir {
			ev.Type, ev.Size = "dir", 0
		} else {
			r.mu.Lock()
			r.sum.Files++
			r.sum.Bytes += it.Size
			r.mu.Unlock()
		}
		r.em.emit(ev)
		return true
	}
	w.exclude = func(wire string, dir bool, size uint64, reason string) {
		r.mu.Lock()
		r.sum.Excluded++
		r.mu.Unlock()
		ev := &DryRun{V: SchemaVersion, Event: "dry_run", File: wire, Type: "file", Action: "exclude", Size: size, Reason: reason}
		if dir {
			ev.Type = "dir"
		}
		r.em.emit(ev)
	}
	ok := w.run()
	w.close()
	var err error
	switch {
	case !ok || ctx.Err() != nil:
		err = classify(ctx, ctx.Err())
	case w.err != nil:
		err = w.err
	}
	return r.finish(err)
}
