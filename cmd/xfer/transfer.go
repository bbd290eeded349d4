package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"xfer/chunk"
	"xfer/client"
	"xfer/crypto"
	"xfer/internal/ui"
)

// transferCmd runs send, get and ls: the commands that talk to a daemon.
func transferCmd(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xfer "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	idFile := filepath.Join(configDir(), "identity")
	fs.StringVar(&idFile, "i", idFile, "identity `FILE`")
	fs.StringVar(&idFile, "identity", idFile, "identity `FILE`")
	known := fs.String("known-hosts", filepath.Join(configDir(), "known_hosts"), "known hosts `FILE`")
	acceptNew := fs.Bool("accept-new-host", false, "trust and remember the key of a host not yet known")
	jsonOut := fs.Bool("json", false, "print one JSON event per line on stdout")
	var quiet, verbose bool
	fs.BoolVar(&quiet, "q", false, "print only errors")
	fs.BoolVar(&quiet, "quiet", false, "print only errors")
	fs.BoolVar(&verbose, "v", false, "print a line per file")
	fs.BoolVar(&verbose, "verbose", false, "print a line per file")
	retries := fs.Int("retries", client.DefaultRetries, "reconnect and resume this many times after a dropped connection (0: fail fast)")
	noResume := fs.Bool("no-resume", false, "discard partial files and start over")
	idle := fs.Duration("idle-timeout", client.DefaultIdleTimeout, "give up on (and retry) a connection that makes no progress for this long")
	noClobber := fs.Bool("no-clobber", false, "never replace an existing destination file that differs")
	chunkSize := fs.Uint("chunk-size", 0, "proposed chunk size in bytes (default 1 MiB)")
	compress := fs.String("compress", "auto", "LZ4 compression: auto, always or never")
	streams := fs.Int("streams", 0, "QUIC data streams (default 4)")
	long := fs.Bool("l", false, "ls: long form")
	withRoot := fs.Bool("hash", false, "ls: add each file's BLAKE2b root")
	// Selection (send only).
	filesFrom := fs.String("files-from", "", "send: read the sources from `FILE` (- for stdin), one path per line, relative to the current directory")
	var nul, dryRun bool
	fs.BoolVar(&nul, "0", false, "send: the --files-from list is NUL-separated (find -print0)")
	fs.BoolVar(&nul, "from0", false, "send: the --files-from list is NUL-separated (find -print0)")
	fs.BoolVar(&dryRun, "n", false, "send: print what would be sent or excluded, and why; send nothing")
	fs.BoolVar(&dryRun, "dry-run", false, "send: print what would be sent or excluded, and why; send nothing")
	var rules []client.Rule
	fs.Var(ruleFlag{&rules, false}, "exclude", "send: leave out paths matching `PATTERN` (repeatable; the first matching --exclude or --include wins)")
	fs.Var(ruleFlag{&rules, true}, "include", "send: send paths matching `PATTERN` even if a later --exclude matches (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(stderr, err, "")
	}
	mode, err := chunk.ParseMode(*compress)
	if err != nil {
		return usageErr(stderr, nil, err.Error())
	}
	if *known == "" {
		// An empty file name would turn host-key pinning off.
		return usageErr(stderr, nil, "--known-hosts needs a file name")
	}
	selecting := *filesFrom != "" || nul || dryRun || len(rules) > 0
	switch {
	case cmd != "send" && selecting:
		return usageErr(stderr, nil, "--files-from, -0, --exclude, --include and --dry-run are send flags")
	case nul && *filesFrom == "":
		return usageErr(stderr, nil, "-0 (--from0) needs --files-from")
	case cmd == "ls" && len(pos) != 1:
		return usageErr(stderr, nil, "ls needs exactly one ADDR")
	case *filesFrom != "" && len(pos) != 1:
		return usageErr(stderr, nil, "with --files-from, send takes only the destination (the list names the sources)")
	case cmd != "ls" && *filesFrom == "" && len(pos) < 2:
		return usageErr(stderr, nil, cmd+" needs at least one source and a destination")
	}
	var filter *client.Filter
	if len(rules) > 0 {
		if filter, err = client.NewFilter(rules...); err != nil {
			return usageErr(stderr, nil, err.Error())
		}
	}
	var list *client.FileList
	if *filesFrom != "" {
		list = &client.FileList{R: stdin, NUL: nul}
		if *filesFrom != "-" {
			f, err := os.Open(*filesFrom)
			if err != nil {
				ui.PrintError(stderr, "xfer", fmt.Errorf("--files-from: %w", err), "")
				return exitUsage
			}
			defer f.Close()
			list.R = f
		}
	}
	// A dry run touches nothing: it neither needs nor creates an
	// identity.
	var id *crypto.Identity
	if !dryRun {
		var created bool
		id, created, err = crypto.LoadOrCreateIdentity(idFile, defaultComment())
		if err != nil {
			ui.PrintError(stderr, "xfer", err, "")
			return exitError
		}
		if created && !quiet {
			fmt.Fprintf(stderr, "xfer: created a new identity %s (%s); the daemon must list %s in its authorized_keys\n", idFile, id.Public.Fingerprint(), idFile+".pub")
		}
	}
	opt := client.Options{
		Filter:         filter,
		FilesFrom:      list,
		DryRun:         dryRun,
		Identity:       id,
		KnownHostsFile: *known,
		AcceptNewHost:  *acceptNew,
		NoResume:       *noResume,
		NoClobber:      *noClobber,
		ChunkSize:      uint32(*chunkSize),
		Compress:       mode,
		Streams:        *streams,
		Retries:        *retries,
		IdleTimeout:    *idle,
	}
	if !quiet {
		opt.Logger = warnLogger(stderr)
	}
	if *retries <= 0 {
		opt.Retries = -1
	}
	// Ask about an unknown host key on the terminal, unless stdin
	// carries the file list.
	if f, ok := stdin.(*os.File); ok && ui.IsTerminal(f) && isTerm(stderr) && *filesFrom != "-" {
		opt.ConfirmHost = confirmHost(stdin, stderr)
	}
	var rep ui.Reporter
	verb := ui.Verb("sent")
	if cmd == "get" {
		verb = ui.Verb("received")
	}
	switch {
	case *jsonOut:
		rep = ui.NewJSON(stdout)
	case dryRun && quiet:
		rep = &dryRunText{w: stdout, rest: ui.NewText(stderr, false, ui.ErrorsOnly()), quiet: true}
	case dryRun:
		rep = &dryRunText{w: stdout, rest: ui.NewText(stderr, verbose), verbose: verbose}
	case quiet:
		rep = ui.NewText(stderr, false, ui.ErrorsOnly())
	case isTerm(stderr) && !verbose:
		rep = ui.NewProgress(stderr, verb)
	default:
		rep = ui.NewText(stderr, verbose, verb)
	}
	opt.Events = rep.Event

	if cmd == "ls" {
		ents, err := client.List(ctx, opt, pos[0], *withRoot)
		rep.Close()
		if err != nil {
			return report(stderr, err)
		}
		for i := range ents {
			if *jsonOut {
				ui.NewJSON(stdout).Event(&ents[i])
			} else {
				line := ui.FormatEntry(&ents[i], *long)
				if !*long && ents[i].Root != "" {
					line += "  " + ui.Escape(ents[i].Root) // --hash without -l
				}
				fmt.Fprintln(stdout, line)
			}
		}
		return exitOK
	}
	srcs, dest := pos[:len(pos)-1], pos[len(pos)-1]
	if len(srcs) == 0 {
		srcs = nil // the file list names them
	}
	if cmd == "send" {
		_, err = client.Send(ctx, opt, srcs, dest)
	} else {
		_, err = client.Get(ctx, opt, srcs, dest)
	}
	rep.Close()
	if err != nil {
		return report(stderr, err)
	}
	return exitOK
}

