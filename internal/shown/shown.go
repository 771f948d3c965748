// Package shown makes text safe for an operator's terminal: what a tenant
// or the upstream chose (a field name, a state, a request id, a service's
// name, a document's file name) may hold an escape sequence that would set
// the window title or rewrite the screen, a newline or a tab that would
// fake a line or a column, or a bidi override that reverses what follows.
package shown

import (
	"strconv"
	"strings"
)

// Text is s for a table or a line of text: as it is when a terminal shows
// each of its characters as itself, else quoted as strconv.Quote does.
func Text(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}
