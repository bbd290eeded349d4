package main

import (
	"log/slog"

	"xfer/transport"
)

func listenQUIC(addr string, maxConns int, log *slog.Logger) (transport.Listener, error) {
	return transport.ListenQUIC(addr, &transport.QUICOptions{MaxConns: maxConns, Logger: log})
}
