package visengine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// scanner is a small streaming reader of JSON text. It walks the envelope
// (objects, keys, strings) without holding the answer in memory, so that the
// base64 "file" of a document can be decoded as it arrives. It checks the
// structure it walks; the values it captures are checked by encoding/json.
type scanner struct {
	r   io.Reader
	buf []byte
	pos int
	end int
	err error // sticky error of r; io.EOF at the end of the input

	longKeys int // members skipped for a key longer than maxKeyLen
}

// errSyntax reports text that is not the JSON the scanner expects.
var errSyntax = errors.New("malformed JSON")

// maxKeyLen bounds the object keys kept. No key an answer is read for is
// longer; a longer one (a field name echoed in json_mappato: the API does
// not bound them) is read to its end and its member skipped.
const maxKeyLen = 256

// newScanner reads r through a buffer of size bytes (at least 2).
func newScanner(r io.Reader, size int) *scanner {
	return &scanner{r: r, buf: make([]byte, max(size, 2))}
}

// fill makes at least one byte available; false when the input is done.
func (s *scanner) fill() bool { return s.ensure(1) }

// ensure makes at least n (at most len(buf)) bytes available; false when the
// input ends first.
func (s *scanner) ensure(n int) bool {
	for tries := 0; s.end-s.pos < n; tries++ {
		if s.err != nil {
			return false
		}
		if tries == 100 {
			s.err = io.ErrNoProgress
			return false
		}
		if s.pos > 0 {
			s.end = copy(s.buf, s.buf[s.pos:s.end])
			s.pos = 0
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		s.err = err
	}
	return true
}

// readErr is the error to report when more input was needed.
func (s *scanner) readErr() error {
	if s.err == nil || s.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return s.err
}

func (s *scanner) readByte() (byte, error) {
	if !s.fill() {
		return 0, s.readErr()
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}

// peek skips white space and returns the next byte without consuming it.
func (s *scanner) peek() (byte, error) {
	for s.fill() {
		c := s.buf[s.pos]
		if !isSpace(c) {
			return c, nil
		}
		s.pos++
	}
	return 0, s.readErr()
}

// next skips white space and consumes the next byte.
func (s *scanner) next() (byte, error) {
	c, err := s.peek()
	if err == nil {
		s.pos++
	}
	return c, err
}

func (s *scanner) expect(want byte) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("%w: got %q, want %q", errSyntax, c, want)
	}
	return nil
}

// object walks the object that starts at the next byte, calling fn for each
// key; fn must consume the key's value. A null stands for an empty object.
func (s *scanner) object(fn func(key string) error) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		return s.literal("null")
	}
	if err := s.expect('{'); err != nil {
		return err
	}
	if c, err = s.peek(); err != nil {
		return err
	}
	if c == '}' {
		s.pos++
		return nil
	}
	return s.members(fn)
}

// array walks the list that starts at the next byte, calling fn for each
// element; fn must consume it. A null stands for an empty list.
func (s *scanner) array(fn func() error) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		return s.literal("null")
	}
	if err := s.expect('['); err != nil {
		return err
	}
	if c, err = s.peek(); err != nil {
		return err
	}
	if c == ']' {
		s.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		c, err := s.next()
		switch {
		case err != nil:
			return err
		case c == ']':
			return nil
		case c != ',':
			return fmt.Errorf("%w: got %q after an element, want ',' or ']'", errSyntax, c)
		}
	}
}

func (s *scanner) members(fn func(key string) error) error {
	for {
		key, long, err := s.key()
		if err != nil {
			return err
		}
		if long {
			s.longKeys++
			err = s.skip()
		} else {
			err = fn(key)
		}
		if err != nil {
			return err
		}
		c, err := s.next()
		switch {
		case err != nil:
			return err
		case c == '}':
			return nil
		case c != ',':
			return fmt.Errorf("%w: got %q after a value, want ',' or '}'", errSyntax, c)
		}
	}
}

// skipPreamble skips what a PHP backend may print before the envelope: a
// UTF-8 byte order mark, notices and warnings ("<br />\n<b>Notice</b>: …"),
// white space. It stops at the first '{' that opens an object (followed,
// after white space, by '"' or '}'), so a brace in a notice or a CSS rule of
// an HTML error page is passed over. More than max bytes before the object
// is a syntax error.
func (s *scanner) skipPreamble(max int) error {
	for n := 0; ; n++ {
		if !s.fill() {
			return s.readErr()
		}
		if s.buf[s.pos] == '{' && s.opensObject() {
			return nil
		}
		if n >= max {
			return fmt.Errorf("%w: no JSON object in the first %d bytes", errSyntax, max)
		}
		s.pos++
	}
}

// opensObject reports whether the '{' at the scanner's position is followed,
// after white space, by '"' or '}'. When the input ends or the white space
// outlasts the buffer, it says yes and leaves the verdict to the parser.
func (s *scanner) opensObject() bool {
	for i := 1; i < len(s.buf); i++ {
		if !s.ensure(i + 1) {
			return true
		}
		if c := s.buf[s.pos+i]; !isSpace(c) {
			return c == '"' || c == '}'
		}
	}
	return true
}

