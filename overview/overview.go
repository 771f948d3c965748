package overview

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Config tunes an Overview.
type Config struct {
	// OverdueAfter is how long a request may stay open before it counts as
	// overdue: ISEED_OVERDUE_WORKDAYS working days on average, × 7/5 calendar
	// days (default 504h: 15 working days, 21 calendar days, as the
	// daemon's default).
	OverdueAfter time.Duration
	// Refresh is how often Run takes the snapshot the metrics report
	// (default 15s).
	Refresh time.Duration
	Logger  zerolog.Logger
	Now     func() time.Time
}

func (c Config) withDefaults() Config {
	if c.OverdueAfter <= 0 {
		c.OverdueAfter = 15 * 7 / 5 * 24 * time.Hour
	}
	if c.Refresh <= 0 {
		c.Refresh = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Gauges are what the pipeline and the rate limiter know of the upstream
// right now.
type Gauges struct {
	BreakerOpen    bool    `json:"breaker_open"`
	CallsPerSecond float64 `json:"calls_per_second"` // upstream calls this replica made, over the last minute
	RateLimit      float64 `json:"rate_limit"`       // calls per second allowed
}

// Deps are where an Overview reads from.
type Deps struct {
	// Resources are the layout's handles (layout.Ensure or layout.Open):
	// the records bucket, the submissions and tracking consumers, the DLQ.
	Resources *layout.Resources
	// Gauges, optional, reads the breaker and the upstream call rate.
	Gauges func() Gauges
	// Paused, optional, returns the scopes an operator paused
	// (consumer.Pipeline.Paused in the daemon, the caps bucket in iseed
	// top); an error leaves them out of the snapshot, named in Problems.
	Paused func(ctx context.Context) ([]string, error)
	// SpendToday, optional, returns the euros committed today.
	SpendToday func(ctx context.Context) (float64, error)
	// Connected, optional, tells whether the NATS connection is up. While
	// it is not, a snapshot names the consumers and the dead letters
	// unreadable at once: a request made while the client reconnects waits
	// for its deadline, and a refresh whose reads all waited would store
	// nothing, leaving the gauges at the last snapshot's values.
	Connected func() bool
}

// errNotConnected is the problem named for a part not read because the
// NATS connection is down.
var errNotConnected = errors.New("NATS not connected")

// Overview is the pipeline at a glance: it keeps the counts of open
// requests (Watcher) and of dead letters (DeadLetters) in memory, and reads
// the consumers' state when asked for a Snapshot.
type Overview struct {
	cfg     Config
	d       Deps
	watcher *Watcher
	dead    *DeadLetters
	ready   chan struct{}
	latest  atomic.Pointer[Snapshot] // for the metrics
}

// New returns an Overview; Run feeds it.
func New(cfg Config, d Deps) (*Overview, error) {
	r := d.Resources
	if r == nil || r.Records == nil || r.Consumer == nil || r.Tracker == nil || r.DLQ == nil {
		return nil, errors.New("overview: New needs the records bucket, both consumers and the DLQ stream")
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With().Str("component", "overview").Logger()
	o := &Overview{cfg: cfg, d: d, ready: make(chan struct{}),
		watcher: NewWatcher(r.Records, cfg.OverdueAfter, log), dead: NewDeadLetters(r.DLQ, log)}
	return o, nil
}

// Ready is closed once the first passes over the records and the dead
// letters are complete.
func (o *Overview) Ready() <-chan struct{} { return o.ready }

// Run keeps the counts until ctx is done, and takes a snapshot for the
// metrics every Refresh. It returns nil when ctx is done; failures to read
// (NATS down) are retried inside, so it never stops the daemon. Call it
// once.
func (o *Overview) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = o.watcher.Run(ctx) })
	wg.Go(func() { _ = o.dead.Run(ctx) })
	wg.Go(func() {
		select {
		case <-o.watcher.Ready():
		case <-ctx.Done():
			return
		}
		select {
		case <-o.dead.Ready():
			close(o.ready)
		case <-ctx.Done():
		}
	})
	wg.Go(func() { o.refresh(ctx) })
	wg.Wait()
	return nil
}

// refresh stores a snapshot for the metrics now, when ready, and every
// Refresh.
func (o *Overview) refresh(ctx context.Context) {
	t := time.NewTicker(o.cfg.Refresh)
	defer t.Stop()
	ready := o.Ready()
	for {
		sctx, cancel := context.WithTimeout(ctx, o.cfg.Refresh)
		if s, err := o.Snapshot(sctx); err == nil {
			o.latest.Store(s)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ready:
			ready = nil
		}
	}
}

