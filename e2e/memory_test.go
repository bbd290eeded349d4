package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Memory is bounded by the pipeline, not by the file size or the number of
// files (the issue: "peak RSS of xfer and xferd stays flat whether the file
// is 100 MiB or 10 GiB, and with 16 concurrent clients the daemon's RSS
// grows by a bounded amount per client"). These tests measure it on the
// real binaries, over TCP on 127.0.0.1:
//
//   - TestMemoryFlatInFileSize sends a file and one 8 times larger, each to
//     a fresh daemon, and compares the peak RSS (getrusage ru_maxrss after
//     the process has exited) of the client and of the daemon.
//   - TestMemoryPerClient samples the daemon's current RSS (VmRSS) while
//     one client sends, then while 16 send at once, and bounds the growth
//     per additional client.
//
// The binaries are built without the race detector (main_test.go), so
// -race inflates only the test process, not the figures measured here.
// Neither test is parallel: go test runs them before releasing the
// parallel tests, so they measure processes that do not compete with the
// rest of the suite for memory or CPU.

const (
	memChunk = 1 << 20 // the chunk size the tests ask for (the default)

	// TestMemoryFlatInFileSize: the small file is memSmall or, with more
	// workers, twice the bytes a session side holds in flight (so that it
	// can fill the pipeline too); the large one is memLargeBy times that.
	memSmall   = 32 * mib
	memLargeBy = 8

	// TestMemoryPerClient.
	memClients    = 16
	memClientFile = 32 * mib
	memSampleGap  = 20 * time.Millisecond
	memSampleFor  = 60 * time.Second
	memSamplesMax = int(memSampleFor/memSampleGap) + 1
)

// needMemoryTest skips t where these tests cannot or should not run.
func needMemoryTest(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("RSS is read from ru_maxrss (KiB only on Linux) and /proc/PID/status: Linux only")
	}
	if testing.Short() {
		t.Skip("-short: these tests move 288 MiB (more on over 2 cores) and 17 × 32 MiB through real processes")
	}
}

// memTempDir is a temporary directory on tmpfs (/dev/shm) when there is
// one, so that the disk does not pace the transfers; removed at the end of
// the test. tmpfs pages are page cache, not part of any process's RSS
// (neither side maps its files).
func memTempDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "xfer-e2e-mem-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// peakRSS is the peak resident set size in bytes of an exited process.
func peakRSS(t *testing.T, p *proc) int64 {
	t.Helper()
	<-p.done
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatalf("%s: no rusage (%T)", p.name, p.cmd.ProcessState.SysUsage())
	}
	return ru.Maxrss << 10 // KiB on Linux
}

// currentRSS is the current resident set size in bytes of a running
// process (VmRSS in /proc/PID/status), or an error once it has exited.
func currentRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Bytes())
		}
		kib, err := strconv.ParseInt(string(f[0]), 10, 64)
		return kib << 10, err
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func fmtMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }

// memSendArgs are the arguments of a TCP send of src into dir/ on d.
func (w *world) memSendArgs(d *daemon, src, dir string) []string {
	return w.clientArgs("send", true, "--chunk-size", strconv.Itoa(memChunk), src, d.addr("tcp", dir+"/"))
}

