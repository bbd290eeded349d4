package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"xfer/client"
)

// exampleSetup starts an in-process daemon (a stand-in for a real xferd)
// and makes a directory of files to send:
//
//	photos/a.jpg      (5 bytes)
//	photos/b.jpg      (6 bytes)
//	photos/thumbs/    (a cache, with one file)
//	notes.txt         (12 bytes)
func exampleSetup() (d *testDaemon, src string, cleanup func()) {
	d, err := newDaemon("")
	if err != nil {
		log.Fatal(err)
	}
	src, err = os.MkdirTemp("", "xfer-example-")
	if err != nil {
		log.Fatal(err)
	}
	for name, content := range map[string]string{
		"photos/a.jpg":          "aaaaa",
		"photos/b.jpg":          "bbbbbb",
		"photos/thumbs/a.thumb": "t",
		"notes.txt":             "remember me\n",
	} {
		p := filepath.Join(src, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return d, src, func() { d.Close(); os.RemoveAll(src) }
}

func ExampleSend() {
	d, src, cleanup := exampleSetup()
	defer cleanup()

	// A real program loads its identity and pins the daemon's key:
	//
	//	id, err := crypto.LoadIdentity(filepath.Join(home, ".config/xfer/identity"))
	//	o := client.Options{Identity: id, KnownHostsFile: ".../known_hosts", Retries: client.DefaultRetries}
	//
	// The example's daemon runs in this process, so it skips pinning.
	o := d.Opts

	// Send photos/ and notes.txt into the directory backup/ on the daemon.
	srcs := []string{filepath.Join(src, "photos"), filepath.Join(src, "notes.txt")}
	sum, err := client.Send(context.Background(), o, srcs, d.Addr+"/backup/")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent %d files, %d bytes, ok=%v\n", sum.Files, sum.Bytes, sum.OK)
	// Output:
	// sent 4 files, 24 bytes, ok=true
}

// Options.Events receives each event as it happens: here the result of
// every file, collected and printed in name order (results come in
// completion order).
func ExampleOptions_events() {
	d, src, cleanup := exampleSetup()
	defer cleanup()

	var mu sync.Mutex
	var lines []string
	o := d.Opts
	o.Events = func(ev client.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *client.FileDone:
			lines = append(lines, fmt.Sprintf("%s: %d bytes, up to date: %v", e.File, e.Size, e.Skipped))
		case *client.FileError:
			lines = append(lines, fmt.Sprintf("%s: failed: %s (%s)", e.File, e.Error, e.Code))
		case *client.Summary:
			slices.Sort(lines)
			lines = append(lines, fmt.Sprintf("summary: %d files, %d failed", e.Files, e.Failed))
		}
	}
	srcs := []string{filepath.Join(src, "photos"), filepath.Join(src, "missing.txt")}
	_, err := client.Send(context.Background(), o, srcs, d.Addr+"/backup/")
	for _, l := range lines {
		fmt.Println(l)
	}
	var ce *client.Error
	if errors.As(err, &ce) && ce.Kind == client.KindPartial {
		fmt.Println("partial:", err)
	}
	// Output:
	// missing.txt: failed: no such file or directory (not_found)
	// photos/a.jpg: 5 bytes, up to date: false
	// photos/b.jpg: 6 bytes, up to date: false
	// photos/thumbs/a.thumb: 1 bytes, up to date: false
	// summary: 3 files, 1 failed
	// partial: 1 of 4 files failed
}

// A file list sends paths relative to a directory with their structure,
// as rsync's --files-from does; a filter leaves paths out.
func ExampleFileList() {
	d, src, cleanup := exampleSetup()
	defer cleanup()

	o := d.Opts
	o.FilesFrom = &client.FileList{Dir: src, Paths: []string{"photos", "notes.txt"}}
	o.Filter, _ = client.NewFilter(client.Rule{Pattern: "thumbs/"})
	sum, err := client.Send(context.Background(), o, nil, d.Addr+"/backup")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent %d files, excluded %d\n", sum.Files, sum.Excluded)
	_, err = os.Stat(filepath.Join(d.Root, "backup/photos/a.jpg"))
	fmt.Println("backup/photos/a.jpg arrived:", err == nil)
	// Output:
	// sent 3 files, excluded 1
	// backup/photos/a.jpg arrived: true
}

// A dry run reports what would be sent, and what the filter excludes and
// why, without connecting: no identity is needed.
func ExampleOptions_dryRun() {
	d, src, cleanup := exampleSetup()
	defer cleanup()

	o := client.Options{DryRun: true}
	o.FilesFrom = &client.FileList{Dir: src, Paths: []string{"photos/a.jpg", "photos/thumbs", "notes.txt"}}
	o.Filter, _ = client.NewFilter(client.Rule{Pattern: "thumbs/"})
	o.Events = func(ev client.Event) {
		if e, ok := ev.(*client.DryRun); ok {
			line := fmt.Sprintf("%-7s %-4s %-14s %2d %s", e.Action, e.Type, e.File, e.Size, e.Reason)
			fmt.Println(strings.TrimSpace(line))
		}
	}
	sum, err := client.Send(context.Background(), o, nil, d.Addr+"/backup")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("would send %d files (%d bytes), %d excluded\n", sum.Files, sum.Bytes, sum.Excluded)
	// Output:
	// send    dir  photos          0 parent of a listed path
	// send    file photos/a.jpg    5
	// exclude dir  photos/thumbs   0 --exclude thumbs/
	// send    file notes.txt      12
	// would send 2 files (17 bytes), 1 excluded
}

func ExampleGet() {
	d, src, cleanup := exampleSetup()
	defer cleanup()
	o := d.Opts
	if _, err := client.Send(context.Background(), o, []string{filepath.Join(src, "photos")}, d.Addr+"/"); err != nil {
		log.Fatal(err)
	}

	// Fetch photos/a.jpg and photos/b.jpg into a local directory.
	dest := filepath.Join(src, "fetched")
	sum, err := client.Get(context.Background(), o, []string{d.Addr + "/photos/a.jpg", d.Addr + "/photos/b.jpg"}, dest)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dest, "b.jpg"))
	fmt.Printf("received %d files, %d bytes; b.jpg holds %q\n", sum.Files, sum.Bytes, b)
	// Output:
	// received 2 files, 11 bytes; b.jpg holds "bbbbbb"
}

