package main

// Custom testscript commands that testscript lacks. Each command fails the
// script with a message that says what differed.
//
//	exitcode [-within DUR] CODE PROG ARGS...
//	                        run PROG (like exec) and require exit status CODE
//	                        (and, with -within, that it ends within DUR);
//	                        stdout and stderr are kept for later checks
//	mkrandom FILE SIZE [SEED]   deterministic pseudo-random content (SIZE may end in K or M)
//	mkpattern FILE SIZE     byte i is i mod 251 (the pattern of testdata/vectors)
//	mkfile NAME [CONTENT]   a file whose NAME may hold Go escapes (\x1b, \u202e, \n)
//	fileroot VAR FILE [CHUNK]   set $VAR to FILE's BLAKE2b file root, computed
//	                        here from the spec, independently of xfer's code
//	setmtime TIME PATH...   set mtimes (RFC 3339, or seconds since the epoch)
//	perm MODE PATH...       require permission bits MODE (octal)
//	samecontent A B         require identical bytes
//	cmpsorted A B           like cmp, after sorting the lines of both
//	fileid VAR FILE         set $VAR to FILE's device and inode numbers
//	samefileid VAR FILE     require FILE to be the file recorded in $VAR
//	                        (with !: a new file, as an atomic rename makes)
//	checkmeta [-skiplinks] [-content] SRC DST
//	                        require DST to mirror SRC recursively: same
//	                        entries, types, permissions, mtimes and contents
//	                        (-skiplinks: symlinks in SRC must be absent in DST;
//	                        -content: permissions and mtimes aside)
//	snapshot NAME DIR       remember DIR's tree (paths, types, modes, mtimes, contents)
//	unchanged NAME DIR      require DIR to match snapshot NAME (directory
//	                        mtimes aside)
//	authorize FILE PUB [OPTIONS]   append PUB's key line (with options) to FILE
//	deauthorize FILE PUB    remove PUB's key from FILE
//	fingerprint VAR PUB     set $VAR to the fingerprint of the key in PUB
//	freeaddr VAR            set $VAR to 127.0.0.1:PORT, a port nothing listens on
//	waitlog [-count N] [-timeout DUR] FILE REGEXP
//	                        wait until FILE has N lines matching REGEXP
//	jsonlines FILE [EVENT...]
//	                        every line of FILE (or stdout) is a JSON object
//	                        with "v":1 and an "event" (one of EVENT...)
//	jsoncount FILE SEL N    N events match selector SEL
//	jsonfield FILE SEL FIELD WANT
//	                        at least one event matches SEL and, in every one,
//	                        FIELD is WANT (with !: in none of them); WANT is the
//	                        value as text, or >N, <N, or ~REGEXP
//	jsonget VAR FILE SEL FIELD
//	                        set $VAR to FIELD of the one event matching SEL
//
// A selector SEL is an event name with optional conditions,
// "file_done:file=a/b.txt:skipped=true".

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/blake2b"

	"xfer/crypto"
	"xfer/internal/testnet"
)

var commands = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"exitcode":     cmdExitcode,
	"mkrandom":     cmdMkrandom,
	"mkpattern":    cmdMkpattern,
	"mkfile":       cmdMkfile,
	"fileroot":     cmdFileroot,
	"setmtime":     cmdSetmtime,
	"perm":         cmdPerm,
	"samecontent":  cmdSamecontent,
	"cmpsorted":    cmdCmpsorted,
	"fileid":       cmdFileid,
	"samefileid":   cmdSamefileid,
	"checkmeta":    cmdCheckmeta,
	"snapshot":     cmdSnapshot,
	"unchanged":    cmdUnchanged,
	"authorize":    cmdAuthorize,
	"deauthorize":  cmdDeauthorize,
	"fingerprint":  cmdFingerprint,
	"waitlog":      cmdWaitlog,
	"freeaddr":     cmdFreeaddr,
	"jsonlines":    cmdJSONLines,
	"jsoncount":    cmdJSONCount,
	"jsonfield":    cmdJSONField,
	"jsonget":      cmdJSONGet,
	"xferd-start":  cmdXferdStart,
	"xferd-stop":   cmdXferdStop,
	"xferd-signal": cmdXferdSignal,
}

