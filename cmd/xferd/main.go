// Command xferd is the xfer daemon: it receives and serves files under one
// root directory for the clients listed in its authorized_keys, over TCP
// and QUIC on the same port. With no flags it runs on embedded defaults;
// see the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"xfer/crypto"
	"xfer/internal/ui"
	"xfer/protocol"
	"xfer/server"
	"xfer/transport"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func configDir(app string) string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, app)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "." + app
	}
	return filepath.Join(home, ".config", app)
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("xferd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "xfer-inbox", "`DIR` to receive into and serve from (created if missing)")
	listen := fs.String("listen", ":"+strconv.Itoa(protocol.DefaultPort), "`ADDR` to listen on (TCP and UDP)")
	hostKey := fs.String("host-key", filepath.Join(configDir("xferd"), "host_key"), "host key `FILE` (created on first start)")
	authKeys := fs.String("authorized-keys", filepath.Join(configDir("xferd"), "authorized_keys"), "authorized keys `FILE`")
	readOnly := fs.Bool("read-only", false, "refuse every upload")
	noOverwrite := fs.Bool("no-overwrite", false, "never replace an existing file that differs")
	maxFile := fs.Uint64("max-file-size", 0, "refuse files larger than this many bytes (0: no limit)")
	maxSessions := fs.Int("max-sessions", 64, "concurrent sessions")
	expiry := fs.Duration("partial-expiry", 7*24*time.Hour, "remove partial files untouched for this long (0 or less: never)")
	noTCP := fs.Bool("no-tcp", false, "do not listen on TCP")
	noQUIC := fs.Bool("no-quic", false, "do not listen on QUIC (UDP)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		ui.PrintError(stderr, "xferd", fmt.Errorf("unexpected argument %q", fs.Arg(0)), `run "xferd -h" for the flags`)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		ui.PrintError(stderr, "xferd", err, "")
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if *logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h)
	fail := func(err error, hint string) int {
		ui.PrintError(stderr, "xferd", err, hint)
		return 1
	}

	id, created, err := crypto.LoadOrCreateIdentity(*hostKey, "xferd@"+hostname())
	if err != nil {
		return fail(err, "")
	}
	if created {
		log.Info("created host key", "file", *hostKey, "key", id.Public.Fingerprint())
	}
	cfg := server.Config{
		Root:          *root,
		HostKey:       id,
		ReadOnly:      *readOnly,
		NoOverwrite:   *noOverwrite,
		MaxFileSize:   *maxFile,
		MaxSessions:   *maxSessions,
		PartialExpiry: *expiry,
		Logger:        log,
	}
	if *expiry <= 0 {
		cfg.PartialExpiry = -1
	}
	cfg.AuthorizedKeysFile = *authKeys
	if _, err := os.Stat(*authKeys); errors.Is(err, os.ErrNotExist) && !flagSet(fs, "authorized-keys") {
		// Embedded default: admit the local user's own identity, so a
		// newcomer can send to localhost at once.
		own := filepath.Join(configDir("xfer"), "identity")
		uid, created, err := crypto.LoadOrCreateIdentity(own, defaultComment())
		if err != nil {
			return fail(err, "")
		}
		if created {
			log.Info("created the local user's client identity", "file", own, "key", uid.Public.Fingerprint())
		}
		cfg.AuthorizedKeysFile = own + ".pub"
		log.Info("no authorized_keys file; admitting only the local user's own key", "missing", *authKeys, "admitted", cfg.AuthorizedKeysFile, "key", uid.Public.Fingerprint())
	}
	srv, err := server.New(cfg)
	if err != nil {
		return fail(err, "")
	}

	// Signals are ours before anyone can learn we are listening.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var listeners []transport.Listener
	if !*noTCP {
		l, err := transport.ListenTCP(*listen)
		if err != nil {
			return fail(err, "is another xferd running? pick another port with --listen")
		}
		listeners = append(listeners, l)
	}
	if !*noQUIC {
		resetKey := id.StatelessResetKey()
		l, err := listenQUIC(*listen, *maxSessions, &resetKey, log)
		if err != nil {
			return fail(err, "pass --no-quic to serve TCP only")
		}
		listeners = append(listeners, l)
	}
	if len(listeners) == 0 {
		return fail(errors.New("--no-tcp and --no-quic leave nothing to listen on"), "")
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		log.Info("listening", "addr", l.Addr().String(), "transport", transportName(l), "root", *root, "key", id.Public.Fingerprint())
		go func() { errc <- srv.Serve(ctx, l) }()
	}

	for {
		select {
		case err := <-errc:
			if err != nil {
				log.Error("listener failed", "err", err)
				shutdown(srv, log)
				return 1
			}
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if err := srv.Reload(); err != nil {
					log.Error("reload failed; keeping the previous keys", "err", err)
				}
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			cancel()
			shutdown(srv, log)
			return 0
		}
	}
}

func shutdown(srv *server.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
	}
}

func transportName(l transport.Listener) string {
	if _, ok := l.Addr().(*net.UDPAddr); ok {
		return "quic"
	}
	return "tcp"
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

func defaultComment() string {
	u := os.Getenv("USER")
	if u == "" {
		u = "xfer"
	}
	return u + "@" + hostname()
}
