package e2e

import (
	"os"
	"testing"
)

// Known bugs in non-test code that some cases expose are skipped with
// skipBug and a description ("BUG: ..."), so that main stays green, unless
// XFER_RUN_BUGS=1 asks to run them anyway (to check a fix). Remove the
// skipBug call when the bug is fixed.
//
// Open: bugStaleSessionHoldsDest (below).
//
// Fixed so far, each found by a case here: the client hung
// forever on a stalled path or a silent daemon (no client idle timeout;
// faults_test.go dead-path rows, hostile_test.go end-claims-more-then-
// silence); a chunk-frame record before the handshake held a daemon slot
// forever (robustness_test.go tcp-frame-before-handshake); a QUIC client's
// crash kept its destination busy for a minute (crash_test.go send/quic);
// progress overshot its total after a reconnect (progress_test.go); a full
// disk while journaling leaked the daemon's paths (fulldisk_test.go).

// skipBug skips t because of a known bug, unless XFER_RUN_BUGS=1.
func skipBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("XFER_RUN_BUGS") != "1" {
		t.Skip(bug + " (XFER_RUN_BUGS=1 runs it)")
	}
}

// When the path dies without either end noticing (a stalled TCP path, a
// black hole), the client's idle timeout gives up on the connection and
// reconnects, but the daemon's old session still holds the destination
// (transfer.LockSet in transfer/recvfile.go prepare, and the journal's
// flock) until the daemon notices: over QUIC after its 15 s idle timeout,
// over TCP only after its 5-minute watchdog (server/session.go watchIdle,
// IdleTimeout), since the connection looks alive. Every retry is refused
// as busy ("some files must be sent again"), and the client gives up
// after its 5 retries (about 30 s).
const bugStaleSessionHoldsDest = "BUG: after a stalled TCP path, the daemon's stale session keeps the destination busy for 5 minutes, so the client's reconnect cannot resume and gives up"