// Latest is the snapshot Run took last (nil before the first).
func (o *Overview) Latest() *Snapshot { return o.latest.Load() }

// List returns a page of the open and unsent submissions, oldest first.
func (o *Overview) List(q Query) Page { return o.watcher.List(q) }

// Snapshot collects the overview now: the counts kept in memory, and one
// info call to each consumer and the DLQ stream. A part that cannot be read
// is missing from the snapshot and named in Problems; the error is only
// ctx's.
func (o *Overview) Snapshot(ctx context.Context) (*Snapshot, error) {
	now := o.cfg.Now()
	s := &Snapshot{At: now.UTC()}
	if c, ok := o.watcher.Counts(now); ok {
		s.Requests = &c
	}
	connected := o.d.Connected == nil || o.d.Connected()
	o.consumers(ctx, s, connected)
	o.deadLetters(ctx, s, connected)
	if o.d.Gauges != nil {
		g := o.d.Gauges()
		s.Upstream = &g
	}
	if o.d.Paused != nil {
		if scopes, err := o.d.Paused(ctx); err != nil {
			s.problem("paused", err)
		} else {
			s.Paused, s.PausedKnown = scopes, true
		}
	}
	if o.d.SpendToday != nil {
		if eur, err := o.d.SpendToday(ctx); err != nil {
			s.problem("spend today", err)
		} else {
			s.SpendToday = &eur
		}
	}
	s.Ready = s.Requests != nil && s.DeadLetters != nil
	return s, ctx.Err()
}

func (o *Overview) consumers(ctx context.Context, s *Snapshot, connected bool) {
	if !connected {
		s.problem("submissions consumer", errNotConnected)
		s.problem("tracking consumer", errNotConnected)
		return
	}
	r := o.d.Resources
	if ci, err := r.Consumer.Info(ctx); err != nil {
		s.problem("submissions consumer", err)
	} else {
		s.Submissions = &Submissions{Backlog: ci.NumPending, InFlight: ci.NumAckPending, Redelivered: ci.NumRedelivered}
		if age, tenant, err := o.oldestWaiting(ctx, ci, s.At); err != nil {
			s.problem("oldest waiting submission", err)
		} else {
			s.Submissions.OldestWaiting, s.Submissions.OldestWaitingTenant = &age, tenant
		}
	}
	if ci, err := r.Tracker.Info(ctx); err != nil {
		s.problem("tracking consumer", err)
	} else {
		s.Tracking = &Tracking{Tasks: ci.NumPending + uint64(ci.NumAckPending), Undelivered: ci.NumPending, Delivered: ci.NumAckPending}
	}
}

// oldestWaiting returns the age at now, in seconds, of the oldest
// submission message the consumer ci describes has not acknowledged, and
// its tenant: the first one stored after its ack floor (erased messages
// skipped). Every replica's workers take them in the order stored, so the
// age is about how long a submission published now waits behind the
// backlog.
func (o *Overview) oldestWaiting(ctx context.Context, ci *jetstream.ConsumerInfo, now time.Time) (float64, string, error) {
	if ci.NumPending == 0 && ci.NumAckPending == 0 {
		return 0, "", nil
	}
	r := o.d.Resources
	m, err := r.Submissions.GetMsg(ctx, ci.AckFloor.Stream+1, jetstream.WithGetMsgSubject(r.Layout.SubmissionSubject("*")))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, "", nil // acknowledged since the info was read
	}
	if err != nil {
		return 0, "", err
	}
	return max(now.Sub(m.Time), 0).Seconds(), r.Layout.TenantOf(m.Subject), nil
}

func (o *Overview) deadLetters(ctx context.Context, s *Snapshot, connected bool) {
	if !connected {
		s.problem("dead letters", errNotConnected)
	} else if err := o.dead.Sync(ctx); err != nil {
		s.problem("dead letters", err)
	}
	select {
	case <-o.dead.Ready():
	default:
		return
	}
	s.DeadLetters = o.dead.Counts()
	for _, n := range s.DeadLetters {
		s.DeadLettersTotal += n
	}
}

func (s *Snapshot) problem(what string, err error) {
	s.Problems = append(s.Problems, fmt.Sprintf("%s: %v", what, err))
}