// key reads `"name":`. A name longer than maxKeyLen is read to its end
// and not returned: long reports it. The name is read into a buffer of
// the call's own, not one allocated per key: an answer has dozens.
func (s *scanner) key() (name string, long bool, err error) {
	sr, err := s.str()
	if err != nil {
		return "", false, err
	}
	var kb [maxKeyLen + 1]byte
	n := 0
	for n < len(kb) {
		m, err := sr.Read(kb[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", false, err
		}
	}
	b := kb[:n]
	if len(b) > maxKeyLen {
		if _, err := io.Copy(io.Discard, sr); err != nil {
			return "", false, err
		}
		return "", true, s.expect(':')
	}
	return validUTF8(b), false, s.expect(':')
}

// literal consumes the exact word w (true, false, null).
func (s *scanner) literal(w string) error {
	for i := range len(w) {
		c, err := s.readByte()
		if err != nil {
			return err
		}
		if c != w[i] {
			return fmt.Errorf("%w: bad literal", errSyntax)
		}
	}
	return nil
}

// str returns a reader of the string value that starts at the next byte,
// with its escapes decoded. The reader must be read to io.EOF.
func (s *scanner) str() (*stringReader, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	return &stringReader{s: s}, nil
}

// capture returns the raw text of the next value; more than max bytes is an
// error. With keep false the value is skipped and nil returned.
func (s *scanner) capture(max int, keep bool) ([]byte, error) {
	if !keep {
		return nil, s.skip()
	}
	raw, whole, err := s.value(max)
	if err == nil && !whole {
		return nil, fmt.Errorf("value longer than %d bytes", max)
	}
	return raw, err
}

// skip reads past the next value, whatever its size, keeping nothing.
func (s *scanner) skip() error {
	_, _, err := s.value(-1)
	return err
}

// value reads the next value and returns its raw text when it is at most
// max bytes long. A longer value is read to its end and dropped: raw is nil
// and whole false. With max < 0 nothing is kept (raw nil, whole true).
// Memory stays within max bytes whatever the value's size. value checks
// only the nesting of what it reads; encoding/json checks what is kept.
func (s *scanner) value(max int) (raw []byte, whole bool, err error) {
	c, err := s.peek()
	if err != nil {
		return nil, false, err
	}
	k := keeper{max: max}
	if c != '{' && c != '[' && c != '"' {
		return s.scalar(&k)
	}
	var w walker
	for {
		if !s.fill() {
			return nil, false, s.readErr()
		}
		chunk := s.buf[s.pos:s.end]
		n, done := w.walk(chunk)
		k.add(chunk[:n])
		s.pos += n
		if done {
			return k.result()
		}
	}
}

// walker follows the nesting of a JSON value across chunks.
type walker struct {
	depth      int
	inStr, esc bool
}

// walk reads chunk up to the end of the value; it returns how many bytes
// belong to the value and whether it ended.
func (w *walker) walk(chunk []byte) (int, bool) {
	for i := 0; i < len(chunk); i++ {
		c := chunk[i]
		switch {
		case w.esc:
			w.esc = false
		case w.inStr && c == '\\':
			w.esc = true
		case w.inStr && c == '"':
			w.inStr = false
			if w.depth == 0 {
				return i + 1, true
			}
		case w.inStr:
			// Skip the string's plain bytes at once: base64 payloads are long.
			i += plain(chunk[i:]) - 1
		case c == '"':
			w.inStr = true
		case c == '{' || c == '[':
			w.depth++
		case c == '}' || c == ']':
			w.depth--
			if w.depth <= 0 {
				return i + 1, true
			}
		}
	}
	return len(chunk), false
}

// keeper collects the bytes of a value up to max.
type keeper struct {
	max  int
	out  []byte
	over bool
}

func (k *keeper) add(b []byte) {
	switch {
	case k.max < 0 || k.over:
	case len(k.out)+len(b) > k.max:
		k.out, k.over = nil, true
	default:
		k.out = append(k.out, b...)
	}
}

func (k *keeper) result() ([]byte, bool, error) { return k.out, !k.over, nil }

// scalar reads a number or literal.
func (s *scanner) scalar(k *keeper) ([]byte, bool, error) {
	n := 0
	for s.fill() {
		chunk := s.buf[s.pos:s.end]
		i := 0
		for i < len(chunk) && isScalarByte(chunk[i]) {
			i++
		}
		k.add(chunk[:i])
		s.pos += i
		n += i
		if i < len(chunk) {
			break
		}
	}
	if s.err != nil && s.err != io.EOF {
		return nil, false, s.err
	}
	if n == 0 {
		return nil, false, fmt.Errorf("%w: value expected", errSyntax)
	}
	return k.result()
}

// plain returns the length of b's prefix that holds no '"' and no '\\':
// the plain bytes of a string, found with bytes.IndexByte (fast on long
// base64 payloads).
func plain(b []byte) int {
	end := bytes.IndexByte(b, '\\')
	if end < 0 {
		end = len(b)
	}
	if q := bytes.IndexByte(b[:end], '"'); q >= 0 {
		return q
	}
	return end
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c == '-' || c == '+' || c == '.'
}
