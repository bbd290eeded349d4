package client

import (
	"fmt"
	"path"
	"strings"
)

// Rule is one selection rule of a send: an --exclude or --include
// pattern. The zero Include is an exclude rule.
type Rule struct {
	Pattern string
	Include bool
}

// String returns the rule as it is written on the command line
// ("--exclude *.log"); dry runs give it as the reason of a decision.
func (r Rule) String() string {
	if r.Include {
		return "--include " + r.Pattern
	}
	return "--exclude " + r.Pattern
}

// Filter decides which paths a send includes, from an ordered list of
// rules, in the spirit of .gitignore and rsync's filter rules:
//
//   - Paths are matched as they are sent: slash-separated and relative to
//     the destination directory, so "xfer send photos host:/backup/"
//     matches "photos", "photos/2024", "photos/2024/a.jpg"; with
//     --files-from, the listed paths ("a/b/c.txt") and what is below them.
//   - The first rule that matches decides, in command-line order; a path
//     no rule matches is included.
//   - "*" matches any run of characters except "/", "?" one character
//     except "/", "[a-z]" and "[^a-z]" a character class, "\" quotes the
//     next character (as path.Match does).
//   - "**" as a whole element matches any number of elements, none
//     included: "a/**/b" matches "a/b" and "a/x/y/b"; a trailing "/**"
//     matches everything inside a directory but not the directory itself.
//   - A pattern with no "/" (other than a trailing one) matches the last
//     element of a path at any depth: "*.log" matches "x.log" and
//     "a/b/x.log".
//   - A pattern with a "/" at its start or in its middle is anchored at
//     the transfer root: "/build" matches "build" only, "src/*.go" matches
//     "src/a.go" but not "x/src/a.go". The leading "/" itself is dropped.
//   - A trailing "/" matches directories only: "cache/" excludes
//     directories named cache, not files.
//   - An excluded directory is not descended: nothing below it is sent,
//     whatever later rules say, so to send only *.go files include the
//     directories first: --include '*/' --include '*.go' --exclude '*'.
//
// A nil *Filter includes everything. A Filter is safe for concurrent use.
type Filter struct {
	rules []compiled
}

type compiled struct {
	rule    Rule
	elems   []string // pattern elements; "**" matches any number of path elements
	dirOnly bool
}

// NewFilter compiles rules, in order. An empty or malformed pattern is an
// error.
func NewFilter(rules ...Rule) (*Filter, error) {
	f := &Filter{}
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			return nil, err
		}
		f.rules = append(f.rules, c)
	}
	return f, nil
}

func compile(r Rule) (compiled, error) {
	c := compiled{rule: r}
	p := r.Pattern
	bad := func(why string) (compiled, error) {
		kind := "exclude"
		if r.Include {
			kind = "include"
		}
		return compiled{}, fmt.Errorf("client: %s pattern %q %s", kind, r.Pattern, why)
	}
	if strings.HasSuffix(p, "/") {
		c.dirOnly = true
		p = strings.TrimRight(p, "/")
	}
	anchored := strings.HasPrefix(p, "/") || strings.Contains(p, "/")
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return bad("matches nothing")
	}
	if !anchored {
		c.elems = append(c.elems, "**")
	}
	for _, e := range strings.Split(p, "/") {
		switch {
		case e == "":
			continue // "a//b" is "a/b"
		case e == "**":
			if n := len(c.elems); n > 0 && c.elems[n-1] == "**" {
				continue
			}
		default:
			if _, err := path.Match(e, ""); err != nil {
				return bad("is malformed (an unclosed [, a bad range or a trailing backslash)")
			}
		}
		c.elems = append(c.elems, e)
	}
	return c, nil
}

// Match returns the first rule that matches p, a slash-separated path
// relative to the transfer root (see [Filter]); dir tells whether p is a
// directory. ok is false when no rule matches.
func (f *Filter) Match(p string, dir bool) (r Rule, ok bool) {
	if f == nil || len(f.rules) == 0 {
		return Rule{}, false
	}
	elems := strings.Split(p, "/")
	for _, c := range f.rules {
		if c.dirOnly && !dir {
			continue
		}
		if matchElems(c.elems, elems) {
			return c.rule, true
		}
	}
	return Rule{}, false
}

// Excluded reports whether the first rule that matches p is an exclude
// rule.
func (f *Filter) Excluded(p string, dir bool) bool {
	r, ok := f.Match(p, dir)
	return ok && !r.Include
}

// matchElems matches pattern elements against path elements. A "**" in
// the middle or at the start matches zero or more elements; a trailing
// "**" matches one or more.
func matchElems(pat, elems []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			pat = pat[1:]
			if len(pat) == 0 {
				return len(elems) > 0
			}
			for i := 0; i < len(elems); i++ {
				if matchElems(pat, elems[i:]) {
					return true
				}
			}
			return false
		}
		if len(elems) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], elems[0]); !ok {
			return false
		}
		pat, elems = pat[1:], elems[1:]
	}
	return len(elems) == 0
}
