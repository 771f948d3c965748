package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Class is the priority class of an upstream call.
type Class int

const (
	// Poll is a call that can wait: tracking polls, document downloads.
	// It is the zero value, so a call nobody classed counts as a poll.
	Poll Class = iota
	// Submission is a call that submits a request: it may take any token,
	// including the reserve that polls leave.
	Submission

	numClasses = 2
)

// String returns "poll" or "submission", for metric labels.
func (c Class) String() string {
	if c == Submission {
		return "submission"
	}
	return "poll"
}

// ErrUnavailable reports a Wait that could not reach the shared bucket:
// NATS is down or slow. The error wraps the cause too.
var ErrUnavailable = errors.New("the shared token bucket is unavailable")

// ErrContended reports a Wait whose updates of the bucket kept losing to
// other replicas' (compare-and-set on the revision) until it gave up.
var ErrContended = errors.New("the shared token bucket is contended")

// maxConflicts bounds the updates in a row that one fetch may lose.
const maxConflicts = 32

// Config sets the deployment-wide limit. Every replica must use the same
// Rate, Burst and Reserve: each refills and caps the shared bucket with its
// own.
type Config struct {
	// Rate is the calls per second that all replicas together may make.
	Rate float64
	// Burst is the most tokens the bucket holds: the calls that may go at
	// once after a quiet spell.
	Burst int
	// Reserve is the tokens that polls leave in the bucket for submissions;
	// 0 means 1. Burst must exceed it.
	Reserve int
	// Timeout bounds each KV operation; 0 means 2s.
	Timeout time.Duration
	// MaxPause bounds a Pause (and a debt found in the bucket, written by
	// hand or by a replica with a longer one); 0 means 10m.
	MaxPause time.Duration
	// Now is the local clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.Reserve == 0 {
		c.Reserve = 1
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxPause == 0 {
		c.MaxPause = 10 * time.Minute
	}
	switch {
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("ratelimit: rate must be a positive number of calls per second, got %g", c.Rate)
	case c.Reserve < 0:
		return fmt.Errorf("ratelimit: reserve must be at least 1, got %d", c.Reserve)
	case c.Burst <= c.Reserve:
		return fmt.Errorf("ratelimit: burst (%d) must exceed the reserve for submissions (%d), or polls never get a token", c.Burst, c.Reserve)
	case c.Timeout < 0:
		return fmt.Errorf("ratelimit: timeout must be positive, got %v", c.Timeout)
	case c.MaxPause < 0:
		return fmt.Errorf("ratelimit: the longest pause must be positive, got %v", c.MaxPause)
	}
	return nil
}

// Limiter takes tokens from a token bucket kept in one KV entry and shared
// by every replica. It is safe for concurrent use; within a process, one
// Wait at a time (the fetcher) talks to the KV, for itself and for every
// other Wait then pending, so concurrent Waits cost one round of KV
// operations, not one each.
type Limiter struct {
	kv  jetstream.KeyValue
	key string
	cfg Config

	mu       sync.Mutex
	waiting  [numClasses]int // Waits not yet granted, by class
	ready    [numClasses]int // tokens taken and not yet handed to a Wait
	fetching bool            // a Wait is fetching tokens
	failures uint64          // fetches that failed
	failure  error           // the last one's error
	changed  chan struct{}   // closed and replaced when ready or fetching change
	kick     chan struct{}   // wakes a sleeping fetcher when a submission arrives

	// Used by the fetcher only: fetching hands them over under mu.
	clock      serverClock
	calibrated bool

	pauseMu    sync.Mutex  // one Pause at a time
	pauseClock serverClock // Pause's estimate of the server's clock (under pauseMu)

	stats counters
}

// New returns a Limiter for the bucket in kv at key (created full on first
// use). It does no I/O.
func New(kv jetstream.KeyValue, key string, cfg Config) (*Limiter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Limiter{kv: kv, key: key, cfg: cfg, changed: make(chan struct{}), kick: make(chan struct{}, 1),
		clock: newServerClock(cfg.Now), pauseClock: newServerClock(cfg.Now)}, nil
}

