package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/nats-io/nats.go/jetstream"
)

// Store keeps records in a KV bucket with optimistic concurrency.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore returns a Store over the records bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Key is the KV key of a submission: "<tenant>.<id>".
func Key(tenant, id string) string { return tenant + "." + id }

// ErrRevision reports a lost compare-and-set: someone else changed the record.
var ErrRevision = errors.New("record changed concurrently")

// ErrNotFound is returned for a submission iseed has no record of.
var ErrNotFound = errors.New("no such submission")

// Create stores a new record; it reports (0, nil) when one exists.
func (s *Store) Create(ctx context.Context, r *Record) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode record: %w", err)
	}
	rev, err := s.kv.Create(ctx, Key(r.Tenant, r.ID), b)
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
	e, err := s.kv.Get(ctx, Key(tenant, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get record: %w", err)
	}
	r, err := Decode(e.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("decode record %s: %w", e.Key(), err)
	}
	return r, e.Revision(), nil
}

// GetFromLeader is Get answered by the bucket stream's leader, through js
// (LeaderEntry): where absence, or a state older than the truth, would
// decide something, as a direct get that a lagging replica answers may
// give either.
func (s *Store) GetFromLeader(ctx context.Context, js jetstream.JetStream, tenant, id string) (*Record, uint64, error) {
	v, rev, ok, err := LeaderEntry(ctx, js, s.kv.Bucket(), Key(tenant, id))
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, ErrNotFound
	}
	r, err := Decode(v)
	if err != nil {
		return nil, 0, fmt.Errorf("decode record %s: %w", Key(tenant, id), err)
	}
	return r, rev, nil
}

// Update writes r if the stored revision is still rev; ErrRevision otherwise.
func (s *Store) Update(ctx context.Context, r *Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode record: %w", err)
	}
	n, err := s.kv.Update(ctx, Key(r.Tenant, r.ID), b, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, ErrRevision
	}
	if err != nil {
		return 0, fmt.Errorf("update record: %w", err)
	}
	return n, nil
}

// Landed reports whether a write of r whose answer never came (a timeout:
// the stream's leader changed, a partition) was stored after all: whether
// the latest entry of r's key, read from the bucket stream's leader, is r
// exactly as Create or Update wrote it. rev is that entry's revision. A
// key changed since, or never written, is not landed; a failed read is an
// error. Only the whole entry proves it: a lease that names the writer was
// possibly there before the write.
func (s *Store) Landed(ctx context.Context, js jetstream.JetStream, r *Record) (rev uint64, landed bool, err error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, false, fmt.Errorf("encode record: %w", err)
	}
	v, rev, ok, err := LeaderEntry(ctx, js, s.kv.Bucket(), Key(r.Tenant, r.ID))
	if err != nil || !ok || !bytes.Equal(v, b) {
		return 0, false, err
	}
	return rev, true, nil
}

// Decode reads a stored record.
func Decode(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	r.upgrade()
	return &r, nil
}

// Each calls fn for every record in the bucket, in key order of the
// server's listing. It reads every record: for operators' commands and
// periodic reports, not for a hot path. A bucket deleted, or made anew,
// while it reads ends it with an error (bucket.Keys), not with some of
// the records taken for all of them.
func (s *Store) Each(ctx context.Context, fn func(*Record) error) error {
	var errFn error
	err := bucket.Keys(ctx, s.kv, func(key string) error {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		r, err := Decode(e.Value())
		if err != nil {
			return fmt.Errorf("decode record %s: %w", key, err)
		}
		if errFn = fn(r); errFn != nil {
			return errFn
		}
		return nil
	})
	switch {
	case err == nil || err == errFn:
		return err
	case errors.Is(err, bucket.ErrDeleted), errors.Is(err, bucket.ErrMadeAnew):
		return fmt.Errorf("list records: %w during the listing", err)
	}
	return fmt.Errorf("list records: %w", err)
}