func noNeg(ts *testscript.TestScript, neg bool, name string) {
	if neg {
		ts.Fatalf("%s does not support !", name)
	}
}

func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "exitcode")
	var within time.Duration
	if len(args) >= 2 && args[0] == "-within" {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		within, args = d, args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode [-within DUR] CODE PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	start := time.Now()
	err = ts.Exec(args[1], args[2:]...)
	took := time.Since(start)
	got := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		got = ee.ExitCode()
	default:
		ts.Fatalf("running %s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
	if within > 0 && took > within {
		ts.Fatalf("%s took %v, want at most %v", args[1], took.Round(time.Millisecond), within)
	}
}

// parseSize reads "123", "4K" or "2M".
func parseSize(ts *testscript.TestScript, s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		ts.Fatalf("bad size %q", s)
	}
	return n * mult
}

func cmdMkrandom(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkrandom")
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: mkrandom FILE SIZE [SEED]")
	}
	size := parseSize(ts, args[1])
	h := fnv.New64a()
	h.Write([]byte(filepath.Base(args[0])))
	if len(args) == 3 {
		h.Write([]byte{0})
		h.Write([]byte(args[2]))
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], h.Sum64())
	r := rand.NewChaCha8(seed)
	data := make([]byte, size)
	r.Read(data)
	writeFile(ts, args[0], data)
}

// writeFile writes a new file (0644), creating its directory.
func writeFile(ts *testscript.TestScript, name string, data []byte) {
	name = ts.MkAbs(name)
	ts.Check(os.MkdirAll(filepath.Dir(name), 0o755))
	ts.Check(os.WriteFile(name, data, 0o644))
}

func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkfile")
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: mkfile NAME [CONTENT]")
	}
	name, err := strconv.Unquote(`"` + args[0] + `"`)
	if err != nil {
		ts.Fatalf("mkfile: bad name %q: %v", args[0], err)
	}
	content := "x\n"
	if len(args) == 2 {
		content = args[1]
	}
	writeFile(ts, name, []byte(content))
}

func cmdMkpattern(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkpattern")
	if len(args) != 2 {
		ts.Fatalf("usage: mkpattern FILE SIZE")
	}
	data := make([]byte, parseSize(ts, args[1]))
	for i := range data {
		data[i] = byte(i % 251)
	}
	writeFile(ts, args[0], data)
}

// cmdFileroot computes a file root straight from the definition in
// DESIGN.md and PROTOCOL.md: BLAKE2b-256("xfer/1 file root" || uint64be
// size || uint32be chunk size || BLAKE2b-256 of each chunk), using only
// golang.org/x/crypto/blake2b, so that `xfer hash` is checked against an
// implementation that shares no code with it.
func cmdFileroot(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "fileroot")
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: fileroot VAR FILE [CHUNK]")
	}
	cs := int64(1 << 20)
	if len(args) == 3 {
		cs = parseSize(ts, args[2])
	}
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	var hdr []byte
	hdr = append(hdr, "xfer/1 file root"...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(data)))
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(cs))
	for off := int64(0); off < int64(len(data)); off += cs {
		sum := blake2b.Sum256(data[off:min(off+cs, int64(len(data)))])
		hdr = append(hdr, sum[:]...)
	}
	root := blake2b.Sum256(hdr)
	ts.Setenv(args[0], fmt.Sprintf("%x", root))
}

func parseTime(ts *testscript.TestScript, s string) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		ts.Fatalf("bad time %q (want RFC 3339 or seconds)", s)
	}
	return time.Unix(n, 0)
}

