package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"xfer/internal/netsim"
)

// Fault injection between the real client and daemon (issue 3): the client
// talks to the daemon through a netsim proxy that cuts, stalls or corrupts
// its first connection; automatic retry (--retries 5, the default 0.5 s
// back-off) must complete the transfer with the right bytes, resuming what
// the daemon already holds.
//
// On TCP the proxy is netsim.TCPProxy, and a cut closes both connections at
// an exact client-to-server byte offset. On QUIC (netsim.UDPFaultProxy) a
// path cannot be "cut" in a way the ends notice, so the QUIC rows of the
// cuts are outages of a few seconds, which QUIC must ride through without
// a reconnect. A dead (black-holed, stalled) path is noticed only by an
// idle timeout: the QUIC handshake's (10 s), QUIC's (15 s), or the
// client's --idle-timeout (default 10 minutes, 5 s in the dead-path rows);
// the daemon then lets the reconnecting client replace its dead session.

const (
	faultChunk = 65536
	// A single file of 64 full chunks and a last chunk of 40000 bytes.
	faultFileSize = 64*faultChunk + 40000
	lastChunkLen  = 40000
	// A tree of treeFiles files of three chunks each. The receiver may drop
	// the frames still queued in its pipeline when the connection breaks
	// (about ten), so the cut between files comes well after that.
	treeFiles    = 12
	treeFileSize = 3 * faultChunk
	// Wire sizes (protocol/PROTOCOL.md): a raw chunk frame is the 47-byte
	// header, the 32-byte chunk hash, the data and the 16-byte tag; a
	// control record is 1 + 2 bytes of framing, the message and the
	// 16-byte Noise tag. End is 45 bytes, Finish 1.
	frameOverhead = 47 + 32 + 16
	endRecord     = 3 + 45 + 16
	finishRecord  = 3 + 1 + 16
)

// calib is what a clean run of the same transfer sent from client to
// daemon (through the same kind of proxy).
type calib struct {
	total int64 // all client-to-server bytes (TCP: exact wire bytes)
	pre   int64 // TCP: bytes before the first chunk frame (handshake, Hello, Dir, Open)
	size  int64 // source bytes
}

// frames is the TCP wire size of the chunk frames of n bytes.
func frames(n int64) int64 {
	chunks := (n + faultChunk - 1) / faultChunk
	return n + chunks*frameOverhead
}

// quicFault is a fault on the QUIC path.
type quicFault struct {
	f []netsim.UDPFault
	// reconnect: the fault kills the connection (a dead path), so the
	// client must reconnect; otherwise QUIC must ride through it on the
	// same connection.
	reconnect bool
	long      string // non-empty: needs XFER_LONG_TESTS=1, for this reason
}

type faultCase struct {
	name string
	tree bool
	tcp  func(c calib) netsim.TCPFault // nil: no TCP row
	quic func(c calib) quicFault       // nil: no QUIC row
	// resumed: the retry must resume chunks the daemon holds (TCP cuts).
	resumed bool
	// doneFirst: some file must be done before the connection breaks.
	doneFirst bool
	// idle: the client's --idle-timeout, for faults that only an idle
	// timeout can notice (default: the client's own, 10 minutes).
	idle string
	// tcpBug: a known bug makes the TCP row fail (see bugs_test.go).
	tcpBug string
}

const outage = 3 * time.Second

