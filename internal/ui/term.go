package ui

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IsTerminal reports whether f is a terminal. A nil f is not.
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// termWidth returns the width of the terminal w, or 80 when w is not one.
func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 80
}

// PrintError prints err to w as "PROG: error: MESSAGE" and, when hint is not
// empty, "PROG: hint: HINT" on a second line, as age does. Both are escaped
// with [Escape], since error messages may carry text from a peer or a file
// name. A nil err prints nothing.
func PrintError(w io.Writer, prog string, err error, hint string) {
	if err == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: error: %s\n", prog, Escape(err.Error()))
	if hint != "" {
		fmt.Fprintf(&b, "%s: hint: %s\n", prog, Escape(hint))
	}
	io.WriteString(w, b.String())
}
