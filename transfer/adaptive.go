package transfer

import (
	"sync/atomic"
	"time"
)

// linkMonitor tells the sender's compression policy whether compressing
// pays, by measuring it: it alternates short probes with compression on
// and off, compares how many plaintext bytes per second got through in
// each, and keeps the better setting until the next probe.
//
// Local signals cannot tell the cases apart: writes that block while the
// CPU is idle may mean a slow link (compress) or a receiver that is slow on
// the same cores (do not), and on a shared machine idle CPU says little.
// The delivered rate answers the question that matters directly. Probes
// cost little: at most probeTicks of the less good setting every cycle of
// about nine seconds, after a 0.3 s ramp with compression off.
type linkMonitor struct {
	raw   atomic.Int64 // plaintext bytes of chunks sent (or found held)
	state atomic.Int32 // linkStateUnknown, linkStateLink (compress), linkStateCPUBound (don't)
	stop  chan struct{}
}

const (
	monitorTick = 100 * time.Millisecond
	rampTicks   = 3  // compression off while the connection ramps up
	probeTicks  = 3  // 0.3 s with compression off, 0.3 s with it on (the first tick of each lets the pipeline settle)
	holdTicks   = 80 // then eight seconds with the better setting
	// compressGain is how much faster "on" must be: compression costs CPU
	// that other transfers on the machine may want.
	compressGain = 1.10

	linkStateUnknown  = 0
	linkStateLink     = 1
	linkStateCPUBound = 2
)

func newLinkMonitor() *linkMonitor {
	m := &linkMonitor{stop: make(chan struct{})}
	go m.run()
	return m
}

func (m *linkMonitor) close() { close(m.stop) }

// hint returns (compress, known).
func (m *linkMonitor) hint() (bool, bool) {
	switch m.state.Load() {
	case linkStateLink:
		return true, true
	case linkStateCPUBound:
		return false, true
	}
	return false, false
}

// measure sets the state, waits n ticks (the first one lets the pipeline
// settle), and returns the plaintext rate over the remaining ones.
func (m *linkMonitor) measure(state int32, n int) (float64, bool) {
	m.state.Store(state)
	var start int64
	var t0 time.Time
	for i := 0; i < n; i++ {
		select {
		case <-m.stop:
			return 0, false
		case <-time.After(monitorTick):
		}
		if i == 0 {
			start, t0 = m.raw.Load(), time.Now()
		}
	}
	return float64(m.raw.Load()-start) / time.Since(t0).Seconds(), true
}

func (m *linkMonitor) run() {
	// Let the connection and the pipeline ramp up first: a probe taken
	// during the ramp would look slow whatever it measured.
	if _, ok := m.measure(linkStateCPUBound, rampTicks); !ok {
		return
	}
	for {
		off, ok := m.measure(linkStateCPUBound, probeTicks)
		if !ok {
			return
		}
		on, ok := m.measure(linkStateLink, probeTicks)
		if !ok {
			return
		}
		if _, ok := m.measure(choose(on, off), holdTicks); !ok {
			return
		}
	}
}

// choose returns the state to hold after probes that delivered on and off
// plaintext bytes per second with compression on and off.
func choose(on, off float64) int32 {
	if on > compressGain*off {
		return linkStateLink
	}
	return linkStateCPUBound
}
