package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// Record states. A record is created by the claim and changed only by
// compare-and-set on its KV revision.
const (
	StateClaimed    = "claimed" // being submitted; Pending says whether a POST may be in flight
	StateRejected   = publisher.StateRejected
	StateSubmitted  = publisher.StateSubmitted
	StateInProgress = publisher.StateInProgress
	StateDataReady  = publisher.StateDataReady
	StateCompleted  = publisher.StateCompleted
	StateCancelled  = publisher.StateCancelled
	StateFailed     = publisher.StateFailed
)

// Record is what iseed knows of one submission, kept in the records bucket
// under "<tenant>.<id>". It holds no personal data: the payload is known
// only by its fingerprint.
type Record struct {
	Tenant         string              `json:"tenant"`
	ID             string              `json:"id"`
	Fingerprint    string              `json:"fingerprint"`
	Generation     int                 `json:"generation"` // 1, then +1 for each operator replay
	State          string              `json:"state"`
	Service        string              `json:"service,omitempty"`
	ServiceHash    string              `json:"service_hash,omitempty"`
	Price          *float64            `json:"price,omitempty"`
	RequestID      string              `json:"request_id,omitempty"`
	StatoRichiesta string              `json:"stato_richiesta,omitempty"`
	Pending        *Attempt            `json:"pending,omitempty"` // a POST whose outcome is unknown
	Attempts       int                 `json:"attempts"`          // POSTs tried, all generations
	Reason         string              `json:"reason,omitempty"`  // failed: reason code
	Errors         []publisher.Problem `json:"errors,omitempty"`
	Metadata       json.RawMessage     `json:"metadata,omitempty"`
	Timeline       []Transition        `json:"timeline"`
	FirstFailure   time.Time           `json:"first_failure,omitzero"`
	LastFailure    time.Time           `json:"last_failure,omitzero"`
	Created        time.Time           `json:"created"`
	Updated        time.Time           `json:"updated"`
	Document       *DocumentRef        `json:"document,omitempty"`
}

// Attempt is a POST /richiesta that may have reached the upstream. While a
// record has one, no new POST is made before reconciling.
type Attempt struct {
	Started time.Time `json:"started"`
	Owner   string    `json:"owner"`           // the worker holding the lease
	Until   time.Time `json:"until"`           // the lease; after it another worker may take over
	Settle  time.Time `json:"settle,omitzero"` // no unanswered POST creates a request after this
}

// Transition is one entry of a submission's timeline.
type Transition struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// DocumentRef names the stored document of a submission.
type DocumentRef struct {
	Bucket      string `json:"bucket"`
	Object      string `json:"object"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	Stato       string `json:"stato,omitempty"` // the upstream state it was fetched in
}

// to moves the record to state at t, appending to the timeline.
func (r *Record) to(state string, t time.Time, note string) {
	r.State = state
	r.Updated = t
	// Clip: records are copied by value before a compare-and-set, and two
	// copies must never append into one backing array.
	r.Timeline = append(slices.Clip(r.Timeline), Transition{State: state, At: t, Note: note})
}

// enteredAt returns when the record last entered state (zero if never).
func (r *Record) enteredAt(state string) time.Time {
	for i := len(r.Timeline) - 1; i >= 0; i-- {
		if r.Timeline[i].State == state {
			return r.Timeline[i].At
		}
	}
	return time.Time{}
}

func (r *Record) failedAt(t time.Time) {
	if r.FirstFailure.IsZero() {
		r.FirstFailure = t
	}
	r.LastFailure = t
}

// Store keeps records in a KV bucket with optimistic concurrency.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore returns a Store over the records bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// RecordKey is the KV key of a submission.
func RecordKey(tenant, id string) string { return tenant + "." + id }

// errRevision reports a lost compare-and-set: someone else changed the record.
var errRevision = errors.New("record changed concurrently")

// Create stores a new record; it reports (nil, 0, nil) when one exists.
func (s *Store) Create(ctx context.Context, r *Record) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode record: %w", err)
	}
	rev, err := s.kv.Create(ctx, RecordKey(r.Tenant, r.ID), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("create record: %w", err)
	}
	return rev, nil
}

// Get returns a record and its revision, or ErrNotFound.
func (s *Store) Get(ctx context.Context, tenant, id string) (*Record, uint64, error) {
	e, err := s.kv.Get(ctx, RecordKey(tenant, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("decode record %s: %w", e.Key(), err)
	}
	return &r, e.Revision(), nil
}

// Update writes r if the stored revision is still rev; errRevision otherwise.
func (s *Store) Update(ctx context.Context, r *Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode record: %w", err)
	}
	n, err := s.kv.Update(ctx, RecordKey(r.Tenant, r.ID), b, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errRevision
	}
	if err != nil {
		return 0, fmt.Errorf("update record: %w", err)
	}
	return n, nil
}

// ErrNotFound is returned for a submission iseed has no record of.
var ErrNotFound = errors.New("no such submission")
