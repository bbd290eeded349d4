package client_test

import (
	"fmt"
	"strings"
	"testing"

	"xfer/client"
)

func TestFilterMatch(t *testing.T) {
	// Each case: one pattern, and the paths it must and must not match
	// ("/" at the end of a path marks a directory).
	cases := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		// No slash: the last element, at any depth.
		{"*.log", []string{"x.log", "a/x.log", "a/b/c/.log", "a/x.log/"}, []string{"x.log.gz", "a.log/x", "xlog"}},
		{"build", []string{"build", "build/", "a/build", "a/b/build/"}, []string{"build.txt", "a/build/x", "rebuild"}},
		{"?.txt", []string{"a.txt", "d/b.txt"}, []string{"ab.txt", ".txt"}},
		{"[abc].go", []string{"a.go", "x/c.go"}, []string{"d.go", "ab.go"}},
		{"[^abc].go", []string{"d.go"}, []string{"a.go"}},
		{`\*.txt`, []string{"*.txt", "a/*.txt"}, []string{"a.txt"}},
		// "*" never crosses "/".
		{"a*", []string{"abc", "x/abc"}, []string{"b/c"}},
		// A leading slash anchors at the transfer root.
		{"/build", []string{"build", "build/"}, []string{"a/build", "build/x"}},
		{"/a/*.txt", []string{"a/x.txt"}, []string{"a/b/x.txt", "b/a/x.txt", "x.txt"}},
		// A slash in the middle anchors too (as in .gitignore).
		{"src/*.go", []string{"src/a.go"}, []string{"x/src/a.go", "src/a/b.go", "a.go"}},
		// A trailing slash matches directories only.
		{"cache/", []string{"cache/", "a/cache/"}, []string{"cache", "a/cache", "cache/x/"}},
		{"/out/", []string{"out/"}, []string{"out", "a/out/"}},
		{"a/b/", []string{"a/b/"}, []string{"a/b", "x/a/b/"}},
		// "**" crosses "/".
		{"**/x", []string{"x", "a/x", "a/b/x"}, []string{"xa", "x/a"}},
		{"a/**/b", []string{"a/b", "a/x/b", "a/x/y/b"}, []string{"b", "x/a/b", "a/b/c"}},
		{"a/**", []string{"a/x", "a/x/y", "a/x/"}, []string{"a", "a/", "b/a/x"}},
		{"/**/*.txt", []string{"x.txt", "a/b/x.txt"}, []string{"x.txt/y"}},
		{"**", []string{"x", "a/b/c", "d/"}, nil},
		{"a/**/**/b", []string{"a/b", "a/x/b"}, []string{"a"}},
		// "**" inside an element is an ordinary "*".
		{"a**b", []string{"ab", "axxb", "d/ab"}, []string{"a/b"}},
		// Repeated slashes are one.
		{"a//b", []string{"a/b"}, []string{"x/a/b"}},
		// Non-ASCII names.
		{"ü*.txt", []string{"über.txt", "é/ü.txt"}, []string{"u.txt"}},
		{"*", []string{"a", "a/b", "a/"}, nil},
	}
	for _, c := range cases {
		f, err := client.NewFilter(client.Rule{Pattern: c.pattern})
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		for _, p := range c.match {
			name, dir := strings.CutSuffix(p, "/")
			if !f.Excluded(name, dir) {
				t.Errorf("%q does not match %q", c.pattern, p)
			}
		}
		for _, p := range c.miss {
			name, dir := strings.CutSuffix(p, "/")
			if f.Excluded(name, dir) {
				t.Errorf("%q matches %q", c.pattern, p)
			}
		}
	}
}

func TestFilterFirstMatchWins(t *testing.T) {
	f, err := client.NewFilter(
		client.Rule{Pattern: "keep.log", Include: true},
		client.Rule{Pattern: "*.log"},
		client.Rule{Pattern: "*/", Include: true},
		client.Rule{Pattern: "*.go", Include: true},
		client.Rule{Pattern: "*"},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		dir  bool
		rule string // "" when no rule matches
	}{
		{"keep.log", false, "--include keep.log"},
		{"a/keep.log", false, "--include keep.log"},
		{"a/x.log", false, "--exclude *.log"},
		{"x.log", true, "--exclude *.log"},
		{"src", true, "--include */"},
		{"src/a.go", false, "--include *.go"},
		{"src/a.c", false, "--exclude *"},
	} {
		r, ok := f.Match(c.path, c.dir)
		got := ""
		if ok {
			got = r.String()
		}
		if got != c.rule {
			t.Errorf("Match(%q, %v) = %q, want %q", c.path, c.dir, got, c.rule)
		}
	}
	var nilFilter *client.Filter
	if _, ok := nilFilter.Match("a", false); ok {
		t.Error("a nil Filter matched")
	}
	empty, _ := client.NewFilter()
	if empty.Excluded("a", true) {
		t.Error("an empty Filter excluded a path")
	}
}

func TestFilterBadPatterns(t *testing.T) {
	for _, p := range []string{"", "/", "//", "[", "a[b", "x/[a-", `a\`} {
		if _, err := client.NewFilter(client.Rule{Pattern: "ok"}, client.Rule{Pattern: p}); err == nil {
			t.Errorf("pattern %q accepted", p)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("pattern %q: error %q does not name it", p, err)
		}
	}
}

// FuzzFilter checks that no pattern or path panics and that a compiled
// pattern without wildcards matches the path it spells.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"*.log", "a/**/b", "/x/", "[a-z]?", `\*`, "**"} {
		f.Add(s, "a/b/c.log", false)
	}
	f.Fuzz(func(t *testing.T, pattern, p string, dir bool) {
		flt, err := client.NewFilter(client.Rule{Pattern: pattern})
		if err != nil {
			return
		}
		flt.Match(p, dir)
		if !strings.ContainsAny(pattern, `*?[\`) && !strings.HasSuffix(pattern, "/") {
			lit := strings.TrimPrefix(pattern, "/")
			if lit != "" && !strings.Contains(lit, "//") && !strings.HasPrefix(lit, "/") && !flt.Excluded(lit, dir) {
				t.Errorf("literal pattern %q does not match itself", pattern)
			}
		}
	})
}