// Wait blocks until the deployment-wide bucket grants a token for a call of
// class c, or ctx is done (it returns ctx.Err() at once), or the KV fails
// (the error wraps the cause). Classes other than Submission count as Poll.
func (l *Limiter) Wait(ctx context.Context, c Class) error {
	if c != Submission {
		c = Poll
	}
	start := l.cfg.Now()
	l.mu.Lock()
	l.waiting[c]++
	if c == Submission {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	err := l.await(ctx, c)
	l.waiting[c]--
	l.dropUnclaimed()
	l.mu.Unlock()
	l.stats.record(c, l.cfg.Now().Sub(start), err == nil, err != nil && ctx.Err() == nil)
	return err
}

// await waits for a token of class c; it is called and returns with l.mu
// held. A fetch that fails fails every Wait pending then, so that with NATS
// down they return after one timeout, not one each in turn.
func (l *Limiter) await(ctx context.Context, c Class) error {
	failures := l.failures
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if l.grab(c) {
			return nil
		}
		if l.failures != failures {
			return l.failure
		}
		if !l.fetching {
			l.fetching = true
			l.mu.Unlock()
			err := l.fetch(ctx)
			l.mu.Lock()
			l.fetching = false
			l.broadcast()
			if ctx.Err() != nil {
				return ctx.Err() // not the KV error that cancelling caused
			}
			if err != nil {
				l.failures++
				l.failure = err
				return err
			}
			continue
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
		l.mu.Lock()
	}
}

// grab hands a ready token to a Wait of class c. A submission may use a
// token fetched for a poll; a poll uses one fetched for a submission only
// when no submission waits for it (its Wait was cancelled).
func (l *Limiter) grab(c Class) bool {
	switch {
	case l.ready[c] > 0:
		l.ready[c]--
	case c == Submission && l.ready[Poll] > 0:
		l.ready[Poll]--
	case c == Poll && l.ready[Submission] > l.waiting[Submission]:
		l.ready[Submission]--
	default:
		return false
	}
	return true
}

// dropUnclaimed drops, with l.mu held, the ready tokens that no pending
// Wait can take: those of Waits that returned without theirs (cancelled,
// or failed). Kept for a later Wait, they would be spent on top of the
// tokens the bucket refilled meanwhile, more than Burst at once. Dropped,
// they are lost: the budget errs on the low side. Poll tokens go first,
// since a submission token serves either class.
func (l *Limiter) dropUnclaimed() {
	excess := l.ready[Poll] + l.ready[Submission] - l.waiting[Poll] - l.waiting[Submission]
	if excess <= 0 {
		return
	}
	p := min(excess, l.ready[Poll])
	l.ready[Poll] -= p
	l.ready[Submission] -= excess - p
}

func (l *Limiter) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// need returns, by class, the tokens that pending Waits still lack.
func (l *Limiter) need() [numClasses]int {
	var n [numClasses]int
	for c := range n {
		n[c] = max(0, l.waiting[c]-l.ready[c])
	}
	return n
}

// fetch takes tokens for the pending Waits: it returns once some are
// ready, or with an error. It sleeps, locally, while the bucket refills.
func (l *Limiter) fetch(ctx context.Context) error {
	var none [numClasses]int
	conflicts := 0
	for {
		l.mu.Lock()
		need := l.need()
		l.mu.Unlock()
		if need == none {
			return nil
		}
		got, wait, err := l.round(ctx, need)
		switch {
		case errors.Is(err, errConflict):
			l.stats.conflicts.Add(1)
			conflicts++
			if conflicts >= maxConflicts {
				return fmt.Errorf("ratelimit: %d updates in a row lost: %w", conflicts, ErrContended)
			}
			err = nil
			if conflicts > 1 { // lost twice in a row: step aside a little, at random
				err = sleep(ctx, rand.N(time.Duration(min(conflicts, 10))*time.Millisecond/2), nil)
			}
		case err != nil:
			return err
		case got != none:
			l.mu.Lock()
			l.ready[Poll] += got[Poll]
			l.ready[Submission] += got[Submission]
			l.dropUnclaimed() // for Waits that left during the round
			l.mu.Unlock()
			return nil
		default:
			conflicts = 0
			l.stats.sleeps.Add(1)
			err = sleep(ctx, wait, l.kick)
		}
		if err != nil {
			return err
		}
	}
}

// sleep waits for d, or until kick receives, or ctx is done.
func sleep(ctx context.Context, d time.Duration, kick <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-kick:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// For returns the Limiter bound to class c, for callers that always make
// calls of one class.
func (l *Limiter) For(c Class) Waiter {
	return Waiter{l: l, c: c}
}

// Waiter is a Limiter bound to one class. Its Wait has the signature of
// (*rate.Limiter).Wait, so it stands where callers use one today.
type Waiter struct {
	l *Limiter
	c Class
}

// Wait is Limiter.Wait for the Waiter's class.
func (w Waiter) Wait(ctx context.Context) error {
	return w.l.Wait(ctx, w.c)
}

// Stats are the Limiter's counters since it was made, for metrics.
type Stats struct {
	// Granted counts the tokens handed to Waits, by class.
	Granted [numClasses]uint64
	// Waited sums the time Waits spent, granted or not, by class.
	Waited [numClasses]time.Duration
	// Failed counts the Waits that returned an error other than their
	// context's, by class.
	Failed [numClasses]uint64
	// RoundTrips counts KV operations.
	RoundTrips uint64
	// Conflicts counts updates lost to another writer of the bucket.
	Conflicts uint64
	// Sleeps counts the times a fetcher found too few tokens and slept.
	Sleeps uint64
	// Pauses counts the Pauses this Limiter wrote.
	Pauses uint64
	// ClockResets counts the times the local clock was found to have jumped
	// forward (see the package documentation).
	ClockResets uint64
}

type counters struct {
	granted, failed                                    [numClasses]atomic.Uint64
	waited                                             [numClasses]atomic.Int64
	roundTrips, conflicts, sleeps, clockResets, pauses atomic.Uint64
}

func (s *counters) record(c Class, d time.Duration, granted, failed bool) {
	s.waited[c].Add(int64(d))
	if granted {
		s.granted[c].Add(1)
	}
	if failed {
		s.failed[c].Add(1)
	}
}

// Stats returns the Limiter's counters.
func (l *Limiter) Stats() Stats {
	s := Stats{RoundTrips: l.stats.roundTrips.Load(), Conflicts: l.stats.conflicts.Load(),
		Sleeps: l.stats.sleeps.Load(), ClockResets: l.stats.clockResets.Load(), Pauses: l.stats.pauses.Load()}
	for c := range numClasses {
		s.Granted[c] = l.stats.granted[c].Load()
		s.Failed[c] = l.stats.failed[c].Load()
		s.Waited[c] = time.Duration(l.stats.waited[c].Load())
	}
	return s
}
