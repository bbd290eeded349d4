// Package client is xfer's client library: it sends files to an xferd
// daemon, fetches them, and lists remote directories. cmd/xfer is a thin
// layer over it, and Go programs can use it directly.
//
// # Operations
//
// [Send], [Get] and [List] each take an [Options], which carries the
// client's identity, the known_hosts file that pins daemon keys, retry and
// transfer settings, and an Events callback. Send and Get retry dropped
// connections and resume partial files; they return a [Summary] of the run
// and an [*Error] whose [Kind] tells what went wrong (cmd/xfer turns kinds
// into exit codes).
//
// # Selecting what to send
//
// [Options.FilesFrom] names the sources by a [FileList] of relative paths,
// as rsync's --files-from does; [Options.Filter] leaves paths out by
// gitignore-like [Rule]s compiled with [NewFilter]; [Options.DryRun]
// reports what a send would do without connecting.
//
// # Events
//
// [Options.Events] receives [*Progress], [*FileDone], [*FileError],
// [*Reconnect], [*DryRun] and [*Summary] values while an operation runs,
// one at a time. Their JSON forms are cmd/xfer's --json output, specified,
// with the order in which they come, in docs/json.md.
package client
