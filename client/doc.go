// Package client is xfer's client library: it sends files to an xferd
// daemon, fetches them, and lists remote directories. cmd/xfer is a thin
// layer over it, and Go programs can use it directly.
package client
