// Package ui renders what xfer and xferd tell their users: progress bars and
// per-file lines on terminals, plain lines elsewhere, one JSON object per line
// for scripts, listings, and "PROG: error: …" messages.
//
// Everything that can carry text from a peer or the file system (file names,
// error messages) is passed through [Escape] before it reaches a terminal.
// The JSON reporter leaves strings as they are: encoding/json already escapes
// control characters.
package ui
