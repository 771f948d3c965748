package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// maxConflicts is how many compare-and-sets in a row may lose to other
// replicas before an update gives up with ErrContended.
const maxConflicts = 64

// errConflict reports a compare-and-set that lost to another writer.
var errConflict = errors.New("revision changed")

// load reads the usage under key; an absent key is empty usage at revision 0.
func (b *Budgets) load(ctx context.Context, key string) (*usage, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	e, err := b.usage.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &usage{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("budget: read %s: %w", key, err)
	}
	var u usage
	if err := decodeStrict(e.Value(), &u); err != nil {
		return nil, 0, fmt.Errorf("budget: decode %s: %w", key, err)
	}
	return &u, e.Revision(), nil
}

// store writes u under key if the key is still at rev (0: absent).
func (b *Budgets) store(ctx context.Context, key string, u *usage, rev uint64) error {
	v, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("budget: encode %s: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if rev == 0 {
		_, err = b.usage.Create(ctx, key, v)
	} else {
		_, err = b.usage.Update(ctx, key, v, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return errConflict
	case err != nil:
		return fmt.Errorf("budget: write %s: %w", key, err)
	}
	return nil
}

// change is one update waiting for its round.
type change struct {
	fn   func(*usage) bool
	done chan error    // the round's result
	turn chan struct{} // this caller runs the next round
}

// queue holds the changes of one key waiting for a round. running is true
// while some caller holds or has been handed the turn.
type queue struct {
	changes []*change
	running bool
}

// update changes the usage under key with fn by compare-and-set: fn sees
// the stored value, changes it or not, and says whether it did. A lost
// compare-and-set runs fn again on the fresh value, so fn must set its
// results anew on each call.
//
// Within a process, the changes of one key are combined: one caller at a
// time (holding the turn) runs a round for every change queued then (one
// read, fn of each in turn, one write), then hands the turn to a caller
// still waiting. A compare-and-set therefore races only other processes,
// and one round serves many reservations.
func (b *Budgets) update(ctx context.Context, key string, fn func(*usage) bool) error {
	c := &change{fn: fn, done: make(chan error, 1), turn: make(chan struct{}, 1)}
	b.enqueue(key, c)
	for {
		select {
		case err := <-c.done:
			return err
		case <-c.turn:
			b.round(context.WithoutCancel(ctx), key)
		case <-ctx.Done():
			b.withdraw(key, c)
			return ctx.Err()
		}
	}
}

func (b *Budgets) enqueue(key string, c *change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[key]
	if q == nil {
		q = &queue{}
		b.queues[key] = q
	}
	q.changes = append(q.changes, c)
	if !q.running {
		q.running = true
		c.turn <- struct{}{}
	}
}

// withdraw takes a cancelled change out of its queue if no round took it
// yet (one that did may still apply it), passing on a turn it was handed.
func (b *Budgets) withdraw(key string, c *change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[key]
	if q == nil {
		return
	}
	if i := slices.Index(q.changes, c); i >= 0 {
		q.changes = slices.Delete(q.changes, i, i+1)
	}
	select {
	case <-c.turn:
		b.handOn(key, q)
	default:
	}
}

// handOn gives the turn to the first change waiting, or ends the queue.
// b.mu is held.
func (b *Budgets) handOn(key string, q *queue) {
	if len(q.changes) > 0 {
		q.changes[0].turn <- struct{}{}
		return
	}
	q.running = false
	delete(b.queues, key)
}

// round applies every queued change of key in one compare-and-set, tells
// each its result and hands the turn on. ctx is not the caller's own: the
// round serves other callers, and each KV operation is bounded anyway.
func (b *Budgets) round(ctx context.Context, key string) {
	b.mu.Lock()
	q := b.queues[key]
	batch := q.changes
	q.changes = nil
	b.mu.Unlock()

	err := b.apply(ctx, key, batch)
	for _, c := range batch {
		c.done <- err
	}
	b.mu.Lock()
	b.handOn(key, q)
	b.mu.Unlock()
}

// apply runs batch on the usage under key by compare-and-set, retrying
// lost ones on the fresh value.
func (b *Budgets) apply(ctx context.Context, key string, batch []*change) error {
	for attempt := 0; attempt < maxConflicts; attempt++ {
		u, rev, err := b.load(ctx, key)
		if err != nil {
			return err
		}
		write := false
		for _, c := range batch {
			write = c.fn(u) || write
		}
		if !write {
			return nil
		}
		err = b.store(ctx, key, u, rev)
		if !errors.Is(err, errConflict) {
			return err
		}
		pause(attempt)
	}
	return fmt.Errorf("%w: %s", ErrContended, key)
}

// pause retries a first conflict at once, later ones after a random pause
// of up to a few milliseconds, growing, so that replicas stop colliding.
// It is short and bounded, so it does not watch a context.
func pause(attempt int) {
	if attempt == 0 {
		return
	}
	time.Sleep(rand.N(time.Millisecond << min(attempt, 4)))
}
