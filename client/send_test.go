package client_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xfer/client"
)

// recorder collects the events of a run.
type recorder struct {
	mu  sync.Mutex
	evs []client.Event
}

func (r *recorder) add(ev client.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) fileErrors() map[string]*client.FileError {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]*client.FileError)
	for _, ev := range r.evs {
		if e, ok := ev.(*client.FileError); ok {
			m[e.File] = e
		}
	}
	return m
}

func (r *recorder) done() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		if e, ok := ev.(*client.FileDone); ok {
			out = append(out, e.File)
		}
	}
	slices.Sort(out)
	return out
}

func (r *recorder) dryRun() []client.DryRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []client.DryRun
	for _, ev := range r.evs {
		if e, ok := ev.(*client.DryRun); ok {
			out = append(out, *e)
		}
	}
	return out
}

func (r *recorder) last() client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return nil
	}
	return r.evs[len(r.evs)-1]
}

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// writeTree creates files (name -> content) under dir; names ending in
// "/" are directories.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, testTime, testTime); err != nil {
			t.Fatal(err)
		}
	}
}

// tree returns the regular files under dir (slash paths -> content) and
// fails on anything xfer should not have left there.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.Contains(rel, ".xfer-") {
			t.Errorf("leftover xfer state %s", rel)
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kindOf(err error) client.Kind {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return -1
}

