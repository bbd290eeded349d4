package crypto

// KnownHostEntry is a parsed known_hosts line, exposed for tests.
type KnownHostEntry struct {
	Host    string
	Key     PublicKey
	Comment string
	Line    int
}

// ParseKnownHosts exposes the known_hosts parser to tests.
func ParseKnownHosts(data []byte) ([]KnownHostEntry, error) {
	hosts, err := parseKnownHosts(data)
	if err != nil {
		return nil, err
	}
	out := make([]KnownHostEntry, len(hosts))
	for i, h := range hosts {
		out[i] = KnownHostEntry{h.host, h.key, h.comment, h.line}
	}
	return out, nil
}
