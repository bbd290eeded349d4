package protocol

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Session-level constants chosen by the implementation (not fixed by the
// wire format).
const (
	// HandshakeTimeout bounds the Noise handshake and the Hello.
	HandshakeTimeout = 10 * time.Second
	// MaxOpenWindow is how many Dir and Open messages a sender may have
	// unanswered (no Done or Error yet).
	MaxOpenWindow = 256
)

// HelloInto asks the receiver to put the sources into the destination
// directory (creating it), as cp does for a trailing slash or several
// sources. Without it, and when the destination is not an existing
// directory, the single source is renamed to the destination's name.
const HelloInto uint16 = 1 << 4

// AcceptExistsKeep is like AcceptExists, but the receiver will not replace
// the destination (no-clobber): the sender sends Skip with Reason 0 when
// the roots match and Reason CodeExists when they differ.
const AcceptExistsKeep uint8 = 4

var codeNames = map[uint16]string{
	CodeInternal:         "internal",
	CodeProtocol:         "protocol",
	CodeNotAuthorized:    "not_authorized",
	CodePermissionDenied: "permission_denied",
	CodeNotFound:         "not_found",
	CodeBadPath:          "bad_path",
	CodeBusy:             "busy",
	CodeNoSpace:          "no_space",
	CodeExists:           "exists",
	CodeVerifyFailed:     "verify_failed",
	CodeSourceChanged:    "source_changed",
	CodeTooLarge:         "too_large",
	CodeIO:               "io",
	CodeUnsupported:      "unsupported",
	CodeShuttingDown:     "shutting_down",
}

// CodeName returns the snake_case name of an error code, used in JSON
// output ("code_N" for unknown codes).
func CodeName(code uint16) string {
	if n, ok := codeNames[code]; ok {
		return n
	}
	return fmt.Sprintf("code_%d", code)
}

// Error makes an Error message usable as a Go error; the text is the
// peer's message (untrusted: escape before printing to a terminal).
func (e *Error) Error() string { return e.Message }

// Errorf builds an Error message for id with a formatted text, cut to at
// most MaxErrorMessage bytes (at a UTF-8 boundary) so that it always
// marshals.
func Errorf(id uint32, code uint16, format string, args ...any) *Error {
	return &Error{ID: id, Code: code, Message: truncate(fmt.Sprintf(format, args...), MaxErrorMessage)}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
