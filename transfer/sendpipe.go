package transfer

import (
	"fmt"
	"io"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/protocol"
)

// reader reads accepted files chunk by chunk, in order, into pooled
// buffers and hands them to the workers. It is the only goroutine reading
// source files, so each source byte is read once (twice for a destination
// that exists with the same size, which is hashed first).
func (s *sender) reader() {
	for f := range s.ready {
		if s.failure() != nil {
			f.f.Close()
			continue
		}
		s.reading.Store(true)
		s.readFile(f)
		s.reading.Store(false)
		s.batches.poke()
	}
}

// moreChunks reports whether the reader is about to produce chunks (see
// gatherer).
func (s *sender) moreChunks() bool { return s.reading.Load() || len(s.ready) > 0 }

func (s *sender) readFile(f *sfile) {
	f.pend.Store(1)
	if f.action == protocol.AcceptExists || f.action == protocol.AcceptExistsKeep {
		var root crypto.Hash
		var err error
		s.c.Busy(func() { root, err = chunk.HashFile(f.f, f.open.Size, f.open.ChunkSize, s.opt.Workers) })
		switch {
		case err != nil:
			f.abort.CompareAndSwap(nil, protocol.Errorf(f.id, protocol.CodeSourceChanged, "%s: %v", f.item.Path, err))
		case root == f.root:
			f.abort.CompareAndSwap(nil, &protocol.Error{ID: f.id}) // up to date: Skip with reason 0
			s.hooks.progress(f.item.Path, f.open.Size)
		case f.action == protocol.AcceptExistsKeep:
			f.abort.CompareAndSwap(nil, protocol.Errorf(f.id, protocol.CodeExists, "%s: destination exists and differs (not replaced)", f.item.Path))
		}
	}
	cs := uint64(f.open.ChunkSize)
	for i := uint64(0); i < f.nchunks; i++ {
		if f.abort.Load() != nil || s.failure() != nil {
			break
		}
		n := int(chunk.Len(f.open.Size, f.open.ChunkSize, i))
		buf := s.getBuf()
		if buf == nil {
			break // the session failed
		}
		m, err := f.f.ReadAt(buf[protocol.HashSize:protocol.HashSize+n], int64(i*cs))
		if m < n {
			s.putBuf(buf)
			if err == nil || err == io.EOF {
				err = fmt.Errorf("file shrank")
			}
			f.abort.CompareAndSwap(nil, protocol.Errorf(f.id, protocol.CodeSourceChanged, "%s: changed during transfer (%v)", f.item.Path, err))
			break
		}
		f.pend.Add(1)
		select {
		case s.jobs <- job{f: f, index: i, buf: buf, n: n}:
		case <-s.failed:
			s.putBuf(buf)
			f.pend.Add(-1)
		}
	}
	if f.pend.Add(-1) == 0 {
		s.finishFile(f)
	}
}

// getBuf waits for one of the inFlightFor chunk slots and returns a chunk
// buffer, or nil once the session has failed.
func (s *sender) getBuf() []byte {
	select {
	case s.slots <- struct{}{}:
		return s.bufs.Get()
	case <-s.failed:
		return nil
	}
}

// putBuf returns a buffer from getBuf and frees its slot.
func (s *sender) putBuf(b []byte) {
	s.bufs.Put(b)
	<-s.slots
}

// worker hashes, compresses, seals and sends chunks. It takes them in
// batches of up to crypto.HashLanes from the gatherer and hashes each
// batch together (crypto.ChunkHashes); on a link slower than the CPU a
// batch is usually one chunk.
func (s *sender) worker() {
	enc := chunk.NewEncoder(int(s.opt.ChunkSize))
	hdr := make([]byte, 0, protocol.ChunkHeaderSize)
	aad := make([]byte, 0, protocol.ChunkHeaderSize+32)
	var (
		batch  [crypto.HashLanes]job
		raws   [crypto.HashLanes][]byte
		hashes [crypto.HashLanes]crypto.Hash
	)
	wait := newStoppedTimer()
	for {
		n := s.batches.gather(batch[:], wait)
		if n == 0 {
			return
		}
		for i, j := range batch[:n] {
			raws[i] = j.buf[protocol.HashSize : protocol.HashSize+j.n]
		}
		crypto.ChunkHashes(hashes[:n], raws[:n])
		for i, j := range batch[:n] {
			s.sendChunk(enc, &hdr, &aad, j, hashes[i])
			s.putBuf(j.buf)
			if j.f.pend.Add(-1) == 0 {
				s.finishFile(j.f)
			}
			batch[i], raws[i] = job{}, nil
		}
	}
}

