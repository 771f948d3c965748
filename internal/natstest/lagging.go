package natstest

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// LaggingKV is a KV bucket read through a replica that lags, as a cluster
// node restarted and catching up does: KeyValue.Get is a direct get, which
// any replica answers, and such a one says "no such key" for a key the
// leader has. Get misses a key armed with Lag that many times, and every
// key after LagAll; everything else is the bucket's.
type LaggingKV struct {
	jetstream.KeyValue
	mu      sync.Mutex
	missing map[string]int
	all     bool
}

// NewLaggingKV wraps kv.
func NewLaggingKV(kv jetstream.KeyValue) *LaggingKV {
	return &LaggingKV{KeyValue: kv, missing: map[string]int{}}
}

// Get answers "no such key" while key lags, else reads kv.
func (l *LaggingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	l.mu.Lock()
	miss := l.all || l.missing[key] > 0
	if l.missing[key] > 0 {
		l.missing[key]--
	}
	l.mu.Unlock()
	if miss {
		return nil, jetstream.ErrKeyNotFound
	}
	return l.KeyValue.Get(ctx, key)
}

// Lag makes the next n reads of key miss it.
func (l *LaggingKV) Lag(key string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.missing[key] = n
}

// LagAll makes every read miss, for good.
func (l *LaggingKV) LagAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = true
}

// Left is how many more reads of key miss it (Lag).
func (l *LaggingKV) Left(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.missing[key]
}
