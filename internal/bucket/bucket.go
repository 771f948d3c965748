// Package bucket tells a JetStream KV bucket apart from one made anew
// under its name. A bucket deleted and made again numbers its entries
// from 1, and a watch (an ordered consumer) that recreates itself after a
// missed heartbeat goes on after the old bucket's last revision: it never
// delivers the new bucket's first entries, and says nothing of it. A
// watcher that must see every entry (caps, holds, the records, the
// console's logouts) checks every Recheck with a Guard (Begin) that the
// bucket is still the one it began on, and with its Lag that the watch
// delivers what is stored (a watch's consumer can be lost while the
// connection stays up); the followers of a stream (the ledger's tally,
// iseed watch) check theirs as often. A
// one-off read that waits for its watch's marker (iseed audit's records)
// checks with Changed, and ends when its bucket is gone too; Keys lists a
// bucket's keys that way.
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
	created, _, err := Stat(ctx, kv)
	return created, err
}

// Stat returns, from one stream info, when kv's stream was created and the
// sequence of the last entry stored in it (the highest revision); zero
// values for a bucket that is not a JetStream stream.
func Stat(ctx context.Context, kv jetstream.KeyValue) (created time.Time, last uint64, err error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return time.Time{}, 0, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return time.Time{}, 0, nil
	}
	info := bs.StreamInfo()
	return info.Created, info.State.LastSeq, nil
}

// Recheck is how often a watch that must see every entry makes sure, with
// one stream info, that its bucket (or stream) is the one it began on: an
// entry stored in one made anew is seen at most this long after it is
// stored.
const Recheck = 5 * time.Second

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

// Keys calls fn with each key of kv, as jetstream's ListKeys lists them,
// on the caller's goroutine; an error from fn ends the listing with it.
// ListKeys takes a watch that ends, or never delivers its marker, for the
// end of the listing: a bucket deleted while it lists ends it early and
// with no error, one made anew may never end it. Keys checks every
// Recheck, and when its watch ends, that kv is still the bucket it began
// on, and ends with ErrDeleted or ErrMadeAnew when it is not, also when
// fn fails (a Get of a key of a deleted bucket does): a listing without
// an error is the whole bucket.
func Keys(ctx context.Context, kv jetstream.KeyValue, fn func(key string) error) error {
	created, err := Created(ctx, kv)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return err
	}
	defer w.Stop()
	check := time.NewTicker(Recheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if err := Changed(ctx, kv, created); err != nil {
				return err
			}
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := Changed(ctx, kv, created); err != nil {
					return err
				}
				return errors.New("the listing of the bucket's keys ended before its last key")
			case e == nil:
				// Listed, unless the bucket listed is not the one
				// created dated.
				return Changed(ctx, kv, created)
			}
			if err := fn(e.Key()); err != nil {
				if changed := Changed(ctx, kv, created); changed != nil {
					return changed
				}
				return err
			}
		}
	}
}
