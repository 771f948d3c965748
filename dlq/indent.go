package dlq

import "unicode/utf8"

// Indent returns the first limit bytes at most of src, compact JSON text,
// indented as json.Encoder with SetIndent("", "  ") writes it (a newline
// at its end), cut at a character's start, and the size of the whole
// indented text. It keeps no more than that and counts the rest: the work
// is one pass over src, however deep its nesting (json.Indent would build
// the whole text first). The console's pages and iseed dlq show both use
// it.
func Indent(src []byte, limit int) (shown string, size int) {
	w := capped{max: limit + 1} // a byte past the limit says where a character starts
	depth := 0
	open := false // just after { or [: an empty {} or [] stays on its line
	inString, escaped := false, false
	for _, c := range src {
		if inString {
			w.byte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if open && c != '}' && c != ']' {
			w.newline(depth)
		}
		closes := open
		open = false
		switch c {
		case '"':
			inString = true
			w.byte(c)
		case '{', '[':
			w.byte(c)
			depth++
			open = true
		case '}', ']':
			depth--
			if !closes {
				w.newline(depth)
			}
			w.byte(c)
		case ',':
			w.byte(c)
			w.newline(depth)
		case ':':
			w.byte(c)
			w.byte(' ')
		default:
			w.byte(c)
		}
	}
	w.byte('\n')
	if w.n <= limit {
		return string(w.buf), w.n
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(w.buf[cut]) {
		cut--
	}
	return string(w.buf[:cut]), w.n
}

// capped keeps the first max bytes written to it, and counts them all.
type capped struct {
	buf []byte
	max int
	n   int
}

func (w *capped) byte(c byte) {
	w.n++
	if len(w.buf) < w.max {
		w.buf = append(w.buf, c)
	}
}

// newline writes a newline and the indentation of depth, two spaces a
// level.
func (w *capped) newline(depth int) {
	w.byte('\n')
	w.n += 2 * depth
	for i := 0; i < 2*depth && len(w.buf) < w.max; i++ {
		w.buf = append(w.buf, ' ')
	}
}
