package transfer

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"xfer/protocol"
)

// installBatch installs verified small files (one chunk or none) in
// batches: one syncfs makes all their data durable, then each is renamed
// into place, then each directory touched is fsynced once. Without it a
// tree of small files would cost a data fsync and a directory fsync per
// file. A batch is flushed when it holds batchMax files or batchDelay
// after its first file, whichever comes first.
type installBatch struct {
	r       *receiver
	mu      sync.Mutex
	items   []batchItem
	timer   *time.Timer
	flushMu sync.Mutex // held while a batch installs; Receive waits on it
}

type batchItem struct {
	rf   *rfile
	done *protocol.Done
	res  FileResult
}

const (
	batchMax   = 64
	batchDelay = 10 * time.Millisecond
)

func (b *installBatch) add(rf *rfile, done *protocol.Done, res FileResult) {
	b.mu.Lock()
	b.items = append(b.items, batchItem{rf, done, res})
	n := len(b.items)
	if n == 1 {
		b.timer = time.AfterFunc(batchDelay, b.flush)
	}
	b.mu.Unlock()
	if n >= batchMax {
		b.flush()
	}
}

// flush installs the queued files. The files are claimed (done) by
// finalize, so nothing else releases them meanwhile; flushMu makes the
// flush at the end of Receive wait for one a timer started.
func (b *installBatch) flush() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	items := b.items
	b.items = nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	if len(items) == 0 {
		return
	}
	r := b.r
	err := syncData(items)
	dirs := make(map[string]*os.Root)
	ok := items[:0]
	for _, it := range items {
		if err == nil {
			err1 := it.rf.rename()
			if err1 == nil {
				dirs[it.rf.dirRel] = it.rf.dir
				ok = append(ok, it)
				continue
			}
			r.failClaimed(it.rf, toProtoError(it.rf.id, it.rf.wirePath, err1), false)
			continue
		}
		r.failClaimed(it.rf, toProtoError(it.rf.id, it.rf.wirePath, err), false)
	}
	bad := make(map[string]error)
	for d, root := range dirs {
		if err := syncDir(root, "."); err != nil {
			bad[d] = err
		}
	}
	for _, it := range ok {
		if err := bad[it.rf.dirRel]; err != nil {
			r.failClaimed(it.rf, toProtoError(it.rf.id, it.rf.wirePath, err), false)
			continue
		}
		r.installed(it.rf, it.done, it.res)
	}
}

// syncData makes the data of every file in the batch durable: one
// syncfs(2) where the system has it, an fsync per file elsewhere.
func syncData(items []batchItem) error {
	// One syncfs per file system the batch touches (a mount point inside
	// the root puts files on another one).
	// Files in one directory share its file system: stat one per directory.
	devs := make(map[uint64]int)
	seen := make(map[string]bool)
	for _, it := range items {
		if seen[it.rf.dirRel] {
			continue
		}
		seen[it.rf.dirRel] = true
		var st unix.Stat_t
		if err := unix.Fstat(int(it.rf.f.Fd()), &st); err != nil {
			return err
		}
		if _, ok := devs[st.Dev]; !ok {
			devs[st.Dev] = int(it.rf.f.Fd())
		}
	}
	var err error
	for _, fd := range devs {
		if err = unix.Syncfs(fd); err != nil {
			break
		}
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.ENOSYS) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	for _, it := range items {
		if err := it.rf.f.Sync(); err != nil {
			return err
		}
	}
	return nil
}
