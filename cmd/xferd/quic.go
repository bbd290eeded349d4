package main

import (
	"log/slog"

	"xfer/transport"
)

func listenQUIC(addr string, maxConns int, resetKey *[32]byte, log *slog.Logger) (transport.Listener, error) {
	return transport.ListenQUIC(addr, &transport.QUICOptions{MaxConns: maxConns, StatelessResetKey: resetKey, Logger: log})
}
