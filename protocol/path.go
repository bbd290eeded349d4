package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// ReservedPrefix starts the names of xfer's own files (partials,
// journals); no peer path may contain an element with this prefix.
const ReservedPrefix = ".xfer-"

// CheckPath reports whether p is an acceptable relative path in a message:
// "." (the destination itself) or a non-empty path of at most MaxPathLen
// bytes whose slash-separated elements are each 1..MaxNameLen bytes, not
// "." or "..", contain no NUL, no other control byte (< 0x20, 0x7f) and no
// backslash, with no leading or trailing slash, and no element starting
// with ReservedPrefix (xfer's own state). Valid UTF-8 is not required.
// The error names the rule that was broken.
func CheckPath(p string) error {
	switch {
	case p == ".":
		return nil
	case p == "":
		return errors.New("protocol: empty path")
	case len(p) > MaxPathLen:
		return fmt.Errorf("protocol: path of %d bytes exceeds %d", len(p), MaxPathLen)
	case p[0] == '/':
		return fmt.Errorf("protocol: path %q is absolute", p)
	case p[len(p)-1] == '/':
		return fmt.Errorf("protocol: path %q has a trailing slash", p)
	}
	for rest := p; ; {
		elem, after, more := strings.Cut(rest, "/")
		if why := checkElem(elem); why != "" {
			return fmt.Errorf("protocol: path %q: %s", p, why)
		}
		if !more {
			return nil
		}
		rest = after
	}
}

// CheckName reports whether name is an acceptable single path element,
// such as an Entry.Name or the last element of a path a daemon sends back:
// 1..MaxNameLen bytes, not "." or "..", no slash, and otherwise the rules
// of CheckPath's elements.
func CheckName(name string) error {
	if strings.IndexByte(name, '/') >= 0 {
		return fmt.Errorf("protocol: name %q: contains a slash", name)
	}
	if why := checkElem(name); why != "" {
		return fmt.Errorf("protocol: name %q: %s", name, why)
	}
	return nil
}

// checkElem returns why elem (which holds no slash) is not an acceptable
// path element, or "".
func checkElem(elem string) string {
	switch {
	case elem == "":
		return "empty element"
	case len(elem) > MaxNameLen:
		return fmt.Sprintf("element of %d bytes exceeds %d", len(elem), MaxNameLen)
	case elem == "." || elem == "..":
		return fmt.Sprintf("element %q not allowed", elem)
	case strings.HasPrefix(elem, ReservedPrefix):
		return fmt.Sprintf("element uses the reserved prefix %q", ReservedPrefix)
	}
	for i := 0; i < len(elem); i++ {
		switch c := elem[i]; {
		case c == 0:
			return "contains a NUL byte"
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("contains control byte 0x%02x", c)
		case c == '\\':
			return "contains a backslash"
		}
	}
	return ""
}
