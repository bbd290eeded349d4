package chunk

import (
	"fmt"
	"sync/atomic"
)

// Mode selects how a Policy decides to compress.
type Mode int

const (
	// Auto tries LZ4 and backs off on a file whose chunks keep failing
	// to compress.
	Auto Mode = iota
	// Always tries LZ4 on every chunk (still sending raw when it does not
	// save enough).
	Always
	// Never sends every chunk raw.
	Never
)

// ParseMode parses "auto", "always" or "never".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "always":
		return Always, nil
	case "never":
		return Never, nil
	}
	return 0, fmt.Errorf("chunk: unknown compression mode %q (want auto, always or never)", s)
}

// String returns "auto", "always" or "never".
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Always:
		return "always"
	case Never:
		return "never"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Back-off and sampling parameters of Auto mode.
const (
	// failThreshold consecutive failures start the first back-off.
	failThreshold = 4
	// Without a link hint, back-off skips 8, 16, … 256 chunks.
	backoffFirst = 8
	backoffMax   = 256
	// When the link is the bottleneck, back-off skips 4, 8, 16, 32 chunks.
	linkBackoffFirst = 4
	linkBackoffMax   = 32
	// When the CPU is the bottleneck, only one chunk in sampleEvery is
	// tried (a sample that keeps LZ4's output honest for the next switch).
	sampleEvery = 16
)

// Link states set by SetLinkBound.
const (
	linkUnknown int32 = iota // no hint yet: the documented default rule
	linkBound                // network is the bottleneck
	cpuBound                 // CPU is the bottleneck
)

// Policy is the compression decision state of one file. Safe for
// concurrent use by the workers sealing that file's chunks.
//
// In Auto mode a chunk counts as compressible when LZ4 saves at least
// 1/16 of it; after 4 consecutive failures the policy skips the next 8
// chunks, then 16, 32 … up to 256 (exponential back-off), and any success
// resets it.
//
// Precisely: after a skip period the next chunk is tried (a probe); if it
// fails too, the next, twice as long, skip period starts; a success resets
// the count of failures and the skip length. Chunks are counted in the
// order Encode sees them, not by index. Failures of chunks that were
// already being compressed when a skip period started do not lengthen it,
// so concurrent workers do not escalate the back-off for one bad stretch.
//
// # Adapting to the bottleneck
//
// SetLinkBound refines Auto mode once the sender knows what limits the
// transfer:
//
//   - Link-bound (SetLinkBound(true)): every byte saved shortens the
//     transfer, so the policy tries LZ4 on every chunk, backing off on
//     incompressible data for shorter periods: after 4 consecutive
//     failures it skips 4 chunks, then 8, 16, up to 32.
//   - CPU-bound (SetLinkBound(false)): compression competes with hashing
//     and sealing for CPU and saves nothing the link needs (LZ4 costs about
//     2.5 s per GiB of text on one core, more than hashing), so only one
//     chunk in 16 (a sample; the first chunk after the switch is one) is
//     tried and the others go raw. The consecutive-failure back-off does
//     not apply in this state.
//
// Every change of state clears the back-off. Any tried chunk that saves
// at least 1/16 is sent compressed, sample or not. SetLinkBound has no
// effect in Always and Never mode. Before the first call the default rule
// above applies.
type Policy struct {
	mode Mode
	link atomic.Int32

	// state holds the back-off generation (high 32 bits) and the count of
	// consecutive failures in that generation (low 32 bits). A generation
	// ends when a skip period starts or the link state changes; reports
	// from older generations do not count as failures.
	state atomic.Uint64
	level atomic.Int32 // skip periods since the last success
	skip  atomic.Int64 // chunks still to skip

	calls atomic.Uint64 // chunks seen in the CPU-bound state
}

// NewPolicy returns the policy of one file.
func NewPolicy(m Mode) *Policy {
	return &Policy{mode: m}
}

// Mode returns the policy's mode.
func (p *Policy) Mode() Mode { return p.mode }

// SetLinkBound tells an Auto policy whether the network (bound=true) or
// the CPU (bound=false) limits the transfer; see Policy. It is cheap to
// call repeatedly with the same value.
func (p *Policy) SetLinkBound(bound bool) {
	s := cpuBound
	if bound {
		s = linkBound
	}
	if p.link.Load() == s || p.link.Swap(s) == s {
		return
	}
	p.calls.Store(0)
	p.resetBackoff(true)
}

// resetBackoff clears the failure count, the skip length and any pending
// skip; newGen also retires reports of chunks tried before now.
func (p *Policy) resetBackoff(newGen bool) {
	for {
		s := p.state.Load()
		n := s &^ 0xffffffff // failures = 0
		if newGen {
			n += 1 << 32
		}
		if s == n || p.state.CompareAndSwap(s, n) {
			break
		}
	}
	p.level.Store(0)
	p.skip.Store(0)
}

// decision is what the policy says about one chunk.
type decision struct {
	try  bool
	gen  uint32 // back-off generation the chunk was tried in
	link int32
}

// decide says whether to try compressing the next chunk.
func (p *Policy) decide() decision {
	switch p.mode {
	case Always:
		return decision{try: true}
	case Auto:
	default:
		return decision{}
	}
	link := p.link.Load()
	if link == cpuBound {
		if (p.calls.Add(1)-1)%sampleEvery == 0 {
			return decision{try: true, link: link}
		}
		return decision{link: link}
	}
	for {
		n := p.skip.Load()
		if n <= 0 {
			break
		}
		if p.skip.CompareAndSwap(n, n-1) {
			return decision{}
		}
	}
	return decision{try: true, gen: uint32(p.state.Load() >> 32), link: link}
}

// report records the outcome of a tried chunk: raw bytes compressed to
// packed bytes, or packed == 0 when LZ4 did not save enough.
func (p *Policy) report(d decision, raw, packed int) {
	if p.mode != Auto || !d.try {
		return
	}
	ok := packed > 0
	if d.link == cpuBound {
		return
	}
	if ok {
		if p.state.Load()&0xffffffff != 0 || p.level.Load() != 0 || p.skip.Load() != 0 {
			p.resetBackoff(false)
		}
		return
	}
	first, max := int64(backoffFirst), int64(backoffMax)
	if d.link == linkBound {
		first, max = linkBackoffFirst, linkBackoffMax
	}
	for {
		s := p.state.Load()
		gen := uint32(s >> 32)
		if gen != d.gen {
			return // tried before the current skip period: already counted
		}
		fails := uint32(s) + 1
		if fails < failThreshold {
			if p.state.CompareAndSwap(s, s+1) {
				return
			}
			continue
		}
		// Start a skip period. The next failure (the probe after it)
		// starts the following, longer one.
		next := uint64(gen+1)<<32 | (failThreshold - 1)
		if !p.state.CompareAndSwap(s, next) {
			continue
		}
		lvl := p.level.Add(1)
		n := first << min(lvl-1, 30)
		p.skip.Store(min(n, max))
		return
	}
}