func TestSendFilesFrom(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"dir with space/file one.txt": "one",
		"ünïcode/ファイル.txt":            "unicode",
		"a/b/c.txt":                   "deep",
		"a/other.txt":                 "not listed",
		"tree/x.txt":                  "x",
		"tree/sub/y.txt":              "y",
		"trailing space ":             "kept as is",
	})
	outside := filepath.Join(filepath.Dir(src), "outside.txt")
	os.WriteFile(outside, []byte("must not be sent"), 0o644)
	// The implied directories keep their modes and times.
	os.Chmod(filepath.Join(src, "a"), 0o750)
	os.Chmod(filepath.Join(src, "a/b"), 0o700)
	os.Chtimes(filepath.Join(src, "a"), testTime, testTime)
	os.Chtimes(filepath.Join(src, "a/b"), testTime.Add(time.Hour), testTime.Add(time.Hour))
	list := strings.Join([]string{
		"dir with space/file one.txt",
		"ünïcode/ファイル.txt",
		"a/b/c.txt",
		"",
		"tree",
		"tree/x.txt",          // inside a listed directory: sent once
		"./a/b/../b/c.txt",    // the same file again
		"trailing space ",     // nothing is trimmed
		"missing.txt",         // fails: not found
		outside,               // fails: absolute
		"../outside.txt",      // fails: leaves the directory
		"a/../../outside.txt", // fails: leaves it too, after cleaning
	}, "\n") // no final newline: the last entry still counts
	var rec recorder
	o := d.Opts
	o.Events = rec.add
	o.FilesFrom = &client.FileList{Dir: src, R: strings.NewReader(list)}
	sum, err := client.Send(context.Background(), o, nil, d.Addr+"/inbox")
	if kindOf(err) != client.KindPartial {
		t.Fatalf("Send: %v (kind %d), want a partial failure", err, kindOf(err))
	}
	want := map[string]string{
		"dir with space/file one.txt": "one",
		"ünïcode/ファイル.txt":            "unicode",
		"a/b/c.txt":                   "deep",
		"tree/x.txt":                  "x",
		"tree/sub/y.txt":              "y",
		"trailing space ":             "kept as is",
	}
	got := tree(t, filepath.Join(d.Root, "inbox"))
	if !mapsEqual(got, want) {
		t.Errorf("destination holds %q, want %q", got, want)
	}
	if sum.Files != len(want) || sum.Failed != 4 || sum.OK {
		t.Errorf("summary %+v, want %d files, 4 failed", sum, len(want))
	}
	if done := rec.done(); len(done) != len(want) {
		t.Errorf("file_done events for %q: each file once expected", done)
	}
	errs := rec.fileErrors()
	for file, want := range map[string]struct{ code, msg string }{
		"missing.txt":         {"not_found", "no such file or directory"},
		outside:               {"bad_path", "absolute path"},
		"../outside.txt":      {"bad_path", "leaves " + src},
		"a/../../outside.txt": {"bad_path", "leaves"},
	} {
		e := errs[file]
		if e == nil {
			t.Errorf("no file_error for %q (got %v)", file, errs)
			continue
		}
		if e.Code != want.code || !strings.Contains(e.Error, want.msg) || e.V != client.SchemaVersion {
			t.Errorf("file_error for %q: %+v, want code %s and %q in the message", file, e, want.code, want.msg)
		}
	}
	for dir, mode := range map[string]fs.FileMode{"a": 0o750, "a/b": 0o700} {
		fi, err := os.Stat(filepath.Join(d.Root, "inbox", dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", dir, fi.Mode().Perm(), mode)
		}
	}
	if fi, _ := os.Stat(filepath.Join(d.Root, "inbox/a/b")); !fi.ModTime().Equal(testTime.Add(time.Hour)) {
		t.Errorf("a/b: mtime %v, want %v", fi.ModTime(), testTime.Add(time.Hour))
	}
	if fi, _ := os.Stat(filepath.Join(d.Root, "inbox/a/b/c.txt")); !fi.ModTime().Equal(testTime) {
		t.Errorf("a/b/c.txt: mtime %v, want %v", fi.ModTime(), testTime)
	}
	if s, ok := rec.last().(*client.Summary); !ok || s.Files != sum.Files {
		t.Errorf("last event %#v, want the summary", rec.last())
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSendFilesFromNUL reads a NUL-separated list, as find -print0
// writes it. A name with a newline is read as one entry; the protocol
// cannot carry control characters in names, so it is reported as a failed
// file and the rest arrives.
func TestSendFilesFromNUL(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"new\nline.txt":  "newline",
		"plain.txt":      "plain",
		"sp ace/x y.txt": "spaces",
		"é/ü.txt":        "unicode",
		"with\\back.txt": "backslash",
	})
	list := "./plain.txt\x00new\nline.txt\x00sp ace/x y.txt\x00\x00é/ü.txt\x00with\\back.txt\x00"
	var rec recorder
	o := d.Opts
	o.Events = rec.add
	o.FilesFrom = &client.FileList{Dir: src, R: strings.NewReader(list), NUL: true}
	sum, err := client.Send(context.Background(), o, nil, d.Addr+"/")
	if kindOf(err) != client.KindPartial {
		t.Fatalf("Send: %v, want a partial failure", err)
	}
	want := map[string]string{"plain.txt": "plain", "sp ace/x y.txt": "spaces", "é/ü.txt": "unicode"}
	if got := tree(t, d.Root); !mapsEqual(got, want) {
		t.Errorf("destination holds %q, want %q", got, want)
	}
	errs := rec.fileErrors()
	if e := errs["new\nline.txt"]; e == nil || e.Code != "bad_path" || !strings.Contains(e.Error, "control byte 0x0a") {
		t.Errorf("file_error for the newline name: %+v (all: %v)", e, errs)
	}
	if e := errs["with\\back.txt"]; e == nil || e.Code != "bad_path" {
		t.Errorf("file_error for the backslash name: %+v", e)
	}
	if sum.Files != 3 || sum.Failed != 2 {
		t.Errorf("summary %+v, want 3 files and 2 failed", sum)
	}
}

// TestSendFilesFromDot: "." sends the whole directory, and what find
// lists inside it afterwards is not sent twice.
func TestSendFilesFromDot(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	files := map[string]string{"a.txt": "a", "d/b.txt": "b", "d/e/c.txt": "c"}
	writeTree(t, src, files)
	var rec recorder
	o := d.Opts
	o.Events = rec.add
	o.FilesFrom = &client.FileList{Dir: src, Paths: []string{"d/e/c.txt", ".", "./d", "a.txt", "d/b.txt"}}
	sum, err := client.Send(context.Background(), o, nil, d.Addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, d.Root); !mapsEqual(got, files) {
		t.Errorf("destination holds %q, want %q", got, files)
	}
	if done := rec.done(); !slices.Equal(done, []string{"a.txt", "d/b.txt", "d/e/c.txt"}) || sum.Files != 3 {
		t.Errorf("file_done for %q, summary %+v: want each file once", done, sum)
	}
}

