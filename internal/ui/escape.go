package ui

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s safe to print on a terminal. File names, error messages
// and anything else that may come from a peer or the file system go through
// it before they are printed.
//
// It escapes, Go-style:
//   - the backslash itself, as \\;
//   - tab, newline and carriage return, as \t, \n and \r;
//   - other C0 controls and DEL, as \x1b-style escapes;
//   - each byte of invalid UTF-8, as \xff-style escapes;
//   - C1 controls (U+0080–U+009F), Unicode format characters (category Cf:
//     bidi embeddings, overrides and isolates, zero-width space, BOM, soft
//     hyphen, …) and the line and paragraph separators U+2028 and U+2029,
//     as \u202e-style escapes (\U000e0001-style above U+FFFF).
//
// The zero-width non-joiner and joiner (U+200C, U+200D) are kept: scripts
// such as Persian and emoji sequences need them, and they cannot reorder or
// hide text. Everything else, including all other non-ASCII text, is left
// untouched. The output is valid UTF-8, holds no byte below 0x20 and no
// 0x7f, and is unambiguous: distinct inputs give distinct outputs.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !needsEscape(r, size) {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		switch {
		case r == utf8.RuneError && size <= 1:
			writeHex(&b, `\x`, uint32(s[i]), 2)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			writeHex(&b, `\x`, uint32(r), 2)
		case r <= 0xffff:
			writeHex(&b, `\u`, uint32(r), 4)
		default:
			writeHex(&b, `\U`, uint32(r), 8)
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1:
		return true // invalid UTF-8
	case r == '\\':
		return true
	case r < 0x20 || r == 0x7f:
		return true // C0 and DEL
	case r < 0x80:
		return false
	case r <= 0x9f:
		return true // C1
	case r == 0x200c || r == 0x200d:
		return false // ZWNJ, ZWJ
	case r == 0x2028 || r == 0x2029:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

func writeHex(b *strings.Builder, prefix string, v uint32, digits int) {
	const hex = "0123456789abcdef"
	b.WriteString(prefix)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hex[(v>>uint(shift))&0xf])
	}
}
