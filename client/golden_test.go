package client_test

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"xfer/client"
	"xfer/internal/ui"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestSendGolden pins the --json event stream of real sends to an
// in-process daemon (docs/json.md is its specification): a fresh send
// with an excluded file and a skipped symlink, the same send again (every
// file up to date), a file list with a missing file (a partial failure),
// and a dry run. The stream is written by ui.NewJSON, as xfer --json
// writes it, after normalizing what varies from run to run:
//
//   - duration_s is zeroed;
//   - wire_bytes is zeroed, after checking that the summary's is positive
//     when something was sent (how many bytes the wire needs, and how
//     they are shared among small files, is the engine's business);
//   - only the last progress event of each file is kept (the others are
//     throttled by time), with the run-wide totals zeroed (they depend on
//     the order in which files start);
//   - the per-file events of each run are sorted by file (they come in
//     completion order, and several files are in flight); the summary
//     stays last, and a dry run's events keep their walk order.
//
// Regenerate with: go test ./client -run SendGolden -update
func TestSendGolden(t *testing.T) {
	d := startDaemon(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"tree/a.txt":       "alpha\n",
		"tree/dir/b.txt":   strings.Repeat("compressible ", 1000),
		"tree/dir/empty":   "",
		"tree/dir/x.tmp":   "excluded",
		"tree/dir/sub/c.c": "int main(void) { return 0; }\n",
	})
	if err := os.Symlink("a.txt", filepath.Join(src, "tree/link")); err != nil {
		t.Fatal(err)
	}
	filter, err := client.NewFilter(client.Rule{Pattern: "*.tmp"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	run := func(name string, o client.Options, srcs []string, dest string) {
		t.Helper()
		var rec recorder
		o.Events = rec.add
		_, err := client.Send(context.Background(), o, srcs, dest)
		t.Logf("%s: %v", name, err)
		normalize(t, &out, rec.evs, o.DryRun)
	}
	o := d.Opts
	o.Filter = filter
	run("fresh", o, []string{filepath.Join(src, "tree")}, d.Addr+"/golden/")
	run("again", o, []string{filepath.Join(src, "tree")}, d.Addr+"/golden/")
	o.FilesFrom = &client.FileList{Dir: src, Paths: []string{"tree/dir/sub/c.c", "missing.txt"}}
	run("list", o, nil, d.Addr+"/listed")
	o.DryRun = true
	o.FilesFrom.Paths = append(o.FilesFrom.Paths, "tree/dir/x.tmp")
	run("dry run", o, nil, d.Addr+"/listed")

	golden := filepath.Join("testdata", "send.golden.jsonl")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("events differ from %s (run with -update if the change is intended, and update docs/json.md):\ngot:\n%s\nwant:\n%s", golden, out.Bytes(), want)
	}
}

// normalize writes the events of one run to w as NewJSON does, normalized
// as TestSendGolden describes.
func normalize(t *testing.T, w *bytes.Buffer, evs []client.Event, dryRun bool) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	sum, ok := evs[len(evs)-1].(*client.Summary)
	if !ok {
		t.Fatalf("last event is %T, want the summary", evs[len(evs)-1])
	}
	type keyed struct {
		file string
		rank int
		ev   client.Event
	}
	var body []keyed
	final := make(map[string]bool) // files whose final progress is kept
	for _, ev := range evs[:len(evs)-1] {
		switch e := ev.(type) {
		case *client.Progress:
			if e.BytesDone != e.BytesTotal || final[e.File] {
				continue
			}
			final[e.File] = true
			c := *e
			c.TotalDone, c.TotalBytes = 0, 0
			body = append(body, keyed{e.File, 0, &c})
		case *client.FileDone:
			c := *e
			c.DurationS, c.WireBytes = 0, 0
			body = append(body, keyed{e.File, 1, &c})
		case *client.FileError:
			body = append(body, keyed{e.File, 1, e})
		case *client.DryRun:
			body = append(body, keyed{"", 0, e}) // walk order: not sorted
		case *client.Summary:
			t.Errorf("a summary before the last event")
		default:
			t.Errorf("unexpected event %T %+v", ev, ev)
		}
	}
	if !dryRun {
		slices.SortStableFunc(body, func(a, b keyed) int {
			return cmp.Or(strings.Compare(a.file, b.file), cmp.Compare(a.rank, b.rank))
		})
	}
	s := *sum
	if !s.DryRun && s.Files > s.Skipped && s.WireBytes == 0 {
		t.Errorf("summary: wire_bytes 0")
	}
	s.DurationS, s.WireBytes = 0, 0
	r := ui.NewJSON(w)
	for _, k := range body {
		r.Event(k.ev)
	}
	r.Event(&s)
	r.Close()
}
