package client

import (
	"context"
	"log/slog"

	"xfer/transport"
)

func dialQUIC(ctx context.Context, hostport string, streams int, log *slog.Logger) (transport.Session, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return transport.DialQUIC(ctx, hostport, &transport.QUICOptions{Streams: streams, Logger: log})
}
