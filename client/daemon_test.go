package client_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"xfer/client"
	"xfer/crypto"
	"xfer/server"
	"xfer/transport"
)

// testDaemon is an xferd running in the test process on 127.0.0.1, with a
// fresh host key and one authorized client identity.
type testDaemon struct {
	Addr string         // "127.0.0.1:PORT"
	Root string         // the daemon's root directory
	Opts client.Options // the client's identity, no pinning, no retries

	srv    *server.Server
	cancel context.CancelFunc
	served chan struct{}
	tmp    string // removed by Close, when the daemon made its root
}

// newDaemon starts a daemon serving root; an empty root means a new
// temporary directory, removed by Close.
func newDaemon(root string) (*testDaemon, error) {
	return newDaemonPolicy(root, crypto.KeyOptions{})
}

// newDaemonPolicy is newDaemon with a policy for the client's key.
func newDaemonPolicy(root string, policy crypto.KeyOptions) (*testDaemon, error) {
	d := &testDaemon{Root: root, served: make(chan struct{})}
	if root == "" {
		tmp, err := os.MkdirTemp("", "xferd-")
		if err != nil {
			return nil, err
		}
		d.Root, d.tmp = tmp, tmp
	}
	hostKey, err := crypto.GenerateIdentity("xferd")
	if err != nil {
		return nil, err
	}
	id, err := crypto.GenerateIdentity("client")
	if err != nil {
		return nil, err
	}
	d.srv, err = server.New(server.Config{
		Root:           d.Root,
		HostKey:        hostKey,
		AuthorizedKeys: []crypto.AuthorizedKey{{Key: id.Public, Options: policy}},
		PartialExpiry:  -1,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	l, err := transport.ListenTCP("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d.Addr = l.Addr().String()
	// An empty KnownHostsFile disables host key pinning: fine for a
	// daemon in the same process, never for a real one.
	d.Opts = client.Options{Identity: id, Retries: client.NoRetries}
	var ctx context.Context
	ctx, d.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(d.served)
		d.srv.Serve(ctx, l)
	}()
	return d, nil
}

// Close shuts the daemon down.
func (d *testDaemon) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.srv.Shutdown(ctx)
	d.cancel()
	<-d.served
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
}

// startDaemon starts a daemon on a test's temporary directory.
func startDaemon(t testing.TB) *testDaemon {
	t.Helper()
	d, err := newDaemon(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}