var faultCases = []faultCase{
	{
		name: "cut-in-handshake",
		tcp:  func(calib) netsim.TCPFault { return netsim.CutAfter(20) },
		// The first datagram (part of the TLS ClientHello) passes, then
		// the path dies: the QUIC handshake's idle timeout (10 s) ends
		// the attempt and the client reconnects.
		quic: func(calib) quicFault {
			return quicFault{f: []netsim.UDPFault{netsim.BlackholeAfter(1)}, reconnect: true}
		},
	},
	{
		name: "cut-before-first-chunk",
		// Inside the Open record, the last control message before frames.
		tcp:  func(c calib) netsim.TCPFault { return netsim.CutAfter(c.pre - 8) },
		quic: func(calib) quicFault { return quicFault{f: []netsim.UDPFault{netsim.OutageAfter(4000, outage)}} },
	},
	{
		name:    "cut-mid-file",
		tcp:     func(c calib) netsim.TCPFault { return netsim.CutAfter(c.pre + c.size/2) },
		quic:    func(c calib) quicFault { return quicFault{f: []netsim.UDPFault{netsim.OutageAfter(c.total/2, outage)}} },
		resumed: true,
	},
	{
		// A path that dies mid-transfer without telling either end: the
		// client's idle timeout (5 s here) gives up on it and reconnects.
		name: "dead-path-mid-file",
		tcp:  func(c calib) netsim.TCPFault { return netsim.StallAfter(c.pre + c.size/2) },
		quic: func(c calib) quicFault {
			return quicFault{f: []netsim.UDPFault{netsim.BlackholeAfter(c.total / 2)}, reconnect: true}
		},
		idle:    "5s",
		resumed: true,
	},
	{
		// A dead QUIC path without --idle-timeout: QUIC's own idle
		// timeout (15 s) notices. (Over TCP only the client's default
		// idle timeout, 10 minutes, would.)
		name: "dead-path-default-timeouts",
		quic: func(c calib) quicFault {
			return quicFault{f: []netsim.UDPFault{netsim.BlackholeAfter(c.total / 2)}, reconnect: true,
				long: "waits for QUIC's idle timeout"}
		},
		resumed: true,
	},
	{
		name: "flip-in-handshake",
		tcp:  func(calib) netsim.TCPFault { return netsim.FlipAt(40) },
		quic: func(calib) quicFault { return quicFault{f: []netsim.UDPFault{netsim.CorruptAt(100)}} },
	},
	{
		name: "flip-mid-file",
		tcp:  func(c calib) netsim.TCPFault { return netsim.FlipAt(c.pre + c.size/2 + 1000) },
		quic: func(c calib) quicFault { return quicFault{f: []netsim.UDPFault{netsim.CorruptAt(c.total / 2)}} },
	},
	{
		name: "flip-in-last-chunk",
		tcp: func(c calib) netsim.TCPFault {
			return netsim.FlipAt(c.total - finishRecord - endRecord - lastChunkLen/2)
		},
		quic: func(c calib) quicFault {
			return quicFault{f: []netsim.UDPFault{netsim.CorruptAt(c.total - lastChunkLen)}}
		},
	},
	{
		// A path that stops forwarding during the handshake: the 10 s
		// handshake deadline ends the attempt.
		name: "stall-in-handshake",
		tcp:  func(calib) netsim.TCPFault { return netsim.StallAfter(20) },
	},
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	for _, fc := range faultCases {
		for _, tr := range transports {
			if (tr == "tcp" && fc.tcp == nil) || (tr == "quic" && fc.quic == nil) {
				continue
			}
			t.Run(fc.name+"/"+tr, func(t *testing.T) {
				t.Parallel()
				runFaultCase(t, fc, tr)
			})
		}
	}
}

