package visengine

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// stringReader reads a JSON string's content, decoding its escapes (`\/`,
// `\"`, `\u00e0`, surrogate pairs). It stops after the closing quote.
type stringReader struct {
	s    *scanner
	done bool
	pend [utf8.UTFMax]byte // decoded bytes of an escape not yet returned
	np   int
	ip   int
}

// Read implements io.Reader.
func (r *stringReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.ip < r.np {
			c := copy(p[n:], r.pend[r.ip:r.np])
			r.ip += c
			n += c
			continue
		}
		if r.done {
			break
		}
		if !r.s.fill() {
			return n, r.s.readErr()
		}
		n += r.run(p[n:])
		if n == len(p) || r.s.pos == r.s.end {
			continue
		}
		if err := r.special(); err != nil {
			return n, err
		}
	}
	if n == 0 && r.done {
		return 0, io.EOF
	}
	return n, nil
}

// run copies plain bytes up to the next quote or backslash.
func (r *stringReader) run(p []byte) int {
	chunk := r.s.buf[r.s.pos:r.s.end]
	if len(chunk) > len(p) {
		chunk = chunk[:len(p)]
	}
	i := plain(chunk)
	copy(p, chunk[:i])
	r.s.pos += i
	return i
}

// special handles the quote or backslash at the scanner's position.
func (r *stringReader) special() error {
	c, _ := r.s.readByte()
	if c == '"' {
		r.done = true
		return nil
	}
	c, err := r.s.readByte()
	if err != nil {
		return err
	}
	r.ip, r.np = 0, 1
	switch c {
	case '"', '\\', '/':
		r.pend[0] = c
	case 'b':
		r.pend[0] = '\b'
	case 'f':
		r.pend[0] = '\f'
	case 'n':
		r.pend[0] = '\n'
	case 'r':
		r.pend[0] = '\r'
	case 't':
		r.pend[0] = '\t'
	case 'u':
		return r.unicode()
	default:
		r.np = 0
		return fmt.Errorf("%w: bad escape \\%c in string", errSyntax, c)
	}
	return nil
}

// unicode decodes `\uXXXX` (the `\u` already read), joining surrogate pairs.
func (r *stringReader) unicode() error {
	u, err := r.hex4()
	if err != nil {
		return err
	}
	rn := rune(u)
	if utf16.IsSurrogate(rn) {
		rn = utf8.RuneError
		if r.peekU() {
			r.s.pos += 2
			lo, err := r.hex4()
			if err != nil {
				return err
			}
			rn = utf16.DecodeRune(rune(u), rune(lo))
		}
	}
	r.np = utf8.EncodeRune(r.pend[:], rn)
	return nil
}

// peekU reports whether `\u` comes next.
func (r *stringReader) peekU() bool {
	return r.s.ensure(2) && r.s.buf[r.s.pos] == '\\' && r.s.buf[r.s.pos+1] == 'u'
}

func (r *stringReader) hex4() (uint16, error) {
	var v uint16
	for range 4 {
		c, err := r.s.readByte()
		if err != nil {
			return 0, err
		}
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: bad \\u escape", errSyntax)
		}
		v = v<<4 | uint16(d)
	}
	return v, nil
}

// validUTF8 returns b as a string with each byte that is not UTF-8 replaced
// by U+FFFD, as encoding/json decodes strings.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}