// TestSendFilesFromCwd: paths are relative to the current directory when
// FileList.Dir is empty.
func TestSendFilesFromCwd(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"x/y.txt": "y"})
	t.Chdir(src)
	var rec recorder
	o := d.Opts
	o.Events = rec.add
	o.FilesFrom = &client.FileList{Paths: []string{"x/y.txt", "/x/y.txt"}}
	_, err := client.Send(context.Background(), o, nil, d.Addr+"/out/")
	if kindOf(err) != client.KindPartial {
		t.Fatalf("Send: %v, want a partial failure", err)
	}
	if got := tree(t, d.Root); !mapsEqual(got, map[string]string{"out/x/y.txt": "y"}) {
		t.Errorf("destination holds %q", got)
	}
	if e := rec.fileErrors()["/x/y.txt"]; e == nil || !strings.Contains(e.Error, "relative to the current directory") {
		t.Errorf("file_error for an absolute path: %+v", e)
	}
}

// errAfter reads data, then fails.
type errAfter struct{ data io.Reader }

func (r *errAfter) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestSendFilesFromReadError(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a.txt": "a", "b.txt": "b"})
	o := d.Opts
	o.FilesFrom = &client.FileList{Dir: src, R: &errAfter{strings.NewReader("a.txt\nb.t")}}
	_, err := client.Send(context.Background(), o, nil, d.Addr+"/")
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || kindOf(err) == client.KindPartial {
		t.Fatalf("Send: %v, want the list's read error", err)
	}
	// What was read before the error was sent; the torn entry was not.
	if got := tree(t, d.Root); !mapsEqual(got, map[string]string{"a.txt": "a"}) {
		t.Errorf("destination holds %q", got)
	}
}

func TestSendFilesFromWithSources(t *testing.T) {
	o := client.Options{FilesFrom: &client.FileList{Paths: []string{"a"}}}
	_, err := client.Send(context.Background(), o, []string{"b"}, "127.0.0.1:1/")
	if kindOf(err) != client.KindUsage {
		t.Fatalf("Send: %v, want a usage error", err)
	}
}

// projectTree is the source of the selection tests.
var projectTree = map[string]string{
	"proj/main.go":         "package main",
	"proj/main_test.go":    "package main",
	"proj/build/out.bin":   "binary",
	"proj/build.txt":       "a file, not the build directory",
	"proj/x.log":           "log",
	"proj/keep.log":        "kept: included before *.log",
	"proj/sub/y.log":       "log",
	"proj/sub/z.txt":       "z",
	"proj/docs/a.md":       "docs",
	"proj/sub/docs/b.md":   "not the anchored docs",
	"proj/vendor/m/v.go":   "vendored",
	"proj/vendor/m/v.txt":  "vendored",
	"proj/cache/":          "",
	"proj/sub/cache/c.bin": "cache",
}

var projectRules = []client.Rule{
	{Pattern: "build/"},
	{Pattern: "keep.log", Include: true},
	{Pattern: "*.log"},
	{Pattern: "/proj/docs"},
	{Pattern: "proj/vendor/**/*.txt"},
	{Pattern: "cache"},
}

var projectSent = map[string]string{
	"proj/main.go":       "package main",
	"proj/main_test.go":  "package main",
	"proj/build.txt":     "a file, not the build directory",
	"proj/keep.log":      "kept: included before *.log",
	"proj/sub/z.txt":     "z",
	"proj/sub/docs/b.md": "not the anchored docs",
	"proj/vendor/m/v.go": "vendored",
}

func TestSendFilter(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, projectTree)
	f, err := client.NewFilter(projectRules...)
	if err != nil {
		t.Fatal(err)
	}
	o := d.Opts
	o.Filter = f
	sum, err := client.Send(context.Background(), o, []string{filepath.Join(src, "proj")}, d.Addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, d.Root); !mapsEqual(got, projectSent) {
		t.Errorf("destination holds %q,\nwant %q", got, projectSent)
	}
	for _, dir := range []string{"proj/build", "proj/docs", "proj/cache", "proj/sub/cache"} {
		if _, err := os.Stat(filepath.Join(d.Root, dir)); err == nil {
			t.Errorf("excluded directory %s was created", dir)
		}
	}
	// build/, x.log, sub/y.log, docs, vendor/m/v.txt, cache, sub/cache.
	if sum.Excluded != 7 || sum.Files != len(projectSent) {
		t.Errorf("summary %+v, want 7 excluded and %d files", sum, len(projectSent))
	}
}

