package chunk

import (
	"strings"
	"sync"
	"testing"

	"xfer/protocol"
)

// simulate runs n chunks through p one at a time; compressible(i) says
// whether chunk i would compress (saving 50%). It returns a string with
// one character per chunk: '.' skipped, 'T' tried and compressed, 'F'
// tried and failed.
func simulate(p *Policy, n int, compressible func(i int) bool) string {
	var sb strings.Builder
	for i := range n {
		d := p.decide()
		switch {
		case !d.try:
			sb.WriteByte('.')
		case compressible(i):
			p.report(d, 1000, 500)
			sb.WriteByte('T')
		default:
			p.report(d, 1000, 0)
			sb.WriteByte('F')
		}
	}
	return sb.String()
}

func never(int) bool  { return false }
func always(int) bool { return true }

// pattern builds an expected simulate string from runs such as
// "F4 .8 F1".
func pattern(spec string) string {
	var sb strings.Builder
	for _, run := range strings.Fields(spec) {
		n := 0
		for _, c := range run[1:] {
			n = n*10 + int(c-'0')
		}
		sb.WriteString(strings.Repeat(run[:1], n))
	}
	return sb.String()
}

func TestPolicyAutoBackoff(t *testing.T) {
	p := NewPolicy(Auto)
	got := simulate(p, 1100, never)
	want := pattern("F4 .8 F1 .16 F1 .32 F1 .64 F1 .128 F1 .256 F1 .256 F1 .256 F1 .72")
	if got != want {
		t.Errorf("incompressible file:\n got %s\nwant %s", got, want)
	}
}

func TestPolicyAutoSuccessResets(t *testing.T) {
	p := NewPolicy(Auto)
	// Chunks 0-3 fail, 4-11 skipped, probe 12 succeeds, then 13-16 fail
	// again: the back-off starts over at 8.
	got := simulate(p, 60, func(i int) bool { return i == 12 || i >= 40 })
	want := pattern("F4 .8 T1 F4 .8 F1 .16 T18")
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}

	// Fewer than 4 consecutive failures never back off.
	p = NewPolicy(Auto)
	got = simulate(p, 40, func(i int) bool { return i%4 == 3 })
	if strings.Contains(got, ".") {
		t.Errorf("three failures in a row caused a back-off: %s", got)
	}
}

func TestPolicyAlwaysNever(t *testing.T) {
	p := NewPolicy(Always)
	p.SetLinkBound(false)
	if got := simulate(p, 100, never); got != strings.Repeat("F", 100) {
		t.Errorf("Always: %s", got)
	}
	p = NewPolicy(Never)
	p.SetLinkBound(true)
	if got := simulate(p, 100, always); got != strings.Repeat(".", 100) {
		t.Errorf("Never: %s", got)
	}
}

func TestPolicyLinkBound(t *testing.T) {
	p := NewPolicy(Auto)
	p.SetLinkBound(true)
	got := simulate(p, 200, never)
	want := pattern("F4 .4 F1 .8 F1 .16 F1 .32 F1 .32 F1 .32 F1 .32 F1 .32 F1")
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	// Compressible data is tried on every chunk.
	p = NewPolicy(Auto)
	p.SetLinkBound(true)
	if got := simulate(p, 100, always); got != strings.Repeat("T", 100) {
		t.Errorf("compressible: %s", got)
	}
}

func TestPolicyCPUBound(t *testing.T) {
	// Only the samples are tried, compressible or not: when the CPU is the
	// bottleneck compression only costs.
	for name, outcome := range map[string]func(int) bool{"incompressible": never, "compressible": always} {
		p := NewPolicy(Auto)
		p.SetLinkBound(false)
		got := simulate(p, 48, outcome)
		want := pattern("F1 .15 F1 .15 F1 .15")
		if outcome(0) {
			want = pattern("T1 .15 T1 .15 T1 .15")
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestPolicySwitchClearsBackoff(t *testing.T) {
	p := NewPolicy(Auto)
	if got, want := simulate(p, 6, never), pattern("F4 .2"); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	p.SetLinkBound(true)
	p.SetLinkBound(true) // no change: must not reset again
	if got, want := simulate(p, 10, never), pattern("F4 .4 F1 .1"); got != want {
		t.Errorf("after switch to link-bound: got %s want %s", got, want)
	}
	p.SetLinkBound(false)
	if got, want := simulate(p, 17, never), pattern("F1 .15 F1"); got != want {
		t.Errorf("after switch to CPU-bound: got %s want %s", got, want)
	}
	p.SetLinkBound(true)
	if got, want := simulate(p, 6, never), pattern("F4 .2"); got != want {
		t.Errorf("after switch back: got %s want %s", got, want)
	}
}

// TestPolicyStaleFailures checks that chunks tried concurrently before a
// back-off started do not lengthen it.
func TestPolicyStaleFailures(t *testing.T) {
	p := NewPolicy(Auto)
	var ds []decision
	for range 16 {
		d := p.decide()
		if !d.try {
			t.Fatal("fresh policy skipped a chunk")
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		p.report(d, 1000, 0)
	}
	if got, want := simulate(p, 10, never), pattern(".8 F1 .1"); got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestPolicyConcurrent(t *testing.T) {
	for _, link := range []int{-1, 0, 1} {
		p := NewPolicy(Auto)
		if link >= 0 {
			p.SetLinkBound(link == 1)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 5000 {
					if w == 0 && i%1000 == 0 {
						p.SetLinkBound(i%2000 == 0)
					}
					d := p.decide()
					if d.try {
						packed := 0
						if i%50 == 0 {
							packed = 10
						}
						p.report(d, 1000, packed)
					}
				}
			})
		}
		wg.Wait()
		if s := p.skip.Load(); s < 0 || s > backoffMax {
			t.Errorf("skip = %d", s)
		}
	}
}

func TestEncodeFollowsPolicy(t *testing.T) {
	e := NewEncoder(4096)
	text, random := textData(4096, 1), randomData(4096, 1)
	p := NewPolicy(Auto)
	var sb strings.Builder
	for i := range 30 {
		raw := random
		if i >= 25 {
			raw = text
		}
		codec, _ := e.Encode(p, uint64(i), raw)
		switch {
		case codec == protocol.CodecLZ4:
			sb.WriteByte('T')
		case i < 4 || i == 12 || i == 29:
			sb.WriteByte('F') // tried (by the schedule) and failed
		default:
			sb.WriteByte('.')
		}
	}
	// Tried: 0-3 fail, 4-11 skip, 12 probe fails, 13-28 skip, 29 text.
	if got, want := sb.String(), pattern("F4 .8 F1 .16 T1"); got != want {
		t.Errorf("got %s want %s", got, want)
	}
}