func cmdSetmtime(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "setmtime")
	if len(args) < 2 {
		ts.Fatalf("usage: setmtime TIME PATH...")
	}
	t := parseTime(ts, args[0])
	for _, p := range args[1:] {
		ts.Check(os.Chtimes(ts.MkAbs(p), t, t))
	}
}

func fileID(ts *testscript.TestScript, file string) string {
	fi, err := os.Lstat(ts.MkAbs(file))
	ts.Check(err)
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		ts.Fatalf("no inode numbers on this system")
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func cmdFileid(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "fileid")
	if len(args) != 2 {
		ts.Fatalf("usage: fileid VAR FILE")
	}
	ts.Setenv(args[0], fileID(ts, args[1]))
}

func cmdSamefileid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samefileid VAR FILE")
	}
	got, want := fileID(ts, args[1]), ts.Getenv(args[0])
	if want == "" {
		ts.Fatalf("$%s is not set", args[0])
	}
	switch {
	case got != want && !neg:
		ts.Fatalf("%s is a new file (%s, was %s)", args[1], got, want)
	case got == want && neg:
		ts.Fatalf("%s is still the same file (%s)", args[1], got)
	}
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: perm MODE PATH...")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	for _, p := range args[1:] {
		fi, err := os.Lstat(ts.MkAbs(p))
		ts.Check(err)
		got := fi.Mode().Perm()
		if (got == fs.FileMode(want)) == neg {
			ts.Fatalf("%s has mode %04o, want %s%04o", p, got, map[bool]string{true: "not ", false: ""}[neg], want)
		}
	}
}

func cmdSamecontent(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samecontent A B")
	}
	a, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	if bytes.Equal(a, b) == neg {
		if neg {
			ts.Fatalf("%s and %s have the same content", args[0], args[1])
		}
		ts.Fatalf("%s (%d bytes) and %s (%d bytes) differ", args[0], len(a), args[1], len(b))
	}
}

func cmdCmpsorted(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "cmpsorted")
	if len(args) != 2 {
		ts.Fatalf("usage: cmpsorted A B")
	}
	sorted := func(name string) string {
		lines := strings.SplitAfter(ts.ReadFile(name), "\n")
		sort.Strings(lines)
		return strings.Join(lines, "")
	}
	a, b := sorted(args[0]), sorted(args[1])
	if a != b {
		ts.Logf("[%s, sorted]\n%s[%s, sorted]\n%s", args[0], a, args[1], b)
		ts.Fatalf("%s and %s differ (after sorting lines)", args[0], args[1])
	}
}

// node is one entry of a tree as checkmeta and snapshot see it.
type node struct {
	typ   string // "file", "dir", "symlink", "other"
	perm  fs.FileMode
	mtime time.Time
	size  int64
	sum   [32]byte // sha256 of a file's content, or a link's target
}

func (n node) String() string {
	return fmt.Sprintf("%s %04o %s size=%d sum=%x", n.typ, n.perm, n.mtime.UTC().Format(time.RFC3339Nano), n.size, n.sum[:6])
}

// readTree describes every entry under dir (dir itself as ".").
func readTree(dir string) (map[string]node, error) {
	out := make(map[string]node)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := node{perm: fi.Mode().Perm(), mtime: fi.ModTime().UTC(), size: fi.Size()}
		switch {
		case fi.Mode().IsRegular():
			n.typ = "file"
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			copy(n.sum[:], h.Sum(nil))
		case fi.IsDir():
			n.typ, n.size = "dir", 0
		case fi.Mode()&fs.ModeSymlink != 0:
			n.typ = "symlink"
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			n.sum = sha256.Sum256([]byte(t))
		default:
			n.typ = "other"
		}
		out[filepath.ToSlash(rel)] = n
		return nil
	})
	return out, err
}

