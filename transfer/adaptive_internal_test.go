package transfer

import (
	"testing"
	"time"
)

func TestChooseCompression(t *testing.T) {
	for _, c := range []struct {
		on, off float64
		want    int32
	}{
		{250e6, 118e6, linkStateLink},     // slow link, text: compression doubles the rate
		{150e6, 300e6, linkStateCPUBound}, // loopback: compression only costs
		{105e6, 100e6, linkStateCPUBound}, // within noise: keep the CPU
		{0, 0, linkStateCPUBound},         // nothing moved
	} {
		if got := choose(c.on, c.off); got != c.want {
			t.Errorf("choose(%g, %g) = %d, want %d", c.on, c.off, got, c.want)
		}
	}
}

// TestLinkMonitorProbes: the monitor ramps up with compression off, then
// probes off and on, and measures the plaintext rate it is fed.
func TestLinkMonitorProbes(t *testing.T) {
	m := &linkMonitor{stop: make(chan struct{})}
	go m.run()
	defer m.close()
	seen := map[int32]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !(seen[linkStateLink] && seen[linkStateCPUBound]) {
		seen[m.state.Load()] = true
		m.raw.Add(1 << 20)
		time.Sleep(10 * time.Millisecond)
	}
	if !seen[linkStateLink] || !seen[linkStateCPUBound] {
		t.Fatalf("states seen %v; want both a compressing and a raw probe", seen)
	}
}
