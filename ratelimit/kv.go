package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureBucket creates or updates, idempotently, a KV bucket for token
// buckets (one key each) and returns it. Any bucket with History 1 will do;
// this one keeps nothing else.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int, storage jetstream.StorageType) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "iseed: the upstream rate limit's token bucket, shared by every replica",
		History:     1,
		Replicas:    replicas,
		Storage:     storage,
	})
	if err != nil {
		return nil, fmt.Errorf("ratelimit: kv bucket %s: %w", name, err)
	}
	return kv, nil
}

// errConflict reports an update that lost to another writer.
var errConflict = errors.New("revision changed")

// round is one exchange with the shared bucket: read it, take what it can
// for need, and write it back if it took anything (or to calibrate the
// clock on the first round). With nothing taken it returns how long to
// sleep before the next round.
func (l *Limiter) round(ctx context.Context, need [numClasses]int) ([numClasses]int, time.Duration, error) {
	var none [numClasses]int
	e, err := l.load(ctx)
	if err != nil {
		return none, 0, err
	}
	at := l.clock.local()
	stamp := e.Created().UnixNano()
	if l.clock.observe(stamp, e.Revision(), at) {
		l.stats.clockResets.Add(1)
	}
	b := l.bucket(&l.clock, e, stamp, at)
	got := split(b.Tokens, need, l.cfg.Reserve)
	if got == none && l.calibrated {
		return none, until(b.Tokens, need, l.cfg.Reserve, l.cfg.Rate), nil
	}
	if taken := got[Poll] + got[Submission]; taken > 0 {
		b.Tokens = max(0, b.Tokens-float64(taken))
	} // else the calibrating write: a debt (Pause) stays as it is
	sent := l.clock.local()
	if err := l.update(ctx, &l.clock, b, e.Revision(), sent); err != nil {
		return none, 0, err
	}
	l.calibrated = true // the next read sees a fresh server stamp
	return got, 0, nil
}

// bucket reads the entry e, stamped stamp and read at local time at, as
// the bucket now on clock c: refilled, its debt bounded by MaxPause.
func (l *Limiter) bucket(c *serverClock, e jetstream.KeyValueEntry, stamp, at int64) state {
	s := decodeState(e.Value(), stamp)
	s.Tokens = max(s.Tokens, -l.debt(l.cfg.MaxPause))
	return s.refill(stamp, c.estimate(at), l.cfg.Rate, l.cfg.Burst)
}

// debt is the balance that takes d to refill to zero.
func (l *Limiter) debt(d time.Duration) float64 { return l.cfg.Rate * d.Seconds() }

// Pause stops every Limiter on the bucket, in every replica, from granting
// anything for d (at most MaxPause): the upstream answered 429 or 503 with
// Retry-After d, and a call made sooner, by any replica, would only be
// refused again. The bucket is left in debt: empty until d has passed,
// then refilling at Rate, so that the calls resume at the budget's pace
// rather than in a burst. Pauses do not add up: one that ends sooner than
// the debt already there changes nothing (and writes nothing: paused is
// false). Tokens a process took before the pause are still spent. An
// error is the KV's: the pause did not take, and the caller's own retry
// waits for d anyway.
//
// Pause runs beside the fetcher, which may be asleep for a while (during
// an earlier pause, say) and owns its clock: Pauses keep an estimate of
// the server's clock of their own, one at a time.
//
// The debt is dated by the server when it stores it (Upto pausedAtWrite),
// not by that estimate: the estimate is a lower bound, read from the
// bucket's entry, which may be as old as the last write of any replica (a
// quiet deployment, tokens taken a while ago); dated by it, the debt
// would be paid back, in every refill, by the time that had already
// passed, and the pause would end early or never begin. Whether an
// earlier pause already lasts as long is judged on the estimate, which a
// fresh entry of the bucket's stream makes close (calibrate).
func (l *Limiter) Pause(ctx context.Context, d time.Duration) (paused bool, err error) {
	d = min(d, l.cfg.MaxPause)
	if d <= 0 {
		return false, nil
	}
	l.pauseMu.Lock()
	defer l.pauseMu.Unlock()
	c := &l.pauseClock
	if err := l.calibrate(ctx, c); err != nil {
		return false, err
	}
	for conflicts := 0; ; conflicts++ {
		e, err := l.load(ctx)
		if err != nil {
			return false, err
		}
		at := c.local()
		stamp := e.Created().UnixNano()
		c.observe(stamp, e.Revision(), at)
		b := l.bucket(c, e, stamp, at)
		if b.Tokens <= -l.debt(d) {
			return false, nil // paused as long already
		}
		b.Tokens, b.Upto = -l.debt(d), pausedAtWrite
		err = l.update(ctx, c, b, e.Revision(), c.local())
		if !errors.Is(err, errConflict) {
			if err != nil {
				return false, err
			}
			l.stats.pauses.Add(1)
			return true, nil
		}
		if conflicts >= maxConflicts {
			return false, fmt.Errorf("ratelimit: pause: %d updates in a row lost: %w", conflicts, ErrContended)
		}
	}
}