func sortedKeys(m map[string]node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cmdCheckmeta(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "checkmeta")
	skipLinks, contentOnly := false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-skiplinks":
			skipLinks = true
		case "-content":
			contentOnly = true
		default:
			ts.Fatalf("checkmeta: unknown flag %s", args[0])
		}
		args = args[1:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: checkmeta [-skiplinks] [-content] SRC DST")
	}
	src, err := readTree(ts.MkAbs(args[0]))
	ts.Check(err)
	dst, err := readTree(ts.MkAbs(args[1]))
	ts.Check(err)
	var diffs []string
	for _, p := range sortedKeys(src) {
		s := src[p]
		d, ok := dst[p]
		switch {
		case s.typ == "symlink" && skipLinks:
			if ok {
				diffs = append(diffs, fmt.Sprintf("%s: symlink in source, but %s in destination (should be skipped)", p, d.typ))
			}
		case s.typ == "symlink" || s.typ == "other":
			ts.Fatalf("checkmeta: %s: %s in source (use -skiplinks)", p, s.typ)
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing in destination", p))
		case s.typ != d.typ:
			diffs = append(diffs, fmt.Sprintf("%s: %s in source, %s in destination", p, s.typ, d.typ))
		default:
			if contentOnly {
				s.perm, s.mtime = d.perm, d.mtime
			}
			if s.perm != d.perm {
				diffs = append(diffs, fmt.Sprintf("%s: mode %04o, want %04o", p, d.perm, s.perm))
			}
			if !s.mtime.Equal(d.mtime) {
				diffs = append(diffs, fmt.Sprintf("%s: mtime %s, want %s", p, d.mtime.UTC().Format(time.RFC3339Nano), s.mtime.UTC().Format(time.RFC3339Nano)))
			}
			if s.typ == "file" && (s.size != d.size || s.sum != d.sum) {
				diffs = append(diffs, fmt.Sprintf("%s: content differs (%d bytes, want %d)", p, d.size, s.size))
			}
		}
	}
	for _, p := range sortedKeys(dst) {
		if _, ok := src[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only in destination (%s)", p, dst[p].typ))
		}
	}
	if len(diffs) > 0 {
		ts.Fatalf("%s does not mirror %s:\n\t%s", args[1], args[0], strings.Join(diffs, "\n\t"))
	}
}

// scriptState holds per-script values of the custom commands.
type scriptState struct {
	snapshots map[string]map[string]node
	daemons   map[string]*daemon
}

var (
	statesMu sync.Mutex
	states   = make(map[*testscript.TestScript]*scriptState)
)

func stateOf(ts *testscript.TestScript) *scriptState {
	statesMu.Lock()
	defer statesMu.Unlock()
	st := states[ts]
	if st == nil {
		st = &scriptState{snapshots: make(map[string]map[string]node), daemons: make(map[string]*daemon)}
		states[ts] = st
		ts.Defer(func() {
			statesMu.Lock()
			delete(states, ts)
			statesMu.Unlock()
		})
	}
	return st
}

func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "snapshot")
	if len(args) != 2 {
		ts.Fatalf("usage: snapshot NAME DIR")
	}
	tree, err := readTree(ts.MkAbs(args[1]))
	ts.Check(err)
	stateOf(ts).snapshots[args[0]] = tree
}

func cmdUnchanged(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "unchanged")
	if len(args) != 2 {
		ts.Fatalf("usage: unchanged NAME DIR")
	}
	old, ok := stateOf(ts).snapshots[args[0]]
	if !ok {
		ts.Fatalf("no snapshot %q", args[0])
	}
	now, err := readTree(ts.MkAbs(args[1]))
	ts.Check(err)
	var diffs []string
	for _, p := range sortedKeys(old) {
		n, ok := now[p]
		o := old[p]
		if n.typ == "dir" && o.typ == "dir" {
			// A directory's mtime moves when a partial file comes and
			// goes; what is in it is compared entry by entry.
			n.mtime, o.mtime = time.Time{}, time.Time{}
		}
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: removed (was %v)", p, old[p]))
		case n != o:
			diffs = append(diffs, fmt.Sprintf("%s: now %v, was %v", p, n, old[p]))
		}
	}
	for _, p := range sortedKeys(now) {
		if _, ok := old[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: added (%v)", p, now[p]))
		}
	}
	if len(diffs) > 0 {
		ts.Fatalf("%s changed since snapshot %s:\n\t%s", args[1], args[0], strings.Join(diffs, "\n\t"))
	}
}

