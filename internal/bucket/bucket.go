// Package bucket tells a JetStream KV bucket apart from one made anew
// under its name. A bucket deleted and made again numbers its entries
// from 1, and a watch (an ordered consumer) that recreates itself after a
// missed heartbeat goes on after the old bucket's last revision: it never
// delivers the new bucket's first entries, and says nothing of it. A
// watcher that must see every entry (caps, holds, the records, the
// console's logouts) checks every Recheck with MadeAnew that the bucket
// is still the one Created dated when the watch began; the followers of a
// stream (the ledger's tally, iseed watch) check theirs as often.
package bucket

import (
	"context"
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
	c, err := Created(ctx, kv)
	return err == nil && !c.Equal(created)
}