func (s *sender) sendChunk(enc *chunk.Encoder, hdrp, aadp *[]byte, j job, h crypto.Hash) {
	f := j.f
	raw := j.buf[protocol.HashSize : protocol.HashSize+j.n]
	f.hashes[j.index] = h
	s.mon.raw.Add(int64(j.n))
	if held, ok := f.held[j.index]; ok && held == h {
		s.hooks.progress(f.item.Path, uint64(j.n))
		return
	}
	if f.abort.Load() != nil || s.failure() != nil {
		return
	}
	if bound, known := s.mon.hint(); known {
		f.policy.SetLinkBound(bound)
	}
	codec, payload := enc.Encode(f.policy, j.index, raw)
	if codec != protocol.CodecRaw {
		copy(raw, payload) // compressed data replaces the raw data in place
	}
	pt := j.buf[:protocol.HashSize+len(payload)]
	copy(pt, h[:])
	last := j.index == f.nchunks-1
	ch := protocol.ChunkHeader{
		TransferID: f.open.TransferID,
		Attempt:    f.open.Attempt,
		Index:      j.index,
		Offset:     j.index * uint64(f.open.ChunkSize),
		RawLen:     uint32(j.n),
		Codec:      codec,
		CTLen:      uint32(len(pt) + protocol.TagSize),
	}
	if last {
		ch.Flags |= protocol.FlagLast
	}
	hdr, err := ch.AppendBinary((*hdrp)[:0])
	if err != nil {
		s.fail(err)
		return
	}
	*hdrp = hdr
	aad := append(append((*aadp)[:0], hdr...), f.mhash[:]...)
	*aadp = aad
	ct := f.aead.Seal(pt[:0], j.index, last, pt, aad)
	if err := s.c.s.WriteFrame(hdr, ct); err != nil {
		s.fail(fmt.Errorf("transfer: sending chunk: %w", err))
		return
	}
	s.c.touch()
	f.frames.Add(1)
	f.wire.Add(uint64(len(hdr) + len(ct)))
	s.hooks.progress(f.item.Path, uint64(j.n))
}

// finishFile runs once every chunk of f has left the pipeline: it sends End
// with the file root, or Skip when the file was withdrawn.
func (s *sender) finishFile(f *sfile) {
	defer f.f.Close()
	if s.failure() != nil || s.file(f.id) == nil {
		return // the receiver has already answered (with an Error)
	}
	perr := f.abort.Load()
	if perr == nil {
		if fi, err := f.f.Stat(); err != nil || fi.Size() != f.size || !fi.ModTime().Equal(f.mtime) {
			perr = protocol.Errorf(f.id, protocol.CodeSourceChanged, "%s: changed during transfer", f.item.Path)
			f.abort.CompareAndSwap(nil, perr)
		}
	}
	var err error
	switch {
	case perr == nil:
		root := crypto.FileRoot(f.open.Size, f.open.ChunkSize, f.hashes)
		err = s.c.Send(&protocol.End{ID: f.id, Chunks: f.frames.Load(), Root: [32]byte(root)})
	case perr.Message == "" && perr.Code == 0:
		err = s.c.Send(&protocol.Skip{ID: f.id})
	default:
		// The receiver answers a Skip with a reason with an Error
		// carrying it, unless it reported an error itself first.
		err = s.c.Send(&protocol.Skip{ID: f.id, Reason: perr.Code})
	}
	if err != nil {
		s.fail(err)
	}
}
