// Package bucket tells a JetStream KV bucket apart from one made anew
// under its name. A bucket deleted and made again numbers its entries
// from 1, and a watch (an ordered consumer) that recreates itself after a
// missed heartbeat goes on after the old bucket's last revision: it never
// delivers the new bucket's first entries, and says nothing of it. A
// watcher that must see every entry (caps, holds, the records, the
// console's logouts) checks every Recheck with MadeAnew that the bucket
// is still the one Created dated when the watch began; the followers of a
// stream (the ledger's tally, iseed watch) check theirs as often. A
// one-off read that waits for its watch's marker (iseed audit's records)
// checks with Changed, and ends when its bucket is gone too.
package bucket

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Created returns when kv's stream was created; the zero time for a
// bucket that is not a JetStream stream (nothing to compare).
func Created(ctx context.Context, kv jetstream.KeyValue) (time.Time, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return time.Time{}, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return time.Time{}, nil
	}
	return bs.StreamInfo().Created, nil
}

// Recheck is how often a watch that must see every entry makes sure, with
// one stream info, that its bucket (or stream) is the one it began on: an
// entry stored in one made anew is seen at most this long after it is
// stored.
const Recheck = 5 * time.Second

// MadeAnew reports whether kv is no longer the bucket created at created.
// A bucket that cannot be read now is not taken for a new one: the watch
// goes on, and its own errors say what is wrong.
func MadeAnew(ctx context.Context, kv jetstream.KeyValue, created time.Time) bool {
	return errors.Is(Changed(ctx, kv, created), ErrMadeAnew)
}

// What Changed finds of a bucket that is not the one a watch began on.
var (
	ErrDeleted  = errors.New("the bucket was deleted")
	ErrMadeAnew = errors.New("the bucket was made anew")
)

// Changed returns ErrDeleted when NATS has no stream for kv, ErrMadeAnew
// when kv is not the bucket created at created, and nil when it is or
// cannot be read now. It is for a one-off read that must end (an
// operator's command) rather than wait for its bucket to come back: a
// watch of a bucket deleted, or made anew, may never deliver its marker.
func Changed(ctx context.Context, kv jetstream.KeyValue, created time.Time) error {
	c, err := Created(ctx, kv)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return ErrDeleted
	case err != nil || c.Equal(created):
		return nil
	}
	return ErrMadeAnew
}