// TestDryRun walks and reports without connecting: no identity is given
// and the daemon's root stays empty.
func TestDryRun(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, projectTree)
	if err := os.Symlink("main.go", filepath.Join(src, "proj/link")); err != nil {
		t.Fatal(err)
	}
	f, err := client.NewFilter(projectRules...)
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	o := client.Options{Filter: f, DryRun: true, Events: rec.add}
	sum, err := client.Send(context.Background(), o, []string{filepath.Join(src, "proj")}, d.Addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, d.Root); len(got) != 0 {
		t.Errorf("a dry run wrote %q", got)
	}
	if ents, _ := os.ReadDir(d.Root); len(ents) != 0 {
		t.Errorf("a dry run left %v in the daemon's root", ents)
	}
	got := make(map[string]string) // "action type file" -> reason
	for _, ev := range rec.dryRun() {
		if ev.V != client.SchemaVersion || ev.Event != "dry_run" {
			t.Errorf("bad header: %+v", ev)
		}
		got[ev.Action+" "+ev.Type+" "+ev.File] = ev.Reason
		if ev.Action == "send" && ev.Type == "file" && ev.Size != uint64(len(projectTree[ev.File])) {
			t.Errorf("%s: size %d, want %d", ev.File, ev.Size, len(projectTree[ev.File]))
		}
	}
	want := map[string]string{
		"send dir proj":                    "",
		"send dir proj/sub":                "",
		"send dir proj/sub/docs":           "",
		"send dir proj/vendor":             "",
		"send dir proj/vendor/m":           "",
		"exclude dir proj/build":           "--exclude build/",
		"exclude dir proj/docs":            "--exclude /proj/docs",
		"exclude dir proj/cache":           "--exclude cache",
		"exclude dir proj/sub/cache":       "--exclude cache",
		"exclude file proj/x.log":          "--exclude *.log",
		"exclude file proj/sub/y.log":      "--exclude *.log",
		"exclude file proj/vendor/m/v.txt": "--exclude proj/vendor/**/*.txt",
		"send file proj/keep.log":          "--include keep.log",
	}
	for f := range projectSent {
		if _, ok := want["send file "+f]; !ok {
			want["send file "+f] = ""
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("dry run events:\n got %q\nwant %q", got, want)
	}
	if e := rec.fileErrors()["proj/link"]; e == nil || e.Code != "skipped" {
		t.Errorf("symlink: %+v, want a skipped file_error", e)
	}
	var bytes uint64
	for _, c := range projectSent {
		bytes += uint64(len(c))
	}
	if !sum.DryRun || !sum.OK || sum.Files != len(projectSent) || sum.Bytes != bytes || sum.Excluded != 7 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	if s, ok := rec.last().(*client.Summary); !ok || !s.DryRun {
		t.Errorf("last event %#v, want the dry run's summary", rec.last())
	}
}

