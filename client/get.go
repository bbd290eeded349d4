package client

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"xfer/address"
	"xfer/protocol"
	"xfer/transfer"
)

// Get downloads remote files and trees (addresses on one daemon) to the
// local path dest, with cp semantics: an existing directory, a trailing
// "/", or several sources mean "into dest"; otherwise the single source
// is stored as dest. Names the daemon sends are checked as strictly as the
// daemon checks client paths, and every file is written through an
// os.Root on the destination, so a get can create files only under dest.
//
// Like Send, Get retries dropped connections, reports through
// Options.Events, and returns the run's Summary and an *Error (KindPartial
// when some files failed and others arrived).
func Get(ctx context.Context, o Options, srcs []string, dest string) (*Summary, error) {
	if err := o.sendOnly("get"); err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, errorf(KindUsage, "", "get: no source")
	}
	var a address.Address
	var paths []string
	for i, s := range srcs {
		ai, err := address.Parse(s)
		if err != nil {
			return nil, &Error{Kind: KindUsage, Err: err}
		}
		if i > 0 && (ai.Scheme != a.Scheme || ai.HostPort() != a.HostPort()) {
			return nil, errorf(KindUsage, "", "get: all sources must be on one daemon (%s and %s)", a.HostPort(), ai.HostPort())
		}
		a = ai
		paths = append(paths, ai.Path)
	}
	into := len(srcs) > 1 || strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, string(filepath.Separator))
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		into = true
	} else if err == nil && into {
		return nil, errorf(KindUsage, "", "get: %s exists and is not a directory", dest)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Kind: KindUsage, Err: err}
	}
	base, rename := dest, ""
	if !into {
		abs, err := filepath.Abs(dest)
		if err != nil {
			return nil, &Error{Kind: KindUsage, Err: err}
		}
		base, rename = filepath.Dir(abs), filepath.Base(abs)
		if err := protocol.CheckName(rename); err != nil {
			return nil, errorf(KindUsage, "", "get: destination name %q: %v", rename, err)
		}
	}
	// The destination directory is created only once the daemon has
	// accepted the request: a refused get leaves nothing behind.
	var root *os.Root
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	openRoot := func() error {
		if root != nil {
			return nil
		}
		if into {
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return &Error{Kind: KindUsage, Err: err}
			}
		}
		var err error
		if root, err = os.OpenRoot(base); err != nil {
			return errorf(KindUsage, "", "get: destination: %v", err)
		}
		return nil
	}
	if !into {
		if err := openRoot(); err != nil {
			return nil, err
		}
	}
	hello := &protocol.Hello{Op: protocol.OpGet, ChunkSize: o.ChunkSize, Paths: paths}
	if o.NoResume {
		hello.Flags |= protocol.HelloNoResume
	}
	r := newRun(&o)
	locks := &transfer.LockSet{}
	err := r.loop(ctx, func(attempt int) error {
		s, err := o.open(ctx, a, hello)
		if err != nil {
			return err
		}
		defer s.conn.Close()
		if err := openRoot(); err != nil {
			return err
		}
		_, err = transfer.Receive(ctx, s.conn, transfer.ReceiveOptions{
			Root:      root,
			Base:      ".",
			RenameTop: rename,
			ChunkSize: s.welcome.ChunkSize,
			NoClobber: o.NoClobber,
			NoResume:  o.NoResume && attempt == 0,
			Locks:     locks,
			Hooks:     r.hooks(),
		})
		return err
	})
	return r.finish(err)
}
