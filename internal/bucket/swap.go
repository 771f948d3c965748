package bucket

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrSwapContended is Swap's error when every write lost to another's.
var ErrSwapContended = errors.New("every write lost to another writer's")

// Swap stores value under key in kv and returns the value it replaced,
// and whether there was one: what a replica notes of its settings when it
// starts, to compare with the replica's started before it. The write is a
// compare-and-set on what was read (Create when there was nothing), read
// again when another writer wrote in between, at most tries times, so
// that of two replicas started together one at least is given the
// other's value: read, then written, both could find nothing.
func Swap(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, tries int) (prev []byte, found bool, err error) {
	for range max(tries, 1) {
		prev, found = nil, false
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, key, value)
		case err != nil:
			return nil, false, fmt.Errorf("read %s: %w", key, err)
		default:
			prev, found = e.Value(), true
			_, err = kv.Update(ctx, key, value, e.Revision())
		}
		switch {
		case err == nil:
			return prev, found, nil
		case !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			return prev, found, fmt.Errorf("write %s: %w", key, err)
		}
	}
	return prev, found, fmt.Errorf("write %s: %d writes in a row lost: %w", key, max(tries, 1), ErrSwapContended)
}