func runFaultCase(t *testing.T, fc faultCase, tr string) {
	if tr == "tcp" && fc.tcpBug != "" {
		skipBug(t, fc.tcpBug)
	}
	if tr == "quic" {
		if long := fc.quic(calib{}).long; long != "" {
			needLong(t, long)
		}
	}
	w := newWorld(t)
	root := w.path("root")
	d := w.startDaemon(root)

	var srcs []string
	var size, nfiles int64
	if fc.tree {
		tree := w.path("src", "tree")
		for i := range treeFiles {
			writeRandom(t, filepath.Join(tree, fmt.Sprintf("f%d", i)), treeFileSize, uint64(100+i))
		}
		srcs, size, nfiles = []string{tree}, treeFiles*treeFileSize, treeFiles
	} else {
		src := w.path("src", "big.bin")
		writeRandom(t, src, faultFileSize, 7)
		srcs, size, nfiles = []string{src}, faultFileSize, 1
	}
	flags := []string{"--chunk-size", "65536", "--retries", "5"}
	if fc.idle != "" {
		flags = append(flags, "--idle-timeout", fc.idle)
	}
	send := func(addr string) []string {
		return w.clientArgs("send", true, append(append(flags, srcs...), addr)...)
	}

	// Calibrate: the same transfer through a clean proxy, to a destination
	// whose name has the same length.
	c := calib{size: size}
	cal := newFaultProxy(t, tr, d.hostport(), nil, nil)
	w.xfer(60*time.Second, send(remote(tr, cal.addr, "cal1/"))...).ok(t)
	c.total = cal.toServer()
	cal.close()
	if tr == "tcp" {
		c.pre = c.total - frames(size) - finishRecord - endRecord
		if fc.tree {
			c.pre = c.total - frames(treeFileSize)*treeFiles - finishRecord - endRecord*treeFiles
		}
		if c.pre < 100 || c.pre > 8000 {
			t.Fatalf("calibration: %d bytes before the first frame of %d in all; are the chunks compressed?", c.pre, c.total)
		}
	}

	var tcpFaults []netsim.TCPFault
	var udpFaults []netsim.UDPFault
	wantReconnect := true
	if tr == "tcp" {
		tcpFaults = []netsim.TCPFault{fc.tcp(c)}
	} else {
		qf := fc.quic(c)
		udpFaults, wantReconnect = qf.f, qf.reconnect
	}
	p := newFaultProxy(t, tr, d.hostport(), tcpFaults, udpFaults)
	timeout := 60 * time.Second
	if longTests() {
		timeout = 200 * time.Second
	}
	r := w.xfer(timeout, send(remote(tr, p.addr, "run1/"))...)
	t.Logf("calibration %d bytes (pre %d); %d connections; run took %v", c.total, c.pre, p.conns(), r.elapsed.Round(time.Millisecond))
	r.ok(t)
	s := r.summary(t)
	recs := r.reconnects(t)
	if !s.OK || s.Files != int(nfiles) || s.Failed != 0 {
		t.Fatalf("summary %+v\n%s", s, r)
	}
	if wantReconnect && len(recs) == 0 {
		t.Fatalf("no reconnect event after the fault\n%s", r)
	}
	if !wantReconnect && len(recs) > 0 {
		t.Errorf("QUIC should ride through this fault on one connection, but reconnected: %+v", recs)
	}
	if fc.resumed && wantReconnect && s.ResumedBytes == 0 {
		t.Errorf("resumed_bytes = 0 after the fault; the daemon's partial was not resumed\n%s", r)
	}
	// Only what the daemon did not hold was sent by the attempt that
	// completed each file; files it already had whole (installed before
	// the cut, but their Done lost with it) are skipped as up to date.
	var upToDate int64
	for _, f := range r.filesDone(t) {
		if f.Skipped {
			upToDate += int64(f.Size)
		}
	}
	nchunks := (size + faultChunk - 1) / faultChunk
	if lo, hi := size-int64(s.ResumedBytes)-upToDate, size-int64(s.ResumedBytes)+nchunks*frameOverhead; int64(s.WireBytes) < lo || int64(s.WireBytes) > hi {
		t.Errorf("wire_bytes %d, want within [%d, %d] (size %d, resumed %d, up to date %d)", s.WireBytes, lo, hi, size, s.ResumedBytes, upToDate)
	}
	if fc.doneFirst && wantReconnect {
		// Some files had arrived whole before the cut: the client saw
		// their Done (file_done before the reconnect), or the retry found
		// them installed (up to date) or all their chunks held (resumed
		// whole). Either way they were not sent again.
		evs := r.events(t)
		before, whole, reconnected := 0, 0, false
		for _, e := range evs {
			switch e.name {
			case "reconnect":
				reconnected = true
			case "file_done":
				if !reconnected {
					before++
				}
			}
		}
		for _, f := range r.filesDone(t) {
			if f.Skipped || (f.ResumedBytes == f.Size && f.WireBytes == 0) {
				whole++
			}
		}
		if before+whole == 0 {
			t.Errorf("no file had arrived whole before the cut\n%s", r)
		}
		t.Logf("%d files done before the cut, %d found whole after it", before, whole)
	}
	if fc.tree {
		sameTree(t, srcs[0], filepath.Join(root, "run1", "tree"))
	} else {
		sameFile(t, srcs[0], filepath.Join(root, "run1", "big.bin"))
	}
	if left := partials(t, root); len(left) != 0 {
		t.Errorf("state files left after success: %v", left)
	}
	d.alive()
}

// faultProxy is a TCP or UDP fault proxy in front of a daemon. Its faults
// hit the first connection (flow) only; later ones, such as the client's
// retries, pass untouched.
type faultProxy struct {
	addr     string
	tcp      *netsim.TCPProxy
	udp      *netsim.UDPFaultProxy
	toServer func() int64
	conns    func() int
	close    func()
}

func newFaultProxy(t *testing.T, tr, target string, tf []netsim.TCPFault, uf []netsim.UDPFault) *faultProxy {
	t.Helper()
	fp := &faultProxy{}
	stop := make(chan struct{})
	var first func() bool
	switch tr {
	case "tcp":
		p, err := netsim.NewTCPProxy(target, tf...)
		if err != nil {
			t.Fatal(err)
		}
		fp.tcp, fp.addr = p, p.Addr()
		fp.toServer = func() int64 { n, _ := p.Forwarded(); return n }
		fp.conns = p.Conns
		// A connection's faults are fixed when it is set up, before it
		// forwards its first byte.
		first = func() bool { return fp.toServer() > 0 }
		fp.close = func() { p.Close() }
	default:
		p, err := netsim.NewUDPFaultProxy(target, uf...)
		if err != nil {
			t.Fatal(err)
		}
		fp.udp, fp.addr = p, p.Addr()
		fp.toServer = func() int64 { n, _ := p.Forwarded(); return n }
		fp.conns = p.Flows
		first = func() bool { return p.Flows() > 0 }
		fp.close = func() { p.Close() }
	}
	if len(tf)+len(uf) > 0 {
		go func() {
			for !first() {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
			if fp.tcp != nil {
				fp.tcp.SetFaults()
			} else {
				fp.udp.SetFaults()
			}
		}()
	}
	closeProxy := fp.close
	var closed bool
	fp.close = func() {
		if !closed {
			closed = true
			close(stop)
			closeProxy()
		}
	}
	t.Cleanup(fp.close)
	return fp
}
