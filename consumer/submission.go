package consumer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/record"
)

// Submission is a submission event (version 1), as producers publish it on
// <prefix>.submissions.<tenant>.
type Submission struct {
	Version     int             `json:"version,omitempty"` // 1 when present (0 when absent)
	ID          string          `json:"id"`                // the producer's idempotency key
	Service     string          `json:"service"`           // catalog name or hash_visura
	Fields      map[string]any  `json:"fields"`            // by "$N" or field name
	Options     []string        `json:"options,omitempty"` // by tipo or nome
	EmailTarget string          `json:"email_target,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"` // echoed in every event

	fingerprint string // computed once by Fingerprint
}

// Bounds of a submission event's own parts; the fields are bounded by the
// service's schema (schema.Limits).
const (
	// MaxMetadataBytes bounds metadata as iseed stores it (JSON, with <, >
	// and & escaped): it is copied into the record and every event.
	MaxMetadataBytes = 16 << 10
	// MaxServiceLen bounds the service name or hash.
	MaxServiceLen = 256
	// MaxEmailTargetLen bounds email_target.
	MaxEmailTargetLen = 254
)

// ErrMalformed marks a submission event that cannot be decoded or lacks its
// identity; it is never retried.
var ErrMalformed = errors.New("malformed submission")

// DecodeSubmission decodes and checks a submission event. Unknown members
// (names are case-sensitive), a name repeated in any object, trailing data,
// a version other than 1, a bad id, a missing service, and bytes or \u
// escapes the decoder would change (invalid UTF-8, half a surrogate pair),
// a leading byte order mark, nesting deeper than 10000 levels (metadata:
// MaxMetadataNesting), and more
// than 16384 names and values in one member are errors wrapping
// ErrMalformed.
//
// Its errors quote nothing of the message but a submission's own member
// names: they are logged, and another name or a value may be personal data
// (or megabytes long).
func DecodeSubmission(data []byte) (*Submission, error) {
	if err := checkEnvelope(data); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, err)
	}
	hasVersion, err := checkMembers(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Submission
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, decodeProblem(err))
	}
	if bytes.Equal(bytes.TrimSpace(s.Metadata), []byte("null")) {
		s.Metadata = nil // as if absent
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	if hasVersion && s.Version != 1 {
		return nil, fmt.Errorf("%w: unsupported version %d (this iseed reads version 1: leave version out, or give 1)", ErrMalformed, s.Version)
	}
	if !record.ValidToken(s.ID) {
		return nil, fmt.Errorf("%w: id must be 1-%d characters of A-Z, a-z, 0-9, _ and -", ErrMalformed, record.MaxIDLen)
	}
	if strings.TrimSpace(s.Service) == "" {
		return nil, fmt.Errorf("%w: service is required (a catalog name such as \"ISEE\" or a hash_visura)", ErrMalformed)
	}
	if s.Fields == nil {
		return nil, fmt.Errorf("%w: fields is required", ErrMalformed)
	}
	if len(s.Metadata) > 0 && s.Metadata[0] != '{' {
		return nil, fmt.Errorf("%w: metadata must be a JSON object", ErrMalformed)
	}
	if stored, _ := json.Marshal(s.Metadata); len(stored) > MaxMetadataBytes {
		return nil, fmt.Errorf("%w: metadata is %d bytes as stored (JSON, <, > and & escaped), more than the %d allowed: it is copied into every event", ErrMalformed, len(stored), MaxMetadataBytes)
	}
	if len(s.Service) > MaxServiceLen || len(s.EmailTarget) > MaxEmailTargetLen {
		return nil, fmt.Errorf("%w: service is limited to %d bytes and email_target to %d", ErrMalformed, MaxServiceLen, MaxEmailTargetLen)
	}
	return &s, nil
}

