module xfer

go 1.26.0
