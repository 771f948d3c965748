package servertime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Key is the KV key a Clock writes and reads to learn the server's time.
const Key = "clock"

// Clock estimates the NATS server's time. The zero Clock is not usable;
// call New.
type Clock struct {
	kv    jetstream.KeyValue
	every time.Duration
	local func() time.Time // this machine's clock: only its monotonic reading counts after a sync

	mu     sync.Mutex
	server time.Time // an entry's server timestamp…
	at     time.Time // …and the local (monotonic) time its read returned
}

// New returns a Clock that learns the server's time from kv (any bucket
// iseed owns; it writes Key there) and refreshes it every interval when
// Run runs (default 1m). Until the first Sync it is the local clock.
func New(kv jetstream.KeyValue, every time.Duration) *Clock {
	return NewWithLocal(kv, every, time.Now)
}

// NewWithLocal is New with this machine's clock given: a test can set it
// wrong to show that, once synced, the Clock does not follow it.
func NewWithLocal(kv jetstream.KeyValue, every time.Duration, local func() time.Time) *Clock {
	if every <= 0 {
		every = time.Minute
	}
	return &Clock{kv: kv, every: every, local: local}
}

// Now returns the estimated server time: never after the server's.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	server, at := c.server, c.at
	c.mu.Unlock()
	now := c.local()
	if server.IsZero() {
		return now
	}
	return server.Add(now.Sub(at)) // monotonic: a wall clock set wrong, or stepped, changes nothing
}

// Sync learns the server's time afresh: it writes Key, reads it back, and
// keeps the entry's timestamp with the local time the read returned.
//
// It reads the revision its write made, not the key's latest value: a
// read may be a direct get that any replica answers, and a replica that
// lags answers the key's older value, whose time is minutes behind (seen
// on a healthy cluster). A lagging replica has no such revision yet: the
// sync fails and the previous estimate stays.
//
// The bucket keeps one revision of Key, so another clock's write (another
// replica's, or a command's: two operators replaying at once) may replace
// this one's before it is read: the revision is then gone. The key's latest
// value serves as well when its revision is later than the write's: it was
// stored after it, and before the read returned.
func (c *Clock) Sync(ctx context.Context) error {
	rev, err := c.kv.Put(ctx, Key, nil)
	if err != nil {
		return fmt.Errorf("servertime: %w", err)
	}
	e, err := c.kv.GetRevision(ctx, Key, rev)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		if latest, lerr := c.kv.Get(ctx, Key); lerr == nil && latest.Revision() > rev {
			e, err = latest, nil
		}
	}
	at := c.local()
	if err != nil {
		return fmt.Errorf("servertime: %w", err)
	}
	c.observe(e.Created(), at)
	return nil
}

// observe keeps an entry's server timestamp seen at local time at. The
// newest observation wins even when it puts the clock back (a slow read, or
// the server's clock stepped back): lagging the server is safe, running
// ahead of it is not.
func (c *Clock) observe(server, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.server, c.at = server, at
}

// Run syncs every interval until ctx is done; a failed sync keeps the
// previous estimate (the monotonic clock carries it) and is retried.
func (c *Clock) Run(ctx context.Context) error {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.Sync(ctx); err != nil && !errors.Is(err, context.Canceled) {
				continue
			}
		}
	}
}
