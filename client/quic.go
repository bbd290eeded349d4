package client

import (
	"context"
	"errors"

	"xfer/transport"
)

func dialQUIC(ctx context.Context, hostport string, streams int) (transport.Session, error) {
	return nil, errors.New("QUIC is not available in this build yet")
}
