package consumer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/iseed-dev/iseed/dlq"
)

// submissionMembers lists the members a submission may have, spelt as they
// must be.
var submissionMembers = strings.Join(dlq.SubmissionMembers, ", ")

// knownMember reports whether name is a member of a submission, spelt
// exactly, and otherwise the member it differs from only in case ("" if
// none).
func knownMember(name string) (exact bool, folded string) {
	for m := range strings.SplitSeq(submissionMembers, ", ") {
		if name == m {
			return true, ""
		}
		if strings.EqualFold(name, m) {
			folded = m
		}
	}
	return false, folded
}

// errVersionNull refuses "version": null, which the decoder would take for
// an absent version.
var errVersionNull = errors.New("version is null: leave it out, or give 1")

// scope is an object or array being walked by checkMembers.
type scope struct {
	names    map[string]int // member position (from 1) by name; nil for an array
	n        int            // members so far
	wantName bool           // an object's next token is a name
	last     string         // the name of the member being read
	under    string         // the submission member it is in ("" at the top level)
	nested   bool           // deeper than that member's own value
	tokens   int            // names and values within, for a member's own value
}

// checkMembers walks the message's objects before it is decoded, for what
// encoding/json lets through: the decoder matches member names ignoring
// case (it takes "ID" for "id") and keeps the last of a repeated name. Every
// top-level name must be one of a submission's, spelt exactly; no object
// anywhere may repeat a name; version, when present, is not null; no
// string has a \u escape of half a surrogate pair, which the decoder would
// change to U+FFFD; nothing nests deeper than maxNesting, which the decoder
// refuses too; no top-level member's value holds more than maxMemberTokens
// names and values. It reports whether version is present. Broken JSON ends the walk without an
// error: the decoder says what is wrong.
//
// Its errors name a submission's own members and positions only: other
// names may be personal data.
func checkMembers(data []byte) (hasVersion bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are skipped, not parsed
	var stack []*scope
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return hasVersion, nil
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			if stack = stack[:len(stack)-1]; len(stack) == 0 {
				return hasVersion, nil
			}
			continue
		}
		if len(stack) > 1 {
			if err := stack[1].count(); err != nil {
				return false, err
			}
		}
		var top *scope
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		// The decoder turns a lone surrogate into U+FFFD: only a string
		// holding one needs its escapes read.
		if s, ok := tok.(string); ok && strings.Contains(s, "\uFFFD") && loneSurrogate(data[start:dec.InputOffset()]) {
			return false, top.loneSurrogate()
		}
		if top != nil && top.names != nil && top.wantName {
			name, _ := tok.(string) // in an object, a name
			if err := top.add(name, len(stack) == 1); err != nil {
				return false, err
			}
			hasVersion = hasVersion || (len(stack) == 1 && name == "version")
			continue
		}
		if top != nil && top.names != nil {
			top.wantName = true // tok is (or opens) the member's value
			if len(stack) == 1 && top.last == "version" && tok == nil {
				return false, errVersionNull
			}
		}
		if tok == json.Delim('{') || tok == json.Delim('[') {
			if len(stack) == maxNesting {
				return false, top.tooDeep()
			}
			if top != nil && top.under == "metadata" && len(stack) > MaxMetadataNesting {
				return false, errMetadataTooDeep
			}
			stack = append(stack, top.child(tok == json.Delim('{')))
		}
	}
}

// maxNesting is how deep objects and arrays may nest, the message itself
// counting as one: encoding/json's own limit. Deeper, checkMembers stops
// before holding a scope per level (a message of nothing but '[' would
// otherwise cost about a hundred bytes per byte).
const maxNesting = 10000

// MaxMetadataNesting is how deep metadata's objects and arrays may nest,
// its own object counting as one. Metadata is copied into every event, two
// levels deeper, and every consumer of the tenant's events must decode
// it: decoders other than Go's stop far sooner than encoding/json's 10000
// (Rust's serde_json at 128 by default), and an event one of them cannot
// read is lost to that consumer. No correlation data needs more.
const MaxMetadataNesting = 32

var errMetadataTooDeep = fmt.Errorf("metadata: nested deeper than %d levels (it is copied into every event, which every consumer of them must decode)", MaxMetadataNesting)