func ExampleList() {
	d, src, cleanup := exampleSetup()
	defer cleanup()
	o := d.Opts
	if _, err := client.Send(context.Background(), o, []string{filepath.Join(src, "photos")}, d.Addr+"/"); err != nil {
		log.Fatal(err)
	}

	ents, err := client.List(context.Background(), o, d.Addr+"/photos", true)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range ents { // sorted by name
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%-4s %-6s %d %s %.16s", e.Type, e.Name, e.Size, e.Mode, e.Root)))
	}
	// Output:
	// file a.jpg  5 0644 e2dc08e2606035f0
	// file b.jpg  6 0644 fa7eb1b42dfb394d
	// dir  thumbs 0 0755
}

func ExampleNewFilter() {
	f, err := client.NewFilter(
		client.Rule{Pattern: "keep.log", Include: true},
		client.Rule{Pattern: "*.log"},
		client.Rule{Pattern: "/build/"},
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []struct {
		path string
		dir  bool
	}{{"a/x.log", false}, {"a/keep.log", false}, {"build", true}, {"src/build", true}, {"src/main.go", false}} {
		r, ok := f.Match(p.path, p.dir)
		fmt.Printf("%-11s excluded=%-5v %v\n", p.path, f.Excluded(p.path, p.dir), map[bool]string{true: r.String(), false: "(no rule)"}[ok])
	}
	// Output:
	// a/x.log     excluded=true  --exclude *.log
	// a/keep.log  excluded=false --include keep.log
	// build       excluded=true  --exclude /build/
	// src/build   excluded=false (no rule)
	// src/main.go excluded=false (no rule)
}