// checkEnvelope refuses what cannot be a submission before decoding: an
// empty message, bytes that are not UTF-8 (the decoder would replace them
// silently, and the changed value would be sent and paid for), anything
// but an object.
func checkEnvelope(data []byte) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return errors.New("the message is empty: a submission is a JSON object")
	case !utf8.Valid(data):
		return fmt.Errorf("the message is not valid UTF-8 (at byte %d)", invalidUTF8At(data))
	case bytes.HasPrefix(data, []byte(byteOrderMark)):
		return errors.New("the message starts with a byte order mark (U+FEFF): send the JSON object without one")
	case trimmed[0] != '{':
		return errors.New("a submission is a JSON object")
	}
	return nil
}

// byteOrderMark is U+FEFF, which some tools write before a UTF-8 text.
const byteOrderMark = "\uFEFF"

// invalidUTF8At returns the offset of data's first invalid UTF-8 sequence
// (len(data) if there is none).
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// decodeProblem says what is wrong with a submission the decoder refused,
// naming members the schema of events defines and JSON kinds only.
func decodeProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		member := typ.Field
		if member == "" {
			member = "the message"
		}
		// Value is the JSON kind, but for a number the type cannot hold
		// it is "number <the number as written>": a value, of any length.
		if kind, _, quoted := strings.Cut(typ.Value, " "); quoted {
			return fmt.Sprintf("%s: a JSON %s that does not fit where %s is expected (too large, or not written as a whole number)", member, kind, jsonKind(typ.Type))
		}
		return fmt.Sprintf("%s: a JSON %s where %s is expected", member, typ.Value, jsonKind(typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the JSON ends before the object does"
	case strings.HasPrefix(err.Error(), "json: unknown field "): // checkMembers finds them first
		return unknownMember("").Error()
	}
	return "not a submission"
}

// jsonKind names the JSON kind that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// PeekID returns the id of an event that failed to decode, when it has a
// valid one: the top-level "id" member read before the point where the
// event breaks, if it does (after a byte order mark, if it has one). Without an "id" member, a member named "id" in
// other letter case ("Id", "ID") names it, so that its producer hears why
// the event was refused. A name given twice with two values names no id.
func PeekID(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte(byteOrderMark))))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	var exact, folded peekedID
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		var value json.RawMessage
		if dec.Decode(&value) != nil {
			break
		}
		if name, _ := key.(string); name == "id" {
			exact.see(value)
		} else if strings.EqualFold(name, "id") {
			folded.see(value)
		}
	}
	if exact.seen {
		return exact.valid()
	}
	return folded.valid()
}

// peekedID gathers the values of a member that may name the id.
type peekedID struct {
	id         string
	seen, many bool // many: given again with another value
}

func (p *peekedID) see(value json.RawMessage) {
	id := ""
	_ = json.Unmarshal(value, &id) // not a string: no id
	p.many = p.many || (p.seen && id != p.id)
	p.id, p.seen = id, true
}

// valid is the id, if it is one and was given once (or always the same).
func (p *peekedID) valid() string {
	if !p.seen || p.many || !record.ValidToken(p.id) {
		return ""
	}
	return p.id
}

// Fingerprint identifies the submission's payload: two events with the same
// id and fingerprint are the same submission; the same id with another
// fingerprint is a conflict. Metadata is not part of it.
func (s *Submission) Fingerprint() string {
	if s.fingerprint == "" {
		s.fingerprint = s.computeFingerprint()
	}
	return s.fingerprint
}

func (s *Submission) computeFingerprint() string {
	opts := slices.Clone(s.Options)
	slices.Sort(opts)
	h := sha256.New()
	// encoding/json sorts map keys, so this encoding is canonical.
	_ = json.NewEncoder(h).Encode(struct {
		Service     string         `json:"service"`
		Fields      map[string]any `json:"fields"`
		Options     []string       `json:"options"`
		EmailTarget string         `json:"email_target"`
	}{s.Service, s.Fields, opts, s.EmailTarget})
	return hex.EncodeToString(h.Sum(nil))
}