// pausedAtWrite is the Upto of a pause: later than any stamp, so that
// refill credits from the entry's own stamp (the server's time when it
// stored the pause) and no earlier.
const pausedAtWrite = math.MaxInt64

// calibrate gives c a lower bound of the server's clock that is close to
// it: the stamp of an entry written just now, beside the bucket's (its
// key with ".clock"; nothing reads it), in the same stream, so that its
// revision orders with the bucket's.
func (l *Limiter) calibrate(ctx context.Context, c *serverClock) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	l.stats.roundTrips.Add(2)
	if _, err := l.kv.Put(ctx, l.key+".clock", nil); err != nil {
		return fmt.Errorf("ratelimit: %w: calibrate: %w", ErrUnavailable, err)
	}
	e, err := l.kv.Get(ctx, l.key+".clock")
	if err != nil {
		return fmt.Errorf("ratelimit: %w: calibrate: %w", ErrUnavailable, err)
	}
	c.observe(e.Created().UnixNano(), e.Revision(), c.local())
	return nil
}

// load reads the bucket's entry, creating it full when there is none.
func (l *Limiter) load(ctx context.Context) (jetstream.KeyValueEntry, error) {
	for range 3 {
		e, err := l.get(ctx)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("ratelimit: %w: read %s: %w", ErrUnavailable, l.key, err)
		}
		if err := l.create(ctx); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("ratelimit: %w: create %s: %w", ErrUnavailable, l.key, err)
		}
	}
	return nil, fmt.Errorf("ratelimit: %w: %s is deleted as fast as it is created", ErrUnavailable, l.key)
}

func (l *Limiter) get(ctx context.Context) (jetstream.KeyValueEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	l.stats.roundTrips.Add(1)
	return l.kv.Get(ctx, l.key)
}

// create stores a full bucket. Upto 0 credits a whole burst to the first
// reader, which the cap absorbs.
func (l *Limiter) create(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	l.stats.roundTrips.Add(1)
	_, err := l.kv.Create(ctx, l.key, state{Tokens: float64(l.cfg.Burst)}.encode())
	return err
}

// update writes b if the entry is still at revision rev; c is the clock
// whose estimate b was refilled to.
func (l *Limiter) update(ctx context.Context, c *serverClock, b state, rev uint64, sent int64) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	l.stats.roundTrips.Add(1)
	newRev, err := l.kv.Update(ctx, l.key, b.encode(), rev)
	switch {
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
		return errConflict
	case err != nil:
		return fmt.Errorf("ratelimit: %w: update %s: %w", ErrUnavailable, l.key, err)
	}
	c.wrote(newRev, sent)
	return nil
}