// readPub returns the public key line of a .pub file and its key.
func readPub(ts *testscript.TestScript, file string) (string, crypto.PublicKey) {
	data, err := os.ReadFile(ts.MkAbs(file))
	ts.Check(err)
	line := strings.TrimSpace(string(data))
	k, _, err := crypto.ParsePublicKey(line)
	if err != nil {
		ts.Fatalf("%s: %v", file, err)
	}
	return line, k
}

func cmdAuthorize(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "authorize")
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: authorize FILE PUB [OPTIONS]")
	}
	line, _ := readPub(ts, args[1])
	if len(args) == 3 {
		line = args[2] + " " + line
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	ts.Check(err)
	_, err = fmt.Fprintln(f, line)
	ts.Check(errors.Join(err, f.Close()))
}

func cmdDeauthorize(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "deauthorize")
	if len(args) != 2 {
		ts.Fatalf("usage: deauthorize FILE PUB")
	}
	_, k := readPub(ts, args[1])
	b64 := strings.Fields(k.String())[1]
	file := ts.MkAbs(args[0])
	data, err := os.ReadFile(file)
	ts.Check(err)
	var keep []string
	removed := false
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if strings.Contains(l, b64) {
			removed = true
			continue
		}
		keep = append(keep, l)
	}
	if !removed {
		ts.Fatalf("%s does not list the key of %s", args[0], args[1])
	}
	ts.Check(os.WriteFile(file, []byte(strings.Join(keep, "")), 0o600))
}

func cmdFingerprint(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "fingerprint")
	if len(args) != 2 {
		ts.Fatalf("usage: fingerprint VAR PUB")
	}
	_, k := readPub(ts, args[1])
	ts.Setenv(args[0], k.Fingerprint())
}

func cmdFreeaddr(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "freeaddr")
	if len(args) != 1 {
		ts.Fatalf("usage: freeaddr VAR")
	}
	p, err := testnet.FreePort()
	ts.Check(err)
	ts.Setenv(args[0], "127.0.0.1:"+strconv.Itoa(p))
}

