// Package testnet helps tests that start xferd: it finds a port free on
// 127.0.0.1 for both of the daemon's listeners.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a port free for TCP and for UDP on 127.0.0.1: xferd
// listens on both. It draws from below the kernel's ephemeral range, so
// that the client sockets of concurrent tests (which take ephemeral ports)
// cannot take it while a daemon restarts on it.
func FreePort() (int, error) {
	lo, hi := 10000, 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lo+1000 {
				hi = n
			}
		}
	}
	var err error
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		var u net.PacketConn
		u, err = net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port: %v", err)
}