// maxMemberTokens bounds the names and values within one top-level
// member's value. No submission needs as many: a service has at most 256
// fields (a name and a value each), options are a few names, and metadata
// of at most MaxMetadataBytes holds at most half as many. Past it,
// checkMembers stops before the decoder builds them (fields and options
// are decoded into maps, slices and interfaces: megabytes of `"x":0,`,
// `0,` or `"",` allocated 40 to 100 times their size).
const maxMemberTokens = 16384

// count takes one more name or value within s, a top-level member's own
// value.
func (s *scope) count() error {
	if s.tokens++; s.tokens > maxMemberTokens {
		return fmt.Errorf("%s: more than %d names and values (no submission needs as many)", s.under, maxMemberTokens)
	}
	return nil
}

// tooDeep says that a value in s nests deeper than maxNesting, naming the
// submission member it is in.
func (s *scope) tooDeep() error {
	where := s.under
	if where == "" {
		where = s.last // a top-level member's own value
	}
	return fmt.Errorf("%s: nested deeper than %d levels", where, maxNesting)
}

// child is the scope of a value opened in s (s is nil for the message
// itself).
func (s *scope) child(object bool) *scope {
	c := &scope{}
	if object {
		c.names, c.wantName = map[string]int{}, true
	}
	switch {
	case s == nil:
	case s.under == "": // a member's own value
		c.under = s.last
	default:
		c.under, c.nested = s.under, true
	}
	return c
}

// add takes the next member name of the object s.
func (s *scope) add(name string, top bool) error {
	s.n++
	s.wantName, s.last = false, name
	if top {
		if exact, folded := knownMember(name); !exact {
			return unknownMember(folded)
		}
	}
	if first, ok := s.names[name]; ok {
		return s.repeated(first)
	}
	s.names[name] = s.n
	return nil
}

// unknownMember says that a top-level name is not a submission's, naming
// the member it differs from only in case, if any.
func unknownMember(folded string) error {
	if folded != "" {
		return fmt.Errorf("a member that is not part of a submission (did you mean %q? member names are case-sensitive)", folded)
	}
	return errors.New("a member that is not part of a submission (its members are " + submissionMembers + ")")
}

// repeated says that the object s has the same name at members first and
// s.n.
func (s *scope) repeated(first int) error {
	switch {
	case s.under == "":
		return fmt.Errorf("the member %q appears twice: give each member once", s.last)
	case s.nested:
		return fmt.Errorf("%s: an object within it has the same name twice (its members %d and %d): give each name once", s.under, first, s.n)
	}
	return fmt.Errorf("%s: the same name twice (its members %d and %d): give each name once", s.under, first, s.n)
}

// loneSurrogate reports whether raw, one JSON string (with the separators
// before it), has a \uD800-\uDFFF escape that is not a high half followed
// by a low half.
func loneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i++; i >= len(raw) || raw[i] != 'u' {
			continue // any other escape, \\ included
		}
		r := hex4(raw[i+1:])
		i += 4 // at the escape's last digit
		switch {
		case r < 0xD800 || r > 0xDFFF:
			continue
		case r >= 0xDC00:
			return true // a low half first
		}
		if len(raw) < i+7 || raw[i+1] != '\\' || raw[i+2] != 'u' {
			return true
		}
		if lo := hex4(raw[i+3:]); lo < 0xDC00 || lo > 0xDFFF {
			return true
		}
		i += 6
	}
	return false
}

// hex4 reads the four hex digits a \u escape starts with (-1 if there are
// none).
func hex4(b []byte) int {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return int(n)
}

// loneSurrogate says that a string in s has half a surrogate pair, naming
// the submission member it is in, never the string.
func (s *scope) loneSurrogate() error {
	where := "a member name"
	switch {
	case s == nil: // not an object: checkEnvelope refuses it first
		where = "the message"
	case s.under != "":
		where = s.under
	case !s.wantName:
		where = s.last // a top-level member's own value
	}
	return fmt.Errorf("%s: a \\u escape of half a surrogate pair (\\uD800-\\uDFFF alone): "+
		"decoding would change it to U+FFFD; send the character as UTF-8 or as a whole pair", where)
}
