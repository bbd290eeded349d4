package crypto_test

import (
	"fmt"

	"xfer/crypto"
)

func ExamplePublicKey_Fingerprint() {
	k, comment, err := crypto.ParsePublicKey("xfer-x25519 j0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8= alice@laptop\n")
	if err != nil {
		panic(err)
	}
	fmt.Println(comment, k.Fingerprint())
	// Output: alice@laptop b2:TfZWbzfVVoX/vH2qWnNowg
}

func ExampleRootHasher() {
	chunks := [][]byte{[]byte("first chunk "), []byte("last")}
	r := crypto.NewRootHasher(16, 12)
	for _, c := range chunks {
		r.Add(crypto.ChunkHash(c))
	}
	fmt.Println(r.Sum())
	// Output: c13b9cec45a17a176b9a56e2211e1c18fb327756b5f432536058b3389cea2138
}
