package ui_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"xfer/client"
	"xfer/internal/ui"
)

// syncBuffer is a bytes.Buffer that the reporter's timer may write to while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgress(t *testing.T) {
	var buf syncBuffer
	r := ui.NewProgress(&buf)
	evil := "e\x1b]0;t\x07\u202e.txt"
	r.Event(&client.Progress{File: evil, BytesDone: 100, BytesTotal: 1000, TotalDone: 100, TotalBytes: 3000})
	out := buf.String()
	if !strings.Contains(out, `e\x1b]0;t\x07\u202e.txt`) || !strings.Contains(out, "10%") {
		t.Fatalf("first progress not drawn with escaped name: %q", out)
	}
	if !strings.Contains(out, "KiB") {
		t.Errorf("bar shows no byte counts: %q", out)
	}
	// Within the throttle interval nothing is drawn at once, but the
	// latest state is drawn when the interval ends.
	r.Event(&client.Progress{File: "second.bin", BytesDone: 1, BytesTotal: 2, TotalDone: 1500, TotalBytes: 3000})
	if strings.Contains(buf.String(), "second.bin") {
		t.Errorf("progress drawn within the throttle interval")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "second.bin") {
		if time.Now().After(deadline) {
			t.Fatalf("throttled progress never drawn: %q", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	r.Event(&client.FileDone{File: evil, Size: 1000})
	r.Event(&client.Summary{Files: 1, Bytes: 1000, DurationS: 1, OK: true})
	r.Close()
	r.Event(&client.FileDone{File: "late"})

	out = buf.String()
	if strings.Contains(out, evil) || strings.Contains(out, "\x07") || strings.Contains(out, "\u202e") {
		t.Errorf("raw file name reached the terminal: %q", out)
	}
	i := strings.Index(out, "\x1b[2K\rsent "+`e\x1b]0;t\x07\u202e.txt (1000 B)`+"\n")
	if i < 0 {
		t.Fatalf("file line not printed over a cleared bar: %q", out)
	}
	if !strings.HasSuffix(out, "\ndone: 1 file (1000 B) in 1s, 1000 B/s\n") {
		t.Errorf("summary not last: %q", out)
	}
	if strings.Contains(out, "late") {
		t.Errorf("event after Close printed: %q", out)
	}
}

func TestProgressNoTotal(t *testing.T) {
	var buf syncBuffer
	r := ui.NewProgress(&buf, ui.Verb("received"))
	r.Event(&client.Progress{File: "empty", TotalBytes: 0})
	r.Event(&client.FileDone{File: "empty"})
	r.Event(&client.Summary{Files: 1, OK: true})
	r.Close()
	if want := "received empty (0 B)\ndone: 1 file (0 B) in 0s\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestProgressTotalGrows(t *testing.T) {
	var buf syncBuffer
	r := ui.NewProgress(&buf)
	r.Event(&client.Progress{File: "a", BytesDone: 10, BytesTotal: 10, TotalDone: 10, TotalBytes: 10})
	time.Sleep(120 * time.Millisecond)
	r.Event(&client.Progress{File: "b", BytesDone: 10, BytesTotal: 10, TotalDone: 20, TotalBytes: 40})
	time.Sleep(120 * time.Millisecond)
	r.Event(&client.Progress{File: "c", BytesDone: 5, BytesTotal: 10, TotalDone: 25, TotalBytes: 40})
	r.Close()
	out := buf.String()
	if !strings.Contains(out, "c ") || !strings.Contains(out, " 62%") {
		t.Errorf("bar stopped after reaching an earlier total: %q", out)
	}
}

func TestProgressConcurrent(t *testing.T) {
	var buf syncBuffer
	r := ui.NewProgress(&buf)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				name := fmt.Sprintf("w%d/f%d", w, i)
				r.Event(&client.Progress{File: name, BytesDone: 1, BytesTotal: 2, TotalDone: uint64(i), TotalBytes: 1000})
				if i%10 == 0 {
					r.Event(&client.FileDone{File: name, Size: 2})
				}
				if i%100 == 0 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	r.Event(&client.Summary{Files: 240, OK: true})
	r.Close()
	out := buf.String()
	if n := strings.Count(out, "\nsent ") + strings.Count(out, "\rsent "); n != 240 {
		t.Errorf("got %d file lines, want 240", n)
	}
}
