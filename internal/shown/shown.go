// Package shown makes text safe for an operator's terminal and for the
// web console's pages: what a tenant or the upstream chose (a field name, a
// state, a request id, a service's name, a document's file name) may hold
// an escape sequence that would set the window title or rewrite the
// screen, a newline or a tab that would fake a line or a column, or a bidi
// override that reverses what follows. Text quotes a value for a table or
// a line; Escaped writes the hidden characters of the CLI's JSON and of
// the console's rendered pages as \uXXXX.
package shown

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/visengine"
)

// Text is s for a table or a line of text: as it is when a terminal shows
// each of its characters as itself, else quoted as strconv.Quote does.
// Bytes that are not UTF-8 are quoted too (\x9b): ranging over them gives
// U+FFFD, printable, but a terminal gets them raw, and a lone 0x9b is CSI
// to one that reads C1 controls as single bytes.
func Text(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// Escaped is text with every rune hidden reports written as the text
// \uXXXX (a surrogate pair above U+FFFF), as JSON escapes it: inside a
// JSON string it means the same character, and anywhere else it is shown
// rather than acted on. text itself when it has none.
func Escaped(text []byte, hidden func(rune) bool) []byte {
	if !bytes.ContainsFunc(text, hidden) {
		return text
	}
	out := make([]byte, 0, len(text)+64)
	for _, r := range string(text) {
		switch {
		case !hidden(r):
			out = utf8.AppendRune(out, r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// Unpublished stands for a stato_richiesta the API does not publish where
// many submissions are listed.
const Unpublished = "‹unpublished›"

// State is a request's stato_richiesta for a list of many (iseed track
// list and iseed audit, in tables and JSON alike; the console's open
// requests): as it is when the API publishes it (visengine.PublishedState,
// printable words) or it is what record.Scrub left of one that was not
// ("…"); otherwise Unpublished, for it is the upstream's free text, which
// may name the person. One submission's own page (iseed status, the
// console's) shows it whole, to the operator looking into that request.
func State(st string) string {
	if st == "" || st == "…" || visengine.PublishedState(st) {
		return st
	}
	return Unpublished
}
