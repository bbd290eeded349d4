package transfer

// KeepAlivesSent returns how many KeepAlive messages Busy has sent in
// this process.
func KeepAlivesSent() int64 { return keepAlivesSent.Load() }