// finishSend waits (bounded) for a client started by memSendArgs and fails
// the test unless it delivered want bytes into root/dir.
func finishSend(t *testing.T, p *proc, root, dir, src string, want int64) {
	t.Helper()
	if !p.wait(2 * time.Minute) {
		p.kill9()
		t.Fatalf("xfer send %s did not finish within 2 minutes\n%s", src, tail(p.stderr.String(), 3000))
	}
	r := p.result(nil).ok(t)
	if s := r.summary(t); !s.OK || s.Files != 1 || s.Bytes != uint64(want) {
		t.Fatalf("summary %+v, want 1 file of %d bytes\n%s", s, want, r)
	}
	fi, err := os.Stat(filepath.Join(root, dir, filepath.Base(src)))
	if err != nil || fi.Size() != want {
		t.Fatalf("destination of %s: %v (size %d, want %d)", src, err, sizeOf(fi), want)
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// memSizeSlack is how much more the peak RSS of either side may be for the
// 8 times larger file: 24 MiB on two cores. A bounded pipeline needs no
// more at all once it is full, but a short transfer may end before it
// fills (while the consumer keeps up, the chunks in flight stay few) and
// a long one reaches the cap: so the chunks in flight (16 MiB on two
// cores, 64 MiB on eight; measured on two cores with GOMAXPROCS=8: +22–40
// MiB from 128 MiB to 1 GiB), plus 8 MiB for the Go runtime's heap sizing
// (a longer run sees more GC cycles at other heap goals), allocator
// metadata and noise. On two cores, memory that grew with the file would
// exceed it by growing a tenth of the 224 MiB more that the large file
// sends.
func memSizeSlack() int64 { return int64(memInFlight())*memChunk + 8*mib }

// memPeakCap bounds the peak RSS of either side whatever the file size:
// the chunks in flight twice over (the Go heap may grow to twice its live
// size before a collection, GOGC=100), plus 32 MiB for the runtime, the
// program and everything else a session holds (an idle xferd is about
// 9 MiB, measured). 64 MiB on two cores, where 26–37 MiB was measured:
// "a few tens of MiB".
func memPeakCap() int64 { return 2*int64(memInFlight())*memChunk + 32*mib }

// TestMemoryFlatInFileSize: the peak RSS of xfer and of xferd for a file 8
// times larger is the same, give or take memSizeSlack, and below
// memPeakCap.
func TestMemoryFlatInFileSize(t *testing.T) {
	needMemoryTest(t)
	type peaks struct{ client, daemon int64 }
	measure := func(size int64, seed uint64) peaks {
		w := newWorld(t)
		tmp := memTempDir(t)
		src := filepath.Join(tmp, "src", "file.bin")
		writeRandom(t, src, size, seed)
		root := filepath.Join(tmp, "root")
		d := w.startDaemon(root, "--no-quic")
		start := time.Now()
		p := w.startXfer(w.memSendArgs(d, src, "in")...)
		finishSend(t, p, root, "in", src, size)
		took := time.Since(start)
		d.term() // SIGTERM, bounded wait, exit status 0
		pk := peaks{client: peakRSS(t, p), daemon: peakRSS(t, d.p)}
		t.Logf("%4d MiB in %v (%.0f MB/s): peak RSS xfer %s, xferd %s",
			size/mib, took.Round(time.Millisecond), float64(size)/took.Seconds()/1e6, fmtMiB(pk.client), fmtMiB(pk.daemon))
		// The data go away now rather than at the end of the test.
		os.RemoveAll(tmp)
		return pk
	}
	smallSize := max(memSmall, 2*int64(memInFlight())*memChunk)
	largeSize := memLargeBy * smallSize
	small := measure(smallSize, 41)
	large := measure(largeSize, 42)
	slack, peakCap := memSizeSlack(), memPeakCap()
	t.Logf("workers %d, in flight per side %d × %d KiB chunks", memWorkers(), memInFlight(), memChunk>>10)
	for _, c := range []struct {
		side         string
		small, large int64
	}{
		{"xfer (client)", small.client, large.client},
		{"xferd (daemon)", small.daemon, large.daemon},
	} {
		t.Logf("%s: peak RSS %s for %d MiB, %s for %d MiB (%+.1f MiB; allowed +%s, at most %s)",
			c.side, fmtMiB(c.small), smallSize/mib, fmtMiB(c.large), largeSize/mib,
			float64(c.large-c.small)/mib, fmtMiB(slack), fmtMiB(peakCap))
		if c.large > c.small+slack {
			t.Errorf("%s: peak RSS grows with the file size: %s for %d MiB, %s for %d MiB (more than %s above)",
				c.side, fmtMiB(c.small), smallSize/mib, fmtMiB(c.large), largeSize/mib, fmtMiB(slack))
		}
		if high := max(c.small, c.large); high > peakCap {
			t.Errorf("%s: peak RSS %s, more than %s", c.side, fmtMiB(high), fmtMiB(peakCap))
		}
	}
}

// childProcs is GOMAXPROCS as the binaries started here see it: the
// runtime's default from the same environment (GOMAXPROCS) and CPU limits,
// read before go test -cpu can change this process's.
var childProcs = runtime.GOMAXPROCS(0)

// memWorkers is the worker count of each side of a session in the child
// processes (transfer.defaultWorkers: GOMAXPROCS, at most 8).
func memWorkers() int { return min(childProcs, 8) }

// memInFlight is how many chunks each side of a session holds at most
// (transfer.inFlightFor).
func memInFlight() int { return max(2, memWorkers()) * 8 }

// memPerClientBound is how much the daemon's RSS may grow per additional
// concurrent client.
//
// The receiving side of a session holds at most inFlight =
// max(2, workers) × crypto.HashLanes (8) chunk frames between reading them
// off the connection and writing them out (transfer/gather.go inFlightFor,
// the slots of transfer/receive.go; the sending side's slots in
// transfer/send.go bound the client the same way): 16 frames of a little
// over 1 MiB on two cores, 64 on eight or more. Those buffers are pooled,
// but the Go heap may grow to twice its live size before a collection
// (GOGC=100), so the bound is twice the in-flight chunks, plus 8 MiB for
// the rest of a session (goroutine stacks, Noise and frame-header buffers,
// the journal, decompression scratch) and sampling noise: 40 MiB per
// client on two cores (measured: 10–14 MiB). On four or more cores a
// 32 MiB file no longer fills the pipeline, so the bound is loose there
// but still holds.
func memPerClientBound() int64 {
	return 2*int64(memInFlight())*memChunk + 8*mib
}

// memRun is a group of clients sending at once and the daemon's RSS
// sampled meanwhile.
type memRun struct {
	maxRSS  int64         // highest VmRSS sampled
	samples int           // how many samples were taken
	took    time.Duration // first start to last exit
	overlap float64       // the clients' summed run times ÷ took: how many ran at once on average
}

// memSendAll starts one client per source file, each into its own
// directory, samples the daemon's VmRSS every memSampleGap until all have
// exited (failing the test if one has not after memSampleFor), and checks
// every delivery.
func memSendAll(t *testing.T, w *world, d *daemon, root string, srcs []string, tag string) memRun {
	t.Helper()
	var run memRun
	if rss, err := currentRSS(d.p.cmd.Process.Pid); err == nil {
		run.maxRSS = rss
	} else {
		t.Fatalf("reading the daemon's RSS: %v", err)
	}
	start := time.Now()
	ps := make([]*proc, len(srcs))
	for i, src := range srcs {
		ps[i] = w.startXfer(w.memSendArgs(d, src, fmt.Sprintf("%s-%02d", tag, i))...)
	}
	t.Cleanup(func() { // a failed test leaves no client behind
		for _, p := range ps {
			p.kill9()
		}
	})
	deadline := start.Add(memSampleFor)
	for run.samples < memSamplesMax && time.Now().Before(deadline) {
		running := 0
		for _, p := range ps {
			if p.running() {
				running++
			}
		}
		if running == 0 {
			break
		}
		rss, err := currentRSS(d.p.cmd.Process.Pid)
		if err != nil {
			d.alive()
			t.Fatalf("reading the daemon's RSS: %v", err)
		}
		run.samples++
		run.maxRSS = max(run.maxRSS, rss)
		time.Sleep(memSampleGap)
	}
	for _, p := range ps {
		if p.running() && !p.wait(time.Until(deadline)) {
			t.Fatalf("a client did not finish within %v\n%s", memSampleFor, tail(p.stderr.String(), 3000))
		}
	}
	var busy time.Duration
	for i, p := range ps {
		finishSend(t, p, root, fmt.Sprintf("%s-%02d", tag, i), srcs[i], memClientFile)
		busy += p.end.Sub(p.start)
	}
	run.took = time.Since(start)
	run.overlap = busy.Seconds() / run.took.Seconds()
	d.alive()
	return run
}

// TestMemoryPerClient: one daemon's RSS while 16 clients send at once
// exceeds its RSS while one client sends by at most memPerClientBound for
// each additional client.
func TestMemoryPerClient(t *testing.T) {
	needMemoryTest(t)
	w := newWorld(t)
	tmp := memTempDir(t)
	srcs := make([]string, memClients+1)
	for i := range srcs {
		srcs[i] = filepath.Join(tmp, "src", fmt.Sprintf("file-%02d.bin", i))
		writeRandom(t, srcs[i], memClientFile, uint64(100+i))
	}
	root := filepath.Join(tmp, "root")
	// The default --max-sessions (64) admits 16; say so, in case it changes.
	d := w.startDaemon(root, "--no-quic", "--max-sessions", strconv.Itoa(2*memClients))
	idle, err := currentRSS(d.p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	one := memSendAll(t, w, d, root, srcs[:1], "one")
	many := memSendAll(t, w, d, root, srcs[1:], "many")
	d.term()
	peak := peakRSS(t, d.p)

	// Sampling may miss the top of a short peak; ru_maxrss does not. It is
	// the daemon's peak over its whole life, and the 16 clients came after
	// the one, so taking it for the 16 clients' peak can only overstate
	// their growth.
	high := max(many.maxRSS, peak)
	bound := memPerClientBound()
	perClient := (high - one.maxRSS) / (memClients - 1)
	t.Logf("workers %d, in flight per session side %d × %d KiB chunks", memWorkers(), memInFlight(), memChunk>>10)
	t.Logf("xferd idle: VmRSS %s", fmtMiB(idle))
	t.Logf("1 client (%d MiB): max VmRSS %s over %d samples in %v",
		memClientFile/mib, fmtMiB(one.maxRSS), one.samples, one.took.Round(time.Millisecond))
	t.Logf("%d clients (%d MiB each): max VmRSS %s over %d samples in %v; %.1f clients running at once on average",
		memClients, memClientFile/mib, fmtMiB(many.maxRSS), many.samples, many.took.Round(time.Millisecond), many.overlap)
	t.Logf("xferd peak RSS (ru_maxrss) %s; growth per additional client (%s − %s) / %d = %s (bound %s)",
		fmtMiB(peak), fmtMiB(high), fmtMiB(one.maxRSS), memClients-1, fmtMiB(perClient), fmtMiB(bound))
	if many.overlap < 2 {
		t.Errorf("%.1f clients ran at once on average: they hardly overlapped, so the growth measured says little", many.overlap)
	}
	if perClient > bound {
		t.Errorf("xferd grows by %s per concurrent client (%s with %d clients, %s with 1), more than the bound %s",
			fmtMiB(perClient), fmtMiB(high), memClients, fmtMiB(one.maxRSS), fmtMiB(bound))
	}
}
