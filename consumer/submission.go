package consumer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/iseed-dev/iseed/record"
)

// Submission is a submission event (version 1), as producers publish it on
// <prefix>.submissions.<tenant>.
type Submission struct {
	Version     int             `json:"version,omitempty"` // 1 when present
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

// DecodeSubmission decodes and checks a submission event. Unknown keys,
// trailing data, a bad id or a missing service are errors wrapping ErrMalformed.
func DecodeSubmission(data []byte) (*Submission, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Submission
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	if s.Version != 0 && s.Version != 1 {
		return nil, fmt.Errorf("%w: unsupported version %d (this iseed reads version 1)", ErrMalformed, s.Version)
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

// PeekID returns the id of an event that failed to decode, when it has a valid one.
func PeekID(data []byte) string {
	var s struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &s) != nil || !record.ValidToken(s.ID) {
		return ""
	}
	return s.ID
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
