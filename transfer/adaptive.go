package transfer

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// linkMonitor tells the sender's compression policy what limits the
// transfer. The link is the bottleneck when the workers spend much of
// their time blocked writing frames (the socket or stream is backing up)
// while the machine still has idle CPU; when the CPU is busy, writes that
// block only mean the receiver (often on the same cores) is slow, and
// compressing would make everything slower. It samples every 250 ms,
// with hysteresis: once link-bound it stays so while writes keep blocking.
type linkMonitor struct {
	blocked atomic.Int64 // nanoseconds workers spent in WriteFrame
	state   atomic.Int32 // 0 unknown, 1 link-bound, 2 CPU-bound
	workers int
	stop    chan struct{}
}

const (
	monitorEvery      = 250 * time.Millisecond
	blockedThreshold  = 0.25 // of worker time spent writing
	releaseThreshold  = 0.10 // link-bound until writes block less than this
	idleThreshold     = 0.20 // of machine CPU idle
	linkStateUnknown  = 0
	linkStateLink     = 1
	linkStateCPUBound = 2
)

func newLinkMonitor(workers int) *linkMonitor {
	m := &linkMonitor{workers: workers, stop: make(chan struct{})}
	go m.run()
	return m
}

func (m *linkMonitor) close() { close(m.stop) }

// hint returns (linkBound, known).
func (m *linkMonitor) hint() (bool, bool) {
	switch m.state.Load() {
	case linkStateLink:
		return true, true
	case linkStateCPUBound:
		return false, true
	}
	return false, false
}

func (m *linkMonitor) run() {
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	lastBlocked := m.blocked.Load()
	lastIdle, lastTotal, cpuOK := readCPU()
	last := time.Now()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		b := m.blocked.Load()
		frac := float64(b-lastBlocked) / (float64(now.Sub(last)) * float64(m.workers))
		idleFrac := 1.0
		idle, total, ok := readCPU()
		if ok && cpuOK && total > lastTotal {
			idleFrac = float64(idle-lastIdle) / float64(total-lastTotal)
		}
		lastBlocked, lastIdle, lastTotal, cpuOK, last = b, idle, total, ok, now
		switch {
		case m.state.Load() == linkStateLink && frac > releaseThreshold:
			// Stay: compressing uses the idle CPU that made us switch,
			// which must not switch us back while writes still block.
		case frac > blockedThreshold && idleFrac > idleThreshold:
			m.state.Store(linkStateLink)
		default:
			m.state.Store(linkStateCPUBound)
		}
	}
}

// readCPU returns the machine's idle and total CPU time (jiffies) from
// /proc/stat.
func readCPU() (idle, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "cpu ") {
		return 0, 0, false
	}
	for i, field := range strings.Fields(line)[1:] {
		v, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
		if i < 8 { // guest time is already in user
			total += v
		}
	}
	return idle, total, true
}
