package server

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"xfer/protocol"
	"xfer/resume"
)

// expireLoop removes abandoned partial files once at start and then
// hourly. A partial is abandoned when neither it nor its journal changed
// for PartialExpiry and no transfer holds its journal's lock; that is the
// only thing it can prove stale, so nothing else is removed.
func (s *Server) expireLoop(ctx context.Context) {
	if s.cfg.PartialExpiry < 0 {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n := s.ExpirePartials(time.Now().Add(-s.cfg.PartialExpiry))
		if n > 0 {
			s.log.Info("expired abandoned partial files", "count", n, "older_than", s.cfg.PartialExpiry)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExpirePartials removes partial files and journals last modified before
// cutoff, and returns how many partials it removed.
func (s *Server) ExpirePartials(cutoff time.Time) int {
	n := 0
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 64 {
			return
		}
		d, err := s.root.Open(dir)
		if err != nil {
			return
		}
		defer d.Close()
		for {
			ents, err := d.ReadDir(256)
			for _, e := range ents {
				name := e.Name()
				p := path.Join(dir, name)
				if e.IsDir() {
					walk(p, depth+1)
					continue
				}
				if !strings.HasPrefix(name, protocol.ReservedPrefix) || !strings.HasSuffix(name, ".part") {
					continue
				}
				if s.expirePartial(p, cutoff) {
					n++
				}
			}
			if err == io.EOF || len(ents) == 0 || err != nil {
				return
			}
		}
	}
	walk(".", 0)
	return n
}

func (s *Server) expirePartial(part string, cutoff time.Time) bool {
	jrn := strings.TrimSuffix(part, ".part") + ".journal"
	fi, err := s.root.Lstat(part)
	if err != nil || fi.ModTime().After(cutoff) {
		return false
	}
	jfi, err := s.root.Lstat(jrn)
	if err == nil {
		if jfi.ModTime().After(cutoff) {
			return false
		}
		// A journal locked by a running transfer is not stale.
		f, err := s.root.OpenFile(jrn, os.O_RDWR, 0)
		if err == nil {
			j, _, _, err := resume.Open(f)
			if errors.Is(err, resume.ErrBusy) {
				return false
			}
			if j != nil {
				defer j.Close()
			}
		}
	} else if !isNotExist(err) {
		return false
	}
	s.root.Remove(part)
	s.root.Remove(jrn)
	return true
}

func isNotExist(err error) bool { return err != nil && errors.Is(err, fs.ErrNotExist) }
