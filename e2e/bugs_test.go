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
// None is open. Fixed so far, each found by a case here: the client hung
// forever on a stalled path or a silent daemon (no client idle timeout;
// faults_test.go dead-path rows, hostile_test.go end-claims-more-then-
// silence); a chunk-frame record before the handshake held a daemon slot
// forever (robustness_test.go tcp-frame-before-handshake); a QUIC client's
// crash kept its destination busy for a minute (crash_test.go send/quic);
// progress overshot its total after a reconnect (progress_test.go); a full
// disk while journaling leaked the daemon's paths (fulldisk_test.go); a
// daemon session over a dead TCP path kept the destination busy after the
// client reconnected (faults_test.go dead-path-mid-file/tcp).

// skipBug skips t because of a known bug, unless XFER_RUN_BUGS=1.
func skipBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("XFER_RUN_BUGS") != "1" {
		t.Skip(bug + " (XFER_RUN_BUGS=1 runs it)")
	}
}