func cmdWaitlog(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "waitlog")
	count, timeout := 1, 20*time.Second
	for len(args) > 2 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-count":
			n, err := strconv.Atoi(args[1])
			ts.Check(err)
			count = n
		case "-timeout":
			d, err := time.ParseDuration(args[1])
			ts.Check(err)
			timeout = d
		default:
			ts.Fatalf("waitlog: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: waitlog [-count N] [-timeout DUR] FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		n := 0
		for l := range strings.Lines(string(data)) {
			if re.MatchString(l) {
				n++
			}
		}
		if n >= count {
			return
		}
		if time.Now().After(deadline) {
			ts.Logf("[%s]\n%s", args[0], data)
			ts.Fatalf("%s: %d lines match %q after %v, want %d", args[0], n, args[1], timeout, count)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonEvents parses FILE (or stdout, stderr) as JSON lines.
func jsonEvents(ts *testscript.TestScript, file string) []map[string]any {
	var out []map[string]any
	for i, l := range strings.Split(ts.ReadFile(file), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			ts.Fatalf("%s line %d is not a JSON object: %v\n\t%s", file, i+1, err, l)
		}
		if dec.More() {
			ts.Fatalf("%s line %d holds more than one JSON value:\n\t%s", file, i+1, l)
		}
		out = append(out, m)
	}
	return out
}

// text renders a JSON scalar as the scripts write it.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// selectEvents returns the events matching sel, "EVENT[:FIELD=VALUE]...".
func selectEvents(ts *testscript.TestScript, evs []map[string]any, sel string) []map[string]any {
	parts := strings.Split(sel, ":")
	var out []map[string]any
next:
	for _, ev := range evs {
		if text(ev["event"]) != parts[0] {
			continue
		}
		for _, c := range parts[1:] {
			k, v, ok := strings.Cut(c, "=")
			if !ok {
				ts.Fatalf("bad selector %q", sel)
			}
			if got, has := ev[k]; !has || text(got) != v {
				continue next
			}
		}
		out = append(out, ev)
	}
	return out
}

func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "jsonlines")
	if len(args) < 1 {
		ts.Fatalf("usage: jsonlines FILE [EVENT...]")
	}
	evs := jsonEvents(ts, args[0])
	if len(evs) == 0 {
		ts.Fatalf("%s holds no JSON lines", args[0])
	}
	for i, ev := range evs {
		if text(ev["v"]) != "1" {
			ts.Fatalf("%s: event %d has v=%v, want 1", args[0], i+1, ev["v"])
		}
		name, ok := ev["event"].(string)
		if !ok || name == "" {
			ts.Fatalf("%s: event %d has no event name", args[0], i+1)
		}
		if len(args) > 1 && !contains(args[1:], name) {
			ts.Fatalf("%s: event %d is %q, want one of %q", args[0], i+1, name, args[1:])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func cmdJSONCount(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsoncount FILE SEL N")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	got := len(selectEvents(ts, jsonEvents(ts, args[0]), args[1]))
	if (got == n) == neg {
		ts.Fatalf("%s: %d events match %s, want %s%d", args[0], got, args[1], map[bool]string{true: "not ", false: ""}[neg], n)
	}
}

// matches reports whether the scalar v satisfies want.
func matches(ts *testscript.TestScript, v any, want string) bool {
	got := text(v)
	switch {
	case strings.HasPrefix(want, ">") || strings.HasPrefix(want, "<"):
		w, err := strconv.ParseFloat(want[1:], 64)
		ts.Check(err)
		g, err := strconv.ParseFloat(got, 64)
		if err != nil {
			return false
		}
		if want[0] == '>' {
			return g > w
		}
		return g < w
	case strings.HasPrefix(want, "~"):
		re, err := regexp.Compile(want[1:])
		ts.Check(err)
		return re.MatchString(got)
	}
	return got == want
}

func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: jsonfield FILE SEL FIELD WANT")
	}
	evs := selectEvents(ts, jsonEvents(ts, args[0]), args[1])
	if len(evs) == 0 {
		ts.Fatalf("%s: no event matches %s", args[0], args[1])
	}
	for _, ev := range evs {
		v, has := ev[args[2]]
		if !has {
			ts.Fatalf("%s: %s event has no field %q", args[0], args[1], args[2])
		}
		if ok := matches(ts, v, args[3]); ok == neg {
			b, _ := json.Marshal(ev)
			if neg {
				ts.Fatalf("%s: %s has %s %s, want not %s:\n\t%s", args[0], args[1], args[2], text(v), args[3], b)
			}
			ts.Fatalf("%s: %s has %s %s, want %s:\n\t%s", args[0], args[1], args[2], text(v), args[3], b)
		}
	}
}

func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "jsonget")
	if len(args) != 4 {
		ts.Fatalf("usage: jsonget VAR FILE SEL FIELD")
	}
	evs := selectEvents(ts, jsonEvents(ts, args[1]), args[2])
	if len(evs) != 1 {
		ts.Fatalf("%s: %d events match %s, want exactly 1", args[1], len(evs), args[2])
	}
	v, has := evs[0][args[3]]
	if !has {
		ts.Fatalf("%s: %s event has no field %q", args[1], args[2], args[3])
	}
	ts.Setenv(args[0], text(v))
}
