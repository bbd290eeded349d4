package address_test

import (
	"fmt"

	"xfer/address"
)

func ExampleParse() {
	for _, s := range []string{"backup.example/in/", "quic://[::1]:7000/isos/big.iso"} {
		a, err := address.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s host=%s port=%d path=%s dir=%v known_hosts=%s\n",
			a, a.Host, a.Port, a.Path, a.Dir, a.HostPort())
	}
	_, err := address.Parse("backup.example/../etc")
	fmt.Println(err)
	// Output:
	// tcp://backup.example:7420/in/ host=backup.example port=7420 path=in dir=true known_hosts=backup.example:7420
	// quic://[::1]:7000/isos/big.iso host=::1 port=7000 path=isos/big.iso dir=false known_hosts=[::1]:7000
	// address: "backup.example/../etc": remote path "/../etc" climbs out of the daemon's root
}