// ruleFlag collects --exclude and --include patterns, in command-line
// order: the first rule that matches a path decides.
type ruleFlag struct {
	rules   *[]client.Rule
	include bool
}

func (f ruleFlag) String() string { return "" }

func (f ruleFlag) Set(p string) error {
	*f.rules = append(*f.rules, client.Rule{Pattern: p, Include: f.include})
	return nil
}

func isTerm(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && ui.IsTerminal(f)
}

// report prints err and returns its exit code.
func report(stderr io.Writer, err error) int {
	var ce *client.Error
	if !errors.As(err, &ce) {
		ui.PrintError(stderr, "xfer", err, "")
		return exitError
	}
	ui.PrintError(stderr, "xfer", ce.Err, ce.Hint)
	switch ce.Kind {
	case client.KindUsage:
		return exitUsage
	case client.KindConnection:
		return exitConnection
	case client.KindAuth:
		return exitAuth
	case client.KindPermission:
		return exitPermission
	case client.KindPartial:
		return exitPartial
	case client.KindNotFound:
		return exitNotFound
	case client.KindInterrupted:
		return exitInterrupted
	}
	return exitError
}

// warnLogger prints transport warnings as "xfer: warning: MSG key=value…".
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&prefixWriter{w: w}, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	}))
}

type prefixWriter struct{ w io.Writer }

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, "xfer: warning: "); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
