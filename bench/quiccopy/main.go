// Command quiccopy is the bare quic-go baseline of bench/compare.sh: it
// copies one file over one QUIC stream with quic-go's default
// configuration and nothing else (no hashing, compression or sealing
// beyond QUIC's own TLS), so that xfer's QUIC figure can be read against
// what quic-go itself does on the same machine.
//
//	quiccopy serve ADDR OUTFILE   accept one connection, write its stream to OUTFILE, exit
//	quiccopy send FILE ADDR       send FILE, wait until the server has written it
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"time"

	"github.com/quic-go/quic-go"
)

const alpn = "xfer-bench-quiccopy"

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "serve":
		err = serve(os.Args[2], os.Args[3])
	case len(os.Args) == 4 && os.Args[1] == "send":
		err = send(os.Args[2], os.Args[3])
	default:
		err = errors.New("usage: quiccopy serve ADDR OUTFILE | quiccopy send FILE ADDR")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quiccopy:", err)
		os.Exit(1)
	}
}

func serve(addr, out string) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	ln, err := quic.ListenAddr(addr, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}}, nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	ctx := context.Background()
	conn, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(f, st, make([]byte, 1<<20)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Tell the sender the file is written, then wait for it to hang up.
	if _, err := st.Write([]byte{1}); err != nil {
		return err
	}
	st.Close()
	select {
	case <-conn.Context().Done():
	case <-time.After(5 * time.Second):
	}
	return nil
}

func send(name, addr string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx := context.Background()
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}, nil)
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(st, f, make([]byte, 1<<20)); err != nil {
		return err
	}
	if err := st.Close(); err != nil { // our direction only
		return err
	}
	ack, err := io.ReadAll(st)
	if err != nil {
		return err
	}
	if len(ack) != 1 {
		return errors.New("server did not confirm the copy")
	}
	return nil
}

func selfSigned() (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}
