package client

import (
	"context"
	"os"
	"path"
	"path/filepath"

	"xfer/address"
	"xfer/protocol"
	"xfer/transfer"
)

// Send uploads the local files and directory trees srcs to dest, a remote
// address ([tcp://|quic://]HOST[:PORT][/PATH]). As with cp and scp, a
// destination ending in "/", an existing remote directory, or several
// sources mean "into this directory"; otherwise a single source is stored
// under the destination's name. Symbolic links are reported and skipped.
//
// Send retries dropped connections (Options.Retries), resuming partial
// files, and returns a Summary of the run. The error is an *Error; its
// Kind is KindPartial when some files failed and others arrived.
func Send(ctx context.Context, o Options, srcs []string, dest string) (*Summary, error) {
	a, err := address.Parse(dest)
	if err != nil {
		return nil, &Error{Kind: KindUsage, Err: err}
	}
	if len(srcs) == 0 {
		return nil, errorf(KindUsage, "", "send: no source files")
	}
	type source struct{ dir, name string }
	var sources []source
	for _, s := range srcs {
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, &Error{Kind: KindUsage, Err: err}
		}
		dir, name := filepath.Split(abs)
		if name == "" {
			return nil, errorf(KindUsage, "", "send: cannot send the file system root %q", s)
		}
		sources = append(sources, source{dir, name})
	}
	hello := &protocol.Hello{Op: protocol.OpSend, ChunkSize: o.ChunkSize, Paths: []string{a.Path}}
	if a.Dir || len(srcs) > 1 {
		hello.Flags |= protocol.HelloInto
	}
	if o.NoClobber {
		hello.Flags |= protocol.HelloNoClobber
	}
	if o.NoResume {
		hello.Flags |= protocol.HelloNoResume
	}
	r := newRun(&o)
	err = r.loop(ctx, func(attempt int) error {
		if attempt > 0 {
			hello.Flags &^= protocol.HelloNoResume // resume what this run began
		}
		s, err := o.open(ctx, a, hello)
		if err != nil {
			return err
		}
		defer s.conn.Close()
		items := make(chan transfer.Item, 256)
		stop := make(chan struct{})
		walked := make(chan struct{})
		// Roots stay open until the send is over: items are opened
		// through them later.
		var roots []*os.Root
		defer func() {
			close(stop)
			<-walked
			for _, root := range roots {
				root.Close()
			}
		}()
		go func() {
			defer close(walked)
			defer close(items)
			for _, src := range sources {
				root, err := os.OpenRoot(src.dir)
				if err != nil {
					select {
					case items <- transfer.Item{Path: src.name, Err: err}:
					case <-stop:
						return
					}
					continue
				}
				roots = append(roots, root)
				if !walkFiltered(root, src.name, r, items, stop) {
					return
				}
			}
		}()
		_, err = transfer.Send(ctx, s.conn, items, transfer.SendOptions{
			ChunkSize: s.welcome.ChunkSize,
			Compress:  o.Compress,
			Hooks:     r.hooks(),
		})
		return err
	})
	return r.finish(err)
}

// walkFiltered walks a source, leaving out files an earlier attempt
// finished.
func walkFiltered(root *os.Root, name string, r *run, out chan<- transfer.Item, stop <-chan struct{}) bool {
	inner := make(chan transfer.Item, 64)
	done := make(chan bool, 1)
	go func() { done <- transfer.Walk(root, name, path.Clean(name), inner, stop); close(inner) }()
	for it := range inner {
		if !it.Dir && r.isFinished(it.Path) {
			continue
		}
		select {
		case out <- it:
		case <-stop:
			for range inner {
			}
			return false
		}
	}
	return <-done
}
