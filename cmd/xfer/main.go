// Command xfer sends, fetches and lists files on an xferd daemon, and
// makes and inspects the keys and hashes xfer uses. docs/cli.md documents
// the commands and flags; docs/json.md the --json events and the exit
// codes.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"xfer/chunk"
	"xfer/crypto"
	"xfer/internal/ui"
	"xfer/protocol"
)

// Exit codes, part of the machine interface (docs/json.md lists them
// too). They never change meaning; new failures get new codes.
const (
	// exitOK: every file arrived verified (or was already up to date),
	// or a listing or dry run found no problem.
	exitOK = 0
	// exitError: any failure not listed below (a local I/O error, a
	// file list that cannot be read, a protocol violation, a bug).
	exitError = 1
	// exitUsage: bad flags or arguments, a malformed --exclude or
	// --include pattern, a --files-from file that cannot be opened, a
	// destination the daemon rejects as a path (bad_path, exists).
	exitUsage = 2
	// exitConnection: the daemon could not be reached, the handshake
	// failed, or the connection kept dropping after --retries attempts;
	// also a daemon that is busy or shutting down.
	exitConnection = 3
	// exitAuth: the daemon does not authorize our key, or its host key
	// is unknown (without --accept-new-host) or changed.
	exitAuth = 4
	// exitPermission: the daemon's policy refused the operation
	// (read-only, write-only, no-overwrite).
	exitPermission = 5
	// exitPartial: some files failed and the others arrived; each
	// failed file has its own error line (a file_error event with
	// --json). Sources skipped as symlinks or special files do not count.
	exitPartial = 6
	// exitNotFound: a remote path (get, ls) does not exist.
	exitNotFound = 7
	// exitInterrupted: SIGINT or SIGTERM; partial files are kept for
	// resuming.
	exitInterrupted = 130
)

const usage = `usage:
  xfer keygen [-i FILE] [-C COMMENT]       make an identity (FILE, FILE.pub)
  xfer send [flags] SRC... DEST            upload files and directories
  xfer send --files-from FILE [flags] DEST upload the paths listed in FILE
  xfer get  [flags] SRC... LOCAL_DEST      download files and directories
  xfer ls   [flags] ADDR                   list a remote directory
  xfer hash FILE...                        print BLAKE2b file roots
  xfer pubkey [-i FILE]                    print your public key line

Addresses: [tcp://|quic://]HOST[:PORT][/PATH], port 7420 by default.
Run "xfer CMD -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "keygen":
		return keygen(rest, stdout, stderr)
	case "pubkey":
		return pubkey(rest, stdout, stderr)
	case "hash":
		return hash(rest, stdout, stderr)
	case "send", "get", "ls":
		return transferCmd(ctx, cmd, rest, stdin, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(stdout, "xfer protocol %d\n", protocol.Version)
		return exitOK
	}
	ui.PrintError(stderr, "xfer", fmt.Errorf("unknown command %q", cmd), `run "xfer --help" for the list of commands`)
	return exitUsage
}

// configDir is $XDG_CONFIG_HOME/xfer or ~/.config/xfer.
func configDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "xfer")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".xfer"
	}
	return filepath.Join(home, ".config", "xfer")
}

func defaultComment() string {
	u := os.Getenv("USER")
	if u == "" {
		u = "xfer"
	}
	h, _ := os.Hostname()
	return u + "@" + h
}

// parse parses flags interspersed with arguments, as users of scp and
// rsync expect ("xfer send a b host/ --json"); "--" ends flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xfer keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := filepath.Join(configDir(), "identity")
	fs.StringVar(&file, "i", file, "identity `FILE` to write (and FILE.pub)")
	fs.StringVar(&file, "identity", file, "identity `FILE` to write (and FILE.pub)")
	comment := fs.String("C", defaultComment(), "comment written into the public key line")
	if rest, err := parse(fs, args); err != nil || len(rest) > 0 {
		return usageErr(stderr, err, "keygen takes no arguments")
	}
	id, err := crypto.GenerateIdentity(*comment)
	if err == nil {
		err = crypto.SaveIdentity(file, id)
	}
	if err != nil {
		hint := ""
		if errors.Is(err, crypto.ErrIdentityExists) {
			hint = "an identity is never overwritten; remove it first or pass -i with another file"
		}
		ui.PrintError(stderr, "xfer", err, hint)
		return exitError
	}
	fmt.Fprintf(stdout, "identity written to %s\npublic key (%s), add this line to the daemon's authorized_keys:\n%s %s\n",
		file, id.Public.Fingerprint(), id.Public.String(), id.Comment)
	return exitOK
}

func pubkey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xfer pubkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := filepath.Join(configDir(), "identity")
	fs.StringVar(&file, "i", file, "identity `FILE`")
	fs.StringVar(&file, "identity", file, "identity `FILE`")
	if rest, err := parse(fs, args); err != nil || len(rest) > 0 {
		return usageErr(stderr, err, "pubkey takes no arguments")
	}
	id, err := crypto.LoadIdentity(file)
	if err != nil {
		ui.PrintError(stderr, "xfer", err, "make one with: xfer keygen")
		return exitError
	}
	fmt.Fprintf(stdout, "%s %s\n", id.Public.String(), id.Comment)
	return exitOK
}

func hash(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xfer hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cs := fs.Uint("chunk-size", protocol.DefaultChunkSize, "chunk size in bytes (the root depends on it)")
	files, err := parse(fs, args)
	if err != nil || len(files) == 0 {
		return usageErr(stderr, err, "hash needs at least one FILE")
	}
	if *cs < protocol.MinChunkSize || *cs > protocol.MaxChunkSize {
		return usageErr(stderr, nil, fmt.Sprintf("--chunk-size must be between %d and %d", protocol.MinChunkSize, protocol.MaxChunkSize))
	}
	code := exitOK
	for _, name := range files {
		root, err := hashFile(name, uint32(*cs))
		if err != nil {
			ui.PrintError(stderr, "xfer", err, "")
			code = exitError
			continue
		}
		fmt.Fprintf(stdout, "%s  %s\n", root, ui.Escape(name))
	}
	return code
}

func hashFile(name string, cs uint32) (crypto.Hash, error) {
	f, err := os.Open(name)
	if err != nil {
		return crypto.Hash{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return crypto.Hash{}, err
	}
	if !fi.Mode().IsRegular() {
		return crypto.Hash{}, fmt.Errorf("%s: not a regular file", name)
	}
	return chunk.HashFile(f, uint64(fi.Size()), cs, 0)
}

func usageErr(stderr io.Writer, err error, msg string) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		ui.PrintError(stderr, "xfer", errors.New(msg), `run "xfer --help" for usage`)
	}
	return exitUsage
}

// confirmHost asks on the terminal whether to trust an unknown host key.
func confirmHost(stdin io.Reader, stderr io.Writer) func(string, crypto.PublicKey) bool {
	return func(host string, key crypto.PublicKey) bool {
		fmt.Fprintf(stderr, "The authenticity of host %s can't be established.\nIts key fingerprint is %s.\nTrust it and remember it in known_hosts? (yes/no) ",
			ui.Escape(host), key.Fingerprint())
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		return strings.EqualFold(strings.TrimSpace(line), "yes")
	}
}