// TestDryRunFilesFrom: an excluded parent excludes a listed path, and
// failures are predicted.
func TestDryRunFilesFrom(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, projectTree)
	f, _ := client.NewFilter(projectRules...)
	var rec recorder
	o := client.Options{Filter: f, DryRun: true, Events: rec.add,
		FilesFrom: &client.FileList{Dir: src, Paths: []string{"proj/build/out.bin", "proj/sub/z.txt", "nope", "proj/x.log"}}}
	sum, err := client.Send(context.Background(), o, nil, "127.0.0.1:1/")
	if kindOf(err) != client.KindPartial {
		t.Fatalf("Send: %v, want a partial failure (a listed file is missing)", err)
	}
	want := []client.DryRun{
		{File: "proj/build/out.bin", Type: "file", Action: "exclude", Size: 6, Reason: "inside excluded directory proj/build (--exclude build/)"},
		{File: "proj", Type: "dir", Action: "send", Reason: "parent of a listed path"},
		{File: "proj/sub", Type: "dir", Action: "send", Reason: "parent of a listed path"},
		{File: "proj/sub/z.txt", Type: "file", Action: "send", Size: 1},
		{File: "proj/x.log", Type: "file", Action: "exclude", Size: 3, Reason: "--exclude *.log"},
	}
	got := rec.dryRun()
	for i := range got {
		got[i].V, got[i].Event = 0, ""
	}
	if !slices.Equal(got, want) {
		t.Errorf("dry run events:\n got %+v\nwant %+v", got, want)
	}
	if e := rec.fileErrors()["nope"]; e == nil || e.Code != "not_found" {
		t.Errorf("missing file: %+v", e)
	}
	if sum.Files != 1 || sum.Failed != 1 || sum.Excluded != 2 || sum.OK {
		t.Errorf("summary %+v", sum)
	}
}

// TestSendPartialFailure: a source that cannot be read fails alone; the
// others arrive, and the run's error is KindPartial. A FIFO is skipped
// without failing the run.
func TestSendPartialFailure(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"good1.txt": "1", "dir/good2.txt": "2"})
	if err := syscall.Mkfifo(filepath.Join(src, "dir/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	o := d.Opts
	o.Events = rec.add
	srcs := []string{filepath.Join(src, "good1.txt"), filepath.Join(src, "gone.txt"), filepath.Join(src, "dir")}
	sum, err := client.Send(context.Background(), o, srcs, d.Addr+"/in/")
	if kindOf(err) != client.KindPartial || !strings.Contains(err.Error(), "1 of 3 files failed") {
		t.Fatalf("Send: %v, want a partial failure", err)
	}
	if got := tree(t, d.Root); !mapsEqual(got, map[string]string{"in/good1.txt": "1", "in/dir/good2.txt": "2"}) {
		t.Errorf("destination holds %q", got)
	}
	errs := rec.fileErrors()
	if e := errs["gone.txt"]; e == nil || e.Code != "not_found" || e.Error != "no such file or directory" {
		t.Errorf("file_error for the missing source: %+v", e)
	}
	if e := errs["dir/fifo"]; e == nil || e.Code != "skipped" {
		t.Errorf("file_error for the FIFO: %+v", e)
	}
	if sum.Files != 2 || sum.Failed != 1 {
		t.Errorf("summary %+v", sum)
	}
}

func TestSendOnlyOptions(t *testing.T) {
	f, _ := client.NewFilter(client.Rule{Pattern: "x"})
	for name, o := range map[string]client.Options{
		"filter":     {Filter: f},
		"files-from": {FilesFrom: &client.FileList{}},
		"dry-run":    {DryRun: true},
	} {
		if _, err := client.Get(context.Background(), o, []string{"127.0.0.1:1/a"}, t.TempDir()); kindOf(err) != client.KindUsage {
			t.Errorf("Get with %s: %v, want a usage error", name, err)
		}
		if _, err := client.List(context.Background(), o, "127.0.0.1:1/", false); kindOf(err) != client.KindUsage {
			t.Errorf("List with %s: %v, want a usage error", name, err)
		}
	}
}

// TestSendFilesFromIdleReader: a list reader that blocks (a terminal, a
// stalled pipe) does not keep an interrupted send from returning.
func TestSendFilesFromIdleReader(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a.txt": "a"})
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("a.txt\n")) // then nothing, and no EOF
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := d.Opts
	o.FilesFrom = &client.FileList{Dir: src, R: pr}
	o.Events = func(ev client.Event) {
		if _, ok := ev.(*client.FileDone); ok {
			cancel() // interrupt while the walk waits for the next entry
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.Send(ctx, o, nil, d.Addr+"/")
		done <- err
	}()
	select {
	case err := <-done:
		if kindOf(err) != client.KindInterrupted {
			t.Errorf("Send: %v, want interrupted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after the interrupt")
	}
	if got := tree(t, d.Root); got["a.txt"] != "a" {
		t.Errorf("destination holds %q", got)
	}
}
