package main

import (
	"errors"
	"log/slog"

	"xfer/transport"
)

func listenQUIC(addr string, log *slog.Logger) (transport.Listener, error) {
	return nil, errors.New("QUIC is not available in this build yet")
}
