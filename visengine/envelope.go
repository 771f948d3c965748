package visengine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// envelope is what the API wraps every answer in:
// {"data": …, "success": bool, "message": string, "error": int|null}; an
// "error" of false is taken as null, as PHP backends write it.
// The "data" value is handed to an answer while the envelope is read.
type envelope struct {
	success *bool
	message string
	code    int
}

// ok reports whether the envelope says the call succeeded. When "success"
// is missing, a zero error code means success.
func (e envelope) ok() bool {
	if e.success != nil {
		return *e.success
	}
	return e.code == 0
}

// answer consumes the "data" value of an envelope.
type answer interface {
	// data consumes the value of "data"; it may be called more than once.
	data(s *scanner) error
	// complete is called when the status and the envelope report success.
	complete() error
}

const maxMessageLen = 2 << 10 // longer messages are cut, they end up in error strings

// decodeEnvelope reads one envelope from r through a buffer of bufSize
// bytes, handing "data" to a. It is the only place where the API's answers
// are decoded. What a PHP backend prints before the envelope (a byte order
// mark, notices) is skipped, up to preamble bytes. Unknown keys are
// skipped; what follows the envelope is not read. On failure it returns
// what it decoded so far.
func decodeEnvelope(r io.Reader, bufSize, preamble int, a answer) (envelope, error) {
	s := newScanner(r, bufSize)
	var env envelope
	if err := s.skipPreamble(preamble); err != nil {
		return env, err
	}
	err := s.object(func(key string) error {
		switch key {
		case "data":
			return a.data(s)
		case "success":
			return decodeSuccess(s, &env)
		case "message":
			raw, _, err := s.value(maxMessageRaw) // a longer message is dropped
			env.message = renderMessage(raw)
			return err
		case "error":
			return decodeCode(s, &env)
		default:
			return s.skip()
		}
	})
	return env, err
}

// maxMessageRaw bounds the "message" read from an answer.
const maxMessageRaw = 64 << 10

func decodeSuccess(s *scanner, env *envelope) error {
	raw, err := s.capture(16, true)
	if err != nil {
		return fmt.Errorf("success: %w", err)
	}
	var b Bool
	if err := b.UnmarshalJSON(raw); err != nil {
		return err
	}
	v := bool(b)
	env.success = &v
	return nil
}

func decodeCode(s *scanner, env *envelope) error {
	raw, err := s.capture(32, true)
	if err != nil {
		return fmt.Errorf("error: %w", err)
	}
	if string(bytes.TrimSpace(raw)) == "false" { // PHP's "no error", like null
		env.code = 0
		return nil
	}
	var n Int
	if err := n.UnmarshalJSON(raw); err != nil {
		return err
	}
	env.code = int(n)
	return nil
}

// renderMessage turns the raw "message" value into one readable line. The
// API's message is usually a string, sometimes a JSON document in a string
// or a bare object: JSON is shown compact, a quoted string unquoted.
func renderMessage(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = compactJSON(raw)
	} else if t := strings.TrimSpace(s); t != "" && strings.ContainsRune(`{["`, rune(t[0])) {
		var inner string
		if json.Unmarshal([]byte(t), &inner) == nil {
			s = inner
		} else {
			s = compactJSON([]byte(t))
		}
	}
	if s == "null" {
		s = ""
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), maxMessageLen)
}

// compactJSON returns raw without insignificant space, or raw itself when it
// is not JSON.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "\uFFFD") + "…"
}

// jsonAnswer decodes "data" into a value with encoding/json.
type jsonAnswer struct {
	out any // pointer; nil to ignore "data"
	max int
	raw []byte
}

// errNoData reports a successful answer without the "data" its call needs.
var errNoData = errors.New(`answer has no "data"`)

func (j *jsonAnswer) data(s *scanner) error {
	raw, err := s.capture(j.max, j.out != nil)
	j.raw = raw
	return err
}

func (j *jsonAnswer) complete() error {
	if j.out == nil {
		return nil
	}
	if len(j.raw) == 0 || string(j.raw) == "null" {
		return errNoData // a success that says nothing: not an empty list, not a service
	}
	if err := json.Unmarshal(j.raw, j.out); err != nil {
		return fmt.Errorf("decoding data: %w", err)
	}
	return nil
}
