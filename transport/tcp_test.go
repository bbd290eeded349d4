package transport

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"xfer/internal/netsim"
	"xfer/protocol"
)

// TCP-specific behaviour, and faults injected into the byte stream with
// internal/netsim.TCPProxy.

// tcpPairVia connects a TCP client to a listener through a proxy with the
// given faults.
func tcpPairVia(t *testing.T, faults ...netsim.TCPFault) (client, server Session) {
	t.Helper()
	l, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p, err := netsim.NewTCPProxy(l.Addr().String(), faults...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	client, err = DialTCP(p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func TestTCPUnknownRecordType(t *testing.T) {
	t.Parallel()
	l, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.Write([]byte{0x7f, 1, 2, 3})
	wantErr(t, "ReadMessage", readMessageErr(s))
	wantErr(t, "ReadFrame", readFrameErr(s))
}

// TestTCPCutMidFrame: a connection that drops inside a frame ends
// ReadFrame with an error, after the frames that arrived whole.
func TestTCPCutMidFrame(t *testing.T) {
	t.Parallel()
	hdr, ct := testFrame(1, 1000)
	frameLen := int64(len(hdr) + len(ct))
	for _, cut := range []int64{frameLen + 1, frameLen + 20, 2*frameLen - 1} {
		client, server := tcpPairVia(t, netsim.CutAfter(cut))
		for i := range 3 {
			hdr, ct := testFrame(uint64(i), 1000)
			client.WriteFrame(hdr, ct) // may fail once the cut is seen
		}
		f, err := server.ReadFrame()
		if err != nil {
			t.Fatalf("cut at %d: first frame: %v", cut, err)
		}
		if err := checkFrame(f); err != nil {
			t.Fatal(err)
		}
		f.Release()
		err = wantErr(t, "ReadFrame", readFrameErr(server))
		t.Logf("cut at %d: %v", cut, err)
	}
}

// TestTCPCorruptHeader: a flipped bit anywhere in a chunk header either
// fails ReadFrame or yields a header that differs from the one sent (the
// chunk AEAD, which authenticates the header, rejects it later); nothing
// panics or hangs.
func TestTCPCorruptHeader(t *testing.T) {
	t.Parallel()
	hdr, ct := testFrame(2, 5000)
	for off := range int64(protocol.ChunkHeaderSize) {
		client, server := tcpPairVia(t, netsim.FlipAt(off))
		client.SetDeadline(time.Now().Add(5 * time.Second))
		server.SetDeadline(time.Now().Add(5 * time.Second))
		go client.WriteFrame(hdr, ct)
		// A corrupted length can make the server wait for bytes that
		// never come; closing the client ends that.
		time.AfterFunc(200*time.Millisecond, func() { client.Close() })
		f, err := server.ReadFrame()
		if err != nil {
			continue
		}
		if bytes.Equal(f.Raw, hdr) {
			t.Fatalf("flip at %d: header arrived unchanged", off)
		}
		f.Release()
	}
}

// TestTCPCorruptData: the transport passes ciphertext bytes on as they
// are; detecting the change is the chunk AEAD's job.
func TestTCPCorruptData(t *testing.T) {
	t.Parallel()
	hdr, ct := testFrame(3, 5000)
	client, server := tcpPairVia(t, netsim.FlipAt(int64(len(hdr)+100)))
	if err := client.WriteFrame(hdr, ct); err != nil {
		t.Fatal(err)
	}
	f, err := server.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	if !bytes.Equal(f.Raw, hdr) || bytes.Equal(f.Data, ct) || f.Data[100] != ct[100]^0xff {
		t.Fatal("the flipped byte did not arrive as flipped")
	}
}

// TestTCPStall: a stalled path is caught by the deadline.
func TestTCPStall(t *testing.T) {
	t.Parallel()
	client, server := tcpPairVia(t, netsim.StallAfter(3+5))
	client.WriteMessage([]byte("hello"))
	client.WriteMessage([]byte("lost in the stall"))
	if m, err := server.ReadMessage(); err != nil || string(m) != "hello" {
		t.Fatalf("%q, %v", m, err)
	}
	server.SetDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := server.ReadMessage()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ReadMessage on a stalled path: %v, want a timeout", err)
	}
}

// TestTCPDeadlineExpiry: as Session documents, an expired deadline fails
// a TCP session for good — later reads keep failing even once the
// deadline is cleared, rather than resuming mid-record.
func TestTCPDeadlineExpiry(t *testing.T) {
	t.Parallel()
	client, server := pair(t, kinds[0])
	server.SetDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := server.ReadMessage(); err == nil {
		t.Fatal("no timeout")
	}
	server.SetDeadline(time.Time{})
	client.WriteMessage([]byte("late"))
	server.SetDeadline(time.Now().Add(5 * time.Second))
	if m, err := server.ReadMessage(); err == nil {
		t.Fatalf("read %q after an expired deadline; want the session failed", m)
	}
}
